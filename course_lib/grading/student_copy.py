"""``course-student-copy DOSSIER`` : une copie du cours pour les élèves (ou Binder).

Copie les fichiers suivis par git (ou, hors git, l'arbre du dépôt) SAUF : ``solutions/``, les
tests et les mesures (``tests/``, ``benchmarks/`` : ils s'appuient sur les solutions), et les
dossiers de travail (``.venv``, caches). Les notebooks élèves sont régénérés depuis les sources
avant la copie et comparés : une copie n'est jamais faite à partir de notebooks périmés. Enfin,
la copie est vérifiée : aucun marqueur de solution ni de test caché n'y figure.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .exercises import ROOT, SOLUTIONS_DIR, STUDENT_DIR
from .generate import build

EXCLUDED_TOP = {"solutions", "tests", "benchmarks", ".git", ".venv", "build", "dist"}
EXCLUDED_ANY = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache", "artifacts"}
# Une ligne qui n'est QUE le marqueur (comme nbgrader les lit) ; un texte qui en parle ne compte pas.
MARKER_LINE = re.compile(r"^[#\s/%*-]*(BEGIN|END) (SOLUTION|HIDDEN TESTS)[\s*/-]*$", re.M)


def course_files(root: Path = ROOT) -> list[Path]:
    """Les fichiers du cours à copier, relatifs à ``root``."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=root, capture_output=True, check=True, text=True).stdout
        files = [Path(p) for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    return sorted(p for p in files if (root / p).is_file() and p.parts[0] not in EXCLUDED_TOP
                  and not EXCLUDED_ANY.intersection(p.parts) and not p.parts[0].endswith(".egg-info"))


def leaks(folder: Path) -> list[str]:
    """Fichiers de ``folder`` qui contiennent un marqueur de solution ou de test caché."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="ignore")
            if path.suffix == ".ipynb":  # le texte des cellules, ligne à ligne
                try:
                    text = "\n".join(c.get("source", "") if isinstance(c.get("source"), str)
                                     else "".join(c.get("source", []))
                                     for c in json.loads(text).get("cells", []))
                except (ValueError, AttributeError):
                    pass
            found += [f"{path.relative_to(folder)} : {m.group(0).strip()}"
                      for m in MARKER_LINE.finditer(text)]
    return found


def make_student_copy(target: str | Path, root: Path = ROOT, force: bool = False) -> list[Path]:
    """Copie le cours élève dans ``target`` (qui doit être vide ou absent, sauf ``force``)."""
    target = Path(target).resolve()
    if target == root.resolve() or root.resolve() in target.parents:
        raise ValueError(f"La copie doit aller hors du dossier du cours ({root}) ; reçu {target}.")
    if target.exists() and any(target.iterdir()):
        if not force:
            raise FileExistsError(f"{target} n'est pas vide (utilisez --force pour le remplacer).")
        shutil.rmtree(target)
    stale = build(root / SOLUTIONS_DIR.relative_to(ROOT), root / STUDENT_DIR.relative_to(ROOT), check=True)
    if stale:
        raise RuntimeError(f"Notebooks élèves périmés : {[str(p) for p in stale]}. "
                           "Lancez `make exercises` d'abord.")
    files = course_files(root)
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest)
    bad = leaks(target)
    if bad:
        shutil.rmtree(target)
        raise RuntimeError(f"Copie annulée, des solutions y figuraient : {bad}")
    return files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="course-student-copy",
                                description="Copie le cours sans solutions ni tests cachés (élèves, Binder).")
    p.add_argument("target", help="dossier de destination (vide ou absent)")
    p.add_argument("--force", action="store_true", help="remplacer le contenu du dossier")
    args = p.parse_args(argv)
    try:
        files = make_student_copy(args.target, force=args.force)
    except (FileExistsError, RuntimeError, ValueError) as exc:
        print(f"course-student-copy : {exc}", file=sys.stderr)
        return 1
    print(f"{len(files)} fichiers copiés dans {args.target} (sans solutions/ ni tests cachés).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
