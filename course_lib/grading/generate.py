"""``course-build-exercises`` : notebooks élèves générés depuis les sources enseignant.

Une seule chaîne, celle de ``nbgrader generate_assignment`` (nbgrader 0.9), appliquée
en mémoire avec les préprocesseurs de nbgrader eux-mêmes (aucun découpage à la main) :
LockCells → ClearSolutions → ClearOutput → CheckCellMetadata → ComputeChecksums →
ClearHiddenTests → ClearMarkScheme → ComputeChecksums → CheckCellMetadata.
Seules différences : pas d'en-tête/pied de page ni de base de données (``SaveCells``), et
des amorces en français (``CODE_STUB``, ``TEXT_STUB`` ; un ``nbgrader_config.py`` qui
reprend ces deux valeurs redonne les mêmes notebooks, voir ``nbgrader_config_text``).

Une étape ajoutée, qui ne touche qu'aux métadonnées : dans la version élève, chaque
cellule de code située à partir de la première cellule-réponse reçoit l'étiquette
``raises-exception`` (elle dépend d'une réponse encore vide : nbval doit l'accepter).
Les sources enseignant n'ont pas cette étiquette, pour que nbval y vérifie chaque test caché.

Usage : ``course-build-exercises`` (écrit ``notebooks/exercices/``) ;
``course-build-exercises --check`` (code 1 si un notebook commité diffère).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from .exercises import SOLUTIONS_DIR, STUDENT_DIR, find_exercises

CODE_STUB = "# VOTRE CODE ICI\nraise NotImplementedError()"
TEXT_STUB = "VOTRE RÉPONSE ICI"
RAISES_TAG = "raises-exception"


def _preprocessors() -> list:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    return [
        LockCells(),
        ClearSolutions(code_stub={"python": CODE_STUB}, text_stub=TEXT_STUB),
        ClearOutput(),
        CheckCellMetadata(),
        ComputeChecksums(),
        ClearHiddenTests(),
        ClearMarkScheme(),
        ComputeChecksums(),
        CheckCellMetadata(),
    ]


def nbgrader_config_text() -> str:
    """Les lignes d'un ``nbgrader_config.py`` qui rendent ``nbgrader generate_assignment``
    identique à ce module (mêmes amorces)."""
    return (f"c.ClearSolutions.code_stub = {{'python': {CODE_STUB!r}}}\n"
            f"c.ClearSolutions.text_stub = {TEXT_STUB!r}\n")


def is_answer_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def tag_cells_after_first_answer(nb) -> None:
    """Étiquette ``raises-exception`` sur chaque cellule de code à partir de la première réponse."""
    started = False
    for cell in nb.cells:
        started = started or is_answer_cell(cell)
        if started and cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if RAISES_TAG not in tags:
                tags.append(RAISES_TAG)


def make_student_notebook(source_nb):
    """Version élève d'un notebook source nbgrader (le notebook reçu n'est pas modifié)."""
    nb = copy.deepcopy(source_nb)
    resources: dict = {}
    for pre in _preprocessors():
        nb, resources = pre.preprocess(nb, resources)
    tag_cells_after_first_answer(nb)
    return nb


def student_text(source_path: str | Path) -> str:
    """Le texte exact (JSON) du notebook élève fabriqué à partir d'une source."""
    nb = nbformat.read(source_path, as_version=4)
    return nbformat.writes(make_student_notebook(nb)) + "\n"


def build(solutions_dir: str | Path = SOLUTIONS_DIR, out_dir: str | Path = STUDENT_DIR,
          check: bool = False) -> list[Path]:
    """Écrit (ou, avec ``check``, compare) les notebooks élèves. Renvoie les fichiers différents."""
    out_dir = Path(out_dir)
    differing = []
    for ex in find_exercises(solutions_dir).values():
        text = student_text(ex.source)
        target = out_dir / ex.filename
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            differing.append(target)
            if not check:
                out_dir.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".ipynb.tmp")
                tmp.write_text(text, encoding="utf-8")
                tmp.replace(target)
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="course-build-exercises",
        description="Génère les notebooks élèves (notebooks/exercices/) depuis solutions/ avec nbgrader.")
    parser.add_argument("--solutions", default=SOLUTIONS_DIR, help="dossier des sources enseignant "
                        "(défaut : solutions/ du dépôt du cours trouvé depuis le dossier courant)")
    parser.add_argument("--out", default=STUDENT_DIR, help="dossier des notebooks élèves")
    parser.add_argument("--check", action="store_true",
                        help="ne rien écrire ; code 1 si un notebook élève n'est pas à jour")
    args = parser.parse_args(argv)
    if args.solutions is None or args.out is None:
        parser.error("dépôt du cours introuvable depuis le dossier courant : --solutions et --out requis")
    differing = build(args.solutions, args.out, check=args.check)
    for path in differing:
        print(("pas à jour : " if args.check else "écrit : ") + str(path))
    if args.check and differing:
        print("Lancez `make exercises` (course-build-exercises) puis commitez.", file=sys.stderr)
        return 1
    if not differing:
        print("Notebooks élèves à jour.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
