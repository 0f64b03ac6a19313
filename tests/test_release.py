"""Le dépôt des élèves (``course-student-copy``) tel qu'un élève le clone, et les commandes des README.

La copie est construite une fois (fixture ``release``) dans un dossier temporaire ; on y lance
ses propres commandes (``make test``, ``make lab``) avec l'interpréteur courant
(``PYTHON_BIN``, aucune installation) et ``PYTHONPATH`` sur la copie : ``course_lib`` vient
alors de la copie (vérifié), pas du dépôt des enseignants.

``make test`` de la copie tourne ici sur un sous-ensemble (l'introduction et les trois
exercices élèves, ~15 s) : les notebooks de la copie sont identiques octet pour octet à ceux
du dépôt (vérifié ci-dessous), que le ``nbval`` de ``make test`` exécute déjà tous ; ce que
la copie change (paquet sans ``grading/``, Makefile, pyproject) est exercé par ce
sous-ensemble. ``COURSE_RELEASE_FULL=1`` lance la copie sur tous ses notebooks (~80 s).
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import ROOT, stop_process_group

from course_lib.grading import student_copy

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make est nécessaire")
TOP_LEVEL = {"jupyter_config", ".gitignore", ".gitattributes", "LICENSE", "Makefile", "README.md", "course_lib",
             "environment.yml", "notebooks", "postBuild", "pyproject.toml", "scripts"}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("publication") / "cours-eleves"
    student_copy.make_student_copy(target)
    return target


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _env(release: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(release)}
    env.pop("MAKEFLAGS", None)
    return env


# --- Contenu de la copie ------------------------------------------------------------------------

def test_release_is_a_student_repository(release):
    assert {p.name for p in release.iterdir()} == TOP_LEVEL
    assert not (release / "course_lib" / "grading").exists()
    assert student_copy.release_problems(release) == []
    readme = (release / "README.md").read_text(encoding="utf-8")
    assert "Enseignants" not in readme and "solutions" not in readme and "Mainteneurs" not in readme
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "course_lib.grading"):
        assert not [p for p, data in _files(release).items() if marker.encode() in data], marker


def _committed(path: str, root: Path = ROOT, commit: str = "HEAD") -> bytes:
    return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True,
                          check=True).stdout


def test_copied_files_are_the_committed_files(release):
    """Notebooks, bibliothèque, environment.yml et postBuild : ceux du dernier commit, octet pour octet."""
    copied = {p: data for p, data in _files(release).items()
              if p not in ("README.md", "Makefile", "pyproject.toml")}
    assert copied and all(_committed(p) == data for p, data in copied.items())
    tracked = subprocess.run(["git", "ls-tree", "-r", "--name-only", "HEAD", "notebooks"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert sorted(p for p in copied if p.endswith(".ipynb")) == sorted(p for p in tracked if p.endswith(".ipynb"))
    assert os.access(release / "postBuild", os.X_OK)


# --- La copie part d'un commit : ni sorties, ni modifications non commitées ----------------------

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org"}


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def _with_outputs(path: Path) -> None:
    """Ce que fait JupyterLab en sauvegardant un notebook exécuté : sorties et numéros d'exécution."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for n, cell in enumerate(code, 1):
        cell.execution_count = n
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"sortie {n}\n")]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """Un clone du dépôt (son dernier commit), que les tests peuvent modifier."""
    path = tmp_path_factory.mktemp("clone") / "cours"
    _git(ROOT, "clone", "--quiet", "--no-hardlinks", str(ROOT), str(path))
    return path


def test_copy_ignores_the_working_tree(clone, tmp_path, monkeypatch):
    """Un notebook exécuté (sorties sauvegardées, non commitées) est copié tel qu'il est commité."""
    monkeypatch.setattr(student_copy, "build", lambda *a, **k: [])
    nb = clone / "notebooks" / "00_introduction.ipynb"
    _with_outputs(nb)
    (clone / "notebooks" / "brouillon.ipynb").write_text(nb.read_text(encoding="utf-8"), encoding="utf-8")
    student_copy.make_student_copy(tmp_path / "copie", root=clone)
    copied = tmp_path / "copie" / "notebooks" / "00_introduction.ipynb"
    assert copied.read_bytes() == _committed("notebooks/00_introduction.ipynb", clone)
    assert student_copy.notebook_outputs(copied) == [] and student_copy.notebook_outputs(nb)
    assert not (tmp_path / "copie" / "notebooks" / "brouillon.ipynb").exists()


def test_copy_refuses_a_committed_notebook_with_outputs(clone, tmp_path, monkeypatch):
    monkeypatch.setattr(student_copy, "build", lambda *a, **k: [])
    nb = clone / "notebooks" / "01_magnitude.ipynb"
    _with_outputs(nb)
    _git(clone, "commit", "--quiet", "-m", "notebook exécuté", "--", "notebooks/01_magnitude.ipynb")
    with pytest.raises(RuntimeError) as info:
        student_copy.make_student_copy(tmp_path / "copie", root=clone)
    msg = str(info.value)
    assert "notebooks/01_magnitude.ipynb : sorties enregistrées (cellules" in msg and "nbstripout" in msg, msg
    assert not (tmp_path / "copie").exists()
    # le commit d'avant, sans sorties, se copie toujours
    student_copy.make_student_copy(tmp_path / "avant", root=clone, commit="HEAD~1")
    assert (tmp_path / "avant" / "notebooks" / "01_magnitude.ipynb").is_file()


def test_copy_outside_a_git_repository_says_so(tmp_path):
    (tmp_path / "cours").mkdir()
    with pytest.raises(RuntimeError, match="part d'un commit"):
        student_copy.make_student_copy(tmp_path / "copie", root=tmp_path / "cours")


@pytest.mark.parametrize("command, argv, rc", [("grade", ["--help"], 2), ("build_exercises", ["--check"], 2),
                                               ("student_copy", ["COPIE"], 1)])
def test_every_instructor_command_answers_in_french_without_nbgrader(command, argv, rc, tmp_path):
    """Les trois commandes que pip installe passent par ``commands`` : sans nbgrader, même
    ``course-grade --help`` répond en français (avant, l'import de ``cli`` levait une trace)."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert f"course_lib.grading.commands:{command}" in scripts.values(), scripts
    argv = [str(tmp_path / "copie") if a == "COPIE" else a for a in argv]
    code = ("import sys\nsys.modules['nbgrader'] = None\n"
            f"from course_lib.grading.commands import {command}\n"
            f"raise SystemExit({command}({argv!r}))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == rc, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr, proc.stderr
    assert "nbgrader manque" in proc.stderr and "[instructor]" in proc.stderr, proc.stderr
    assert not (tmp_path / "copie").exists()


def test_release_sections_are_taken_from_the_main_readme(release):
    readme = (release / "README.md").read_text(encoding="utf-8")
    main = (ROOT / "README.md").read_text(encoding="utf-8")
    for title in ("Plan du cours", "Avec conda (ou Binder)"):
        assert student_copy.readme_section(main, title) in readme
    assert "mybinder.org/v2/gh/course-pruning/chapitre-8-5-eleves/HEAD" in readme


def test_release_pyproject_declares_no_instructor_tools(release, tmp_path):
    data = tomllib.loads((release / "pyproject.toml").read_text(encoding="utf-8"))
    main = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "scripts" not in data["project"] and list(data["project"]["optional-dependencies"]) == ["test"]
    assert data["project"]["dependencies"] == main["project"]["dependencies"]
    # Le paquet se construit depuis la copie, sans grading/ ni points d'entrée.
    src = shutil.copytree(release, tmp_path / "src")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--quiet", "-w", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "dist").glob("course_lib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "course_lib/__init__.py" in names and "course_lib/widgets/__init__.py" in names
    assert not [n for n in names if "grading" in n or n.endswith("entry_points.txt")]


def test_release_package_imports_without_grading(release):
    """Chaque module de la copie s'importe depuis la copie, sans le chercheur « editable » du dépôt."""
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path\n"
        "                    if not getattr(f, '__module__', '').startswith('__editable__')]\n"
        "import course_lib\n"
        "names = [m.name for m in pkgutil.walk_packages(course_lib.__path__, 'course_lib.')]\n"
        "for name in ['course_lib', *names]:\n"
        "    print(importlib.import_module(name).__file__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=release,
                          env=_env(release), timeout=300)
    assert proc.returncode == 0, proc.stderr
    files = proc.stdout.split()
    assert len(files) >= 10 and all(Path(f).is_relative_to(release) for f in files), files


def test_same_release_twice(release, tmp_path, monkeypatch):
    monkeypatch.setattr(student_copy, "build", lambda *a, **k: [])  # déjà vérifié par la fixture
    again = tmp_path / "encore"
    student_copy.make_student_copy(again)
    assert _files(again) == _files(release)


# --- Le dépôt des enseignants reste privé : le badge Binder n'est que dans la copie ---------------

BINDER = re.compile(r"mybinder\.org/v2/")


def test_binder_badge_only_in_the_student_release(release):
    """Binder ne sert que des dépôts publics : un badge dans le dépôt des enseignants publierait
    solutions/ et les tests cachés. Le README des enseignants dit de le garder privé."""
    main = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not BINDER.search(main), "badge Binder dans le README du dépôt des enseignants"
    assert re.search(r"Gardez ce dépôt privé", main)
    assert BINDER.search((ROOT / "release" / "README.md").read_text(encoding="utf-8"))
    assert BINDER.search((release / "README.md").read_text(encoding="utf-8"))
    assert BINDER.search("[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/a/b/HEAD)")


# --- Mauvaises destinations : message clair, rien ne change ------------------------------------

def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else b"<dossier>"
            for p in folder.rglob("*")}


@pytest.mark.parametrize("case", ["non_vide", "fichier", "dans_le_depot", "depot_invalide", "type"])
def test_bad_destination_changes_nothing(tmp_path, monkeypatch, case):
    monkeypatch.setattr(student_copy, "build", lambda *a, **k: [])
    (tmp_path / "cible").mkdir()
    (tmp_path / "cible" / "notes.txt").write_text("à garder\n")
    (tmp_path / "fichier").write_text("x\n")
    target, kwargs, error, words = {
        "non_vide": (tmp_path / "cible", {}, ValueError, ["n'est pas vide", "vide ou absent"]),
        "fichier": (tmp_path / "fichier", {}, ValueError, ["n'est pas un dossier"]),
        "dans_le_depot": (ROOT / "notebooks" / "copie", {}, ValueError, ["hors du dossier du cours"]),
        "depot_invalide": (tmp_path / "neuf", {"depot": "pas un dépôt"}, ValueError,
                           ["PROPRIÉTAIRE/NOM", "'pas un dépôt'"]),
        "type": (42, {}, TypeError, ["chemin", "int"]),
    }[case]
    before = _snapshot(tmp_path)
    with pytest.raises(error) as info:
        student_copy.make_student_copy(target, **kwargs)
    assert all(w in str(info.value) for w in words), str(info.value)
    assert _snapshot(tmp_path) == before
    assert not (ROOT / "notebooks" / "copie").exists()


def test_unpublishable_copy_is_not_written(tmp_path, monkeypatch):
    """Une copie qui échoue à la vérification n'est pas écrite, et rien ne traîne à côté."""
    monkeypatch.setattr(student_copy, "build", lambda *a, **k: [])
    monkeypatch.setattr(student_copy, "release_problems", lambda folder: ["solutions/ x.ipynb"])
    (tmp_path / "vide").mkdir()
    with pytest.raises(RuntimeError, match="pas publiable"):
        student_copy.make_student_copy(tmp_path / "vide")
    assert [p.name for p in tmp_path.iterdir()] == ["vide"] and not any((tmp_path / "vide").iterdir())


def test_release_problems_catches_each_leak(release, tmp_path):
    bad = shutil.copytree(release, tmp_path / "copie")
    (bad / "course_lib" / "grading").mkdir()
    (bad / "course_lib" / "grading" / "grader.py").write_text("x = 1\n")
    (bad / "course_lib" / "outil.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    readme = bad / "README.md"
    readme.write_text(readme.read_text() + "\n## Enseignants\n\nVoir [ici](solutions/ex.ipynb).\n")
    _with_outputs(bad / "notebooks" / "02_gradient.ipynb")
    problems = "\n".join(student_copy.release_problems(bad))
    for expected in ("course_lib/grading ne doit pas", "outil.py : ### BEGIN SOLUTION",
                     "section « Enseignants »", "lien mort « solutions/ex.ipynb »",
                     "mentionne « solutions/ »", "notebooks/02_gradient.ipynb : sorties enregistrées"):
        assert expected in problems, (expected, problems)


def test_command_line_reports_in_french(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(student_copy, "build", lambda *a, **k: [])
    (tmp_path / "x.txt").write_text("x")
    assert student_copy.main([str(tmp_path)]) == 1
    assert "n'est pas vide" in capsys.readouterr().err
    assert student_copy.main([str(tmp_path / "ok")]) == 0
    assert "make test" in capsys.readouterr().out and (tmp_path / "ok" / "Makefile").is_file()


# --- Les commandes de la copie, lancées depuis la copie -----------------------------------------

@needs_make
def test_release_make_test_passes_from_the_copy(release):
    full = os.environ.get("COURSE_RELEASE_FULL") == "1"
    notebooks = [] if full else ["NOTEBOOKS=notebooks/00_introduction.ipynb notebooks/exercices"]
    proc = subprocess.run(["make", "--no-print-directory", "test", f"PYTHON_BIN={sys.executable}",
                           *notebooks], cwd=release, env=_env(release), capture_output=True, text=True,
                          timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    m = re.search(r">> course_lib : (\S+)", out)
    assert m and Path(m.group(1)).is_relative_to(release), out[-2000:]
    assert "rien n'est installé" in out and not (release / ".venv").exists()
    n_cells = int(re.search(r"(\d+) passed", out).group(1))
    assert n_cells >= (100 if full else 20) and " failed" not in out, out[-2000:]


@needs_make
def test_release_make_lab_is_french_on_notebook_00_and_keeps_git_pull_working(release):
    """La copie a ce que `make lab` du dépôt a : français, notebook 00 sur toute adresse, filtre git
    et notebooks enregistrés tels qu'ils sont commités."""
    for rel in ("jupyter_config/labconfig/default_setting_overrides.json", "jupyter_config/workspace.json",
                "jupyter_config/jupyter_server_config.py", ".gitattributes"):
        assert (release / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    proc = subprocess.run(["make", "-n", "--no-print-directory", "lab", f"PYTHON_BIN={sys.executable}"],
                          cwd=release, env=_env(release), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "nbstripout --install --attributes .gitattributes" in proc.stdout
    assert re.search(r"--LabApp\.default_url=/lab/workspaces/[\w-]+/tree/00_introduction\.ipynb", proc.stdout)
    assert re.search(r"JUPYTER_CONFIG_PATH=\S*jupyter_config", proc.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_make
def test_release_make_lab_serves_the_first_notebook(release, tmp_path):
    port, token = _free_port(), secrets.token_hex(12)
    env = {**_env(release), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    args = f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={token} --allow-root"
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PYTHON_BIN={sys.executable}",
                             f"PORT={port}", f"LAB_ARGS={args}"], cwd=release, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # jupyter lab FICHIER sert le dossier du fichier (notebooks/) et ouvre le fichier.
    url = f"http://127.0.0.1:{port}/api/contents/00_introduction.ipynb?content=0&token={token}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, "make lab s'est arrêté"
            assert time.monotonic() < deadline, "make lab ne répond pas"
            try:
                with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (127.0.0.1)
                    assert r.status == 200
                    break
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
    finally:
        stop_process_group(proc)


# --- Chaque commande des deux README désigne quelque chose qui existe ----------------------------

PATH_SUFFIXES = (".ipynb", ".py", ".yml", ".yaml", ".toml", ".sh", ".md", ".json")
VENV_TOOLS = {"python", "pip", "jupyter", "pytest", "ruff", "nbstripout"}


def makefile_targets(makefile: Path) -> set[str]:
    text = makefile.read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_-]+)\s*:(?!=)", text, re.M))


def readme_commands(readme: str) -> tuple[list[list[str]], list[str]]:
    """(blocs ```bash découpés en commandes, code en ligne `...` hors blocs)."""
    blocks = re.findall(r"^\s*```bash\n(.*?)^\s*```", readme, re.S | re.M)
    commands = []
    for block in blocks:
        cmds = []
        for line in block.splitlines():
            line = re.sub(r"\s#.*$", "", line).strip()
            cmds += [c.strip() for c in re.split(r"&&|;|\|\|", line) if c.strip()]
        commands.append(cmds)
    prose = re.sub(r"^\s*```.*?^\s*```", "", readme, flags=re.S | re.M)
    return commands, re.findall(r"`([^`\n]+)`", prose)


def command_problems(readme_path: Path, elsewhere: Path | None = None) -> list[str]:
    """Les noms des commandes d'un README qui n'existent pas (cible make, environnement, chemin...).

    Un ``cd`` vers un dossier hors du dépôt (``cd ../cours-eleves``) fait vérifier la suite du
    bloc dans ``elsewhere`` (la copie élève), ou l'ignore si ``elsewhere`` est ``None``.
    """
    root = readme_path.parent
    readme = readme_path.read_text(encoding="utf-8")
    blocks, inline = readme_commands(readme)
    problems = []

    def check(cmd: str, here: Path | None, strict_paths: bool) -> None:
        if here is None:
            return
        try:
            words = shlex.split(cmd)
        except ValueError:
            return
        words = [w for w in words if not re.fullmatch(r"[A-Z_]+=\S*", w)]  # VAR=... devant
        if not words:
            return
        scripts = tomllib.loads((here / "pyproject.toml").read_text(encoding="utf-8"))["project"].get(
            "scripts", {})
        tool = words[0]
        if tool.startswith(".venv/bin/"):
            tool = tool.removeprefix(".venv/bin/")
            if tool not in scripts and tool not in VENV_TOOLS:
                problems.append(f"{cmd!r} : {tool} n'est ni un point d'entrée ni un outil du .venv")
        elif tool.startswith("course-") and tool not in scripts:
            problems.append(f"{cmd!r} : point d'entrée {tool} inconnu")
        if tool == "make":
            targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
            known = makefile_targets(here / "Makefile")
            problems.extend(f"{cmd!r} : cible make inconnue {t!r}" for t in targets if t not in known)
        if words[:2] == ["conda", "activate"] or words[:3] == ["conda", "env", "create"]:
            env_file = words[words.index("-f") + 1] if "-f" in words else "environment.yml"
            if not (here / env_file).is_file():
                problems.append(f"{cmd!r} : {env_file} introuvable")
            elif words[1] == "activate":
                name = yaml.safe_load((here / env_file).read_text(encoding="utf-8"))["name"]
                if words[2] != name:
                    problems.append(f"{cmd!r} : environment.yml crée {name!r}, pas {words[2]!r}")
        if strict_paths:
            for prev, w in zip(words, words[1:], strict=False):
                if (w.endswith(PATH_SUFFIXES) and prev != "--out" and not re.search(r"[<>{}$:]", w)
                        and not list(here.glob(w))):
                    problems.append(f"{cmd!r} : {w} introuvable")

    for block in blocks:
        here = root
        for cmd in block:
            words = cmd.split()
            if words[0] == "cd" and len(words) == 2:
                here = elsewhere if words[1].startswith("..") else (here / words[1] if here else None)
                continue
            check(cmd, here, strict_paths=True)
    for code in inline:
        if re.match(r"([A-Z_]+=\S+\s+)*(make|conda|\.venv/bin/|course-)", code):
            check(code, root, strict_paths=False)
    for link in re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r"urlpath=lab/tree/([^)\s&]+)", readme):
        rel = link.split("#")[0]
        if rel and not re.match(r"[a-z]+:", rel) and not (root / rel).exists():
            problems.append(f"lien mort : {link}")
    return problems


def test_main_readme_commands_exist(release):
    assert command_problems(ROOT / "README.md", elsewhere=release) == []


def test_release_readme_commands_exist(release):
    assert command_problems(release / "README.md") == []


def test_readme_checker_catches_wrong_names(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "environment.yml", tmp_path / "environment.yml")
    (tmp_path / "README.md").write_text(
        "Voir [le plan](notebooks/absent.ipynb) et `make exercices`.\n\n```bash\n"
        "conda env create -f environment.yml\nconda activate pruning-8-5\n"
        "make test && make publier   # commentaire\n.venv/bin/course-noter RENDUS/\n"
        "jupyter lab notebooks/00_introduction.ipynb\n```\n", encoding="utf-8")
    problems = "\n".join(command_problems(tmp_path / "README.md"))
    for expected in ("notebooks/absent.ipynb", "'exercices'", "'publier'", "pas 'pruning-8-5'",
                     "course-noter", "notebooks/00_introduction.ipynb introuvable"):
        assert expected in problems, (expected, problems)
    assert "'test'" not in problems
