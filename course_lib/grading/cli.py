"""``course-grade SOUMISSIONS --out notes.csv [--workers N] [--timeout S] [--memory-mb M]``.

Note un dossier de notebooks soumis (règle de nommage : ``course_lib.grading.submissions`` ;
``alice_8.5.2.ipynb`` ou ``alice/ex_8_5_2.ipynb``). Écrit le CSV (colonnes ``student``,
``exercise``, ``file``, ``score``, ``max_score``, ``manual_points`` (points de réponses rédigées
à corriger à la main), ``status``, ``failed``) et un retour ``<élève>.md`` par élève dans
``--feedback`` (défaut : ``feedback/`` à côté du CSV). Code de sortie 0 même si des élèves
échouent ; 2 si les arguments sont invalides.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .exercises import SOLUTIONS_DIR
from .grader import Limits, grade_folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="course-grade", description=__doc__.split("\n\n")[1])
    p.add_argument("submissions", help="dossier des notebooks soumis")
    p.add_argument("--out", required=True, help="CSV des notes (écrit de façon atomique)")
    p.add_argument("--workers", type=int, default=2, help="soumissions notées en parallèle (défaut 2)")
    p.add_argument("--timeout", type=float, default=60.0, help="délai par cellule en secondes (défaut 60)")
    p.add_argument("--total-timeout", type=float, default=None,
                   help="délai total par soumission (défaut 5 × timeout + 60 s)")
    p.add_argument("--memory-mb", type=int, default=6144,
                   help="espace d'adressage max. du noyau en Mo (RLIMIT_AS ; PyTorch en réserve ~3500)")
    p.add_argument("--solutions", default=str(SOLUTIONS_DIR), help="sources enseignant (nbgrader)")
    p.add_argument("--feedback", default=None, help="dossier des retours par élève")
    p.add_argument("--keep-executed", default=None, help="garder les notebooks exécutés ici")
    p.add_argument("-q", "--quiet", action="store_true", help="pas de ligne par soumission")
    args = p.parse_args(argv)
    if args.workers < 1 or args.timeout <= 0 or (args.memory_mb is not None and args.memory_mb < 256):
        p.error("--workers >= 1, --timeout > 0 et --memory-mb >= 256 sont requis")
    if not Path(args.submissions).is_dir():
        p.error(f"dossier de soumissions introuvable : {args.submissions}")
    results = grade_folder(args.submissions, args.out, workers=args.workers,
                           limits=Limits(args.timeout, args.total_timeout, args.memory_mb),
                           solutions_dir=args.solutions, feedback_dir=args.feedback,
                           keep_dir=args.keep_executed, progress=not args.quiet)
    graded = [r for r in results if r.cells]
    print(f"{len(graded)} soumission(s) notée(s), {len(results) - len(graded)} écartée(s) ; "
          f"notes : {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
