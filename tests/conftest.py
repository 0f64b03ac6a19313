"""Outils partagés par les tests du dépôt (chemins, liste des notebooks, modèle entraîné, appels des critères)."""

from __future__ import annotations

import subprocess
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
