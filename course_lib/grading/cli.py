"""``course-grade SOUMISSIONS --out notes.csv [--workers N] [--timeout S] [--memory-mb M]``.

Note un dossier de notebooks soumis (règle de nommage : ``course_lib.grading.submissions`` ;
``alice_8.5.2.ipynb``, ``alice/ex_8_5_2.ipynb`` ou le téléchargement d'un devoir Moodle). Écrit le
CSV (colonnes ``student``, ``exercise``, ``file``, ``score``, ``max_score``, ``manual_points``
(points de réponses rédigées à corriger à la main), ``status``, ``failed``, ``detail`` (ce qu'il
faut vérifier à la main)), les totaux par élève (``<notes>_totaux.csv``), les fichiers écartés
avec leur raison (``<notes>_ecartes.csv``, aussi affichés) et un retour
``<élève>.md`` par élève dans ``--feedback`` (défaut : ``feedback/`` à côté du CSV). Le noyau de
chaque élève tourne dans un bac à sable bubblewrap ; sans ``bwrap``, la commande refuse de noter
sauf avec ``--sans-bac-a-sable``. Code de sortie 0 même si des élèves échouent ; 2 si les
arguments sont invalides ou si le bac à sable manque.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .exercises import SOLUTIONS_DIR
from .grader import Limits, grade_folder, totals_path
from .reports import REJECTED, rejected_path
from .sandbox import SandboxUnavailable, find_bwrap, quota_supported


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="course-grade", description=__doc__.split("\n\n")[1])
    p.add_argument("submissions", help="dossier des notebooks soumis")
    p.add_argument("--out", required=True, help="CSV des notes (écrit de façon atomique)")
    p.add_argument("--workers", type=int, default=2, help="soumissions notées en parallèle (défaut 2)")
    p.add_argument("--timeout", type=float, default=60.0, help="délai par cellule en secondes (défaut 60)")
    p.add_argument("--total-timeout", type=float, default=None,
                   help="délai total par soumission (défaut 5 × timeout + 60 s) ; aussi la limite "
                        "de temps CPU du noyau")
    p.add_argument("--memory-mb", type=int, default=6144,
                   help="espace d'adressage max. du noyau en Mo (RLIMIT_AS ; PyTorch en réserve ~3500)")
    p.add_argument("--processes", type=int, default=256,
                   help="processus et fils max. du noyau et de ses enfants (défaut 256)")
    p.add_argument("--disk-mb", type=int, default=256,
                   help="taille de /travail et de /tmp dans le bac à sable, en Mo (tmpfs, défaut 256)")
    p.add_argument("--max-output-mb", type=int, default=64,
                   help="sorties lues au plus par soumission, en Mo ; au-delà le noyau est arrêté "
                        "(statut sortie_excessive ; défaut 64). 1 Mo gardé au plus par cellule")
    p.add_argument("--solutions", default=SOLUTIONS_DIR,
                   help="sources enseignant nbgrader (défaut : solutions/ du dépôt du cours, "
                        "cherché depuis le dossier courant)")
    p.add_argument("--feedback", default=None, help="dossier des retours par élève")
    p.add_argument("--keep-executed", default=None, help="garder les notebooks exécutés ici")
    p.add_argument("--excel", action="store_true",
                   help="CSV pour tableur français : séparateur ';', virgule décimale, BOM UTF-8")
    p.add_argument("--sans-bac-a-sable", action="store_true",
                   help="noter SANS bubblewrap : le code des élèves s'exécute avec vos droits "
                        "(à réserver à des rendus de confiance)")
    p.add_argument("--noyaux-neufs", action="store_true",
                   help="un noyau démarré pour chaque rendu au lieu d'un clone du zygote de "
                        "l'exercice (plus lent, mêmes notes ; voir le README)")
    p.add_argument("-q", "--quiet", action="store_true", help="pas de ligne par soumission")
    args = p.parse_args(argv)
    if args.workers < 1 or args.timeout <= 0 or args.memory_mb < 256 or args.processes < 16 \
            or args.disk_mb < 1 or args.max_output_mb < 1:
        p.error("--workers >= 1, --timeout > 0, --memory-mb >= 256, --processes >= 16, "
                "--disk-mb >= 1 et --max-output-mb >= 1 sont requis")
    if not Path(args.submissions).is_dir():
        p.error(f"dossier de soumissions introuvable : {args.submissions}")
    if args.solutions is None:
        p.error("dépôt du cours introuvable depuis le dossier courant : indiquez --solutions DOSSIER")
    if args.sans_bac_a_sable:
        print("ATTENTION : notation sans bac à sable (--sans-bac-a-sable) : le code des élèves peut "
              "lire et écrire tout ce que vous pouvez lire et écrire.", file=sys.stderr)
    else:
        try:
            find_bwrap()
        except SandboxUnavailable as exc:
            p.error(str(exc))
        if not quota_supported():
            print("ATTENTION : ce bubblewrap ne connaît pas --size (version < 0.8) : pas de quota "
                  "disque, /travail est un dossier de l'hôte (mettez bubblewrap à jour).",
                  file=sys.stderr)
    limits = Limits(args.timeout, args.total_timeout, args.memory_mb, args.processes,
                    sandbox=not args.sans_bac_a_sable, disk_mb=args.disk_mb,
                    output_read_mb=args.max_output_mb, zygote=not args.noyaux_neufs)
    results = grade_folder(args.submissions, args.out, workers=args.workers, limits=limits,
                           solutions_dir=args.solutions, feedback_dir=args.feedback,
                           keep_dir=args.keep_executed, progress=not args.quiet, excel=args.excel)
    graded = [r for r in results if r.cells]
    review = [r for r in results if "a_verifier" in r.flags]
    rejected = [r for r in results if set(r.flags) & set(REJECTED)]
    if rejected:
        print(f"{len(rejected)} fichier(s) écarté(s), non noté(s) (liste : "
              f"{rejected_path(args.out)}) :", file=sys.stderr)
        for r in rejected:
            print(f"  - {r.submission.relpath} : {r.status} — {' '.join(r.notes)}", file=sys.stderr)
    print(f"{len(graded)} soumission(s) notée(s), {len(results) - len(graded)} écartée(s), "
          f"{len(review)} à vérifier à la main ; notes : {args.out} ; totaux : "
          f"{totals_path(args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
