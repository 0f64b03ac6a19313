"""Notation de 30 élèves × 3 exercices : ``course-grade`` (bac à sable bwrap) contre
``nbgrader autograde``, dans le même passage, sur les mêmes soumissions.

Soumissions fabriquées (``course_lib.grading.samples``) : pour chaque élève, les trois exercices
complétés avec le texte des solutions (le cas le plus long : tout s'exécute jusqu'au bout).

- ``course-grade`` : ``WORKERS`` soumissions à la fois (défaut 2, la machine du cours a 2 cœurs),
  chaque soumission = un processus + un noyau neuf dans ``bwrap`` ;
- ``nbgrader autograde`` (0.9, ce qu'un enseignant lancerait) dans un cours temporaire
  (``generate_assignment``, élèves dans la base, ``autograde``) ; il note une soumission à la fois ;
- surcoût du bac à sable : ``OVERHEAD_SUBS`` soumissions 8.5.3 notées une à une avec puis sans
  bac à sable (``--sans-bac-a-sable``), médiane de la différence.

On vérifie aussi que les deux outils donnent les mêmes notes (toutes maximales).

    .venv/bin/python -m benchmarks.bench_grading            # 30 × 3
    BENCH_GRADING_STUDENTS=4 .venv/bin/python -m benchmarks.bench_grading   # essai rapide
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course_lib.grading import samples
from course_lib.grading.exercises import find_exercises
from course_lib.grading.grader import Limits, grade_folder
from course_lib.grading.nbgrader_course import NbgraderCourse

STUDENTS = int(os.environ.get("BENCH_GRADING_STUDENTS", "30"))
WORKERS = int(os.environ.get("BENCH_GRADING_WORKERS", "2"))
OVERHEAD_SUBS = int(os.environ.get("BENCH_GRADING_OVERHEAD_SUBS", "3"))


def _submissions(folder: Path, students: int) -> dict:
    exercises = find_exercises()
    nbs = {}
    for ex_id, ex in exercises.items():
        nb = samples.filled(nbformat.read(ex.source, as_version=4))
        for i in range(students):
            nbs[(f"eleve{i:02d}", ex_id)] = nb
            nbformat.write(nb, folder / f"eleve{i:02d}_{ex_id}.ipynb")
    return nbs


def course_grade(folder: Path, out: Path, workers: int, sandbox: bool = True):
    start = time.perf_counter()
    results = grade_folder(folder, out, workers=workers,
                           limits=Limits(cell_timeout=300, sandbox=sandbox))
    return time.perf_counter() - start, results


def nbgrader_autograde(tmp: Path, nbs: dict) -> tuple[float, dict]:
    """Durée de ``nbgrader autograde`` seul, et ses notes ``{(élève, exercice): score}``."""
    course = NbgraderCourse(tmp / "course", timeout=300)
    course.generate()
    course.submit(nbs)
    wall = course.autograde()
    return wall, course.scores()


def sandbox_overhead(tmp: Path, n: int) -> tuple[float, float]:
    """Médianes (s) d'une soumission 8.5.3 notée seule, avec et sans bac à sable."""
    folder = tmp / "overhead"
    folder.mkdir()
    ex = find_exercises()["8.5.3"]
    nbformat.write(samples.filled(nbformat.read(ex.source, as_version=4)), folder / "a_8.5.3.ipynb")
    times = {True: [], False: []}
    for _ in range(n):
        for box in (True, False):
            _, results = course_grade(folder, tmp / f"o{box}.csv", 1, sandbox=box)
            times[box].append(results[0].seconds)
    return statistics.median(times[True]), statistics.median(times[False])


def measure(students: int = STUDENTS, workers: int = WORKERS) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "subs"
        folder.mkdir()
        nbs = _submissions(folder, students)
        ours_wall, results = course_grade(folder, tmp / "grades.csv", workers)
        print(f"# course-grade : {ours_wall:.1f} s", file=sys.stderr, flush=True)
        rows = list(csv.DictReader((tmp / "grades.csv").open(encoding="utf-8")))
        ours = {(r["student"], r["exercise"]): float(r["score"]) for r in rows}
        theirs_wall, theirs = nbgrader_autograde(tmp, nbs)
        print(f"# nbgrader autograde : {theirs_wall:.1f} s", file=sys.stderr, flush=True)
        with_box, without_box = sandbox_overhead(tmp, OVERHEAD_SUBS)
        print(f"# une soumission : {with_box:.1f} s avec bwrap, {without_box:.1f} s sans",
              file=sys.stderr, flush=True)
    full = sum(r["score"] == r["max_score"] for r in rows)
    per_ex = {ex_id: statistics.median(r.seconds for r in results if r.submission.exercise == ex_id)
              for ex_id in find_exercises()}
    return {"ours": ours_wall, "nbgrader": theirs_wall, "n": len(rows), "full": full,
            "agree": ours == theirs, "per_exercise": per_ex, "with_box": with_box,
            "without_box": without_box, "cpus": os.cpu_count()}


def run() -> list[dict]:
    m = measure()
    where = (f"{STUDENTS} élèves × 3 exercices = {m['n']} soumissions, {m['cpus']} CPU ; notes "
             f"maximales : {m['full']}/{m['n']} ; mêmes notes que nbgrader : {m['agree']}")
    ratio = m["nbgrader"] / m["ours"]
    rows = [{"name": f"course-grade {STUDENTS}×3 (bac à sable, workers={WORKERS})",
             "value": round(m["ours"], 1), "unit": "s", "detail": where},
            {"name": f"nbgrader autograde {STUDENTS}×3", "value": round(m["nbgrader"], 1),
             "unit": "s", "detail": "même machine, mêmes soumissions, une à la fois (nbgrader 0.9)"},
            {"name": "débit course-grade / nbgrader", "value": round(ratio, 2), "unit": "×",
             "detail": f"objectif ≥ 2 : {'atteint' if ratio >= 2 else 'NON atteint'}"},
            {"name": "course-grade : débit", "value": round(m["n"] / m["ours"] * 60, 1),
             "unit": "soumissions/min", "detail": where},
            {"name": "surcoût du bac à sable par soumission",
             "value": round(m["with_box"] - m["without_box"], 2), "unit": "s",
             "detail": f"8.5.3 notée seule, médiane de {OVERHEAD_SUBS} : {m['with_box']:.1f} s "
                       f"avec bwrap, {m['without_box']:.1f} s sans"}]
    for ex_id, sec in m["per_exercise"].items():
        rows.append({"name": f"course-grade : une soumission {ex_id} (médiane)", "value": round(sec, 1),
                     "unit": "s", "detail": "processus + noyau neuf (bwrap) + exécution + notation, "
                     f"{WORKERS} en parallèle"})
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
