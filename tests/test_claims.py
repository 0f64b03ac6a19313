"""Chaque résultat énoncé a sa cellule qui le calcule et l'affirme (issue 11, notes/CLAIMS.md).

Convention (suivie par tous les notebooks) :
- une phrase qui énonce un résultat porte à sa fin le marqueur invisible
  ``<!-- claim: ID -->`` (ID en minuscules-avec-tirets, unique dans tout le cours) ; chaque
  puce d'une section « À retenir » en porte un ;
- la cellule de code qui le prouve commence par la ligne ``# claim: ID`` et contient au moins
  un ``assert`` exécuté (hors d'une ``def``) ; elle n'est ni ``raises-exception`` ni sautée
  par nbval (sinon nbval ne pourrait plus échouer) ;
- la cellule est dans le même notebook que le marqueur, sauf pour ``10_a_retenir`` qui peut
  renvoyer à un ID affirmé dans un autre notebook.

Ce test vérifie l'appariement ; nbval exécute les cellules : ``make test`` échoue le jour où
une affirmation cesse d'être vraie.
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
    cells: dict[str, list[int]] = field(default_factory=dict)     # ID -> cellules qui affirment
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


def _has_executed_assert(source: str) -> bool:
    try:
        tree = ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                   for ln in source.splitlines()))
    except SyntaxError:
        return False
    inside_def = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            inside_def.update(id(n) for n in ast.walk(node) if n is not node)
    return any(isinstance(n, ast.Assert) and id(n) not in inside_def for n in ast.walk(tree))


def read_claims(path: Path) -> NotebookClaims:
    nb = nbformat.read(path, as_version=4)
    found = NotebookClaims(path.name)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for cid in MARKER.findall(cell.source):
                found.markers.setdefault(cid, []).append(i)
        elif cell.cell_type == "code":
            lines = cell.source.lstrip("\n").splitlines()
            ids = []
            for line in lines:                       # les premières lignes « # claim: ID »
                m = CELL_TAG.match(line.strip())
                if not m:
                    break
                ids.append(m.group(1))
            if any(CELL_TAG.match(ln.strip()) for ln in lines[len(ids):]):
                found.problems.append(f"cellule {i} : « # claim: » doit être en tête de cellule")
            if not ids:
                continue
            if len(set(ids)) < len(ids):
                found.problems.append(f"cellule {i} : ligne « # claim: » répétée {ids}")
            for cid in dict.fromkeys(ids):
                found.cells.setdefault(cid, []).append(i)
            if not _has_executed_assert(cell.source):
                found.problems.append(f"cellule {i} ({', '.join(ids)}) : aucun assert exécuté")
            off = NBVAL_OFF.intersection(cell.metadata.get("tags", []))
            if off:
                found.problems.append(f"cellule {i} ({', '.join(ids)}) : étiquette {sorted(off)} "
                                      "(nbval ne pourrait plus échouer)")
    for cid in {*found.markers, *found.cells}:
        if not VALID_ID.fullmatch(cid):
            found.problems.append(f"ID « {cid} » invalide (attendu : minuscules-avec-tirets)")
    for cid, where in found.cells.items():
        if len(where) > 1:
            found.problems.append(f"ID « {cid} » affirmé par plusieurs cellules {where}")
    for i, text in _retenir_bullets(nb):
        if not MARKER.search(text):
            found.problems.append(f"cellule {i} : puce « À retenir » sans marqueur <!-- claim: ID --> : "
                                  f"« {' '.join(text.split())[:90]} »")
    return found


def course_problems(paths: list[Path]) -> list[str]:
    """Tous les défauts d'appariement du cours, notebook par notebook puis entre notebooks."""
    claims = [read_claims(p) for p in paths]
    problems = [f"{c.name} : {p}" for c in claims for p in c.problems]
    asserted: dict[str, list[str]] = {}
    for c in claims:
        for cid in c.cells:
            asserted.setdefault(cid, []).append(c.name)
    marked: dict[str, list[str]] = {}
    for c in claims:
        for cid in c.markers:
            marked.setdefault(cid, []).append(c.name)
    for cid, names in asserted.items():
        if len(names) > 1:
            problems.append(f"ID « {cid} » affirmé dans plusieurs notebooks : {names}")
    for cid, names in marked.items():
        owners = [n for n in names if not n.startswith(SUMMARY_PREFIX)]
        if len(owners) > 1:
            problems.append(f"ID « {cid} » marqué dans plusieurs notebooks : {owners} (un ID par résultat)")
    for c in claims:
        summary = c.name.startswith(SUMMARY_PREFIX)
        for cid, cells in c.markers.items():
            if cid in c.cells:
                continue
            if summary and cid in asserted:
                continue
            where = "dans aucun notebook" if summary else "dans ce notebook"
            problems.append(f"{c.name}, cellule {cells[0]} : « {cid} » n'a pas de cellule "
                            f"« # claim: {cid} » avec un assert {where}")
        for cid, cells in c.cells.items():
            if cid not in c.markers:
                problems.append(f"{c.name}, cellule {cells[0]} : « # claim: {cid} » ne prouve aucune "
                                "phrase (marqueur <!-- claim: ... --> absent du notebook)")
    return problems


# --- le vérificateur sait échouer : un petit cours écrit par le test -------------------------

def _notebook(folder: Path, name: str, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = folder / name
    nbformat.write(nb, path)
    return path


md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


def _good_course(folder: Path) -> list[Path]:
    a = _notebook(folder, "01_a.ipynb", [
        md("# 01 — A\n\nLe compte est exact. <!-- claim: 01-compte-exact -->"),
        code("# claim: 01-compte-exact\nk = round(0.5 * 10)\nassert k == 5"),
        md("## À retenir\n\n- Le compte est exact <!-- claim: 01-compte-exact -->\n"
           "- Deux lignes,\n  la suite. <!-- claim: 01-deux -->\n\n## Suite\n\n- une puce libre"),
        code("# claim: 01-deux\nfor s in range(3):\n    assert s < 3"),
    ])
    summary = _notebook(folder, "10_a_retenir.ipynb", [
        md("# 10 — À retenir\n\n**Objectifs**\n- revoir le cours\n\n## Objectifs\n\n- revoir\n\n## 1. Compter\n\n"
           "- Le compte est exact. <!-- claim: 01-compte-exact -->"),
        md("## Quiz\n\n- une question ?"),
    ])
    return [a, summary]


def test_checker_accepts_a_well_paired_course(tmp_path):
    assert course_problems(_good_course(tmp_path)) == []


BAD_CASES = {
    "puce sans marqueur": (md("## À retenir\n\n- Un résultat sans preuve."), "puce « À retenir » sans marqueur"),
    "marqueur sans cellule": (md("Vrai. <!-- claim: 01-orphelin -->"), "« 01-orphelin » n'a pas de cellule"),
    "cellule sans assert": (code("# claim: 01-deux\nprint('ok')"), "aucun assert exécuté"),
    "assert jamais exécuté": (code("# claim: 01-deux\ndef f():\n    assert True"), "aucun assert exécuté"),
    "cellule qui ne prouve rien": (code("# claim: 01-rien\nassert True"), "ne prouve aucune phrase"),
    "marqueur pas en tête": (code("x = 1\n# claim: 01-deux\nassert x"), "doit être en tête"),
    "ligne répétée": (code("# claim: 01-deux\n# claim: 01-deux\nassert True"), "répétée"),
    "ID mal formé": (md("Vrai. <!-- claim: 01_Mal -->"), "invalide"),
    "tolérée par nbval": (code("# claim: 01-deux\nassert False", metadata={"tags": ["raises-exception"]}),
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
    assert sum(len(c.cells) for c in claims) > 0, "aucune cellule « # claim: ID » dans le cours"
