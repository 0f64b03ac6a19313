"""Coût des graines : 1, 3, 5 et 10 graines, boucle ordinaire contre ensemble empilé (``vmap``).

LeNet-300-100 (MLP 784-300-100-10) sur MNIST-5k, Adam, ``EPOCHS`` époques par graine. Boucle :
``reproduction.train_dense`` appelé pour chaque graine. Ensemble : ``ensemble.train_dense_ensemble``,
les N copies entraînées en un seul appel vectorisé (``torch.func``). On vérifie d'abord que les
deux donnent les mêmes réseaux (écart maximal des poids et de la précision sur le test, graine par
graine), puis on chronomètre en paires (boucle puis ensemble, ordre alterné d'une répétition à
l'autre), sur 1 et 2 threads, ``REPEATS`` fois, après un échauffement ; on rapporte min / médiane /
max et la médiane des ratios appariés boucle / ensemble. Pour le CNN de *digits* (pas d'ensemble
proposé), le coût de la boucle par graine dans un processus neuf : la 1re graine (échauffement des
noyaux) contre les suivantes ; et ce que coûte le premier appel de l'ensemble dans un processus.

    .venv/bin/python -m benchmarks.bench_seeds            # mesure complète
    .venv/bin/python -m benchmarks.bench_seeds --rapide   # réglages réduits (vérifier que tout marche)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import torch

from course_lib.data import load_data
from course_lib.ensemble import train_dense_ensemble
from course_lib.reproduction import LENET_300_100, train_dense
from course_lib.training import evaluate

COUNTS = (1, 3, 5, 10)
THREADS = (1, 2)
EPOCHS = 2
REPEATS = 3
CNN_SEEDS = 4
PAYS = 1.10  # l'ensemble « paie » si la médiane des ratios boucle / ensemble dépasse 1,10

FRESH = """
import json, sys, time, torch
torch.set_num_threads({threads})
from course_lib.data import load_data
from course_lib.ensemble import train_dense_ensemble
from course_lib.reproduction import train_dense
from course_lib.training import train_baseline
def timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t
digits, mnist = load_data("digits"), load_data("mnist")
cnn = [timed(lambda s=s: train_baseline(digits, seed=s, progress=False)) for s in range({cnn_seeds})]
mlp = [timed(lambda: train_dense(mnist, s, epochs=1)) for s in range(2)]
ens = [timed(lambda: train_dense_ensemble(mnist, (0, 1, 2), epochs=1)) for _ in range(2)]
print(json.dumps({{"cnn": cnn, "mlp": mlp, "ens": ens}}))
"""


def _loop(data, seeds, epochs):
    return {s: train_dense(data, s, hidden=LENET_300_100, epochs=epochs) for s in seeds}


def _ensemble(data, seeds, epochs):
    return train_dense_ensemble(data, seeds, hidden=LENET_300_100, epochs=epochs)


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def _span(values) -> str:
    return " / ".join(f"{v:.3f}" for v in (min(values), statistics.median(values), max(values)))


def _gaps(data, loop: dict, ens: dict) -> tuple[float, float]:
    """(écart maximal des poids, écart maximal de précision sur le test), graine par graine."""
    dw = max((a - b).abs().max().item() for s in loop
             for a, b in zip(loop[s].parameters(), ens[s].parameters(), strict=True))
    dacc = max(abs(evaluate(loop[s], data.test) - evaluate(ens[s], data.test)) for s in loop)
    return dw, dacc


def measure(data, threads: int, counts=COUNTS, epochs: int = EPOCHS, repeats: int = REPEATS) -> dict:
    """Pour chaque nombre de graines : temps de la boucle et de l'ensemble (secondes), ratios appariés,
    et les écarts entre leurs réseaux (``_gaps``, sur la 1re paire)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _loop(data, (0,), 1), _ensemble(data, (0, 1), 1)  # échauffement
        out = {n: {"loop": [], "ensemble": [], "ratio": []} for n in counts}
        for r in range(repeats):
            for n in counts:
                seeds = tuple(range(n))
                ways = [("loop", _loop), ("ensemble", _ensemble)]
                done = {k: _timed(f, data, seeds, epochs) for k, f in (ways if r % 2 == 0 else ways[::-1])}
                for k, (seconds, _) in done.items():
                    out[n][k].append(seconds)
                out[n]["ratio"].append(done["loop"][0] / done["ensemble"][0])
                if r == 0:
                    out[n]["gaps"] = _gaps(data, done["loop"][1], done["ensemble"][1])
        return out
    finally:
        torch.set_num_threads(previous)


def fresh_process(threads: int, cnn_seeds: int = CNN_SEEDS) -> dict[str, list[float]]:
    """Temps mesurés dans un processus Python neuf (échauffement compris) ; voir ``FRESH``."""
    code = FRESH.format(threads=threads, cnn_seeds=cnn_seeds)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fr(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def _verdict(ratio: float) -> str:
    if ratio >= PAYS:
        return f"l'ensemble paie ({_fr(ratio)}× plus rapide)"
    if ratio > 1:
        return f"vmap ne paie pas vraiment (gain de moins de {round(100 * (PAYS - 1))} %)"
    return "vmap ne paie pas : la boucle est aussi rapide ou plus rapide"


def run(counts=COUNTS, threads=THREADS, epochs: int = EPOCHS, repeats: int = REPEATS,
        cnn_seeds: int = CNN_SEEDS) -> list[dict]:
    data = load_data("mnist")
    rows, gaps = [], {n: (0.0, 0.0) for n in counts}
    for t in threads:
        res = measure(data, t, counts, epochs, repeats)
        where = f"LeNet-300-100, MNIST-5k, Adam, {epochs} époque(s) par graine, {t} thread(s), {repeats} paires, après échauffement"
        for n in counts:
            r = res[n]
            gaps[n] = tuple(max(a, b) for a, b in zip(gaps[n], r["gaps"], strict=True))
            ratio = statistics.median(r["ratio"])
            rows.append({"name": f"boucle, {n} graine(s), {t} thread(s) : min / médiane / max", "value": _span(r["loop"]),
                         "unit": "s", "detail": f"{where} ; train_dense pour chaque graine"})
            rows.append({"name": f"ensemble vmap, {n} graine(s), {t} thread(s) : min / médiane / max",
                         "value": _span(r["ensemble"]), "unit": "s", "detail": f"{where} ; train_dense_ensemble"})
            rows.append({"name": f"ratio boucle / ensemble, {n} graine(s), {t} thread(s)", "value": round(ratio, 2),
                         "unit": "x", "detail": f"médiane des ratios appariés (de {_fr(min(r['ratio']))} à "
                         f"{_fr(max(r['ratio']))}) ; {_verdict(ratio)}"})
    for n in counts:
        dw, dacc = gaps[n]
        rows.append({"name": f"{n} graine(s) : écart max de précision, boucle − ensemble", "value": round(100 * dacc, 3),
                     "unit": "points de %", "detail": f"graine par graine, test MNIST-5k (750 images), pire cas sur "
                     f"{', '.join(map(str, threads))} thread(s) ; écart max des poids {dw:.1e} (arrondis des "
                     "produits matriciels groupés)".replace(".", ",")})
    for t in threads:
        fresh = [fresh_process(t, cnn_seeds) for _ in range(repeats)]
        where = f"processus neuf, {t} thread(s), {repeats} processus"
        first = [f["cnn"][0] for f in fresh]
        further = [statistics.median(f["cnn"][1:]) for f in fresh]
        rows.append({"name": f"CNN digits, 1re graine, {t} thread(s) : min / médiane / max", "value": _span(first),
                     "unit": "s", "detail": f"train_baseline (15 époques), {where} ; échauffement compris"})
        rows.append({"name": f"CNN digits, graine suivante, {t} thread(s) : min / médiane / max",
                     "value": _span(further), "unit": "s",
                     "detail": f"médiane des graines 2 à {cnn_seeds} de chaque processus ; {where} ; "
                     f"pas d'ensemble vmap pour le CNN : une graine de plus coûte ce temps"})
        extra = [f["ens"][0] - f["ens"][1] for f in fresh]
        rows.append({"name": f"ensemble vmap, surcoût du 1er appel, {t} thread(s) : min / médiane / max",
                     "value": _span(extra), "unit": "s",
                     "detail": f"1er moins 2e appel de train_dense_ensemble (3 graines, 1 époque) après le CNN et "
                     f"deux train_dense ; {where} : l'échauffement de torch.func, payé une fois par noyau"})
    return rows


if __name__ == "__main__":
    from functools import partial

    from benchmarks import main

    quick = "--rapide" in sys.argv
    main(partial(run, counts=(1, 3), epochs=1, cnn_seeds=3) if quick else run)
