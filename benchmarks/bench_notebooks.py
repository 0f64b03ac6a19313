"""Temps d'exécution et mémoire de pointe de chaque notebook (sections et exercices).

Chaque notebook est exécuté de bout en bout par ``jupyter nbconvert --execute`` dans un
sous-processus neuf ; la mémoire de pointe est le ``ru_maxrss`` des descendants (le noyau).

    .venv/bin/python -m benchmarks.bench_notebooks
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
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


def measure(path: Path) -> tuple[float, float, int]:
    """(secondes, Mo de pointe, code de retour) pour un notebook."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "executed.ipynb"
        res = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(out)],
                             capture_output=True, text=True, cwd=path.parent, check=True)
        wall, rss_kb, rc = res.stdout.split()
        return float(wall), int(rss_kb) / 1024, int(rc)


def import_torch_rss_mb() -> float:
    """Mémoire de pointe d'un processus qui ne fait qu'``import torch`` (le plancher de chaque noyau)."""
    code = "import resource, torch; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def run() -> list[dict]:
    import torch

    build = "CUDA" if torch.version.cuda else "CPU"
    rows = [{"name": "plancher : processus qui ne fait qu'import torch", "value": round(import_torch_rss_mb()),
             "unit": "Mo", "detail": f"torch {torch.__version__} ({build}) ; à soustraire pour lire le coût propre"}]
    for nb in NOTEBOOKS:
        wall, rss_mb, rc = measure(nb)
        rel = nb.relative_to(ROOT).as_posix()
        ok = "" if rc == 0 else f" (nbconvert a échoué : code {rc})"
        rows.append({"name": f"notebook {rel} : durée", "value": round(wall, 1), "unit": "s",
                     "detail": f"exécution complète (nbconvert --execute), cible < 60 s{ok}"})
        rows.append({"name": f"notebook {rel} : mémoire de pointe", "value": round(rss_mb), "unit": "Mo",
                     "detail": "ru_maxrss du noyau ; cible < 1 Go (avec le PyTorch CPU de Binder)"})
    return rows


if __name__ == "__main__":
    t = time.perf_counter()
    for row in run():
        print(json.dumps(row, ensure_ascii=False))
    print(f"# {time.perf_counter() - t:.0f} s au total")
