"""Le glossaire du README dit vrai : chaque abréviation est développée là où sa colonne
« Défini dans » l'annonce, dès sa première apparition.

**La règle**, pour chaque ligne du tableau « Abréviations » du README (une abréviation par ligne) :

1. *Les développements admis* viennent de la colonne « Sens », partie avant le premier « : »
   (le reste explique) : chaque passage en italique (``*Optimal Brain Damage*``), et le texte hors
   italique, sans ses parenthèses, coupé aux virgules et points-virgules (« travaux pratiques »).
   Un développement est reconnu à la casse près, chaque mot pouvant prendre la marque du pluriel
   (« cartes graphiques » pour « carte graphique »), les marques d'emphase Markdown ôtées.
2. *Ce qu'on lit* : la prose des cellules Markdown (sans code, formules, balises, commentaires ni
   adresses de liens : :func:`rendered_text.prose`), découpée en phrases : un paragraphe, une
   ligne de liste ou de tableau, une phrase terminée par « . », « ! » ou « ? ». Les titres
   (lignes ``#``) ne comptent pas : un titre peut nommer ce que le texte qui le suit définit.
3. *Défini à la première apparition* : dans chaque notebook nommé par « Défini dans », la première
   phrase où l'abréviation apparaît (mot entier) contient aussi l'un de ses développements.
4. *Pas d'emploi avant la définition* : le premier notebook du cours (00 à 13, puis les exercices)
   dont la prose emploie l'abréviation est l'un de ceux que nomme « Défini dans ». Une abréviation
   qu'aucun notebook n'emploie (CPU : README, docstrings) n'en nomme aucun (« — ») : le glossaire
   la définit seul.

Exemple qui échoue : « le premier pas du TP d'élagage » (le TP n'est dit nulle part « travaux
pratiques ») ; exemple qui passe : « le TP (travaux pratiques) d'élagage ».
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import rendered_text as R

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"


@dataclass(frozen=True)
class Entry:
    abbreviation: str
    expansions: tuple[str, ...]
    defined_in: tuple[Path, ...]


def _table_rows(text: str, heading: str) -> list[list[str]]:
    section = re.search(rf"^### {heading}\n(.*?)(?=^#)", text, re.S | re.M)
    if not section:
        raise ValueError(f"README.md : section « ### {heading} » introuvable.")
    rows = []
    for line in section.group(1).splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if cells[0] in ("Abréviation", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append(cells)
    return rows


def expansions(meaning: str) -> tuple[str, ...]:
    """Les développements admis d'une colonne « Sens » (règle 1 du module)."""
    head = meaning.split(" : ", 1)[0]
    italic = re.findall(r"\*([^*]+)\*", head)
    rest = re.sub(r"\*[^*]+\*", " ", head)
    while re.search(r"\([^()]*\)", rest):
        rest = re.sub(r"\([^()]*\)", " ", rest)
    plain = [p.strip(" .") for p in re.split(r"[,;]", rest)]
    return tuple(dict.fromkeys(e.strip() for e in italic + plain if re.search(r"\w{2}", e)))


def glossary(readme: Path = README) -> list[Entry]:
    entries = []
    for cells in _table_rows(readme.read_text(encoding="utf-8"), "Abréviations"):
        abbreviation, meaning, where = cells[0], cells[1], cells[2]
        links = re.findall(r"\]\(([^)]+\.ipynb)\)", where)
        entries.append(Entry(abbreviation, expansions(meaning), tuple(ROOT / link for link in links)))
    return entries


def course_order() -> list[Path]:
    """Les notebooks dans l'ordre où l'élève les lit : 00 à 13, puis les exercices."""
    return sorted(NOTEBOOKS.glob("[0-9]*.ipynb")) + sorted((NOTEBOOKS / "exercices").glob("*.ipynb"))


_ITEM = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|\|)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Þ«*\[`$])")


def sentences(markdown: str) -> list[str]:
    """Les phrases de la prose d'une cellule Markdown, titres exclus (règle 2 du module)."""
    units, current = [], []
    for line in markdown.splitlines():
        if line.lstrip().startswith("#") or not line.strip() or _ITEM.match(line):
            if current:
                units.append(" ".join(current))
            current = [] if line.lstrip().startswith("#") or not line.strip() else [line]
        else:
            current.append(line)
    if current:
        units.append(" ".join(current))
    out = []
    for unit in units:
        out.extend(R.prose(s) for s in _SENTENCE_END.split(unit))
    return [s for s in out if s.strip()]


def _uses(abbreviation: str):
    return re.compile(rf"(?<![\w\\]){re.escape(abbreviation)}(?!\w)")


_DASHES = re.compile("[\u2010-\u2015]")  # tirets typographiques : un trait d'union pour comparer


def _expansion_pattern(expansion: str):
    words = re.findall(r"[\w]+|[^\w\s]", _DASHES.sub("-", expansion))
    parts = [re.escape(w) + ("[sx]?" if w[-1].isalpha() else "") for w in words]
    return re.compile(r"(?<!\w)" + r"[\s\-]*".join(parts) + r"(?!\w)", re.I)


def expands(sentence: str, entry: Entry) -> bool:
    plain = re.sub(r"[*_]{1,2}(?=\w)|(?<=\w)[*_]{1,2}", "", _DASHES.sub("-", sentence))
    plain = re.sub(r"\s+", " ", plain)
    return any(_expansion_pattern(e).search(plain) for e in entry.expansions)


def first_use(path: Path, abbreviation: str) -> tuple[int, str] | None:
    """(indice de la cellule, phrase) de la première phrase du notebook qui emploie l'abréviation."""
    uses = _uses(abbreviation)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        for sentence in sentences("".join(cell["source"])):
            if uses.search(sentence):
                return index, sentence.strip()
    return None


def problems(entry: Entry, order: list[Path]) -> list[str]:
    """Ce qui ne va pas pour une abréviation du glossaire (liste vide : rien)."""
    out = []
    if not entry.expansions:
        out.append(f"{entry.abbreviation} : colonne « Sens » sans développement (avant le premier « : »)")
    for path in entry.defined_in:
        if not path.exists():
            out.append(f"{entry.abbreviation} : « Défini dans » nomme {path.relative_to(ROOT)}, qui n'existe pas")
            continue
        found = first_use(path, entry.abbreviation)
        if found is None:
            out.append(f"{entry.abbreviation} : {path.name} ne l'emploie dans aucune cellule Markdown")
        elif not expands(found[1], entry):
            out.append(f"{entry.abbreviation} : {path.name}, cellule {found[0]}, première phrase sans "
                       f"développement ({' / '.join(entry.expansions)}) : « {found[1]} »")
    for path in order:
        found = first_use(path, entry.abbreviation)
        if found is not None:
            if path not in entry.defined_in:
                out.append(f"{entry.abbreviation} : employé dès {path.name}, cellule {found[0]}, avant les "
                           f"notebooks de « Défini dans » : « {found[1]} »")
            break
    return out


def test_the_glossary_is_parsed():
    entries = {e.abbreviation: e for e in glossary()}
    assert set(entries) == R.glossary_abbreviations()
    assert "Optimal Brain Damage" in entries["OBD"].expansions
    assert "travaux pratiques" in entries["TP"].expansions
    assert all(len(e.abbreviation.split(",")) == 1 for e in entries.values()), "une abréviation par ligne"


def test_the_rule_on_examples(tmp_path):
    entry = Entry("TP", ("travaux pratiques",), (tmp_path / "13.ipynb",))

    def notebook(*cells):
        path = tmp_path / "13.ipynb"
        path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": c} for c in cells]}))
        return [path]

    # l'exemple qui échoue : employé, jamais développé (la phrase est citée dans le message)
    bad = problems(entry, notebook("# 13 — Où élaguer\n\nC'est le premier pas du TP d'élagage du cours."))
    assert len(bad) == 1 and "cellule 0" in bad[0] and "« C'est le premier pas du TP" in bad[0]
    # développé dans la même phrase, au pluriel, en italique : la règle passe
    assert problems(entry, notebook("C'est le premier pas du TP (*travaux pratiques*) d'élagage.")) == []
    assert problems(entry, notebook("Le TP, des travaux pratiques. Le TP suivant.")) == []
    # développé une phrase trop tard : échoue
    assert problems(entry, notebook("Le TP du cours. Des travaux pratiques, le TP.")) != []
    # un titre ne compte pas ; le code et les formules non plus
    assert problems(entry, notebook("## Le TP\n\nLe TP (travaux pratiques) du cours.")) == []
    assert first_use(notebook("`TP = 3` et $TP$")[0], "TP") is None
    # employé avant le notebook qui le définit
    earlier = tmp_path / "00.ipynb"
    earlier.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": "| 13 | le TP |"}]}))
    late = notebook("Le TP (travaux pratiques) du cours.")
    assert any("employé dès 00.ipynb" in p for p in problems(entry, [earlier, *late]))
    # la partie après « : » explique, elle ne développe pas
    assert expansions("*Optimal Brain Damage* (LeCun, 1990) : un critère, voir 03") == ("Optimal Brain Damage",)
    assert expansions("réseau de neurones convolutif (*convolutional neural network*)") == (
        "convolutional neural network", "réseau de neurones convolutif")
    assert expands("les GPU (cartes graphiques) récents", Entry("GPU", ("carte graphique",), ()))
    assert expands("**ERK** (Erdős–Rényi–Kernel, Evci et al.)", Entry("ERK", ("Erdős–Rényi-Kernel",), ()))


ENTRIES = glossary()
# Les notebooks 00 à 13 n'ont pas encore les développements que demande la règle (liste remise à
# l'auteur des notebooks) : ces abréviations échouent, et le test le dit (xfail strict). Dès qu'un
# notebook est corrigé, son abréviation passe, xfail strict la fait échouer : retirez-la d'ici.
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.abbreviation)
def test_abbreviation_is_defined_where_the_glossary_says(entry):
    found = problems(entry, course_order())
    assert not found, "\n".join(found)
