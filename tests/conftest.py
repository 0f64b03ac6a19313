"""Outils partagés par les tests du dépôt (chemins, liste des notebooks)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
