"""Exercices 8.5.1-8.5.3 : sources nbgrader, notebooks élèves générés, copie élève.

L'exécution (solutions : tous les tests cachés passent ; notebooks élèves : réponses vides
tolérées) est faite par nbval (``make test``) ; ici, la forme et la génération.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from conftest import ROOT

from course_lib.grading import generate, student_copy
from course_lib.grading.exercises import find_exercises

EXERCISES = find_exercises()
IDS = list(EXERCISES)
REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def source(ex_id):
    return nbformat.read(EXERCISES[ex_id].source, as_version=4)


def student(ex_id):
    return nbformat.read(ROOT / "notebooks" / "exercices" / EXERCISES[ex_id].filename, as_version=4)


def test_the_three_exercises_exist():
    assert IDS == ["8.5.1", "8.5.2", "8.5.3"]
    for ex in EXERCISES.values():
        assert (ROOT / "notebooks" / "exercices" / ex.filename).exists(), ex.filename


def test_committed_student_notebooks_are_what_the_command_generates():
    stale = generate.build(check=True)
    assert not stale, f"Lancez `make exercises` : {stale}"


def test_check_detects_a_stale_student_notebook(tmp_path):
    assert len(generate.build(out_dir=tmp_path)) == 3
    assert generate.build(out_dir=tmp_path, check=True) == []
    target = tmp_path / EXERCISES["8.5.2"].filename
    target.write_text(target.read_text().replace("raise NotImplementedError()", "pass", 1))
    assert generate.build(out_dir=tmp_path, check=True) == [target]
    assert generate.main(["--out", str(tmp_path), "--check"]) == 1


@pytest.mark.parametrize("ex_id", IDS)
def test_nbgrader_metadata(ex_id):
    nb = source(ex_id)
    ids = [c.metadata.nbgrader["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "grade_id en double"
    grades = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert grades, "aucune cellule notée"
    for c in nb.cells:
        m = c.metadata.get("nbgrader")
        if m is None:
            continue
        assert {"grade_id", "solution", "grade", "locked", "schema_version"} <= set(m), m
        assert m["schema_version"] == 3
        if m["grade"]:
            assert m["points"] > 0
        if m["grade"] and not m["solution"]:
            assert m["locked"] and c.cell_type == "code", m["grade_id"]
        if "### BEGIN SOLUTION" in c.source:
            assert m["solution"], m["grade_id"]
    assert any("### BEGIN HIDDEN TESTS" in c.source for c in grades), "aucun test caché"
    assert any(c.cell_type == "markdown" and "Test" not in c.source for c in nb.cells)


def _protected_lines(nb) -> set[str]:
    """Lignes propres aux solutions et aux tests cachés (absentes du reste de la source)."""
    inside, outside = set(), set()
    for c in nb.cells:
        text = c.source
        is_answer_md = c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")
        regions = [m.group(2) for m in REGION.finditer(text)]
        for r in regions + ([text] if is_answer_md else []):
            inside |= {line.strip() for line in r.splitlines() if line.strip()}
        rest = "" if is_answer_md else REGION.sub("", text)
        outside |= {line.strip() for line in rest.splitlines() if line.strip()}
    return inside - outside


@pytest.mark.parametrize("ex_id", IDS)
def test_no_solution_or_hidden_test_in_student_notebook(ex_id):
    protected = _protected_lines(source(ex_id))
    assert len(protected) > 10
    nb = student(ex_id)
    text = "\n".join(c.source for c in nb.cells)
    leaked = sorted(protected & {line.strip() for line in text.splitlines()})
    assert not leaked, f"solutions/tests cachés visibles dans le notebook élève : {leaked[:5]}"
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert all(line in text for line in generate.CODE_STUB.splitlines())  # amorce (indentée)
    if ex_id == "8.5.1":  # la réponse rédigée est remplacée par l'amorce
        assert generate.TEXT_STUB in text


@pytest.mark.parametrize("ex_id", IDS)
def test_student_notebook_has_visible_tests_and_locked_cells(ex_id):
    nb = student(ex_id)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata.nbgrader.get("solution")]
    assert any("assert" in c.source for c in tests), "aucun test visible"
    for c in tests:
        assert c.metadata.get("editable") is False and c.metadata.get("deletable") is False
        assert c.metadata.nbgrader.get("checksum"), "somme de contrôle nbgrader absente"


@pytest.mark.parametrize("ex_id", IDS)
def test_raises_exception_tags(ex_id):
    """Élève : réponses et cellules qui en dépendent étiquetées ; solutions : aucune étiquette,
    pour que nbval y échoue si un test caché échoue."""
    assert not any("raises-exception" in c.metadata.get("tags", []) for c in source(ex_id).cells)
    nb = student(ex_id)
    first = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            assert ("raises-exception" in c.metadata.get("tags", [])) == (i >= first), i


@pytest.mark.parametrize("ex_id", IDS)
def test_first_code_cell_follows_the_notebook_conventions(ex_id):
    first = next(c for c in student(ex_id).cells if c.cell_type == "code")
    assert 'DATASET = "digits"' in first.source and "SEED = 0" in first.source
    text = json.dumps(nbformat.from_dict(student(ex_id)))
    assert "compare_pruning_criteria(" not in text.replace("`compare_pruning_criteria`", "")


def test_student_copy_has_no_solutions(tmp_path):
    target = tmp_path / "eleves"
    files = student_copy.make_student_copy(target)
    assert files and (target / "notebooks" / "exercices" / EXERCISES["8.5.1"].filename).exists()
    assert (target / "course_lib" / "__init__.py").exists() and (target / "pyproject.toml").exists()
    assert not (target / "solutions").exists() and not (target / "tests").exists()
    assert student_copy.leaks(target) == []
    for ex in EXERCISES.values():
        assert (target / "notebooks" / "exercices" / ex.filename).read_text() == (
            ROOT / "notebooks" / "exercices" / ex.filename).read_text()


def test_student_copy_refuses_a_non_empty_target_and_detects_leaks(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="n'est pas vide"):
        student_copy.make_student_copy(tmp_path)
    (tmp_path / "fuite.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    assert student_copy.leaks(tmp_path) == ["fuite.py : ### BEGIN SOLUTION"]
    with pytest.raises(ValueError):
        student_copy.make_student_copy(ROOT / "notebooks" / "copie")


# Les erreurs typiques que les tests visibles doivent attraper, et les réponses justes écrites
# autrement : le catalogue tests/wrong_answers/, exécuté par tests/test_wrong_answers.py.
