"""Où sont les exercices, et comment les reconnaître.

Un exercice = un notebook source ``solutions/ex_A_B_C_<sujet>.ipynb`` (format nbgrader) ;
son identifiant est ``"A.B.C"`` et sa version élève porte le même nom dans
``notebooks/exercices/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS_DIR = ROOT / "solutions"
STUDENT_DIR = ROOT / "notebooks" / "exercices"
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


def find_exercises(solutions_dir: str | Path = SOLUTIONS_DIR) -> dict[str, Exercise]:
    """Les exercices d'un dossier de sources : ``{"8.5.1": Exercise, ...}`` (triés)."""
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
