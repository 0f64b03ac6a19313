"""Temps de notation de 30 élèves × 3 exercices (90 soumissions) par ``course-grade``.

Soumissions fabriquées (``course_lib.grading.samples``) : pour chaque élève, les trois exercices
complétés avec le texte des solutions (le cas le plus long : tout s'exécute jusqu'au bout). Chaque
soumission = un processus de travail + un noyau neuf (import de PyTorch, référence entraînée sur
digits, tests cachés). Parallélisme : ``WORKERS`` soumissions à la fois (la machine du cours a
2 cœurs). On vérifie aussi que toutes les notes sont maximales.

    .venv/bin/python -m benchmarks.bench_grading            # 30 × 3, 2 processus
    BENCH_GRADING_STUDENTS=4 .venv/bin/python -m benchmarks.bench_grading   # essai rapide
"""

from __future__ import annotations

import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from course_lib.grading import samples
from course_lib.grading.exercises import find_exercises
from course_lib.grading.grader import Limits, grade_folder

STUDENTS = int(os.environ.get("BENCH_GRADING_STUDENTS", "30"))
WORKERS = int(os.environ.get("BENCH_GRADING_WORKERS", "2"))


def measure(students: int = STUDENTS, workers: int = WORKERS) -> dict:
    exercises = find_exercises()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp) / "subs"
        folder.mkdir()
        for ex_id, ex in exercises.items():
            nb = samples.filled(nbformat.read(ex.source, as_version=4))
            for i in range(students):
                nbformat.write(nb, folder / f"eleve{i:02d}_{ex_id}.ipynb")
        out = Path(tmp) / "grades.csv"
        start = time.perf_counter()
        results = grade_folder(folder, out, workers=workers, limits=Limits(cell_timeout=300))
        wall = time.perf_counter() - start
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
    full = sum(r["score"] == r["max_score"] for r in rows)
    per_ex = {ex_id: statistics.median(r.seconds for r in results if r.submission.exercise == ex_id)
              for ex_id in exercises}
    return {"wall": wall, "n": len(rows), "full": full, "per_exercise": per_ex,
            "cpus": os.cpu_count()}


def run() -> list[dict]:
    m = measure()
    where = (f"{STUDENTS} élèves × 3 exercices = {m['n']} soumissions, --workers {WORKERS}, "
             f"{m['cpus']} CPU ; notes maximales : {m['full']}/{m['n']}")
    rows = [{"name": f"course-grade {STUDENTS}×3 (workers={WORKERS})", "value": round(m["wall"], 1),
             "unit": "s", "detail": where},
            {"name": "course-grade : débit", "value": round(m["n"] / m["wall"] * 60, 1),
             "unit": "soumissions/min", "detail": where}]
    for ex_id, sec in m["per_exercise"].items():
        rows.append({"name": f"course-grade : une soumission {ex_id} (médiane)", "value": round(sec, 1),
                     "unit": "s", "detail": "processus + noyau neuf + exécution + notation, "
                     f"{WORKERS} en parallèle"})
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
