"""Les commandes enseignant installées par pip : ``course-grade``, ``course-build-exercises``,
``course-student-copy``.

Leurs modules importent nbgrader, installé seulement avec les outils enseignant (extra
``instructor``) ; l'environnement élève (``make lab``) ne l'a pas. Chaque commande importe donc son
module au moment de servir : si nbgrader manque, l'enseignant lit en français ce qu'il faut
installer, au lieu d'une trace d'erreur ``ModuleNotFoundError`` en anglais.
"""

from __future__ import annotations

import importlib
import sys

NBGRADER_MISSING = (
    "nbgrader manque à cet environnement (celui de `make lab` est l'environnement élève) ; les "
    "commandes enseignant (course-grade, course-build-exercises, course-student-copy) en ont besoin. "
    "Installez les outils enseignant : `.venv/bin/pip install -e '.[instructor]'` "
    "(ou `make venv-dev`), puis relancez.")


def nbgrader_missing(exc: ModuleNotFoundError) -> bool:
    """Vrai si ``exc`` vient d'un nbgrader absent (et pas d'un autre module)."""
    return (exc.name or "").split(".")[0] == "nbgrader"


def _run(module: str, argv: list[str] | None) -> int:
    try:
        return importlib.import_module(module, __package__).main(argv)
    except ModuleNotFoundError as exc:
        if not nbgrader_missing(exc):
            raise
        print(f"ERREUR : {NBGRADER_MISSING}", file=sys.stderr)
        return 2


def grade(argv: list[str] | None = None) -> int:
    """``course-grade`` : :func:`course_lib.grading.cli.main`."""
    return _run(".cli", argv)


def build_exercises(argv: list[str] | None = None) -> int:
    """``course-build-exercises`` : :func:`course_lib.grading.generate.main`."""
    return _run(".generate", argv)


def student_copy(argv: list[str] | None = None) -> int:
    """``course-student-copy`` : :func:`course_lib.grading.student_copy.main`."""
    return _run(".student_copy", argv)
