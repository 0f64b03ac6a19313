"""Les deux commandes du README : ``make lab`` et ``make test`` (et scripts/ensure_venv.sh)."""

from __future__ import annotations

import os
import re
import secrets
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


def test_make_lab_dry_run():
    out = _dry_run("lab")
    assert "scripts/ensure_venv.sh" in out and re.search(r"ensure_venv\.sh\s*$", out, re.M)
    m = re.search(r"jupyter lab .*?(\S+\.ipynb)", out, re.S)
    assert m and (ROOT / m.group(1)).is_file(), f"premier notebook introuvable : {out}"
    assert m.group(1).startswith("notebooks/00_")
    assert re.search(r"JUPYTER_CONFIG_PATH=\S*jupyter_config", out)


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
