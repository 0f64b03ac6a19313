"""Chaque résultat énoncé a sa cellule qui le calcule : une égalité affirmée, ou un verdict affiché.

Convention (suivie par tous les notebooks) :
- la cellule de code qui établit un résultat porte son identifiant dans ses métadonnées,
  ``"claims": ["ID"]`` (ID en minuscules-avec-tirets), jamais dans son texte : l'élève ne lit
  pas de marqueur anglais ;
- un résultat **exact** (un compte, une égalité, une formule, un écart énorme) : la cellule
  contient au moins un ``assert`` exécuté (hors d'une ``def``), et une phrase fixe peut le citer
  avec le marqueur invisible ``<!-- claim: ID -->`` ; chaque puce Markdown d'une section
  « À retenir » en porte un ;
- un résultat **expérimental** (une méthode fait-elle mieux qu'une autre ?) : la cellule appelle
  ``say(...)`` (``course_lib.evidence``) ou une fonction ``say_*`` de ``course_lib.experiments``,
  qui choisit la phrase par le verdict de la règle du cours, calculé sur l'exécution de l'élève.
  Aucune phrase fixe ne peut le citer : son marqueur serait une conclusion écrite d'avance ;
- la cellule est dans le même notebook que le marqueur, sauf pour ``10_a_retenir`` qui peut
  renvoyer à un ID établi dans un autre notebook ; un verdict cité par deux notebooks vient de la
  même fonction ``say_*`` (une expérience par résultat) ;
- une cellule qui établit un résultat n'est ni ``raises-exception`` ni sautée par nbval.

Ce test vérifie l'appariement ; nbval exécute les cellules : ``make test`` échoue le jour où
une égalité cesse d'être vraie, et une conclusion expérimentale suit les nombres de la machine.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

SUMMARY_PREFIX = "10_"  # le notebook « À retenir » du cours : peut renvoyer aux autres
MARKER = re.compile(r"<!--\s*claim:\s*(\S*?)\s*-->")
CELL_TAG = re.compile(r"#\s*claim:\s*(\S*)\s*$")
VALID_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
BOLD_LABEL = re.compile(r"^\*\*([^*]+)\*\*\s*:?\s*$")  # « **Objectifs** » seul sur sa ligne
BULLET = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+")
RETENIR = re.compile(r"à retenir", re.I)
NOT_CLAIMS = re.compile(r"quiz|objectif|référence|pour aller plus loin|suite", re.I)
NBVAL_OFF = {"raises-exception", "nbval-skip", "skip-execution", "nbval-ignore-output-and-errors"}


def claim_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
        (root / "notebooks" / "exercices").glob("*.ipynb"))


@dataclass
class NotebookClaims:
    name: str
    markers: dict[str, list[int]] = field(default_factory=dict)   # ID -> cellules markdown
    cells: dict[str, list[int]] = field(default_factory=dict)     # ID -> cellules qui l'établissent
    exact: set[str] = field(default_factory=set)                  # ID établis par un assert
    speakers: dict[str, set[str]] = field(default_factory=dict)   # ID -> fonctions say_* appelées
    problems: list[str] = field(default_factory=list)


def _retenir_bullets(nb) -> list[tuple[int, str]]:
    """(cellule, texte) de chaque puce d'une section « À retenir » (sous-titres compris)."""
    bullets, level, skip_level = [], None, None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        current, skip_block = None, False
        for line in cell.source.splitlines():
            label = BOLD_LABEL.match(line.strip())
            if label or not line.strip():
                skip_block = bool(label and NOT_CLAIMS.search(label.group(1)))
            if skip_block:
                current = None
                continue
            m = HEADING.match(line)
            if m:
                depth, title = len(m.group(1)), m.group(2)
                if level is not None and depth <= level:
                    level = None
                if skip_level is not None and depth <= skip_level:
                    skip_level = None
                if level is None and RETENIR.search(title):
                    level = depth
                elif level is not None and NOT_CLAIMS.search(title):
                    skip_level = depth
                current = None
                continue
            if level is None or skip_level is not None:
                current = None
                continue
            if BULLET.match(line):
                current = [i, line]
                bullets.append(current)
            elif current is not None and line.strip() and line.startswith((" ", "\t")):
                current[1] += "\n" + line       # suite de la puce
            elif not line.strip() or not line.startswith((" ", "\t")):
                current = None
    return [(i, text) for i, text in bullets]


def _executed_nodes(source: str) -> list[ast.AST]:
    """Les nœuds exécutés à l'exécution de la cellule (hors corps de def, lambda et class)."""
    try:
        tree = ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                   for ln in source.splitlines()))
    except SyntaxError:
        return []
    inside_def = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            inside_def.update(id(n) for n in ast.walk(node) if n is not node)
    return [n for n in ast.walk(tree) if id(n) not in inside_def]


def _has_executed_assert(source: str) -> bool:
    return any(isinstance(n, ast.Assert) for n in _executed_nodes(source))


def _say_calls(source: str) -> set[str]:
    """Noms des fonctions ``say`` / ``say_*`` appelées (et exécutées) par la cellule."""
    names = set()
    for n in _executed_nodes(source):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name == "say" or name.startswith("say_"):
                names.add(name)
    return names


def read_claims(path: Path) -> NotebookClaims:
    nb = nbformat.read(path, as_version=4)
    found = NotebookClaims(path.name)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for cid in MARKER.findall(cell.source):
                found.markers.setdefault(cid, []).append(i)
            continue
        if cell.cell_type != "code":
            continue
        if any(CELL_TAG.match(ln.strip()) for ln in cell.source.splitlines()):
            found.problems.append(f"cellule {i} : ligne « # claim: » dans le code ; l'identifiant va dans "
                                  "les métadonnées de la cellule (\"claims\": [\"ID\"])")
        ids = cell.metadata.get("claims")
        if ids is None:
            continue
        if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
            found.problems.append(f"cellule {i} : métadonnée « claims » invalide {ids!r} (liste d'ID attendue)")
            continue
        if len(set(ids)) < len(ids):
            found.problems.append(f"cellule {i} : identifiant répété dans « claims » {ids}")
        exact, speakers = _has_executed_assert(cell.source), _say_calls(cell.source)
        for cid in dict.fromkeys(ids):
            found.cells.setdefault(cid, []).append(i)
            if exact:
                found.exact.add(cid)
            found.speakers.setdefault(cid, set()).update(speakers)
        if not exact and not speakers:
            found.problems.append(f"cellule {i} ({', '.join(ids)}) : ni assert exécuté ni verdict affiché "
                                  "par say(...)")
        off = NBVAL_OFF.intersection(cell.metadata.get("tags", []))
        if off:
            found.problems.append(f"cellule {i} ({', '.join(ids)}) : étiquette {sorted(off)} "
                                  "(nbval ne pourrait plus échouer)")
    for cid in {*found.markers, *found.cells}:
        if not VALID_ID.fullmatch(cid):
            found.problems.append(f"ID « {cid} » invalide (attendu : minuscules-avec-tirets)")
    for cid, where in found.cells.items():
        if len(where) > 1:
            found.problems.append(f"ID « {cid} » établi par plusieurs cellules {where}")
    for i, text in _retenir_bullets(nb):
        if not MARKER.search(text):
            found.problems.append(f"cellule {i} : puce « À retenir » sans marqueur <!-- claim: ID --> : "
                                  f"« {' '.join(text.split())[:90]} »")
    return found


def course_problems(paths: list[Path]) -> list[str]:
    """Tous les défauts d'appariement du cours, notebook par notebook puis entre notebooks."""
    claims = [read_claims(p) for p in paths]
    problems = [f"{c.name} : {p}" for c in claims for p in c.problems]
    asserted: dict[str, list[NotebookClaims]] = {}
    for c in claims:
        for cid in c.cells:
            asserted.setdefault(cid, []).append(c)
    exact = {cid for c in claims for cid in c.exact}
    marked: dict[str, list[str]] = {}
    for c in claims:
        for cid in c.markers:
            marked.setdefault(cid, []).append(c.name)
    for cid, owners in asserted.items():
        if len(owners) < 2:
            continue
        # un même verdict dans deux notebooks : une seule expérience, la même fonction say_*
        shared = set.intersection(*(c.speakers.get(cid, set()) for c in owners)) - {"say"}
        if cid in exact or not shared:
            problems.append(f"ID « {cid} » établi dans plusieurs notebooks {[c.name for c in owners]} "
                            "sans une fonction say_* commune (une expérience par résultat)")
    for cid, names in marked.items():
        owners = [n for n in names if not n.startswith(SUMMARY_PREFIX)]
        if len(owners) > 1:
            problems.append(f"ID « {cid} » marqué dans plusieurs notebooks : {owners} (un ID par résultat)")
    for c in claims:
        summary = c.name.startswith(SUMMARY_PREFIX)
        for cid, cells in c.markers.items():
            if cid in asserted and cid not in exact:
                problems.append(f"{c.name}, cellule {cells[0]} : une phrase fixe cite « {cid} », un verdict "
                                "expérimental ; affichez la phrase avec say(...) pour qu'elle suive les nombres")
                continue
            if cid in c.cells or (summary and cid in asserted):
                continue
            where = "dans aucun notebook" if summary else "dans ce notebook"
            problems.append(f"{c.name}, cellule {cells[0]} : « {cid} » n'a pas de cellule "
                            f"(métadonnée claims) qui l'établit {where}")
        for cid, cells in c.cells.items():
            if cid in c.exact and cid not in c.markers:
                problems.append(f"{c.name}, cellule {cells[0]} : « {cid} » (assert) ne prouve aucune "
                                "phrase (marqueur <!-- claim: ... --> absent du notebook)")
    return problems


# --- le vérificateur sait échouer : un petit cours écrit par le test -------------------------

def _notebook(folder: Path, name: str, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = folder / name
    nbformat.write(nb, path)
    return path


md = nbformat.v4.new_markdown_cell


def code(source: str, claims=None, tags=None):
    cell = nbformat.v4.new_code_cell(source)
    if claims is not None:
        cell.metadata["claims"] = claims
    if tags:
        cell.metadata["tags"] = tags
    return cell


SAY = ("display(say_gradual_vs_one_shot(seeds))", )


def _good_course(folder: Path) -> list[Path]:
    a = _notebook(folder, "01_a.ipynb", [
        md("# 01 — A\n\nLe compte est exact. <!-- claim: 01-compte-exact -->"),
        code("k = round(0.5 * 10)\nassert k == 5", ["01-compte-exact"]),
        code("v = compare(a, b)\ndisplay(say('01-a-bat-b', v, net='A bat B.', pas_net='Pas net.', inverse='B bat A.'))",
             ["01-a-bat-b"]),
        code(SAY[0], ["05-graduel"]),
        md("## À retenir\n\n- Le compte est exact <!-- claim: 01-compte-exact -->\n"
           "- Deux lignes,\n  la suite. <!-- claim: 01-deux -->\n\n## Suite\n\n- une puce libre"),
        code("for s in range(3):\n    assert s < 3", ["01-deux"]),
    ])
    summary = _notebook(folder, "10_a_retenir.ipynb", [
        md("# 10 — À retenir\n\n**Objectifs**\n- revoir le cours\n\n## Objectifs\n\n- revoir\n\n## 1. Compter\n\n"
           "- Le compte est exact. <!-- claim: 01-compte-exact -->"),
        code(SAY[0], ["05-graduel"]),     # même verdict, même fonction : permis
        md("## Quiz\n\n- une question ?"),
    ])
    return [a, summary]


def test_checker_accepts_a_well_paired_course(tmp_path):
    assert course_problems(_good_course(tmp_path)) == []


BAD_CASES = {
    "puce sans marqueur": (md("## À retenir\n\n- Un résultat sans preuve."), "puce « À retenir » sans marqueur"),
    "marqueur sans cellule": (md("Vrai. <!-- claim: 01-orphelin -->"), "« 01-orphelin » n'a pas de cellule"),
    "cellule sans assert ni verdict": (code("print('ok')", ["01-deux"]), "ni assert exécuté ni verdict"),
    "assert jamais exécuté": (code("def f():\n    assert True", ["01-deux"]), "ni assert exécuté ni verdict"),
    "say jamais appelé": (code("def f():\n    return say(1)", ["01-trois"]), "ni assert exécuté ni verdict"),
    "cellule qui ne prouve rien": (code("assert True", ["01-rien"]), "ne prouve aucune phrase"),
    "marqueur anglais dans le code": (code("# claim: 01-deux\nassert True"), "dans les métadonnées"),
    "métadonnée invalide": (code("assert True", "01-deux"), "métadonnée « claims » invalide"),
    "identifiant répété": (code("assert True", ["01-deux", "01-deux"]), "répété"),
    "deux cellules pour un ID": (code("assert 1", ["01-deux"]), "plusieurs cellules"),
    "ID mal formé": (md("Vrai. <!-- claim: 01_Mal -->"), "invalide"),
    "phrase fixe pour un verdict": (md("A bat B, c'est sûr. <!-- claim: 01-a-bat-b -->"), "une phrase fixe cite"),
    "tolérée par nbval": (code("assert False", ["01-deux"], tags=["raises-exception"]),
                          "nbval ne pourrait plus échouer"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_checker_fails_on_a_bad_notebook(case, tmp_path):
    good = _good_course(tmp_path)
    cell, expected = BAD_CASES[case]
    nb = nbformat.read(good[0], as_version=4)
    nb.cells.append(cell)
    nbformat.write(nb, good[0])
    problems = course_problems(good)
    assert any(expected in p for p in problems), problems


def test_checker_wants_one_experiment_per_verdict(tmp_path):
    good = _good_course(tmp_path)
    nb = nbformat.read(good[1], as_version=4)   # 10 recalcule le verdict de 01 autrement
    nb.cells.append(code("display(say('01-a-bat-b', compare(c, d), net='', pas_net='', inverse=''))",
                         ["01-a-bat-b"]))
    nbformat.write(nb, good[1])
    assert any("01-a-bat-b" in p and "une expérience par résultat" in p for p in course_problems(good))


def test_checker_catches_cross_notebook_mistakes(tmp_path):
    good = _good_course(tmp_path)
    # un notebook ordinaire ne peut pas renvoyer à l'affirmation d'un autre ; 10 le peut
    other = _notebook(tmp_path, "02_b.ipynb", [md("Déjà vu. <!-- claim: 01-deux -->")])
    problems = course_problems([*good, other])
    assert any("02_b.ipynb" in p and "01-deux" in p for p in problems), problems
    # une affirmation inconnue de tous les notebooks, citée par 10
    nb = nbformat.read(good[1], as_version=4)
    nb.cells.append(md("## 7. Inventé\n\n- Jamais mesuré. <!-- claim: 99-invente -->"))
    nbformat.write(nb, good[1])
    assert any("99-invente" in p and "aucun notebook" in p for p in course_problems(good))


# --- le cours ---------------------------------------------------------------------------------

NOTEBOOKS = claim_notebooks()


def test_every_claim_has_its_asserting_cell():
    problems = course_problems(NOTEBOOKS)
    assert not problems, f"{len(problems)} défaut(s) d'appariement :\n" + "\n".join(problems)


def test_the_course_states_checked_results():
    claims = [read_claims(p) for p in NOTEBOOKS]
    assert sum(len(c.exact) for c in claims) > 0, "aucune cellule qui affirme un résultat exact"
    assert any(c.speakers.get(cid) for c in claims for cid in c.cells), "aucun verdict calculé dans le cours"
