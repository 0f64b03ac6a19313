"""Diagonale de Fisher empirique : ``torch.func`` (vmap de grad) contre une boucle Python par exemple.

F_kk = (1/N) Σ_n (∂ℓ_n/∂w_k)² sur un lot de 128 exemples de *digits*, pour le CNN du cours
(``build_model``, entraîné par ``train_baseline``). Version vectorisée :
``approximate_hessian_diag(method="fisher", chunk_size=128)`` ; référence : une passe avant et
arrière par exemple, gradients au carré accumulés. On vérifie d'abord que les deux donnent le
même résultat (écart absolu maximal), puis on chronomètre en alternance (médiane de ``REPEATS``
mesures, CPU, 1 thread pour des chiffres stables sur une machine partagée). Objectif : >= 10×.

    .venv/bin/python -m benchmarks.bench_fisher
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn

from course_lib.criteria import approximate_hessian_diag
from course_lib.data import load_data
from course_lib.masks import prunable_modules
from course_lib.training import train_baseline

BATCH = 128
REPEATS = 5
GOAL = 10.0
LOSS = nn.CrossEntropyLoss()


def fisher_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """La référence naïve : une rétropropagation par exemple."""
    dense = copy.deepcopy(model).eval()
    modules = prunable_modules(dense)
    acc = {n: torch.zeros_like(m.weight) for n, m in modules.items()}
    for i in range(len(y)):
        dense.zero_grad(set_to_none=True)
        LOSS(dense(x[i:i + 1]), y[i:i + 1]).backward()
        for n, m in modules.items():
            acc[n] += m.weight.grad ** 2
    return {n: a / len(y) for n, a in acc.items()}


def fisher_func(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    return approximate_hessian_diag(model, LOSS, [(x, y)], method="fisher", chunk_size=BATCH)


def batched_pass(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """Une passe avant-arrière ordinaire sur tout le lot : le plancher de toute méthode par exemple."""
    model.zero_grad(set_to_none=True)
    LOSS(model(x), y).backward()


def _time(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def measure(threads: int = 1) -> dict[str, float]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = load_data("digits", batch_size=BATCH)
        model = train_baseline(data, kind="cnn", epochs=5, seed=0, progress=False)
        x, y = next(iter(data.train))
        assert len(y) == BATCH
        ref, fast = fisher_loop(model, x, y), fisher_func(model, x, y)
        diff = max(float((ref[n] - fast[n]).abs().max()) for n in ref)
        scale = max(float(ref[n].abs().max()) for n in ref)
        fns = {"loop": fisher_loop, "func": fisher_func, "batched": batched_pass}
        times = {k: [] for k in fns}
        for r in range(REPEATS):
            for k in (fns if r % 2 == 0 else reversed(fns)):
                times[k].append(_time(fns[k], model, x, y))
        out = {k: statistics.median(v) for k, v in times.items()}
        out["ratio"] = statistics.median(a / b for a, b in zip(times["loop"], times["func"], strict=True))
        out["ceiling"] = statistics.median(a / b for a, b in zip(times["loop"], times["batched"], strict=True))
        out.update(diff=diff, scale=scale, params=sum(m.weight.numel() for m in prunable_modules(model).values()))
        return out
    finally:
        torch.set_num_threads(previous)


def run() -> list[dict]:
    rows = []
    for threads in sorted({1, torch.get_num_threads()}):
        m = measure(threads)
        tag = f"{threads} thread{'s' if threads > 1 else ''}"
        where = (f"CNN du cours sur digits ({m['params']} poids élagables), lot {BATCH}, CPU {tag}, "
                 f"médiane de {REPEATS}")
        verdict = "atteint" if m["ratio"] >= GOAL else "NON atteint"
        if threads == 1:
            rows.append({"name": "Fisher : écart max |torch.func − boucle|", "value": f"{m['diff']:.2e}",
                         "unit": "", "detail": f"valeur max de la diagonale : {m['scale']:.2e} (écart relatif "
                         f"{m['diff'] / m['scale']:.1e}) ; les tests exigent 1e-6 en absolu"})
        rows += [
            {"name": f"Fisher, boucle Python par exemple ({tag})", "value": round(m["loop"] * 1e3, 1),
             "unit": "ms", "detail": where},
            {"name": f"Fisher, torch.func vmap(grad) ({tag})", "value": round(m["func"] * 1e3, 1),
             "unit": "ms", "detail": f"{where} ; approximate_hessian_diag(chunk_size={BATCH})"},
            {"name": f"Fisher : accélération boucle / torch.func ({tag})", "value": round(m["ratio"], 1),
             "unit": "x", "detail": f"médiane des ratios appariés ; objectif >= {GOAL:g} : {verdict}"},
            {"name": f"repère : une passe avant-arrière du lot ({tag})", "value": round(m["batched"] * 1e3, 1),
             "unit": "ms", "detail": f"boucle / passe du lot = {m['ceiling']:.1f}× : plafond de toute méthode "
             "par exemple, qui coûte au moins une passe du lot"},
        ]
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
