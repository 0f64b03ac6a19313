"""Exécuter un notebook dans un processus neuf et en lire le temps, la mémoire et les sorties.

Partagé par ``bench_notebooks`` (temps et mémoire) et ``bench_claims`` (verdicts). Le noyau
hérite de l'environnement donné (``ATEN_CPU_CAPABILITY``, ``OMP_NUM_THREADS``...) ; ``cpus``
épingle le tout sur ces cœurs (``taskset -c``), comme une machine à un seul CPU.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = r"""
import resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                       "--allow-errors", "--ExecutePreprocessor.timeout=600",
                       "--ExecutePreprocessor.record_timing=True",
                       "--output", sys.argv[2], sys.argv[1]], capture_output=True, text=True)
wall = time.perf_counter() - start
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(wall, rss_kb, proc.returncode)
"""


def section_notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def all_notebooks() -> list[Path]:
    return section_notebooks() + sorted((ROOT / "notebooks" / "exercices").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb"))


@dataclass
class Run:
    """Une exécution : durée totale (noyau compris), mémoire, notebook exécuté.

    Deux mesures de mémoire : ``kernel_peak_mb``, la pointe du noyau pendant le notebook
    (``VmHWM`` lu par une dernière cellule ajoutée à la copie), et ``rss_mb``, le ``ru_maxrss``
    du processus, arrêt compris. L'arrêt normal d'un interpréteur qui a importé torch
    (destructeurs des bibliothèques, démontage des modules) ajoute ~125 Mo de pages qu'aucune
    cellule n'a demandées : ``python -c "import torch"`` culmine à 642 Mo, le même suivi
    de ``os._exit(0)`` à 517 Mo, égal à sa pointe vivante."""

    path: Path
    wall: float
    rss_mb: float
    returncode: int
    nb: dict
    kernel_peak_mb: float | None = None

    def errors(self) -> list[str]:
        """Les erreurs des cellules (nom de l'exception : message), dans l'ordre."""
        return [f"cellule {i} : {o.get('ename')}: {o.get('evalue')}"
                for i, c in enumerate(self.nb.get("cells", [])) if c["cell_type"] == "code"
                for o in c.get("outputs", []) if o.get("output_type") == "error"]

    def cell_seconds(self) -> list[tuple[int, float, str]]:
        """(indice, secondes, première ligne) de chaque cellule de code, lus dans les métadonnées
        d'exécution de nbclient (``iopub.execute_input`` → ``shell.execute_reply``)."""
        out = []
        for i, c in enumerate(self.nb.get("cells", [])):
            t = c.get("metadata", {}).get("execution", {})
            a, b = t.get("iopub.execute_input"), t.get("shell.execute_reply")
            if c["cell_type"] != "code" or not a or not b:
                continue
            secs = (_parse(b) - _parse(a)).total_seconds()
            src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            first = next((ln.strip() for ln in src.splitlines() if ln.strip()), "")
            out.append((i, secs, first[:60]))
        return out


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


PEAK_MARK = "course-bench-vmhwm-kb"
_PEAK_CELL = ("print('" + PEAK_MARK + "', next(int(ln.split()[1]) for ln in open('/proc/self/status') "
              "if ln.startswith('VmHWM')))")


def _with_peak_cell(nb: dict) -> dict:
    cell = {"cell_type": "code", "execution_count": None, "id": "course-bench-peak",
            "metadata": {}, "outputs": [], "source": _PEAK_CELL}
    return {**nb, "cells": [*nb["cells"], cell]}


def _read_peak(executed: dict) -> float | None:
    """Pointe du noyau (Mo) lue dans la sortie de la cellule ajoutée ; ``None`` si elle manque
    (notebook interrompu, système sans ``/proc``)."""
    cells = executed.get("cells", [])
    if not cells or cells[-1].get("id") != "course-bench-peak":
        return None
    for o in cells[-1].get("outputs", []):
        text = o.get("text", "")
        text = "".join(text) if isinstance(text, list) else text
        if PEAK_MARK in text:
            return int(text.split()[-1]) / 1024
    return None


def _without_peak_cell(executed: dict) -> dict:
    cells = executed.get("cells", [])
    if cells and cells[-1].get("id") == "course-bench-peak":
        return {**executed, "cells": cells[:-1]}
    return executed


def execute(path: Path, env: dict[str, str] | None = None, cpus: str | None = None,
            patch=None) -> Run:
    """Exécute ``path`` (copie, sorties jamais écrites dans le dépôt) et renvoie un ``Run``.

    ``patch(nb_dict) -> nb_dict`` modifie la copie avant exécution (``bench_claims`` y change les
    graines). ``cpus`` : liste de cœurs pour ``taskset -c`` (``"0"`` : un seul CPU).
    """
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / path.name
        nb = json.loads(path.read_text(encoding="utf-8"))
        if patch is not None:
            nb = patch(nb)
        nb = _with_peak_cell(nb)
        src.write_text(json.dumps(nb), encoding="utf-8")
        # les liens relatifs et fichiers voisins : exécuter depuis le dossier du notebook
        out = Path(tmp) / "executed.ipynb"
        cmd = [sys.executable, "-c", _PROBE, str(src), str(out)]
        if cpus is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", cpus, *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=path.parent, check=True,
                             env={**os.environ, **(env or {})})
        wall, rss_kb, rc = res.stdout.split()[-3:]
        executed = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
        return Run(path, float(wall), int(rss_kb) / 1024, int(rc), _without_peak_cell(executed),
                   _read_peak(executed))


SEEDS_LINE = re.compile(r"^(\s*SEEDS\s*=\s*)(.+?)\s*(#.*)?$", re.M)


def shift_seeds(shift: int):
    """Un ``patch`` qui décale toutes les graines ``SEEDS = ...`` d'un notebook de ``shift``."""
    def patch(nb: dict) -> dict:
        for c in nb["cells"]:
            if c["cell_type"] != "code":
                continue
            src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            c["source"] = SEEDS_LINE.sub(lambda m: f"{m.group(1)}tuple(s + {shift} for s in ({m.group(2)}))", src)
        return nb
    return patch


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None
