"""Outils partagés par les tests du dépôt (chemins, liste des notebooks, modèle entraîné, appels des critères)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from course_lib.criteria import (
    apoz_importance,
    approximate_hessian_diag,
    compute_apoz,
    compute_gradient_salience,
    compute_gradients,
    compute_obd_saliency,
)

ROOT = Path(__file__).resolve().parent.parent
# Dossiers jamais parcourus quand on cherche les notebooks hors de git.
# (mêmes exclusions que .gitignore ; tests/artifacts/ reçoit les copies du test navigateur).
IGNORED_DIRS = {".venv", ".git", ".ipynb_checkpoints", "__pycache__", ".pytest_cache", "node_modules"}
IGNORED_PREFIXES = (("tests", "artifacts"),)


def repo_notebooks(root: Path = ROOT) -> list[Path]:
    """Tous les notebooks du dépôt, relatifs à ``root``.

    Dans git : fichiers suivis + nouveaux fichiers non ignorés (un notebook pas encore
    commité compte déjà). Hors git : parcours du dossier, sans .venv ni artefacts.
    """
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.ipynb"],
            cwd=root, capture_output=True, check=True, text=True,
        ).stdout
        files = {Path(p) for p in out.split("\0") if p}
        return sorted(p for p in files if (root / p).is_file())
    except (OSError, subprocess.CalledProcessError):
        return sorted(
            p.relative_to(root) for p in root.rglob("*.ipynb")
            if not IGNORED_DIRS.intersection(p.relative_to(root).parts[:-1])
            and not any(p.relative_to(root).parts[: len(x)] == x for x in IGNORED_PREFIXES)
        )


def section_notebooks(root: Path = ROOT) -> list[Path]:
    """Les notebooks de section : ``notebooks/NN_*.ipynb``."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


LOSS = nn.CrossEntropyLoss()
# Chaque fonction du cours qui parcourt un loader, appelée comme un élève l'appellerait.
LOADER_CALLS = {
    "compute_gradients": lambda m, ld: compute_gradients(m, LOSS, ld),
    "salience": lambda m, ld: compute_gradient_salience(m, LOSS, ld),
    "salience_mean_gradient": lambda m, ld: compute_gradient_salience(m, LOSS, ld, variant="mean_gradient"),
    "salience_squared": lambda m, ld: compute_gradient_salience(m, LOSS, ld, variant="squared"),
    "fisher": lambda m, ld: approximate_hessian_diag(m, LOSS, ld),
    "squared_batch_mean": lambda m, ld: approximate_hessian_diag(m, LOSS, ld, method="squared_batch_mean"),
    "obd": lambda m, ld: compute_obd_saliency(m, LOSS, ld),
    "apoz": lambda m, ld: compute_apoz(m, ld),
    "apoz_importance": lambda m, ld: apoz_importance(m, ld),
}


@pytest.fixture(scope="module")
def setup():
    """(données digits, CNN du cours entraîné), graine 0 ; un par module de test."""
    from course_lib import load_data, train_baseline

    data = load_data("digits", seed=0)
    return data, train_baseline(data, seed=0, progress=False)


def param_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copie des paramètres nommés, pour vérifier ensuite qu'un appel n'a rien changé."""
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# Le scheduler adaptatif du chapitre 8.5, tel quel (classe renommée comme l'exige l'énoncé) :
# après un dépassement du budget il prend la moitié du chemin restant, plus que son pas normal.
CHAPTER_SCHEDULER = '''
class AdaptiveScheduler:
    def __init__(self, initial_sparsity=0.0, target_sparsity=0.9,
                 max_accuracy_drop=0.02):
        self.current_sparsity = initial_sparsity
        self.target_sparsity = target_sparsity
        self.max_drop = max_accuracy_drop
        self.baseline_accuracy = None

    def should_prune_more(self, current_accuracy):
        if self.baseline_accuracy is None:
            self.baseline_accuracy = current_accuracy
            return True
        accuracy_drop = self.baseline_accuracy - current_accuracy
        if accuracy_drop < self.max_drop:
            return True
        else:
            return False

    def get_next_sparsity(self, current_accuracy):
        if not self.should_prune_more(current_accuracy):
            increment = (self.target_sparsity - self.current_sparsity) * 0.5
        else:
            increment = (self.target_sparsity - self.current_sparsity) / 10
        self.current_sparsity = min(
            self.current_sparsity + increment,
            self.target_sparsity
        )
        return self.current_sparsity
'''


def stop_process_group(proc: subprocess.Popen, grace: float = 30) -> None:
    """Arrête un serveur lancé avec ``start_new_session=True`` et tout ce qu'il a lancé :
    SIGTERM au groupe, puis SIGKILL s'il n'est pas sorti après ``grace`` secondes."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- test navigateur (tests/test_browser*.py) -------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Un serveur JupyterLab par fichier de test navigateur (voir ``browser_harness``)."""
    from browser_harness import Lab, _free_port, _write_fixtures, _write_settings, require_browser

    require_browser()
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _write_fixtures(root / "fixtures")
    _write_settings(tmp / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ,
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp / "config"),       # ignore ~/.jupyter
           "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter_config"),  # comme make lab (sans nbgrader)
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.pop("MPLBACKEND", None)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.open_browser=False", "--allow-root"]
    log = tmp / "lab.log"
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                cwd=root, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab s'est arrêté (code {proc.returncode}) :\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab ne répond pas après 180 s :\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status")
                break
            except OSError:
                time.sleep(0.3)
        yield server
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    """Chromium sans écran (Playwright), un par fichier de test navigateur."""
    from browser_harness import CHROMIUM, CHROMIUM_ARGS, HEIGHT, WIDTHS
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    context = None
    try:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS, viewport={"width": WIDTHS[0], "height": HEIGHT},
        )
        yield context
    finally:
        if context is not None:
            context.close()
        pw.stop()
