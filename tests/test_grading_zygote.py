"""Noyaux clonés d'un zygote (``zygote``) : même bac à sable, mêmes notes qu'un noyau neuf.

Un exercice factice (sans PyTorch) dont la première cellule prépare l'état (``SEED``) : le zygote
l'exécute une fois, chaque rendu qui l'a gardée telle quelle est noté dans un clone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import nbformat
import pytest
from test_grading import source_notebook

from course_lib.grading import process, samples, zygote
from course_lib.grading.grader import Limits, grade_folder

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap absent")

SETUP = "import random\n\nSEED = 41\nrandom.seed(SEED)\nprint('état prêt')"
ANSWER = "def answer():\n    ### BEGIN SOLUTION\n    return SEED + 1\n    ### END SOLUTION"
VISIBLE = "assert answer() == 42\nprint('ok')"
HIDDEN = "# Test caché (2 points)\n### BEGIN HIDDEN TESTS\nassert answer() + 0 == 42\n### END HIDDEN TESTS"
# ce que le code de l'élève voit de son processus : droits, descripteurs, dossiers de l'hôte
PROBE = """
import json, os
status = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)
facts = {'uid': os.getuid(), 'cap_eff': status['CapEff'].strip(), 'cap_bnd': status['CapBnd'].strip(),
         'no_new_privs': status['NoNewPrivs'].strip(), 'pid': os.getpid(), 'cwd': os.getcwd(),
         'seed_state': random.random(),
         'fds': sorted(os.readlink('/proc/self/fd/' + f) for f in os.listdir('/proc/self/fd')
                       if os.path.exists('/proc/self/fd/' + f)),
         'visible': {p: os.path.exists(p) for p in PATHS}}
print('FACTS' + json.dumps(facts))
"""


def source():
    return source_notebook(nbformat.v4.new_code_cell(SETUP), ANSWER, VISIBLE, HIDDEN)


def _kinds(links: list[str]) -> set[str]:
    """Sortes de descripteurs (``socket:``, ``pipe:``, fichiers du travail...), numéros et dossier
    temporaire du travail retirés."""
    return {re.sub(r"\[\d+\]|/tmp/course-grade-[^/]+", "", link) for link in links}


def _facts(executed) -> dict:
    nb = nbformat.read(executed, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    return json.loads(text.split("FACTS", 1)[1].splitlines()[0])


GOOD = "def answer():\n    return SEED + 1"


def _class(base, src, notebooks: dict):
    """Écrit la source de l'exercice 0.0.1 et les rendus ``{nom: notebook}`` ; renvoie
    (dossier des solutions, dossier des rendus)."""
    sol, subs = base / "solutions", base / "subs"
    sol.mkdir()
    subs.mkdir()
    nbformat.write(src, sol / "ex_0_0_1_graine.ipynb")
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / name)
    return sol, subs


def _grade_one(base, sol, subs):
    (result,) = grade_folder(subs, base / "notes.csv", workers=1, solutions_dir=sol,
                             limits=Limits(cell_timeout=30, memory_mb=2048))
    return result


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Les mêmes rendus, notés avec zygote puis sans."""
    base = tmp_path_factory.mktemp("zygote")
    src = source()
    paths = [str(base), str(base / "solutions"), str(process.sandbox.PACKAGE.parent / "solutions")]
    probe = f"PATHS = {paths!r}\n" + PROBE
    edited = samples.filled(src, {"reponse": GOOD})
    edited.cells[0].source = SETUP.replace("41", "40") + "\nSEED = 41"
    sol, subs = _class(base, src, {
        "alice_0.0.1.ipynb": samples.filled(src, {"reponse": GOOD + "\n" + probe}),
        "bob_0.0.1.ipynb": samples.filled(src, {"reponse": "def answer():\n    return 41"}),
        "carl_0.0.1.ipynb": edited})
    runs = {}
    for mode in (True, False):
        keep = base / f"executes_{mode}"
        results = grade_folder(subs, base / f"notes_{mode}.csv", workers=2, solutions_dir=sol,
                               limits=Limits(cell_timeout=30, memory_mb=2048, zygote=mode),
                               keep_dir=keep)
        runs[mode] = {r.submission.student: r for r in results}
        runs[mode]["_keep"] = keep
    return runs


def test_clones_give_the_same_grades_as_fresh_kernels(graded):
    cloned, fresh = graded[True], graded[False]
    for student in ("alice", "bob", "carl"):
        a, b = cloned[student], fresh[student]
        assert (a.score, a.status) == (b.score, b.status), (student, a, b)
    assert (cloned["alice"].score, cloned["bob"].score, cloned["carl"].score) == (3, 0, 3)


def test_first_cell_is_run_once_and_reused_only_when_unchanged(graded):
    """alice et bob ont gardé la première cellule : clone avec son état ; carl l'a modifiée :
    noyau neuf. Sans zygote : noyaux neufs partout."""
    cloned, fresh = graded[True], graded[False]
    assert [cloned[s].kernel for s in ("alice", "bob", "carl")] == ["clone+cellule1"] * 2 + ["neuf"]
    assert {fresh[s].kernel for s in ("alice", "bob", "carl")} == {"neuf"}
    nb = nbformat.read(cloned["_keep"] / "alice_0.0.1.ipynb", as_version=4)
    assert nb.cells[0].outputs[0]["text"] == "état prêt\n" and nb.cells[0].execution_count == 1


def test_clone_is_as_confined_as_a_fresh_kernel(graded):
    """Dans le clone : uid sans droits (si root), aucune capacité, pas de gain de droits possible,
    espace de PID propre, pas de descripteur hérité du zygote, dossiers de l'enseignant invisibles ;
    et l'état de la première cellule est bien celui qu'elle produit (random semé à 41)."""
    import random

    cloned = _facts(graded[True]["_keep"] / "alice_0.0.1.ipynb")
    fresh = _facts(graded[False]["_keep"] / "alice_0.0.1.ipynb")
    random.seed(41)
    expected = random.random()
    for facts in (cloned, fresh):
        assert facts["cap_eff"] == "0000000000000000", facts
        assert facts["cwd"] == "/travail" and facts["pid"] < 100, facts
        assert not any(facts["visible"].values()), facts
        assert facts["seed_state"] == expected, facts
    assert cloned["no_new_privs"] == "1", cloned
    assert int(cloned["cap_bnd"], 16) & ~((1 << 6) | (1 << 7)) == 0, cloned
    # descripteurs : les mêmes sortes que dans un noyau neuf, rien du zygote (socket, journal)
    assert _kinds(cloned["fds"]) == _kinds(fresh["fds"]), (cloned["fds"], fresh["fds"])
    assert not any("zygote" in link for link in cloned["fds"]), cloned["fds"]


def test_grading_falls_back_to_fresh_kernels_when_the_zygote_is_gone(tmp_path, monkeypatch):
    """Zygote arrêté (socket absente) : ``launch`` lance un noyau neuf, la note ne change pas."""
    src = source()
    sol, subs = _class(tmp_path, src, {"dana_0.0.1.ipynb": samples.filled(src, {"reponse": GOOD})})
    real_ready = process.Zygote.ready

    def ready_then_gone(self, timeout=300.0):
        state = real_ready(self, timeout)
        (self.folder / "socket").unlink(missing_ok=True)
        return state

    monkeypatch.setattr(process.Zygote, "ready", ready_then_gone)
    result = _grade_one(tmp_path, sol, subs)
    assert (result.score, result.status, result.kernel) == (3, "ok", "neuf"), result


def test_first_cell_that_writes_files_is_not_reused(tmp_path, capsys):
    """Une première cellule qui écrit un fichier : un noyau neuf le trouverait dans /travail, un
    clone non ; le zygote refuse donc de la reprendre (noyaux neufs, même note, l'enseignant est
    prévenu)."""
    setup = SETUP + "\nopen('graine.txt', 'w').write(str(SEED))"
    src = source_notebook(nbformat.v4.new_code_cell(setup), ANSWER,
                          VISIBLE + "\nassert open('graine.txt').read() == '41'", HIDDEN)
    sol, subs = _class(tmp_path, src, {"eve_0.0.1.ipynb": samples.filled(src, {"reponse": GOOD})})
    result = _grade_one(tmp_path, sol, subs)
    assert (result.score, result.status, result.kernel) == (3, "ok", "neuf"), result
    assert "zygote indisponible" in capsys.readouterr().err


@pytest.mark.parametrize("cell, plain", [
    ("import torch\nx = 1", True),
    ("x = 1\nprint(x)", True),
    ("%matplotlib inline\nx = 1", False),       # commande magique
    ("!ls\nx = 1", False),                      # commande shell
    ("x = 1\nx", False),                        # dernière expression : IPython l'afficherait
    ("display(1)\nx = 1", False),               # nom propre à IPython
    ("await f()\nx = 1", False),                # await au premier niveau
    ("def f(:\n    pass", False),               # erreur de syntaxe
])
def test_plain_cell(cell, plain):
    assert zygote.plain_cell(cell) is plain


def test_split_argv_reads_the_fresh_kernel_command():
    argv = ["bwrap", "--unshare-pid", "--", "/usr/bin/env", "-i", "A=1", "PATH=/usr/bin:/bin",
            "/x/python", "/x/kernel_launcher.py", "-f", "{connection_file}"]
    assert zygote.split_argv(argv) == (["bwrap", "--unshare-pid"],
                                       {"A": "1", "PATH": "/usr/bin:/bin"},
                                       ["-f", "{connection_file}"])
    with pytest.raises(ValueError):
        zygote.split_argv(["bwrap", "--", "/x/python", "k.py"])


UNPRIVILEGED = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import zygote
options = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
           "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
           "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
           "--tmpfs", "/tmp", "--tmpfs", "/travail", "--chdir", "/travail"]
proc, pid = zygote._sandbox_pid(options)
child = os.fork()
if child == 0:
    zygote.enter(pid)
    kernel = os.fork()
    if kernel == 0:
        zygote.prctl(zygote.PR_SET_NO_NEW_PRIVS, 1)
        zygote.keep_capabilities(())
        status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        print(json.dumps([os.getpid(), os.getuid(), sorted(os.listdir("/")), status["CapEff"].strip(),
                          status["CapBnd"].strip(), status["NoNewPrivs"].strip()]), flush=True)
        os._exit(0)
    os.waitpid(kernel, 0)
    os._exit(0)
os.waitpid(child, 0)
proc.kill()
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv")
                    or not os.path.exists("/usr/bin/python3"),
                    reason="il faut root (pour devenir nobody), setpriv et /usr/bin/python3")
def test_clone_enters_an_unprivileged_sandbox():
    """Sans root (cas courant d'un enseignant), ``bwrap`` crée deux espaces d'utilisateurs : le
    clone entre dans le bac à sable (PID 3, racine du bac à sable) et n'y garde aucune capacité."""
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="zygote-nobody-"))  # lisible par nobody
    try:
        shutil.copy(zygote.__file__, folder / "zygote.py")
        (folder / "essai.py").write_text(UNPRIVILEGED, encoding="utf-8")
        for path in (folder, folder / "zygote.py", folder / "essai.py"):
            os.chmod(path, 0o755)
        done = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                               "/usr/bin/python3", str(folder / "essai.py"), str(folder)],
                              capture_output=True, text=True, timeout=60, cwd="/")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    pid, uid, root, cap_eff, cap_bnd, nnp = json.loads(done.stdout)
    assert (pid, uid) == (3, 65534), done.stdout
    assert root == ["bin", "dev", "lib", "lib64", "proc", "tmp", "travail", "usr"], done.stdout
    assert (cap_eff, cap_bnd, nnp) == ("0000000000000000", "0000000000000000", "1"), done.stdout


def test_children_listing_and_its_fallback_agree():
    """Les enfants d'un processus, par ``/proc/PID/task/PID/children`` et par ``PPid`` (repli des
    noyaux Linux sans cette liste) : les mêmes, ``sleep`` compris."""
    kids = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
    try:
        expected = sorted(str(k.pid) for k in kids)
        assert sorted(zygote._children(os.getpid(), listing=False)) == expected
        if os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"):
            assert sorted(zygote._children(os.getpid())) == expected
    finally:
        for k in kids:
            k.kill()
            k.wait()
