"""Classes de trous de la notation, chacune reproduite par plusieurs soumissions (pas un seul
script) et notée dans UN passage de ``course-grade`` sur l'exercice factice de ``test_grading``
(noyaux rapides, sans PyTorch) :

- tests « réussis » fabriqués depuis le test lui-même : le code de l'élève, appelé par le test,
  cache l'échec (gestionnaires d'erreurs, ``showtraceback``, ``sys.excepthook``), appelle les
  fonctions du test, forge la réponse du noyau, ou quitte le noyau ;
- texte des tests cachés lu par le code de l'élève (historique, cadres, ``linecache``, messages
  ZMQ, ``gc``) puis renvoyé dans le retour (à l'envers, en base64) ;
- quota disque et ``/tmp`` inscriptible ; sorties énormes ;
- homonymes Moodle ; fichiers qui ne sont pas des notebooks ; mémoire épuisée façon PyTorch ;
  métadonnées nbgrader effacées ; analyse statique (faux positifs honnêtes, attaques signalées).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest
from test_grading import fake_source, with_answer

from course_lib.grading import cli

GOOD = "def double(x):\n    return 2 * x\n"
WRONG_CALLING = "def double(x):\n    _attack()\n    return x\n"
GOOD_CALLING = "def double(x):\n    _attack()\n    return 2 * x\n"
_FIND_REQUEST = ("    f = sys._getframe()\n"
                 "    while f is not None and not {'stream', 'ident', 'parent'} <= set(f.f_locals):\n"
                 "        f = f.f_back\n"
                 "    L = f.f_locals\n"
                 "    get_ipython().kernel.session.send(L['stream'], 'execute_reply', {'status': 'ok', "
                 "'execution_count': 1, 'user_expressions': {}, 'payload': []}, L['parent'], "
                 "ident=L['ident'])\n")

# Réponse FAUSSE + ce que fait ``_attack()``, appelée par le test pendant qu'il s'exécute.
FORGERIES = {
    "hide_failure": ("import sys\n_busy = []\ndef _attack():\n"
                     "    ip = getattr(sys.modules['IPy' + 'thon'], 'get_' + 'ipython')()\n"
                     "    ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                     "    ip.showtraceback = lambda *a, **k: None\n"
                     "    type(ip).showtraceback = lambda *a, **k: None\n"
                     "    sys.excepthook = lambda *a: None\n"
                     "    if _busy:\n        return\n    _busy.append(1)\n"
                     "    for k, v in list(sys._getframe(1).f_globals.items()):\n"
                     "        if k.startswith('_') and k != '_attack' and callable(v) "
                     "and not isinstance(v, type):\n"
                     "            try:\n                v()\n"
                     "            except BaseException:\n                pass\n"
                     "    _busy.clear()\n"),
    "call_test_helpers": ("import sys\ndef _attack():\n"
                          "    g = sys._getframe(1).f_globals\n"
                          "    for k, v in list(g.items()):\n"
                          "        if k.startswith('_') and k != '_attack' and callable(v) "
                          "and not isinstance(v, type):\n"
                          "            try:\n                v()\n"
                          "            except BaseException:\n                pass\n"),
    "exit_hard": "import os\ndef _attack():\n    os._exit(0)\n",
    "exit_soft": "import sys\ndef _attack():\n    sys.exit(0)\n",
    "forge_reply_then_exit": ("import sys, os, time\ndef _attack():\n" + _FIND_REQUEST
                              + "    time.sleep(0.3)\n    os._exit(0)\n"),
    "forge_reply": "import sys\ndef _attack():\n" + _FIND_REQUEST,
    # dans la cellule de l'élève : remettre le gestionnaire d'ipykernel à la place de celui du
    # lanceur (les tests ne seraient plus exécutés du tout, donc plus jamais en échec)
    "bypass_handler": ("import sys\ndef _attack():\n    pass\n"
                       "k = getattr(sys.modules['IPy' + 'thon'], 'get_' + 'ipython')().kernel\n"
                       "k.shell_handlers['execute_request'] = k.execute_request\n"),
}

# Réponse JUSTE qui, appelée par le test, prend le cadre du test par un nom calculé (l'analyse
# statique ne voit rien) : le crochet d'audit du noyau le voit.
PEEK = "import sys\ndef _attack():\n    getattr(sys, '_get' + 'frame')(2).f_code.co_consts\n"

# Cherche le texte du test caché partout où un test l'aurait laissé ; écrit ce qu'il trouve
# (sortie du test, gardée dans le notebook exécuté) et le renvoie dans une exception, à l'envers
# et en base64. Le texte cherché n'apparaît que dans le test caché (pas dans ce code).
LEAK = """import sys, linecache, gc, base64
def _walk(v, out, depth=0):
    if depth > 3:
        return
    if isinstance(v, (bytes, bytearray, memoryview)):
        out.append(bytes(v).decode('utf-8', 'replace'))
    elif isinstance(v, str):
        out.append(v)
    elif type(v).__name__ == 'Frame':
        out.append(bytes(v.bytes).decode('utf-8', 'replace'))
    elif isinstance(v, dict):
        for w in list(v.values()):
            _walk(w, out, depth + 1)
    elif isinstance(v, (list, tuple)):
        for w in v:
            _walk(w, out, depth + 1)
def _hidden(s):  # le texte caché, sans jamais le construire ici (il serait trouvé en mémoire)
    i = s.find('abs(double(')
    return i >= 0 and s[i + 11:i + 14] == '-3)'
def double(x):
    found = []
    for name in ('In', '_ih', '_i', '_ii', '_iii', 'Out'):
        _walk(globals().get(name), found)
    f = sys._getframe(1)
    while f is not None:
        found += linecache.getlines(f.f_code.co_filename)
        _walk(dict(f.f_locals), found)
        f = f.f_back
    for o in gc.get_objects():
        if isinstance(o, dict):
            _walk(o, found, 2)
    text = '\\n'.join(s for s in found if _hidden(s))
    print('TROUVE', sum(_hidden(s) for s in found))
    raise ValueError(text[::-1] + ' B64 ' + base64.b64encode(text.encode()).decode())
"""

DISK = """def double(x):
    return 2 * x
import os
written = {}
for folder in ('/travail', '/tmp'):
    n = 0
    try:
        while n < 400:
            with open(os.path.join(folder, f'f{n}.bin'), 'wb') as f:
                f.write(b'x' * 2**20)
            n += 1
    except OSError:
        pass
    written[folder] = n
os.remove('/tmp/f0.bin')
with open('/tmp/sonde.txt', 'w') as f:
    f.write('lu')
print('ECRIT', written['/travail'], written['/tmp'], open('/tmp/sonde.txt').read())
"""

OOM_CUDA = GOOD + ("class OutOfMemoryError(RuntimeError):\n    pass\n"
                   "raise OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')\n")
OOM_CPU = GOOD + ("raise RuntimeError('[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: "
                  "can\\'t allocate memory: you tried to allocate 123 bytes.')\n")


def _strip_nbgrader(nb):
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


# Un message que le client ne peut pas relire (signature fausse), écrit sur le canal des sorties :
# ce que produit aussi un envoi coupé par une mémoire épuisée pendant un flot de print.
GARBLED = ("import sys\n"
           "k = getattr(sys.modules['IPy' + 'thon'], 'get_' + 'ipython')().kernel\n"
           "k.iopub_socket.send_multipart([b'<IDS|MSG>', b'0' * 64, b'{}', b'{}', b'{}', b'{}'])\n"
           "import time\ntime.sleep(1)\n")

@pytest.fixture(scope="module")
def holes(tmp_path_factory):
    base = tmp_path_factory.mktemp("holes")
    sol, subs = base / "solutions", base / "subs"
    sol.mkdir()
    subs.mkdir()
    source = fake_source()
    nbformat.write(source, sol / "ex_0_0_1_double.ipynb")
    notebooks = {
        "wrong_0.0.1.ipynb": with_answer(source, "def double(x):\n    return x\n"),
        "honest_0.0.1.ipynb": with_answer(source, GOOD),
        "honest_forge_0.0.1.ipynb": with_answer(source, GOOD_CALLING + FORGERIES["forge_reply"]),
        "peek_0.0.1.ipynb": with_answer(source, GOOD_CALLING + PEEK),
        "leak_0.0.1.ipynb": with_answer(source, LEAK),
        "long_0.0.1.ipynb": with_answer(source, "def double(x):\n    raise ValueError('A' * 5000)\n"),
        "disk_0.0.1.ipynb": with_answer(source, DISK),
        "flood_0.0.1.ipynb": with_answer(source, GOOD + "import time\nwhile True:\n"
                                         "    print('x' * 100_000)\n    time.sleep(0.002)\n"),
        "burst_0.0.1.ipynb": with_answer(source, GOOD + "while True:\n    print('x' * 100_000)\n"),
        "garbled_0.0.1.ipynb": with_answer(source, GOOD + GARBLED),
        "chatty_0.0.1.ipynb": with_answer(source, GOOD + "for i in range(30):\n"
                                          "    print(str(i) * 100_000)\n"),
        "oomcuda_0.0.1.ipynb": with_answer(source, OOM_CUDA),
        "oomcpu_0.0.1.ipynb": with_answer(source, OOM_CPU),
        "nometa_0.0.1.ipynb": _strip_nbgrader(with_answer(source, GOOD)),
        "upper_0.0.1.IPYNB": with_answer(source, GOOD),
        "Jean Dupont_111_assignsubmission_file_/ex_0_0_1.ipynb": with_answer(source, GOOD),
        "Jean Dupont_222_assignsubmission_file_/ex_0_0_1.ipynb": with_answer(source, "def double(x):\n"
                                                                                     "    return x\n"),
    }
    notebooks |= {f"{name}_0.0.1.ipynb": with_answer(source, WRONG_CALLING + code)
                  for name, code in FORGERIES.items()}
    for name, nb in notebooks.items():
        (subs / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, subs / name)
    nbformat.write(with_answer(source, GOOD), subs / "txt_0.0.1.ipynb.txt")
    (subs / "archive_0.0.1.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    (subs / "rapport.pdf").write_bytes(b"%PDF-1.4")
    out, kept = base / "out" / "grades.csv", base / "kept"
    rc = cli.main([str(subs), "--out", str(out), "--workers", "2", "--timeout", "5",
                   "--total-timeout", "60", "--memory-mb", "1024", "--disk-mb", "16",
                   "--max-output-mb", "8", "--solutions", str(sol), "--keep-executed", str(kept),
                   "-q"])
    assert rc == 0
    rows = {r["file"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    feedback = {p.stem: p.read_text(encoding="utf-8") for p in (base / "out" / "feedback").glob("*.md")}
    rejected = list(csv.DictReader((base / "out" / "grades_ecartes.csv").open(encoding="utf-8")))
    return {"rows": rows, "feedback": feedback, "kept": kept, "rejected": rejected, "base": base}


def _row(holes, name):
    return holes["rows"][f"{name}_0.0.1.ipynb"]


def _outputs(holes, student, cell):
    nb = json.loads((holes["kept"] / f"{student}_0.0.1.ipynb").read_text(encoding="utf-8"))
    return "".join("".join(o.get("text", "")) for o in nb["cells"][cell].get("outputs", []))


def test_baselines(holes):
    assert (_row(holes, "wrong")["score"], _row(holes, "wrong")["status"]) == ("0", "ok")
    assert (_row(holes, "honest")["score"], _row(holes, "honest")["status"]) == ("3", "ok")


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_failing_test_cannot_be_turned_into_a_pass_from_inside(holes, name):
    """Réponse fausse : quoi que fasse le code appelé par le test, pas un point de plus."""
    r = _row(holes, name)
    assert float(r["score"]) <= float(_row(holes, "wrong")["score"]), r
    assert r["failed"] == "test_visible test_cache", r


def test_a_forged_kernel_reply_scores_zero_and_is_flagged(holes):
    """Même avec une réponse JUSTE, un test dont le noyau a « répondu » deux fois ne compte pas."""
    r = _row(holes, "honest_forge")
    assert r["score"] == "0" and "a_verifier" in r["status"], r
    assert "réponse fabriquée" in r["detail"], r


def test_reaching_the_test_frame_at_run_time_is_flagged_even_unnamed(holes):
    from course_lib.grading.scan import scan_source

    assert scan_source(GOOD_CALLING + PEEK) == []  # rien de nommé
    r = _row(holes, "peek")
    assert r["score"] == "3" and "a_verifier" in r["status"], r  # note gardée, rendu signalé
    assert "pendant test_visible" in r["detail"] and "cadre du test" in r["detail"], r


@pytest.mark.parametrize("name", ["exit_hard", "forge_reply_then_exit"])
def test_a_kernel_that_dies_during_a_test_fails_that_test(holes, name):
    r = _row(holes, name)
    assert "noyau_arrete" in r["status"], r
    assert "test_visible" in r["failed"].split(), r


def test_hidden_test_source_is_not_readable_from_the_kernel(holes):
    """Historique, cadres, linecache, messages ZMQ gardés, dictionnaires (gc) : rien."""
    for cell in (2, 3):  # les deux cellules de test (l'élève écrit ce qu'il a trouvé)
        assert "TROUVE 0" in _outputs(holes, "leak", cell), _outputs(holes, "leak", cell)[:300]
    import base64

    text = holes["feedback"]["leak"]
    hidden = "assert abs(double(-3) + 6) < 1e-9"
    for form in (hidden, hidden[::-1], base64.b64encode(hidden.encode()).decode()[:24]):
        assert form not in text, form


def test_feedback_carries_no_long_student_text(holes):
    text = holes["feedback"]["long"]
    assert "A" * 150 in text  # le début du message reste lisible
    assert "A" * 201 not in text, max(len(line) for line in text.splitlines())


def test_the_length_cap_spares_the_instructors_messages_only():
    """Un message écrit dans un test reste entier ; ce qui vient d'ailleurs (valeur insérée dans
    une f-string, message levé par l'élève) est tronqué à 200 caractères."""
    from course_lib.grading.grader import Context

    ctx = Context.__new__(Context)
    long_message = "la comparaison doit partir d'une copie neuve du modèle de référence, " * 4
    ctx.trusted = [long_message, "reçu un "]
    kept = ctx.limit(f"AssertionError: {long_message} reçu un {'B' * 5000}")
    assert long_message in kept and "B" * 200 not in kept and kept.endswith("…"), kept
    assert len(ctx.limit("Z" * 5000)) == 201


def test_reversed_hidden_lines_are_scrubbed():
    from course_lib.grading.grader import Context

    ctx = Context.__new__(Context)
    ctx.private_paths, ctx.hidden_lines = [], ["assert abs(double(-3) + 6) < 1e-9"]
    assert ctx.scrub("x " + "assert abs(double(-3) + 6) < 1e-9"[::-1]) == "x [test caché]"


def test_each_sandbox_has_a_size_limited_writable_area_and_a_writable_tmp(holes):
    r = _row(holes, "disk")
    assert (r["score"], r["status"]) == ("3", "ok"), r
    words = _outputs(holes, "disk", 1).split()
    assert words[0] == "ECRIT" and words[3] == "lu", words  # /tmp inscriptible et relisible
    travail, tmp = int(words[1]), int(words[2])
    assert 8 <= travail <= 16 and 8 <= tmp <= 16, words  # --disk-mb 16 : arrêt au quota


def test_huge_output_is_capped_and_stops_the_kernel(holes):
    r = _row(holes, "flood")
    assert "sortie_excessive" in r["status"] and r["score"] == "0", r
    assert "Sorties trop volumineuses" in holes["feedback"]["flood"]
    assert len(_outputs(holes, "flood", 1)) < 1_200_000


def test_output_as_fast_as_possible_ends_one_way_or_the_other(holes):
    """Sans pause, le noyau peut épuiser SA mémoire (sorties en attente d'envoi) avant que le
    worker n'ait lu le plafond : ``MemoryError`` dans la cellule (la suite est notée), noyau
    mort, message coupé (illisible : noyau arrêté), ou noyau trop occupé pour répondre à
    l'interruption (délai dépassé). L'issue dépend de la vitesse de la machine ; chacune est dite,
    aucune n'est une erreur de la machinerie, et ce qui est gardé reste plafonné."""
    r = _row(holes, "burst")
    status = set(r["status"].split(";"))
    assert "erreur_execution" not in status, r
    assert {"sortie_excessive", "memoire", "noyau_arrete", "delai_depasse"} & status, r
    assert len(_outputs(holes, "burst", 1)) < 1_200_000


def test_unreadable_kernel_message_stops_the_kernel_not_the_grader(holes):
    """Un message illisible vient du noyau (code de l'élève, ou envoi coupé faute de mémoire) : le
    noyau est arrêté et c'est dit ; ce n'est pas une « erreur de la machinerie »."""
    r = _row(holes, "garbled")
    assert r["score"] == "0" and "noyau_arrete" in r["status"].split(";"), r
    assert "erreur_execution" not in r["status"], r
    assert "message illisible envoyé par le noyau" in holes["feedback"]["garbled"]


def test_output_kept_per_cell_is_capped(holes):
    r = _row(holes, "chatty")
    assert (r["score"], r["status"]) == ("3", "ok"), r
    text = _outputs(holes, "chatty", 1)
    assert "[sortie tronquée" in text and len(text) < 1_200_000, len(text)


def test_moodle_homonyms_stay_two_students(holes):
    rows = holes["rows"]
    one = rows["Jean Dupont_111_assignsubmission_file_/ex_0_0_1.ipynb"]
    two = rows["Jean Dupont_222_assignsubmission_file_/ex_0_0_1.ipynb"]
    assert (one["student"], one["score"], one["status"]) == ("Jean Dupont (111)", "3", "ok"), one
    assert (two["student"], two["score"], two["status"]) == ("Jean Dupont (222)", "0", "ok"), two
    mine = holes["feedback"]["Jean Dupont (111)"]
    assert "_111_" in mine and "_222_" not in mine
    assert "_111_" not in holes["feedback"]["Jean Dupont (222)"]


def test_no_file_is_ignored_silently(holes):
    rows = holes["rows"]
    assert (rows["upper_0.0.1.IPYNB"]["score"], rows["upper_0.0.1.IPYNB"]["status"]) == ("3", "ok")
    reasons = {r["file"]: r["raison"] for r in holes["rejected"]}
    for name, word in (("txt_0.0.1.ipynb.txt", "renommez"), ("archive_0.0.1.zip", "décompressez"),
                       ("rapport.pdf", "pas un notebook")):
        assert rows[name]["status"] == "rejete", rows[name]
        assert word in reasons[name], reasons
    files = {p.relative_to(holes["base"] / "subs").as_posix()
             for p in (holes["base"] / "subs").rglob("*") if p.is_file()}
    assert files == set(rows), files ^ set(rows)


@pytest.mark.parametrize("name", ["oomcuda", "oomcpu"])
def test_pytorch_out_of_memory_is_memoire(holes, name):
    assert "memoire" in _row(holes, name)["status"].split(";"), _row(holes, name)


def test_out_of_memory_detection():
    from course_lib.grading.grader import out_of_memory

    def cell(ename, evalue):
        return {"outputs": [{"output_type": "error", "ename": ename, "evalue": evalue}]}

    assert out_of_memory(cell("MemoryError", ""))
    assert out_of_memory(cell("OutOfMemoryError", "CUDA out of memory."))
    assert out_of_memory(cell("RuntimeError", "CUDA error: out of memory"))
    assert not out_of_memory(cell("RuntimeError", "mat1 and mat2 shapes cannot be multiplied"))
    assert not out_of_memory(cell("ValueError", "out of memory"))


def test_erased_metadata_is_not_called_deleted_cells(holes):
    r = _row(holes, "nometa")
    assert "metadonnees_absentes" in r["status"] and "cellules_supprimees" not in r["status"], r
    text = holes["feedback"]["nometa"]
    assert "supprimée" not in text and "métadonnées nbgrader" in text, text


@pytest.mark.parametrize("code", [
    "def step(it):\n    next = it[0]\n    return next",
    "next = 3\nprint(next)",
    "class Sched:\n    def __repr__(self):\n        return f'{self.__class__.__name__}()'",
    "name = type(model).__name__",
    "id = 4\ninput = [1, 2]",
    "def f(x):\n    sum = 0\n    for v in x:\n        sum += v\n    return sum",
])
def test_scan_does_not_flag_honest_code(code):
    from course_lib.grading.scan import scan_source

    assert scan_source(code) == [], scan_source(code)


@pytest.mark.parametrize("code", [
    "x.__class__ = Liar",
    "value.__class__.__eq__ = lambda a, b: True",
    "setattr(value, '__class__', Liar)",
    "setattr(type(value), '__eq__', lambda a, b: True)",
    "abs = lambda x: 0",
    "def sum(x):\n    return 0",
    "x.__class__.__bases__",
    "getattr(sys.modules['IPython'], 'get_' + 'ipython')()",
])
def test_scan_still_flags_attacks(code):
    from course_lib.grading.scan import scan_source

    assert scan_source(code), code


def test_sandbox_layout_with_and_without_quota_support(tmp_path, monkeypatch):
    """bubblewrap >= 0.8 : /travail et /tmp en tmpfs limités (--size) ; plus ancien : l'ancienne
    disposition (dossier de l'hôte), et ``course-grade`` prévient qu'il n'y a pas de quota."""
    from course_lib.grading import sandbox

    box = sandbox.Sandbox(tmp_path, None, 16)
    monkeypatch.setattr(sandbox, "quota_supported", lambda bwrap=None: True)
    args = sandbox.bwrap_argv(box, "bwrap")
    assert args[args.index("--tmpfs", args.index("--size")) + 1] == "/tmp"
    assert ["--size", str(16 * 2**20), "--tmpfs", sandbox.WORK] == args[
        args.index(sandbox.WORK) - 3:args.index(sandbox.WORK) + 1]
    monkeypatch.setattr(sandbox, "quota_supported", lambda bwrap=None: False)
    args = sandbox.bwrap_argv(box, "bwrap")
    assert "--size" not in args and ["--bind", str(box.work), sandbox.WORK] == args[
        args.index(sandbox.WORK) - 2:args.index(sandbox.WORK) + 1]


def test_disk_quota_must_be_positive(tmp_path):
    from course_lib.grading import sandbox

    with pytest.raises(ValueError, match="disk_mb"):
        sandbox.prepare(tmp_path / "job", 0)
    assert not (tmp_path / "job").exists()


def test_rejected_files_have_a_french_reason(tmp_path):
    from course_lib.grading.submissions import rejection

    assert rejection(Path("a_8.5.1.IPYNB")) == ""
    assert "renommez" in rejection(Path("a_8.5.1.ipynb.txt"))
    assert "décompressez" in rejection(Path("a.ZIP"))
    assert "pas un notebook" in rejection(Path("a.py"))
