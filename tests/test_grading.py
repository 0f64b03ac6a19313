"""course-grade sur un petit exercice factice (sans PyTorch : noyaux rapides).

Chaque cas difficile est une soumission fabriquée, notée dans UN même passage de ``course-grade`` :
les autres soumissions doivent être notées normalement et aucune soumission n'est modifiée.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

import nbformat
import pytest

import course_lib
from course_lib.grading import cli, samples
from course_lib.grading.generate import make_student_notebook
from course_lib.grading.grader import CellResult, Result, write_csv
from course_lib.grading.submissions import Submission, find_submissions, parse_name

ANSWER = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
VISIBLE = "assert double(2) == 4\nprint('ok')"
HIDDEN = ("# Test caché (2 points)\n### BEGIN HIDDEN TESTS\nassert abs(double(-3) + 6) < 1e-9\n"
          "assert abs(double(0.5) - 1.0) < 1e-9, 'double(0.5) doit valoir 1.0'\n### END HIDDEN TESTS")


def _meta(gid, grade, solution, locked, points=None):
    m = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3,
         "solution": solution, "task": False}
    if grade:
        m["points"] = points
    return {"nbgrader": m}


def source_notebook(first, answer: str, visible: str, hidden: str):
    """Notebook source factice : ``first`` (cellule de tête), la réponse (``reponse``), un test
    visible (1 point), un test caché (2 points)."""
    v4 = nbformat.v4
    cells = [first,
             v4.new_code_cell(answer, metadata=_meta("reponse", False, True, False)),
             v4.new_code_cell(visible, metadata=_meta("test_visible", True, False, True, 1)),
             v4.new_code_cell(hidden, metadata=_meta("test_cache", True, False, True, 2))]
    for i, c in enumerate(cells):
        c["id"] = str(i)
    return v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})


def fake_source():
    title = nbformat.v4.new_markdown_cell("# Doubler", metadata=_meta("consigne", False, False, True))
    return source_notebook(title, ANSWER, VISIBLE, HIDDEN)


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
        "syntax_0.0.1.ipynb": with_answer(source, "def double(x):\n    return 2 * x +\n"),
        "empty_0.0.1.ipynb": nbformat.v4.new_notebook(),
        "half_0.0.1.ipynb": with_answer(source, "def double(x):\n    return 2 * x if x < 0 else 4 * x"),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / name)
    (subs / "invalid_0.0.1.ipynb").write_text('{"cells": [', encoding="utf-8")
    (subs / "notes.ipynb").write_text("{}", encoding="utf-8")
    (subs / "zoe_9.9.9.ipynb").write_text("{}", encoding="utf-8")
    hashes = {p: hashlib.sha256(p.read_bytes()).digest() for p in subs.rglob("*.ipynb")}
    out = base / "out" / "grades.csv"
    rc = cli.main([str(subs), "--out", str(out), "--workers", "2", "--timeout", "4",
                   "--total-timeout", "30", "--memory-mb", "1024", "--solutions", str(sol), "-q"])
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
    assert r["status"] == "vide", r
    assert "réponse pas encore écrite" in graded["feedback"]["bob"]


def test_infinite_loop_is_interrupted_and_the_rest_is_graded(graded):
    r = row(graded, "loop_0_0_1.ipynb")
    assert "delai_depasse" in r["status"] and r["score"] == "3", r


def test_loop_that_ignores_interrupts_is_killed(graded):
    """Le noyau sourd à l'interruption est tué peu après le délai de SA cellule (pas au délai
    total) : le message le dit."""
    r = row(graded, "stubborn_0.0.1.ipynb")
    assert "delai_depasse" in r["status"] and r["score"] == "0", r
    text = graded["feedback"]["stubborn"]
    assert "n'a pas répondu à l'interruption" in text and "délai total" not in text, text


@pytest.mark.parametrize("name", ["crash", "killer"])
def test_kernel_crash_is_reported(graded, name):
    r = row(graded, f"{name}_0.0.1.ipynb")
    assert "noyau_arrete" in r["status"] and r["score"] == "0", r
    assert "non exécutée" in graded["feedback"][name]


def test_raising_everywhere_gives_zero_with_the_reason(graded):
    r = row(graded, "raiser_0.0.1.ipynb")
    assert (r["score"], r["status"]) == ("0", "ok"), r
    text = graded["feedback"]["raiser"]
    assert "RuntimeError: boum" in text
    # la première erreur de l'élève vient AVANT les résultats des tests, avec sa ligne ; les
    # cellules de CODE sont comptées à partir de 1 (la consigne en markdown ne compte pas)
    first = text.index("Première erreur")
    assert "ValueError: partout (cellule de code n° 1, ligne 3)" in text[first:first + 200], text
    assert first < text.index("test_visible")


def test_syntax_error_is_reported_as_such(graded):
    r = row(graded, "syntax_0.0.1.ipynb")
    assert (r["score"], r["status"]) == ("0", "erreur_syntaxe"), r
    text = graded["feedback"]["syntax"]
    assert "SyntaxError" in text and "ligne 2" in text, text
    assert text.index("SyntaxError") < text.index("test_visible")
    # en français, cellule de code comptée à partir de 1, et la cause des tests échoués
    assert "erreur de syntaxe dans la cellule de code n° 1, ligne 2 : syntaxe invalide" in text, text
    assert "les tests qui s'en servent échouent" in text, text


def test_empty_notebook_is_vide(graded):
    r = row(graded, "empty_0.0.1.ipynb")
    assert (r["score"], r["status"]) == ("0", "vide;cellules_supprimees"), r


def test_feedback_shows_no_hidden_test_source_and_no_instructor_path(graded):
    hidden_lines = [ln for ln in HIDDEN.splitlines()[2:-1]]
    for student, text in graded["feedback"].items():
        for line in hidden_lines:
            assert line not in text, (student, line)
        for path in (str(graded["base"]), sys.prefix, str(Path(course_lib.__file__).parent)):
            assert path not in text, (student, path)
    assert "double(0.5) doit valoir 1.0" in graded["feedback"]["half"]  # le message, lui, reste


def test_invalid_json_is_reported(graded):
    r = row(graded, "invalid_0.0.1.ipynb")
    assert (r["score"], r["max_score"], r["status"]) == ("0", "3", "illisible"), r
    assert "illisible" in graded["feedback"]["invalid"]


def test_edited_locked_cells_are_detected_and_restored(graded):
    r = row(graded, "edited_0.0.1.ipynb")
    assert "cellules_verrouillees_modifiees" in r["status"] and r["score"] == "0", r
    assert "test_visible, test_cache" in graded["feedback"]["edited"]
    assert "cellules_verrouillees" not in row(graded, "alice_0.0.1.ipynb")["status"]


def test_writes_outside_the_work_folder_fail(graded):
    for name in ("writer", "escaper"):
        r = row(graded, f"{name}_0.0.1.ipynb")
        assert (r["score"], r["status"]) == ("3", "ok"), r
        assert "Première erreur" in graded["feedback"][name]
    assert "FileNotFoundError" in graded["feedback"]["writer"]
    assert not graded["outside"].exists()
    assert not any(graded["base"].parent.glob("evade")) and not (graded["base"] / "evade").exists()


def test_memory_limit_turns_a_huge_allocation_into_an_error(graded):
    r = row(graded, "hog_0.0.1.ipynb")
    assert (r["score"], r["status"]) == ("0", "memoire"), r
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
    assert sorted(p.name for p in graded["out"].parent.iterdir() if p.is_file()) == [
        "grades.csv", "grades_ecartes.csv", "grades_totaux.csv"]


def test_totals_have_one_row_per_student(graded):
    totals = {r["student"]: r for r in csv.DictReader(
        (graded["out"].parent / "grades_totaux.csv").open(encoding="utf-8"))}
    assert totals["alice"]["0.0.1"] == "3" and totals["alice"]["total"] == "3"
    assert totals["alice"]["max_total"] == "3" and totals["bob"]["total"] == "0"
    assert "" not in totals  # les fichiers mal nommés n'y sont pas


# --- unités -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rel, student, exercise", [
    ("alice_8.5.2.ipynb", "alice", "8.5.2"),
    ("alice_ex_8_5_2_scheduler_adaptatif.ipynb", "alice", "8.5.2"),
    ("jean_paul_8_5_1.ipynb", "jean_paul", "8.5.1"),
    ("bob/ex_8_5_3.ipynb", "bob", "8.5.3"),
    ("bob/8.5.3.ipynb", "bob", "8.5.3"),
    ("Élodie Martin_8.5.2.ipynb", "Élodie Martin", "8.5.2"),
    ("alice_8.5.2 (1).ipynb", "alice", "8.5.2"),
    ("Jean-Noël d'Arc/ex_8_5_2_scheduler_adaptatif (2).ipynb", "Jean-Noël d'Arc", "8.5.2"),
    ("Zoé Dupont_123456_assignsubmission_file_/ex_8_5_1_comparaison_criteres.ipynb",
     "Zoé Dupont (123456)", "8.5.1"),
    ("Zoé Dupont_123456_assignsubmission_file_zoe_8.5.3.ipynb", "Zoé Dupont (123456)", "8.5.3"),
    ("alice_8.5.2.IPYNB", "alice", "8.5.2"),
])
def test_naming_rule(tmp_path, rel, student, exercise):
    sub = parse_name(tmp_path / rel, tmp_path)
    assert (sub.student, sub.exercise, sub.problem) == (student, exercise, "")


@pytest.mark.parametrize("rel", ["alice.ipynb", "8.5.2.ipynb", "a/b/ex_8_5_2.ipynb", "_x_8.5.2.ipynb",
                                 "alice/notes.ipynb"])
def test_naming_rule_rejects(tmp_path, rel):
    assert parse_name(tmp_path / rel, tmp_path).problem.startswith("nom invalide")


def test_duplicates_keep_the_newest_file(tmp_path):
    import os

    from course_lib.grading.submissions import newest_first

    old, new = tmp_path / "alice_8.5.2.ipynb", tmp_path / "alice_8.5.2 (1).ipynb"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(new, (1_000_000, 1_000_000))  # le fichier « (1) » est ici le plus ANCIEN
    os.utime(old, (2_000_000, 2_000_000))
    subs = [parse_name(p, tmp_path) for p in (new, old)]
    assert newest_first(subs)[0].path == old
    os.utime(new, (2_000_000, 2_000_000))  # même date : la copie « (1) » gagne
    assert newest_first(subs)[0].path == new


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

    monkeypatch.setattr("course_lib.grading.reports.os.replace", boom)
    with pytest.raises(OSError):
        write_csv(results, out)
    assert out.read_text() == "ancien\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]
    monkeypatch.undo()
    write_csv(results, out)
    assert out.read_text().splitlines()[1].startswith("a,8.5.1,a_8.5.1.ipynb,0,0")
    results[0].cells = [CellResult("t", 1.5, 2.0, False)]
    write_csv(results, out, excel=True)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM UTF-8 : Excel lit les accents
    assert raw.decode("utf-8-sig").splitlines()[1].startswith("a;8.5.1;a_8.5.1.ipynb;1,5;2;")


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


def test_cli_refuses_without_bubblewrap(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("course_lib.grading.sandbox.shutil.which", lambda name: None)
    with pytest.raises(SystemExit) as exc:
        cli.main([str(tmp_path), "--out", str(tmp_path / "g.csv")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "bubblewrap" in err and "--sans-bac-a-sable" in err
    assert not (tmp_path / "g.csv").exists()


def test_ci_installs_bubblewrap():
    text = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "command -v bwrap" in text and "apt-get install -y -q bubblewrap" in text


@pytest.mark.parametrize("code, flagged", [
    ("model.eval()\nmodel = torch.compile(model)\nfor m in model.modules():\n    pass", False),
    ("import copy\nbest = max(scores)\nresult = sorted(x, key=abs)", False),
    ("get_ipython().events.register('pre_run_cell', f)", True),
    ("import sys\nsys.modules['torch'].allclose = None", True),
    ("import numpy as np\nnp.allclose = lambda *a, **k: True", True),
    ("def sum(x):\n    return 0", True),
    ("eval('1 + 1')", True),
    ("%env X=1", True),
])
def test_scan_flags_what_reaches_the_grader(code, flagged):
    from course_lib.grading.scan import scan_source

    assert bool(scan_source(code)) is flagged, scan_source(code)


def test_without_sandbox_the_instructor_must_ask_and_grading_still_works(tmp_path, capsys):
    sol, subs = tmp_path / "sol", tmp_path / "subs"
    sol.mkdir()
    subs.mkdir()
    source = fake_source()
    nbformat.write(source, sol / "ex_0_0_1_double.ipynb")
    nbformat.write(with_answer(source, "def double(x):\n    return 2 * x"), subs / "alice_0.0.1.ipynb")
    out = tmp_path / "g.csv"
    assert cli.main([str(subs), "--out", str(out), "--solutions", str(sol), "--timeout", "10",
                     "--total-timeout", "60", "--sans-bac-a-sable", "-q"]) == 0
    assert "sans bac à sable" in capsys.readouterr().err
    r = next(csv.DictReader(out.open(encoding="utf-8")))
    assert (r["score"], r["status"]) == ("3", "ok"), r


# --- Analyse du code dans les fils de notation -------------------------------------------------

# Ces modules tournent dans d'autres processus que celui de course-grade (noyau, zygote) : leurs
# analyses ne croisent pas les fils de notation.
OTHER_PROCESSES = {"kernel_launcher.py", "zygote.py"}


def test_parsing_in_the_grading_threads_goes_through_one_lock(monkeypatch):
    """course-grade note dans plusieurs fils ; sous CPython 3.11, deux ``ast.parse`` entrelacés lèvent
    « AST constructor recursion depth mismatch ». ``scan.parse`` n'en laisse passer qu'un à la fois."""
    import threading
    import time
    import types

    from course_lib.grading import scan

    inside, most = [0], [0]

    def slow_parse(source):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        inside[0] -= 1
        return source

    monkeypatch.setattr(scan, "ast", types.SimpleNamespace(parse=slow_parse))
    threads = [threading.Thread(target=scan.parse, args=("x = 1",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1


def test_no_unlocked_parse_in_the_grading_process():
    """Aucun ``ast.parse`` ni ``compile`` hors du verrou dans les modules du processus de notation."""
    import ast

    package = Path(course_lib.__file__).parent / "grading"
    found = []
    for path in sorted(package.glob("*.py")):
        if path.name in OTHER_PROCESSES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        locked = {n for node in ast.walk(tree) if isinstance(node, ast.With)
                  for n in ast.walk(node) if node.items and "_PARSE_LOCK" in ast.unparse(node.items[0])}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or node in locked:
                continue
            name = ast.unparse(node.func)
            if name in ("ast.parse", "compile"):
                found.append(f"{path.name}:{node.lineno} {name}")
    assert found == [], found
