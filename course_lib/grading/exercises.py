"""Où sont les exercices, et comment les reconnaître.

Un exercice = un notebook source ``solutions/ex_A_B_C_<sujet>.ipynb`` (format nbgrader) ;
son identifiant est ``"A.B.C"`` et sa version élève porte le même nom dans
``notebooks/exercices/``.

Où est le dépôt du cours (``ROOT``) : la variable ``COURSE_SOURCE_DIR`` si elle est posée, sinon
le premier dossier, en partant du dossier courant et en remontant, qui contient
``solutions/ex_*.ipynb`` et ``course_lib/`` ; sinon ``None`` (paquet installé hors d'un dépôt :
passez le dossier explicitement, ``course-grade --solutions DOSSIER``). Jamais déduit de
l'emplacement du paquet installé.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


def discover_checkout(start: str | Path | None = None) -> Path | None:
    """Le dépôt du cours (voir le module), ou ``None`` s'il n'y en a pas."""
    explicit = os.environ.get("COURSE_SOURCE_DIR")
    if explicit:
        return Path(explicit).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "course_lib").is_dir() and any((folder / "solutions").glob("ex_*.ipynb")):
            return folder
    return None


ROOT = discover_checkout()
SOLUTIONS_DIR = ROOT / "solutions" if ROOT else None
STUDENT_DIR = ROOT / "notebooks" / "exercices" if ROOT else None
SOURCE_NAME = re.compile(r"^ex_(\d+)_(\d+)_(\d+)(?:_[\w-]+)?\.ipynb$")


@dataclass(frozen=True)
class Exercise:
    """Un exercice : identifiant ``"8.5.2"``, nom du notebook, chemin de la source enseignant."""

    id: str
    filename: str
    source: Path

    @property
    def slug(self) -> str:
        """``"ex_8_5_2"`` : le préfixe du nom de fichier."""
        return "ex_" + self.id.replace(".", "_")


def find_exercises(solutions_dir: str | Path | None = SOLUTIONS_DIR) -> dict[str, Exercise]:
    """Les exercices d'un dossier de sources : ``{"8.5.1": Exercise, ...}`` (triés)."""
    if solutions_dir is None:
        raise FileNotFoundError(
            "Dépôt du cours introuvable (aucun dossier solutions/ à partir du dossier courant). "
            "Indiquez les sources enseignant : --solutions DOSSIER (ou COURSE_SOURCE_DIR).")
    solutions_dir = Path(solutions_dir)
    if not solutions_dir.is_dir():
        raise FileNotFoundError(
            f"Dossier des sources enseignant introuvable : {solutions_dir}. "
            "Attendu : un dossier de notebooks ex_A_B_C_<sujet>.ipynb (par exemple solutions/)."
        )
    found = {}
    for path in sorted(solutions_dir.glob("ex_*.ipynb")):
        m = SOURCE_NAME.match(path.name)
        if m:
            ex_id = ".".join(m.groups())
            found[ex_id] = Exercise(ex_id, path.name, path)
    if not found:
        raise FileNotFoundError(f"Aucun notebook ex_A_B_C_<sujet>.ipynb dans {solutions_dir}.")
    return found
