"""course-grade sur les vrais exercices : tous les points pour les solutions, zéro pour les
notebooks distribués, note partielle attendue pour le scheduler du chapitre ; et accord avec
``nbgrader generate_assignment`` + ``nbgrader autograde`` sur les mêmes soumissions."""

from __future__ import annotations

import copy
import csv

import nbformat
import pytest
from conftest import CHAPTER_SCHEDULER

from course_lib.grading import samples
from course_lib.grading.exercises import find_exercises
from course_lib.grading.generate import make_student_notebook
from course_lib.grading.grader import Limits, grade_folder
from course_lib.grading.nbgrader_course import NbgraderCourse

EXERCISES = find_exercises()

# Ce que le scheduler du chapitre doit rater : il n'atteint jamais la cible, il accélère, et son
# budget exclut l'égalité (les tests visibles, test_interface, le lui disent déjà ; les tests
# cachés le confirment).
CHAPTER_MUST_FAIL = {"test_interface", "test_cible_atteinte", "test_ralentit", "test_budget"}


def _sources():
    return {ex_id: nbformat.read(ex.source, as_version=4) for ex_id, ex in EXERCISES.items()}


def made_up_submissions() -> dict[tuple[str, str], object]:
    """(élève, exercice) -> notebook : alice répond tout, bob rend les notebooks distribués,
    carol colle le scheduler du chapitre."""
    subs = {}
    for ex_id, src in _sources().items():
        subs[("alice", ex_id)] = samples.filled(src)
        subs[("bob", ex_id)] = samples.untouched(src)
    subs[("carol", "8.5.2")] = samples.filled(_sources()["8.5.2"], {"scheduler": CHAPTER_SCHEDULER})
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("real")
    folder = base / "subs"
    folder.mkdir()
    for (student, ex_id), nb in made_up_submissions().items():
        nbformat.write(nb, folder / f"{student}_{ex_id}.ipynb")
    out = base / "grades.csv"
    grade_folder(folder, out, workers=2, limits=Limits(cell_timeout=120))
    rows = {(r["student"], r["exercise"]): r for r in csv.DictReader(out.open(encoding="utf-8"))}
    return rows, base


def test_solutions_get_full_marks(graded):
    rows, _ = graded
    for ex_id in EXERCISES:
        r = rows[("alice", ex_id)]
        assert r["score"] == r["max_score"] and float(r["max_score"]) > 0, r
        assert r["status"] == "ok" and r["failed"] == "", r
    assert rows[("alice", "8.5.1")]["manual_points"] == "2"  # l'analyse rédigée, à corriger


def test_untouched_student_notebooks_get_zero(graded):
    rows, base = graded
    for ex_id in EXERCISES:
        r = rows[("bob", ex_id)]
        assert r["score"] == "0" and r["status"] == "vide", r
        assert r["manual_points"] == "0"  # « VOTRE RÉPONSE ICI » non modifié : 0 d'office
    assert "réponse pas encore écrite" in (base / "feedback" / "bob.md").read_text(encoding="utf-8")


def test_chapter_scheduler_gets_the_expected_partial_score(graded):
    rows, base = graded
    r = rows[("carol", "8.5.2")]
    assert set(r["failed"].split()) == CHAPTER_MUST_FAIL, r
    src = _sources()["8.5.2"]
    lost = sum(c.metadata.nbgrader["points"] for c in src.cells
               if c.metadata.get("nbgrader", {}).get("grade_id") in CHAPTER_MUST_FAIL)
    assert 0 < float(r["score"]) == float(r["max_score"]) - lost, r
    text = (base / "feedback" / "carol.md").read_text(encoding="utf-8")
    assert "test_ralentit" in text and "il faut ralentir" in text


@pytest.mark.slow
def test_agreement_with_real_nbgrader(graded, tmp_path):
    """nbgrader generate_assignment + autograde dans un cours temporaire : mêmes notes."""
    rows, _ = graded
    course = NbgraderCourse(tmp_path / "course", command_timeout=900)
    course.generate()
    # nbgrader fabrique les mêmes notebooks élèves (hors étiquettes raises-exception ajoutées)
    for ex_id, src in _sources().items():
        ours = make_student_notebook(src)
        theirs = course.released(ex_id)
        for cell in ours.cells:
            tags = [t for t in cell.metadata.pop("tags", []) if t != "raises-exception"]
            if tags:
                cell.metadata["tags"] = tags
        assert [(c.source, c.metadata) for c in ours.cells] == [
            (c.source, c.metadata) for c in theirs.cells], ex_id

    subs = made_up_submissions()
    course.submit({key: copy.deepcopy(nb) for key, nb in subs.items()})
    course.autograde()
    theirs = course.scores()
    ours = {key: float(rows[key]["score"]) for key in subs}
    assert ours == theirs
