"""Temps d'exécution et mémoire de pointe de chaque notebook (sections, exercices, solutions).

Chaque notebook est exécuté de bout en bout par ``jupyter nbconvert --execute`` dans un
sous-processus neuf, ``COURSE_BENCH_REPEATS`` fois (3 par défaut) : min / médiane / max de la durée
(noyau compris), mémoire de pointe du noyau pendant le notebook (``VmHWM``, lu par une cellule
ajoutée à la copie ; la pointe arrêt compris, ``ru_maxrss``, est donnée à côté), et les trois
cellules les plus lentes de l'exécution médiane (métadonnées d'exécution de nbclient). Puis une
fois sur un seul CPU (``taskset -c 0``), comme Binder. Cache des expériences partagées vide à
chaque exécution (``COURSE_LIB_CACHE`` neuf) : c'est le temps d'un élève qui ouvre le notebook.

Objectifs : ≤ 30 s par notebook de section (≤ 45 s pour le 12) sur 2 cœurs, ≤ 60 s sur un CPU,
mémoire de pointe ≤ 1 Go avec le PyTorch de pip (CUDA).

Le ``.venv`` de ``make test`` a le PyTorch de pip, une version CUDA dont le seul ``import torch``
pèse déjà ~0,6 Go. Binder installe ``pytorch-cpu`` (conda-forge), bien plus léger. Pour mesurer
aussi les notebooks de section avec un PyTorch CPU, donnez l'interpréteur d'un autre venv où le
cours est installé (``pip install torch --index-url .../cpu`` puis ``pip install -e .``) :

    .venv/bin/python -m benchmarks.bench_notebooks
    COURSE_BENCH_NOTEBOOKS=02,12 .venv/bin/python -m benchmarks.bench_notebooks
    COURSE_BENCH_CPU_PYTHON=/chemin/venv-cpu/bin/python .venv/bin/python -m benchmarks.bench_notebooks
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._notebooks import ROOT, all_notebooks, execute

NOTEBOOKS = all_notebooks()
REPEATS = int(os.environ.get("COURSE_BENCH_REPEATS", "3"))


def budget(path: Path) -> float:
    """Durée visée sur 2 cœurs : 45 s pour le 12 (trois articles), 30 s pour les autres."""
    return 45.0 if path.name.startswith("12_") else 30.0


def selected() -> list[Path]:
    wanted = os.environ.get("COURSE_BENCH_NOTEBOOKS")
    if not wanted:
        return NOTEBOOKS
    keys = [w.strip() for w in wanted.split(",") if w.strip()]
    return [p for p in NOTEBOOKS if any(p.name.startswith(k) for k in keys)]


def fresh_env() -> dict[str, str]:
    return {"COURSE_LIB_CACHE": tempfile.mkdtemp(prefix="course-bench-cache-")}


def measure(path: Path, python: str = sys.executable) -> tuple[float, float, int]:
    """(secondes, Mo de pointe, code de retour) pour un notebook exécuté par l'interpréteur ``python``."""
    if python == sys.executable:
        r = execute(path, env=fresh_env())
        return r.wall, r.rss_mb, r.returncode
    code = ("import sys; from pathlib import Path; from benchmarks._notebooks import execute; "
            "r = execute(Path(sys.argv[1])); print(r.wall, r.rss_mb, r.returncode)")
    out = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={**os.environ, **fresh_env()})
    wall, rss, rc = out.stdout.split()[-3:]
    return float(wall), float(rss), int(rc)


def import_torch_rss_mb(python: str = sys.executable) -> tuple[float, str]:
    """Mémoire de pointe (Mo) d'un processus qui ne fait qu'``import torch`` (le plancher de chaque noyau),
    et la version de torch.

    Mesurée comme les notebooks, en ``RUSAGE_CHILDREN`` d'un petit processus intermédiaire : sous
    Linux, le ``ru_maxrss`` d'un processus hérite de la pointe du processus qui l'a lancé (ici
    ``run_all``, qui vient de construire 50 M de poids), pas celui de ses propres enfants."""
    code = ("import resource, subprocess, sys; out = subprocess.run([sys.executable, '-c', "
            "\"import torch; print(torch.__version__, 'CUDA' if torch.version.cuda else 'CPU')\"], "
            "capture_output=True, text=True, check=True).stdout; "
            "print(out.strip(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    version, build, rss_kb = out.stdout.split()[-3:]
    return int(rss_kb) / 1024, f"torch {version} ({build})"


def memory_row(rel: str, runs, torch_build: str) -> dict:
    """La ligne « mémoire de pointe » : la pointe du noyau pendant le notebook (max des
    exécutions) jugée contre l'objectif de 1 024 Mo, et, pour information, celle arrêt compris
    (voir ``Run``)."""
    peaks = [r.kernel_peak_mb for r in runs if r.kernel_peak_mb is not None]
    with_exit = max(r.rss_mb for r in runs)
    if not peaks:
        return {"name": f"notebook {rel} : mémoire de pointe", "value": "non mesurée", "unit": "",
                "detail": f"la cellule de mesure n'a pas tourné ; arrêt compris : {with_exit:.0f} Mo"}
    peak = max(peaks)
    return {"name": f"notebook {rel} : mémoire de pointe", "value": round(peak), "unit": "Mo",
            "detail": f"VmHWM du noyau pendant le notebook (max des {len(peaks)}), {torch_build} ; "
                      f"objectif ≤ 1 024 Mo : {'atteint' if peak <= 1024 else 'NON atteint'} ; "
                      f"arrêt du noyau compris (ru_maxrss) : {with_exit:.0f} Mo"}


def _fmt_cells(cells) -> str:
    top = sorted(cells, key=lambda c: -c[1])[:3]
    return " ; ".join(f"cellule {i} {secs:.1f} s « {first} »" for i, secs, first in top)


def run() -> list[dict]:
    floor, torch_build = import_torch_rss_mb()
    rows = [{"name": "plancher : processus qui ne fait qu'import torch", "value": round(floor),
             "unit": "Mo", "detail": f"{torch_build} ; à soustraire pour lire le coût propre"}]
    for nb in selected():
        rel = nb.relative_to(ROOT).as_posix()
        runs = [execute(nb, env=fresh_env()) for _ in range(REPEATS)]
        walls = sorted(r.wall for r in runs)
        median_run = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
        failed = [r for r in runs if r.returncode != 0 or r.errors()]
        ok = "" if not failed else f" ; ÉCHEC : {(failed[0].errors() or ['nbconvert'])[0]}"
        goal = budget(nb)
        verdict = "atteint" if statistics.median(walls) <= goal else "NON atteint"
        rows.append({"name": f"notebook {rel} : durée (min / médiane / max)",
                     "value": f"{walls[0]:.1f} / {statistics.median(walls):.1f} / {walls[-1]:.1f}", "unit": "s",
                     "detail": f"{REPEATS} exécutions complètes (nbconvert --execute, noyau neuf, cache vide), "
                               f"2 cœurs ; objectif ≤ {goal:.0f} s : {verdict}{ok}"})
        rows.append({"name": f"notebook {rel} : cellules les plus lentes", "value": "", "unit": "",
                     "detail": _fmt_cells(median_run.cell_seconds())})
        rows.append(memory_row(rel, runs, torch_build))
        one = execute(nb, env=fresh_env(), cpus="0")
        rows.append({"name": f"notebook {rel} : durée sur un CPU (taskset -c 0)", "value": round(one.wall, 1),
                     "unit": "s", "detail": f"une exécution ; objectif ≤ 60 s : "
                                            f"{'atteint' if one.wall <= 60 else 'NON atteint'}"})
    cpu_python = os.environ.get("COURSE_BENCH_CPU_PYTHON")
    if cpu_python:
        floor, cpu_build = import_torch_rss_mb(cpu_python)
        rows.append({"name": "PyTorch CPU : plancher import torch", "value": round(floor), "unit": "Mo",
                     "detail": f"{cpu_build}, interpréteur {cpu_python}"})
        for nb in [n for n in selected() if n.parent.name == "notebooks"]:
            wall, rss_mb, rc = measure(nb, cpu_python)
            ok = "" if rc == 0 else f" (nbconvert a échoué : code {rc})"
            verdict = "atteint" if rss_mb < 1024 and rc == 0 else "NON atteint"
            rows.append({"name": f"PyTorch CPU : notebook {nb.relative_to(ROOT).as_posix()}",
                         "value": f"{wall:.1f} s / {rss_mb:.0f} Mo", "unit": "durée / pointe",
                         "detail": f"{cpu_build} (comme pytorch-cpu sur Binder) ; cible < 1 Go : {verdict}{ok}"})
    else:
        rows.append({"name": "PyTorch CPU", "value": "non mesuré", "unit": "",
                     "detail": "définir COURSE_BENCH_CPU_PYTHON (voir la docstring du module)"})
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
