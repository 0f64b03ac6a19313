"""Les deux commandes du README : ``make lab`` et ``make test`` (et scripts/ensure_venv.sh)."""

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
from pathlib import Path

import pytest
from conftest import ROOT, stop_process_group

SCRIPT = ROOT / "scripts" / "ensure_venv.sh"
pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("bash") is None,
                                reason="make et bash sont nécessaires (apt-get install make)")


def _fake_python(tmp_path: Path, name: str, body: str) -> Path:
    exe = tmp_path / "bin" / name
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text("#!/bin/bash\n" + body, encoding="utf-8")
    exe.chmod(0o755)
    return exe


# Un « python3.8 » : échoue au test de version, se présente comme 3.8.18.
OLD_PYTHON = """
case "$*" in
  *version_info*) exit 1 ;;
  *python_version*) echo 3.8.18 ;;
  *) echo "faux python 3.8 : $*" >&2; exit 1 ;;
esac
"""
# Un python 3.11 sans le module venv (python3-venv non installé sur Debian).
NO_VENV_PYTHON = """
case "$*" in
  *version_info*) exit 0 ;;
  *"import venv"*) echo "ModuleNotFoundError: No module named 'ensurepip'" >&2; exit 1 ;;
  *python_version*) echo 3.11.2 ;;
  *) echo "faux python sans venv : $*" >&2; exit 1 ;;
esac
"""


def _run(cmd, env_extra, timeout=120):
    env = {**os.environ, **env_extra}
    env.pop("MAKEFLAGS", None)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("kind", ["old", "no_venv", "missing"])
@pytest.mark.parametrize("how", ["script", "make lab", "make test"])
def test_unusable_python_stops_with_install_message(tmp_path, kind, how):
    if kind == "old":
        py = str(_fake_python(tmp_path, "python3.8", OLD_PYTHON))
        expected = [r"3\.8\.18", r"3\.10", r"(?i)install"]
    elif kind == "no_venv":
        py = str(_fake_python(tmp_path, "python3", NO_VENV_PYTHON))
        expected = [r"venv", r"apt-get install python3-venv"]
    else:
        py = str(tmp_path / "nulle-part" / "python3")
        expected = [r"introuvable", r"3\.10", r"(?i)install"]
    venv = tmp_path / "venv"
    if how == "script":
        proc = _run(["bash", str(SCRIPT)], {"PYTHON": py, "VENV": str(venv)})
    else:
        proc = _run(["make", "--no-print-directory", how.split()[1], f"PYTHON={py}", f"VENV={venv}"], {})
    assert proc.returncode != 0, proc.stdout + proc.stderr
    for pattern in expected:
        assert re.search(pattern, proc.stderr), (pattern, proc.stderr)
    assert "ERREUR" in proc.stderr
    assert not venv.exists(), "aucun environnement ne doit être créé"
    assert "pytest" not in proc.stdout and "jupyter" not in proc.stdout  # make s'est arrêté avant


def test_second_run_reuses_the_venv(tmp_path):
    """Tampon d'empreinte : pip ne tourne qu'à la première fois ou quand les extras changent."""
    venv = tmp_path / "venv"
    log = tmp_path / "pip.log"
    # Un « venv » dont le python note les appels à pip au lieu d'installer quoi que ce soit.
    _fake_python(tmp_path.joinpath("venv"), "python", f"""
case "$*" in
  *"-m pip"*) echo "$*" >> {log} ;;
  *"import course_lib"*) exit 0 ;;
  *) exit 1 ;;
esac
""")
    env = {"PYTHON": sys.executable, "VENV": str(venv)}

    def installs(*extras):
        before = log.read_text().count("\n") if log.exists() else 0
        proc = _run(["bash", str(SCRIPT), *extras], env)
        assert proc.returncode == 0, proc.stderr
        return (log.read_text().count("\n") if log.exists() else 0) - before, proc.stdout

    n, out = installs("dev")
    assert n == 1 and "Installation de .[dev]" in out
    n, out = installs("dev")
    assert n == 0 and "à jour" in out
    n, out = installs()  # make lab après make test : la base est déjà dans .[dev]
    assert n == 0 and "à jour" in out
    n, out = installs("dev,instructor")
    assert n == 1 and "-e .[dev,instructor]" in log.read_text()
    (venv / ".course-lib-dev.sha256").write_text("empreinte périmée\n")
    (venv / ".course-lib-dev,instructor.sha256").unlink()
    n, out = installs("dev")  # pyproject.toml a changé (empreinte différente) : on réinstalle
    assert n == 1


def _dry_run(target: str) -> str:
    proc = _run(["make", "-n", "--no-print-directory", target], {})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def lab_command(out: str) -> dict[str, str]:
    """Les réglages de la commande ``jupyter lab`` (celle qui sert le cours) d'un ``make -n lab``."""
    line = re.search(r"jupyter lab --port.*$", out.replace("\\\n", " "), re.M).group(0)
    return dict(re.findall(r"--([A-Za-z]+\.[a-z_]+)=\"?([^\s\"]+)", line))


def test_make_lab_dry_run():
    out = _dry_run("lab")
    assert "scripts/ensure_venv.sh" in out and re.search(r"ensure_venv\.sh\s*$", out, re.M)
    assert re.search(r"JUPYTER_CONFIG_PATH=\S*jupyter_config", out)
    # le filtre git est installé avant que JupyterLab ne sauvegarde le moindre notebook
    assert out.index("ensure_venv.sh") < out.index("nbstripout --install") < out.index("jupyter lab --port")
    settings = lab_command(out)
    # Toute adresse mène au notebook 00 : default_url est l'adresse affichée, celle du navigateur
    # ouvert d'office, et la cible de la racine du serveur.
    m = re.fullmatch(r"/lab/workspaces/([A-Za-z0-9_-]+)/tree/(\S+\.ipynb)", settings["LabApp.default_url"])
    assert m, settings
    first = (ROOT / settings["ServerApp.root_dir"] / m.group(2)).resolve()
    assert first.is_file() and first.name.startswith("00_") and first.parent == ROOT / "notebooks"
    # un espace de travail au cours : dans le dépôt, ignoré par git, pas celui de ~/.jupyter
    workspaces = Path(settings["LabApp.workspaces_dir"])
    assert workspaces.is_relative_to(ROOT), workspaces
    ignored = subprocess.run(["git", "check-ignore", "-q", str(workspaces / "default-37a8.jupyterlab-workspace")],
                             cwd=ROOT)
    assert ignored.returncode == 0, f"{workspaces} n'est pas ignoré par git"


def test_course_workspace_seed_opens_notebook_00():
    """Le modèle de l'espace par défaut (/lab) : le notebook 00 ouvert, et rien d'autre."""
    import json

    seed = json.loads((ROOT / "jupyter_config" / "workspace.json").read_text(encoding="utf-8"))
    assert seed["metadata"]["id"] == "default"
    layout = seed["data"]["layout-restorer:data"]["main"]
    root = ROOT / lab_command(_dry_run("lab"))["ServerApp.root_dir"]
    assert layout["dock"]["widgets"] == [layout["current"]]
    path = seed["data"][layout["current"]]["data"]["path"]
    assert (root / path).resolve() == sorted((ROOT / "notebooks").glob("00_*.ipynb"))[0]


def test_french_is_the_default_language():
    """jupyter_config/ (make lab, Binder via postBuild) fait du français la langue de JupyterLab,
    et le pack de langue installé la fournit."""
    code = ("from jupyterlab_server.settings_utils import _get_overrides\n"
            "from jupyterlab_server.translation_utils import get_language_packs\n"
            "o, err = _get_overrides('/nulle-part')\n"
            "print(o.get('@jupyterlab/translation-extension:plugin', {}).get('locale'))\n"
            "print(sorted(get_language_packs()[0]))\n")

    def run(config_path: str) -> list[str]:
        env = {**os.environ, "JUPYTER_CONFIG_PATH": config_path, "JUPYTER_CONFIG_DIR": "/nulle-part"}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    locale, packs = run(str(ROOT / "jupyter_config"))
    assert locale == "fr_FR" and "fr_FR" in packs, (locale, packs)
    assert run("/nulle-part")[0] == "None"  # sans la configuration du cours : langue par défaut


def test_postbuild_makes_binder_french(tmp_path):
    """postBuild (Binder) met les réglages par défaut du cours dans la configuration de l'environnement."""
    prefix = tmp_path / "conda-env"
    log = tmp_path / "appels.log"
    _fake_python(tmp_path, "python", f"""
case "$*" in
  *sys.prefix*) echo {prefix} ;;
  *) echo "python $*" >> {log} ;;
esac
""")
    _fake_python(tmp_path, "jupyter", f'echo "jupyter $*" >> {log}\n')
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    proc = _run(["bash", str(ROOT / "postBuild")], env)
    assert proc.returncode == 0, proc.stderr
    installed = prefix / "etc" / "jupyter" / "labconfig" / "default_setting_overrides.json"
    assert installed.read_bytes() == (ROOT / "jupyter_config" / "labconfig" /
                                      "default_setting_overrides.json").read_bytes()
    assert "pip install --no-deps -e ." in log.read_text()


# --- Le filtre git : un notebook exécuté n'empêche pas `git pull` --------------------------------

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org",
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-c", "pull.rebase=false", "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert not check or proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def _notebook(cells: list[str]):
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(c, id=f"c{i}") for i, c in enumerate(cells)]
    return nb


def _jupyterlab_run(nb) -> None:
    """Ce que JupyterLab met dans un notebook exécuté : sorties, numéros, métadonnées du noyau."""
    import nbformat

    for n, cell in enumerate([c for c in nb.cells if c.cell_type == "code"], 1):
        cell.execution_count = n
        cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": str(n)}, execution_count=n)]
        cell.metadata["execution"] = {"iopub.status.idle": "2026-12-06T10:00:00.000000Z"}
    nb.metadata["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    nb.metadata["language_info"] = {"name": "python", "version": "3.12.3", "pygments_lexer": "ipython3",
                                    "file_extension": ".py", "mimetype": "text/x-python"}


def contents_manager(root: Path, course_config: bool = True):
    """Le gestionnaire de fichiers du serveur Jupyter, avec la configuration de `make lab` ou sans."""
    from jupyter_server.services.contents.filemanager import FileContentsManager
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = (PyFileConfigLoader("jupyter_server_config.py", path=str(ROOT / "jupyter_config")).load_config()
              if course_config else Config())
    return FileContentsManager(root_dir=str(root), config=config)


def _run_and_save(folder: Path, name: str, course_config: bool = True) -> None:
    """Ouvre, exécute et enregistre ``name`` comme le fait JupyterLab (API du serveur Jupyter)."""
    cm = contents_manager(folder, course_config)
    model = cm.get(name)
    _jupyterlab_run(model["content"])
    cm.save({"type": "notebook", "format": "json", "content": model["content"]}, name)


def _course_and_student(tmp_path: Path) -> tuple[Path, Path]:
    """Un dépôt « cours » (avec le .gitattributes du dépôt) et le clone d'un élève."""
    import nbformat

    course, student = tmp_path / "cours", tmp_path / "eleve"
    course.mkdir()
    _git(course, "init", "-q")
    for name in (".gitattributes", ".gitignore"):
        shutil.copy(ROOT / name, course / name)
    assert _make_git_filter(course).returncode == 0  # l'enseignant commite des notebooks sans sorties
    nbformat.write(_notebook(["x = 1", "x + 1"]), course / "00.ipynb")
    _git(course, "add", ".")
    _git(course, "commit", "-q", "-m", "cours")
    _git(tmp_path, "clone", "-q", str(course), str(student))
    return course, student


def _make_git_filter(where: Path) -> subprocess.CompletedProcess:
    """``make git-filter`` du Makefile du dépôt, lancé dans ``where`` avec l'interpréteur courant."""
    return subprocess.run(["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "git-filter",
                           f"BIN={Path(sys.executable).parent}"], cwd=where, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **GIT_ENV})


def _update_course(course: Path) -> None:
    import nbformat

    nbformat.write(_notebook(["x = 1", "x + 1", "print('nouvelle cellule')"]), course / "00.ipynb")
    _git(course, "commit", "-q", "-am", "mise à jour du cours")


def test_git_pull_works_after_running_a_notebook(tmp_path):
    """Avec `make lab` (filtre git, jupyter_config/) : l'élève exécute et enregistre, puis met à jour."""
    course, student = _course_and_student(tmp_path)
    proc = _make_git_filter(student)
    assert proc.returncode == 0, proc.stderr
    assert _git(student, "config", "filter.nbstripout.clean").stdout.strip()
    _run_and_save(student, "00.ipynb")
    assert _git(student, "status", "--porcelain").stdout == ""
    _update_course(course)
    pulled = _git(student, "pull", "-q", check=False)
    assert pulled.returncode == 0, pulled.stderr
    assert "nouvelle cellule" in (student / "00.ipynb").read_text()
    assert (ROOT / ".gitattributes").read_text().count("filter=nbstripout") == 1  # rien d'ajouté


def test_without_the_course_config_git_pull_fails(tmp_path):
    """Le même scénario avec un serveur Jupyter ordinaire : git refuse de mettre le cours à jour,
    filtre installé ou non (il ôte les sorties, pas les métadonnées du noyau de l'élève)."""
    course, student = _course_and_student(tmp_path)
    assert _make_git_filter(student).returncode == 0
    _run_and_save(student, "00.ipynb", course_config=False)
    assert _git(student, "status", "--porcelain").stdout.strip() == "M 00.ipynb"
    _update_course(course)
    pulled = _git(student, "pull", "-q", check=False)
    assert pulled.returncode != 0 and "would be overwritten" in pulled.stderr, pulled.stderr


def test_saved_notebook_is_what_the_filter_commits(tmp_path):
    """Le crochet d'enregistrement et le filtre git donnent le même fichier : celui du dépôt."""
    committed = (ROOT / "notebooks" / "exercices").glob("*.ipynb")
    name = sorted(committed)[0].name
    blob = subprocess.run(["git", "show", f"HEAD:notebooks/exercices/{name}"], cwd=ROOT, capture_output=True,
                          check=True).stdout
    (tmp_path / name).write_bytes(blob)
    _run_and_save(tmp_path, name)
    saved = (tmp_path / name).read_bytes()
    assert saved == blob
    filtered = subprocess.run([sys.executable, "-m", "nbstripout"], input=saved, capture_output=True,
                              check=True).stdout
    assert filtered == saved
    # sans la configuration du cours, le fichier enregistré diffère (sorties, noyau de l'élève)
    _run_and_save(tmp_path, name, course_config=False)
    assert (tmp_path / name).read_bytes() != blob


def test_committed_notebooks_are_what_the_filter_makes():
    """Chaque notebook commité est déjà sans sorties : une fois le filtre installé par `make lab`,
    `git status` n'en montre aucun comme modifié."""
    files = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    assert files
    changed = []
    for rel in files:
        blob = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, check=True).stdout
        stripped = subprocess.run([sys.executable, "-m", "nbstripout"], input=blob, capture_output=True,
                                  check=True).stdout
        if stripped != blob:
            changed.append(rel)
    assert not changed, f"notebooks commités que nbstripout modifierait : {changed}"


# --- PyTorch CPU : même version que le plafond de pyproject.toml --------------------------------

def _caps() -> dict[str, str]:
    """{paquet: version maximale} des dépendances plafonnées par « <= » dans pyproject.toml."""
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    caps = {}
    for r in map(Requirement, deps):
        for spec in r.specifier:
            if spec.operator == "<=":
                caps[r.name] = spec.version
    return caps


def cpu_pins(text: str) -> dict[str, str]:
    """Les versions épinglées (``torch==2.14.1+cpu``) d'une commande d'installation CPU."""
    return dict(re.findall(r"\b(torch|torchvision)==([0-9][0-9.]*\+cpu)\b", text))


def test_cpu_torch_pins_match_the_pyproject_caps():
    from packaging.version import Version

    caps = _caps()
    assert {"torch", "torchvision"} <= set(caps), caps
    script = SCRIPT.read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    release = (ROOT / "release" / "README.md").read_text(encoding="utf-8")
    for where, text in (("scripts/ensure_venv.sh", script), ("README.md", readme), ("release/README.md", release)):
        pins = cpu_pins(text)
        assert set(pins) == {"torch", "torchvision"}, (where, pins)
        for name, version in pins.items():
            assert Version(version).public == caps[name] and Version(version).local == "cpu", (where, name)
    assert "download.pytorch.org/whl/cpu" in script and "download.pytorch.org/whl/cpu" in readme
    assert cpu_pins("pip install torch==2.13.0+cpu") == {"torch": "2.13.0+cpu"}
    assert cpu_pins("pip install torch --index-url https://download.pytorch.org/whl/cpu") == {}


def test_readme_cpu_command_is_well_formed():
    """La commande du README : pip, l'index CPU de PyTorch, les deux paquets épinglés."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"`([^`\n]*download\.pytorch\.org/whl/cpu[^`\n]*)`", readme)
    assert commands, "commande PyTorch CPU absente du README"
    for cmd in commands:
        words = shlex.split(cmd)
        assert words[:2] == [".venv/bin/pip", "install"], cmd
        assert words[words.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
        assert set(cpu_pins(cmd)) == {"torch", "torchvision"}


def test_torch_cpu_installs_the_pinned_cpu_build_first(tmp_path):
    """TORCH_CPU=1 : PyTorch CPU épinglé depuis l'index CPU, avant le paquet du cours."""
    venv = tmp_path / "venv"
    log = tmp_path / "pip.log"
    _fake_python(tmp_path.joinpath("venv"), "python", f"""
case "$*" in
  *"-m pip"*) echo "$*" >> {log} ;;
  *"import course_lib"*) exit 0 ;;
  *) exit 1 ;;
esac
""")
    proc = _run(["bash", str(SCRIPT)], {"PYTHON": sys.executable, "VENV": str(venv), "TORCH_CPU": "1"})
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    first = calls[0].split()
    assert first[:3] == ["-m", "pip", "install"], calls
    assert cpu_pins(calls[0]) == {n: f"{v}+cpu" for n, v in _caps().items() if n in ("torch", "torchvision")}
    assert first[first.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert "-e ." in calls[-1] and "download.pytorch.org" not in calls[-1]
    # sans TORCH_CPU, aucun appel à l'index CPU
    log.unlink()
    (venv / ".course-lib-base.sha256").unlink()
    proc = _run(["bash", str(SCRIPT)], {"PYTHON": sys.executable, "VENV": str(venv)})
    assert proc.returncode == 0 and "download.pytorch.org" not in log.read_text()


def _build_editable(src: Path, warnings: str) -> subprocess.CompletedProcess:
    """Ce que fait ``pip install -e`` : la roue éditable de ``src``, avec ``PYTHONWARNINGS=warnings``."""
    code = "import sys\nfrom setuptools import build_meta\nprint(build_meta.build_editable(sys.argv[1]))"
    out = src.parent / "roue"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": warnings}
    return subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, capture_output=True, text=True,
                          timeout=300, env=env)


def test_editable_install_shows_no_english_box(tmp_path):
    """ensure_venv.sh installe en mode éditable sans l'encadré « Editable installation » de setuptools,
    et sans taire les autres avertissements : la roue éditable se construit avec le filtre que le
    script passe à pip, tout autre avertissement changé en erreur ; sans ce filtre, elle échoue."""
    pytest.importorskip("setuptools", minversion="77")
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    _fake_python(venv, "python", f"""
case "$*" in
  *"-m pip install"*"-e"*) echo "$PYTHONWARNINGS" >> {log} ;;
  *"import course_lib"*) exit 0 ;;
  *) exit 1 ;;
esac
""")
    proc = _run(["bash", str(SCRIPT)], {"PYTHON": sys.executable, "VENV": str(venv), "PYTHONWARNINGS": ""})
    assert proc.returncode == 0, proc.stderr
    passed = log.read_text().strip()
    assert passed, "ensure_venv.sh doit passer un filtre PYTHONWARNINGS à pip install -e"
    postbuild = (ROOT / "postBuild").read_text(encoding="utf-8")
    assert f'PYTHONWARNINGS="{passed}" python -m pip install --no-deps -e .' in postbuild

    src = tmp_path / "src"
    shutil.copytree(ROOT / "course_lib", src / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    quiet = _build_editable(src, f"error,{passed}")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "warning" not in quiet.stderr.lower(), quiet.stderr[-3000:]
    loud = _build_editable(src, "error")
    assert loud.returncode != 0 and "Editable installation" in loud.stderr, loud.stderr[-3000:]


def test_make_test_dry_run():
    out = _dry_run("test")
    assert re.search(r"ensure_venv\.sh dev\b", out)
    assert "ruff check" in out
    assert re.search(r"pytest .*\btests\b", out)
    assert re.search(r"pytest .*--nbval-lax .*notebooks.*solutions", out)
    # l'environnement est prêt avant le reste
    assert out.index("ensure_venv.sh") < out.index("ruff check") < out.index("--nbval")


def test_make_test_runs_the_notebooks_under_other_cpu_settings():
    """Au moins deux réglages de calcul autres que celui par défaut : autres noyaux, autre nombre de fils."""
    out = _dry_run("test")
    assert out.index("--nbval-lax tests") < out.index("ATEN_CPU_CAPABILITY")
    settings = re.search(r"for s in ([^;]*);", out).group(1).split()
    caps = {s.split(":")[0] for s in settings}
    threads = {s.split(":")[1] for s in settings}
    assert len(settings) >= 2 and caps <= {"avx2", "default"} and len(caps) == 2 and threads == {"1", "2"}
    assert re.search(r"ATEN_CPU_CAPABILITY=\$\$?cap OMP_NUM_THREADS=\$\$?threads .*--nbval-lax notebooks solutions", out)


def test_ci_script_installs_chromium_and_runs_make_test():
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("#!") and "set -e" in text
    assert re.search(r"apt-get install .*chromium", text) and re.search(r"^make test\b", text, re.M)
    assert re.search(r"CI=true", text)


# --- make lab n'affiche pas l'interface de nbgrader ------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (127.0.0.1)
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _lab_page(tmp_path: Path, config_path: str | None) -> tuple[int, str]:
    """Démarre jupyter lab (comme make lab), renvoie (statut de /formgrader, page /lab)."""
    port, token = _free_port(), secrets.token_hex(12)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    env.pop("JUPYTER_CONFIG_PATH", None)
    if config_path:
        env["JUPYTER_CONFIG_PATH"] = config_path
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--allow-root"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, "jupyter lab s'est arrêté"
            assert time.monotonic() < deadline, "jupyter lab ne répond pas"
            try:
                if _get(f"http://127.0.0.1:{port}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        status, _ = _get(f"http://127.0.0.1:{port}/formgrader?token={token}")
        _, page = _get(f"http://127.0.0.1:{port}/lab?token={token}")
        return status, page
    finally:
        stop_process_group(proc)


def _disabled_labextensions(page: str) -> list[str]:
    m = re.search(r'"disabledExtensions":\s*\[(.*?)\]', page, re.S)
    assert m, "page JupyterLab sans disabledExtensions"
    return re.findall(r'"([^"]+)"', m.group(1))


def test_make_lab_hides_nbgrader_but_it_stays_installed(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader vient avec l'extra dev : pip install -e .[dev]")
    # Sans la configuration du cours : nbgrader (installé par make test) est bien visible...
    status, page = _lab_page(tmp_path / "a", None)
    assert status != 404 and "@jupyter/nbgrader" not in _disabled_labextensions(page)
    # ... avec celle que make lab passe (jupyter_config/), il disparaît pour les élèves.
    status, page = _lab_page(tmp_path / "b", str(ROOT / "jupyter_config"))
    assert status == 404, "l'extension serveur formgrader de nbgrader est encore chargée"
    assert "@jupyter/nbgrader" in _disabled_labextensions(page)
    # Les préprocesseurs de nbgrader restent utilisables par l'enseignant.
    from nbgrader.preprocessors import ClearSolutions

    assert ClearSolutions is not None
