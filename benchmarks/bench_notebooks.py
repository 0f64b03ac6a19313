"""Temps d'exécution et mémoire de pointe de chaque notebook (sections et exercices).

Chaque notebook est exécuté de bout en bout par ``jupyter nbconvert --execute`` dans un
sous-processus neuf ; la mémoire de pointe est le ``ru_maxrss`` des descendants (le noyau).

Le ``.venv`` de ``make test`` a le PyTorch de pip, une version CUDA dont le seul ``import torch``
pèse déjà ~0,6 Go. Binder installe ``pytorch-cpu`` (conda-forge), bien plus léger. Pour mesurer
aussi les notebooks de section avec un PyTorch CPU, donnez l'interpréteur d'un autre venv où le
cours est installé (``pip install torch --index-url .../cpu`` puis ``pip install -e .``) :

    .venv/bin/python -m benchmarks.bench_notebooks
    COURSE_BENCH_CPU_PYTHON=/chemin/venv-cpu/bin/python .venv/bin/python -m benchmarks.bench_notebooks
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "exercices").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))

_PROBE = r"""
import resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                       "--allow-errors", "--ExecutePreprocessor.timeout=300",
                       "--output", sys.argv[2], sys.argv[1]], capture_output=True, text=True)
wall = time.perf_counter() - start
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(wall, rss_kb, proc.returncode)
"""


def measure(path: Path, python: str = sys.executable) -> tuple[float, float, int]:
    """(secondes, Mo de pointe, code de retour) pour un notebook exécuté par l'interpréteur ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "executed.ipynb"
        res = subprocess.run([python, "-c", _PROBE, str(path), str(out)],
                             capture_output=True, text=True, cwd=path.parent, check=True)
        wall, rss_kb, rc = res.stdout.split()
        return float(wall), int(rss_kb) / 1024, int(rc)


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


def run() -> list[dict]:
    floor, torch_build = import_torch_rss_mb()
    rows = [{"name": "plancher : processus qui ne fait qu'import torch", "value": round(floor),
             "unit": "Mo", "detail": f"{torch_build} ; à soustraire pour lire le coût propre"}]
    for nb in NOTEBOOKS:
        wall, rss_mb, rc = measure(nb)
        rel = nb.relative_to(ROOT).as_posix()
        ok = "" if rc == 0 else f" (nbconvert a échoué : code {rc})"
        rows.append({"name": f"notebook {rel} : durée", "value": round(wall, 1), "unit": "s",
                     "detail": f"exécution complète (nbconvert --execute), cible < 60 s{ok}"})
        rows.append({"name": f"notebook {rel} : mémoire de pointe", "value": round(rss_mb), "unit": "Mo",
                     "detail": f"ru_maxrss du noyau, {torch_build} ; cible < 1 Go (voir la mesure avec PyTorch CPU)"})
    cpu_python = os.environ.get("COURSE_BENCH_CPU_PYTHON")
    if cpu_python:
        floor, cpu_build = import_torch_rss_mb(cpu_python)
        rows.append({"name": "PyTorch CPU : plancher import torch", "value": round(floor), "unit": "Mo",
                     "detail": f"{cpu_build}, interpréteur {cpu_python}"})
        for nb in [n for n in NOTEBOOKS if n.parent.name == "notebooks"]:
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
