"""Soumissions qui trichent : aucune ne doit dépasser la note de la même soumission sans attaque,
et rien hors du bac à sable ne doit changer. Chaque attaque est un notebook à part, noté dans UN
passage de ``course-grade`` (exercice factice de ``test_grading`` : noyaux rapides, sans PyTorch).

Réponse de base : ``double`` FAUX (``return x``) : 0 point. Chaque attaque ajoute, dans la cellule-
réponse, une ligne qui aurait donné des points sans les protections (bac à sable, remise en état
d'IPython avant chaque test, test compté sur la seule réponse ``execute_reply`` du noyau, masquage
des fonctions intégrées redéfinies) ; l'analyse statique doit en plus la signaler (``a_verifier``).
Les attaques lancées DEPUIS le test (code de l'élève appelé par le test) sont dans
``test_grading_holes.py``.
"""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import nbformat
import pytest
from test_grading import fake_source, with_answer

from course_lib.grading import cli

WRONG = "def double(x):\n    return x\n"
MARK = "987654321"  # dans la ligne de commande des processus lancés par l'attaque « orphelin »


def attacks(base: Path) -> dict[str, str]:
    """Nom -> code ajouté après la réponse fausse. ``base`` : dossier de l'enseignant (hors bac à
    sable) où se trouvent les sources, le CSV et les cibles d'écriture."""
    target = base / "pwned.txt"
    source_nb = base / "solutions" / "ex_0_0_1_double.ipynb"
    csv_path = base / "out" / "grades.csv"
    orphan_child = ("import time\nfor i in range(60):\n    time.sleep(0.5)\n    try:\n"
                    f"        open({str(csv_path)!r}, 'w').write('pirate')\n"
                    "    except OSError:\n        pass")
    return {
        "cleanup": "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
        "ast": ("import ast\nclass _Strip(ast.NodeTransformer):\n"
                "    def visit_Assert(self, node):\n        return ast.Pass()\n"
                "get_ipython().ast_transformers.append(_Strip())"),
        "custom_exc": "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
        "showtraceback": ("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                          "type(ip).showtraceback = lambda *a, **k: None"),
        "settrace": ("import sys\ndef _t(frame, event, arg):\n"
                     "    frame.f_globals['double'] = lambda x: 2 * x\n    return None\n"
                     "sys.settrace(_t)"),
        "builtins": "import builtins\nbuiltins.abs = lambda x: 0",
        "shadow": "abs = lambda x: 0",
        "exec_string": ("exec('get_' + 'ipython().set_custom_exc((Exception,), "
                        "lambda *a, **k: None)')"),
        "ast_module": ("import ast\n_parse = ast.parse\n"
                       "def _p(src, *a, **k):\n    return _parse(src.replace('assert', 'pass #'), *a, **k)\n"
                       "ast.parse = _p"),
        "read_source": (f"import json\nnb = json.load(open({str(source_nb)!r}))\n"
                        "exec([c['source'] for c in nb['cells'] if 'BEGIN SOLUTION' in "
                        "''.join(c['source'])][0].replace('### BEGIN SOLUTION', '')"
                        ".replace('### END SOLUTION', ''))"),
        "read_input": ("import json, course_lib, pathlib\n"
                       "here = pathlib.Path(course_lib.__file__).parents[1]\n"
                       "for p in [pathlib.Path('../input.ipynb'), *here.rglob('*.ipynb')]:\n"
                       "    try:\n        src = open(p).read()\n    except OSError:\n        continue\n"
                       "    if 'return 2 * x' in src:\n"
                       "        exec('def double(x):\\n    return 2 * x')"),
        "dir_fd": (f"import os\nfd = os.open({str(base)!r}, os.O_RDONLY)\n"
                   "os.write(os.open('pwned.txt', os.O_WRONLY | os.O_CREAT, dir_fd=fd), b'x')"),
        "dir_fd_root": ("import os\nfd = os.open('/', os.O_RDONLY)\n"
                        "os.write(os.open('course_grade_pwned.txt', os.O_WRONLY | os.O_CREAT, "
                        "dir_fd=fd), b'x')"),
        "ctypes": ("import ctypes\nlibc = ctypes.CDLL(None)\n"
                   f"fd = libc.open({str(target).encode()!r}, 0o101, 0o644)\n"
                   "libc.write(fd, b'x', 1)"),
        "orphan": ("import subprocess, sys\n"
                   f"subprocess.Popen([sys.executable, '-c', {orphan_child!r}, '{MARK}'], "
                   "start_new_session=True)"),
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    (base / "solutions").mkdir()
    source = fake_source()
    nbformat.write(source, base / "solutions" / "ex_0_0_1_double.ipynb")
    subs = base / "subs"
    subs.mkdir()
    nbformat.write(with_answer(source, WRONG), subs / "baseline_0.0.1.ipynb")
    nbformat.write(with_answer(source, "def double(x):\n    return 2 * x"), subs / "honest_0.0.1.ipynb")
    for name, code in attacks(base).items():
        nbformat.write(with_answer(source, WRONG + code), subs / f"{name}_0.0.1.ipynb")
    before = {p: hashlib.sha256(p.read_bytes()).digest() for p in base.rglob("*") if p.is_file()}
    out = base / "out" / "grades.csv"
    rc = cli.main([str(subs), "--out", str(out), "--workers", "2", "--timeout", "10",
                   "--total-timeout", "60", "--memory-mb", "1024", "--solutions",
                   str(base / "solutions"), "-q"])
    assert rc == 0
    after_csv = out.read_bytes()
    time.sleep(2)  # laisse à un éventuel processus orphelin le temps de réécrire le CSV
    rows = {r["student"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    return {"rows": rows, "base": base, "before": before, "out": out, "csv": after_csv}


def test_baseline_and_honest_scores(attacked):
    rows = attacked["rows"]
    assert (rows["baseline"]["score"], rows["baseline"]["status"]) == ("0", "ok"), rows["baseline"]
    assert (rows["honest"]["score"], rows["honest"]["status"]) == ("3", "ok"), rows["honest"]


@pytest.mark.parametrize("name", list(attacks(Path("/x"))))
def test_attack_scores_no_more_than_without_it_and_is_flagged(attacked, name):
    r = attacked["rows"][name]
    assert float(r["score"]) <= float(attacked["rows"]["baseline"]["score"]), r
    assert "a_verifier" in r["status"].split(";"), r
    assert r["detail"], r  # la raison, pour l'enseignant


def test_nothing_outside_the_sandbox_changed(attacked):
    base = attacked["base"]
    assert not (base / "pwned.txt").exists()
    assert not Path("/course_grade_pwned.txt").exists()
    assert attacked["out"].read_bytes() == attacked["csv"]  # le CSV n'a pas été réécrit après coup
    for path, digest in attacked["before"].items():
        assert hashlib.sha256(path.read_bytes()).digest() == digest, path


def test_no_process_outlives_grading(attacked):
    alive = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if MARK.encode() in (proc / "cmdline").read_bytes():
                    alive.append(proc.name)
            except OSError:
                pass
    assert alive == [], f"processus lancés par une soumission encore vivants : {alive}"


def test_the_grader_cannot_be_read_from_the_sandbox(attacked):
    """La lecture de la source enseignant ou du notebook fusionné échoue : 0 comme la base."""
    for name in ("read_source", "read_input"):
        assert attacked["rows"][name]["score"] == "0", attacked["rows"][name]
    feedback = (attacked["base"] / "out" / "feedback" / "read_source.md").read_text(encoding="utf-8")
    assert "FileNotFoundError" in feedback and str(attacked["base"]) not in feedback


def test_honest_solutions_are_not_flagged():
    """Les réponses des solutions (ce qu'un élève écrit : cellules ``solution`` de nbgrader) ne sont
    pas signalées. Les cellules verrouillées de l'énoncé (``inspect.getsource``...) ne sont pas
    analysées : la notation les remet telles que la source les donne."""
    from course_lib.grading.exercises import find_exercises
    from course_lib.grading.scan import scan_cells

    for ex in find_exercises().values():
        nb = nbformat.read(ex.source, as_version=4)
        cells = {i: c.source for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and c.metadata.get("nbgrader", {}).get("solution")}
        assert cells, ex.id
        assert scan_cells(cells) == [], ex.id
