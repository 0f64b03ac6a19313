"""Les tests des exercices, testés par le catalogue ``tests/wrong_answers`` (voir son module).

1. Tests visibles du notebook élève, exécutés dans ce processus (``runner``) : chaque erreur
   échoue à sa cellule de tests visibles avec un message qui nomme l'idée fausse, sans montrer une
   ligne de la solution ; chaque réponse juste passe.
2. Correcteur : tout le catalogue forme UNE classe, notée en un seul passage de ``grade_folder``
   (bac à sable s'il est disponible) : une erreur ou une attaque perd des points, une réponse juste
   a tous les points et le statut ``ok``, une copie de la bibliothèque est ``a_verifier``.
3. Détecteur de copies (``grading.similarity``) : aucun faux positif sur les réponses écrites par
   un élève honnête (justes ou fausses), chaque copie repérée.
"""

from __future__ import annotations

import csv
import re

import nbformat
import pytest
from wrong_answers import all_answers
from wrong_answers.runner import run_visible, visible_tests

from course_lib.grading import samples, sandbox, similarity
from course_lib.grading.exercises import find_exercises
from course_lib.grading.grader import Limits, grade_folder

ANSWERS = all_answers()
EXERCISES = find_exercises()
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _id(answer) -> str:
    return f"{answer.exercise}-{answer.name}"


def _solution_lines(ex_id: str) -> set[str]:
    nb = nbformat.read(EXERCISES[ex_id].source, as_version=4)
    return {line.strip() for c in nb.cells for region in SOLUTION.findall(c.source)
            for line in region.splitlines() if len(line.strip()) >= 25}


def test_the_catalogue_covers_each_exercise():
    for ex_id in EXERCISES:
        kinds = {a.kind for a in ANSWERS if a.exercise == ex_id}
        assert {"faux", "juste", "copie", "attaque"} <= kinds, (ex_id, kinds)
    assert {a.visible for a in ANSWERS if a.kind == "faux"} <= {
        t for ex_id in EXERCISES for t in visible_tests(ex_id)}


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.kind == "juste"], ids=_id)
def test_correct_answers_pass_the_visible_tests(answer):
    assert run_visible(answer.exercise, answer.cells) == {}


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.kind == "faux"], ids=_id)
def test_each_mistake_fails_a_visible_test_that_names_it(answer):
    failures = run_visible(answer.exercise, answer.cells)
    assert answer.visible in failures, f"{answer.name} : les tests visibles l'acceptent ({failures})"
    message = failures[answer.visible]
    missing = [text for text in answer.expect if text not in message]
    assert not missing, f"{answer.name} : le message n'explique pas l'erreur ({missing}) :\n{message}"
    shown = [line for line in _solution_lines(answer.exercise) if line in message]
    assert not shown, f"{answer.name} : le message montre la solution : {shown}"


def test_no_honest_answer_is_taken_for_a_library_copy():
    honest = [a for a in ANSWERS if a.kind in ("juste", "faux")]
    flagged = {a.name: [str(c) for c in similarity.library_copies(dict(enumerate(a.cells.values())), a.exercise)]
               for a in honest}
    assert {k: v for k, v in flagged.items() if v} == {}


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.kind == "copie"], ids=_id)
def test_each_library_copy_is_flagged_with_a_reason(answer):
    found = similarity.library_copies(dict(enumerate(answer.cells.values())), answer.exercise)
    assert found, f"{answer.name} : copie de course_lib non repérée"
    assert all("course_lib" in str(f) or "getattr" in str(f) for f in found), found


def test_similarity_ignores_renamed_identifiers_and_docstrings():
    a = 'def f(x, y):\n    """Doc."""\n    total = x.sum() + torch.cat(y)\n    return total / 2\n'
    b = "def g(u, v):\n    s = u.sum() + torch.cat(v)\n    return s / 2\n"
    c = "def g(u, v):\n    s = u.mean() + torch.stack(v)\n    return s * 3\n"
    tokens = [tuple(similarity.tokens(similarity._parse(s).body[0])) for s in (a, b, c)]
    assert similarity.similarity(tokens[0], tokens[1]) == 1.0
    assert similarity.similarity(tokens[0], tokens[2]) < 1.0


# ----------------------------------------------------------------------------- le correcteur

def _bwrap_available() -> bool:
    try:
        sandbox.find_bwrap()
    except Exception:  # noqa: BLE001  (absent, ou espaces de noms refusés)
        return False
    return True


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Tout le catalogue, une soumission par réponse, noté en un seul passage."""
    base = tmp_path_factory.mktemp("catalogue")
    folder = base / "classe"
    folder.mkdir()
    sources = {ex_id: nbformat.read(ex.source, as_version=4) for ex_id, ex in EXERCISES.items()}
    files = {}
    for answer in ANSWERS:
        name = f"{answer.name}_{answer.exercise}.ipynb"
        nbformat.write(samples.filled(sources[answer.exercise], answer.cells), folder / name)
        files[name] = answer
    out = base / "notes.csv"
    grade_folder(folder, out, workers=2, limits=Limits(cell_timeout=120, sandbox=_bwrap_available()))
    rows = {r["file"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    return [(files[name], rows[name]) for name in files]


def test_the_grader_scores_the_catalogue(graded):
    problems = []
    for answer, row in graded:
        score, top, status = float(row["score"].replace(",", ".")), float(row["max_score"].replace(",", ".")), row["status"]
        if answer.kind == "juste" and (score != top or status != "ok"):
            problems.append(f"{_id(answer)} (juste) : {score:g}/{top:g}, {status}, échecs : {row['failed']}")
        if answer.kind in ("faux", "attaque") and not score < top:
            problems.append(f"{_id(answer)} ({answer.kind}) : tous les points ({score:g}/{top:g})")
        if answer.kind in ("faux", "juste") and "a_verifier" in status:
            problems.append(f"{_id(answer)} ({answer.kind}) : signalé à tort : {row['detail']}")
        if answer.kind == "copie" and "a_verifier" not in status:
            problems.append(f"{_id(answer)} (copie) : pas signalé ({status})")
    assert not problems, "\n".join(problems)
