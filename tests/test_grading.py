"""course-grade sur un petit exercice factice (sans PyTorch : noyaux rapides).

Chaque cas difficile est une soumission fabriquée, notée dans UN même passage de ``course-grade`` :
les autres soumissions doivent être notées normalement et aucune soumission n'est modifiée.
"""

from __future__ import annotations

import csv
import hashlib
import json

import nbformat
import pytest

from course_lib.grading import cli, samples
from course_lib.grading.generate import make_student_notebook
from course_lib.grading.grader import Result, write_csv
from course_lib.grading.submissions import Submission, find_submissions, parse_name

ANSWER = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
VISIBLE = "assert double(2) == 4\nprint('ok')"
HIDDEN = ("# Test caché (2 points)\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n"
          "assert double(0.5) == 1.0\n### END HIDDEN TESTS")


def _meta(gid, grade, solution, locked, points=None):
    m = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3,
         "solution": solution, "task": False}
    if grade:
        m["points"] = points
    return {"nbgrader": m}


def fake_source():
    v4 = nbformat.v4
    cells = [v4.new_markdown_cell("# Doubler", metadata=_meta("consigne", False, False, True)),
             v4.new_code_cell(ANSWER, metadata=_meta("reponse", False, True, False)),
             v4.new_code_cell(VISIBLE, metadata=_meta("test_visible", True, False, True, 1)),
             v4.new_code_cell(HIDDEN, metadata=_meta("test_cache", True, False, True, 2))]
    for i, c in enumerate(cells):
        c["id"] = str(i)
    return v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})


def with_answer(source, text):
    return samples.filled(source, {"reponse": text})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Un passage de course-grade sur toutes les soumissions factices."""
    base = tmp_path_factory.mktemp("grading")
    sol = base / "solutions"
    sol.mkdir()
    source = fake_source()
    nbformat.write(source, sol / "ex_0_0_1_double.ipynb")
    subs = base / "subs"
    (subs / "eve").mkdir(parents=True)
    outside = base / "outside.txt"
    good = "def double(x):\n    return 2 * x"
    edited = make_student_notebook(source)
    edited.cells[1].source = "def double(x):\n    return x"
    edited.cells[2].source = "pass"
    edited.cells[3].source = "pass"
    notebooks = {
        "alice_0.0.1.ipynb": with_answer(source, good),
        "eve/ex_0_0_1_double.ipynb": with_answer(source, good),
        "bob_ex_0_0_1.ipynb": make_student_notebook(source),
        "loop_0_0_1.ipynb": with_answer(source, good + "\nwhile True:\n    pass"),
        "stubborn_0.0.1.ipynb": with_answer(source, good + "\nimport time\nwhile True:\n    try:\n"
                                            "        time.sleep(0.1)\n    except KeyboardInterrupt:\n"
                                            "        pass"),
        "crash_0.0.1.ipynb": with_answer(source, good + "\nimport os\nos._exit(3)"),
        "killer_0.0.1.ipynb": with_answer(source, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        "raiser_0.0.1.ipynb": with_answer(source, "def double(x):\n    raise RuntimeError('boum')\n"
                                          "raise ValueError('partout')"),
        "edited_0.0.1.ipynb": edited,
        "writer_0.0.1.ipynb": with_answer(source, good + f"\nopen({str(outside)!r}, 'w').write('x')"),
        "escaper_0.0.1.ipynb": with_answer(source, good + "\nimport os\nos.makedirs('../../evade', "
                                           "exist_ok=True)"),
        "hog_0.0.1.ipynb": with_answer(source, "def double(x):\n    b = bytearray(16 * 1024**3)\n"
                                       "    return 2 * x"),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / name)
    (subs / "invalid_0.0.1.ipynb").write_text('{"cells": [', encoding="utf-8")
    (subs / "notes.ipynb").write_text("{}", encoding="utf-8")
    (subs / "zoe_9.9.9.ipynb").write_text("{}", encoding="utf-8")
    hashes = {p: hashlib.sha256(p.read_bytes()).digest() for p in subs.rglob("*.ipynb")}
    out = base / "out" / "grades.csv"
    rc = cli.main([str(subs), "--out", str(out), "--workers", "2", "--timeout", "4",
                   "--total-timeout", "15", "--memory-mb", "1024", "--solutions", str(sol), "-q"])
    assert rc == 0
    rows = {r["file"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    feedback = {p.stem: p.read_text(encoding="utf-8") for p in (base / "out" / "feedback").glob("*.md")}
    return {"rows": rows, "feedback": feedback, "hashes": hashes, "outside": outside, "base": base,
            "out": out}


def row(graded, name):
    return graded["rows"][name]


def test_correct_answers_get_full_marks_in_both_layouts(graded):
    for name in ("alice_0.0.1.ipynb", "eve/ex_0_0_1_double.ipynb"):
        r = row(graded, name)
        assert (r["score"], r["max_score"], r["status"], r["failed"]) == ("3", "3", "ok", ""), r
    assert row(graded, "eve/ex_0_0_1_double.ipynb")["student"] == "eve"


def test_untouched_notebook_gets_zero(graded):
    r = row(graded, "bob_ex_0_0_1.ipynb")
    assert (r["score"], r["max_score"], r["failed"]) == ("0", "3", "test_visible test_cache")
    assert "réponse pas encore écrite" in graded["feedback"]["bob"]


def test_infinite_loop_is_interrupted_and_the_rest_is_graded(graded):
    r = row(graded, "loop_0_0_1.ipynb")
    assert "delai_depasse" in r["status"] and r["score"] == "3", r


def test_loop_that_ignores_interrupts_is_killed(graded):
    r = row(graded, "stubborn_0.0.1.ipynb")
    assert "delai_depasse" in r["status"] and r["score"] == "0", r
    assert "délai total" in graded["feedback"]["stubborn"]


@pytest.mark.parametrize("name", ["crash", "killer"])
def test_kernel_crash_is_reported(graded, name):
    r = row(graded, f"{name}_0.0.1.ipynb")
    assert "noyau_arrete" in r["status"] and r["score"] == "0", r
    assert "non exécutée" in graded["feedback"][name]


def test_raising_everywhere_gives_zero_with_the_reason(graded):
    r = row(graded, "raiser_0.0.1.ipynb")
    assert (r["score"], r["status"]) == ("0", "ok"), r
    assert "RuntimeError: boum" in graded["feedback"]["raiser"]


def test_invalid_json_is_reported(graded):
    r = row(graded, "invalid_0.0.1.ipynb")
    assert (r["score"], r["max_score"], r["status"]) == ("0", "3", "illisible"), r
    assert "illisible" in graded["feedback"]["invalid"]


def test_edited_locked_cells_are_detected_and_restored(graded):
    r = row(graded, "edited_0.0.1.ipynb")
    assert "cellules_verrouillees_modifiees" in r["status"] and r["score"] == "0", r
    assert "test_visible, test_cache" in graded["feedback"]["edited"]
    assert "cellules_verrouillees" not in row(graded, "alice_0.0.1.ipynb")["status"]


def test_writes_outside_the_work_folder_are_denied(graded):
    for name in ("writer", "escaper"):
        r = row(graded, f"{name}_0.0.1.ipynb")
        assert "ecriture_refusee" in r["status"] and r["score"] == "3", r
        assert "refusé" in graded["feedback"][name] or "refusées" in graded["feedback"][name]
    assert not graded["outside"].exists()
    assert not any(graded["base"].parent.glob("evade")) and not (graded["base"] / "evade").exists()


def test_memory_limit_turns_a_huge_allocation_into_an_error(graded):
    r = row(graded, "hog_0.0.1.ipynb")
    assert r["score"] == "0", r
    assert "MemoryError" in graded["feedback"]["hog"]


def test_bad_names_and_unknown_exercises_are_listed(graded):
    assert row(graded, "notes.ipynb")["status"] == "nom_invalide"
    assert row(graded, "zoe_9.9.9.ipynb")["status"] == "exercice_inconnu"
    assert "nom invalide" in graded["feedback"]["_non_notes"]


def test_submissions_are_never_modified(graded):
    for path, digest in graded["hashes"].items():
        assert hashlib.sha256(path.read_bytes()).digest() == digest, path


def test_csv_has_one_row_per_file_and_no_temporary_leftovers(graded):
    assert len(graded["rows"]) == len(graded["hashes"])
    assert [p.name for p in graded["out"].parent.iterdir() if p.is_file()] == ["grades.csv"]


# --- unités -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rel, student, exercise", [
    ("alice_8.5.2.ipynb", "alice", "8.5.2"),
    ("alice_ex_8_5_2_scheduler_adaptatif.ipynb", "alice", "8.5.2"),
    ("jean_paul_8_5_1.ipynb", "jean_paul", "8.5.1"),
    ("bob/ex_8_5_3.ipynb", "bob", "8.5.3"),
    ("bob/8.5.3.ipynb", "bob", "8.5.3"),
])
def test_naming_rule(tmp_path, rel, student, exercise):
    sub = parse_name(tmp_path / rel, tmp_path)
    assert (sub.student, sub.exercise, sub.problem) == (student, exercise, "")


@pytest.mark.parametrize("rel", ["alice.ipynb", "8.5.2.ipynb", "a/b/ex_8_5_2.ipynb", "_x_8.5.2.ipynb",
                                 "alice/notes.ipynb"])
def test_naming_rule_rejects(tmp_path, rel):
    assert parse_name(tmp_path / rel, tmp_path).problem.startswith("nom invalide")


def test_checkpoints_are_ignored(tmp_path):
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a_8.5.1-checkpoint.ipynb").write_text("{}")
    (tmp_path / "a_8.5.1.ipynb").write_text("{}")
    assert [s.relpath for s in find_submissions(tmp_path)] == ["a_8.5.1.ipynb"]


def test_csv_write_is_atomic(tmp_path, monkeypatch):
    """Une écriture qui échoue en route laisse l'ancien CSV intact et aucun fichier temporaire."""
    out = tmp_path / "grades.csv"
    out.write_text("ancien\n")
    results = [Result(Submission(tmp_path / "a_8.5.1.ipynb", "a", "8.5.1", relpath="a_8.5.1.ipynb"))]

    def boom(*_a, **_k):
        raise OSError("disque plein")

    monkeypatch.setattr("course_lib.grading.grader.os.replace", boom)
    with pytest.raises(OSError):
        write_csv(results, out)
    assert out.read_text() == "ancien\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]
    monkeypatch.undo()
    write_csv(results, out)
    assert out.read_text().splitlines()[1].startswith("a,8.5.1,a_8.5.1.ipynb,0,0")


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(tmp_path / "absent"), "--out", str(tmp_path / "g.csv")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        cli.main([str(tmp_path), "--out", str(tmp_path / "g.csv"), "--workers", "0"])
    assert "introuvable" in capsys.readouterr().err


def test_fake_source_is_valid_nbgrader():
    nb = make_student_notebook(fake_source())
    assert "BEGIN" not in json.dumps(nb) and "double(-3)" not in json.dumps(nb)
