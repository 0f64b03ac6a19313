"""Coût d'un pas d'entraînement masqué (hooks de ``torch.nn.utils.prune``) face à un pas dense.

Modèle : le CNN du cours sur *digits* (``build_model``, 38,8 k paramètres), élagué à 90 %
(magnitude, global) par ``apply_masks``. Un pas = ``zero_grad`` + passe avant + perte +
``backward`` + ``Adam.step``. Le surcoût du masque : w = w_orig ⊙ m recalculé à chaque passe
avant (hook ``forward_pre``), et le produit par m dans la rétropropagation.

Mesure : CPU, 1 thread (résultats stables sur une machine partagée), lots aléatoires de taille
fixe ; les deux modèles sont chronométrés en alternance (``REPEATS`` blocs de ``STEPS`` pas, après
un échauffement) et on garde la médiane par pas. Objectif : ratio masqué / dense <= 1,15.

    .venv/bin/python -m benchmarks.bench_masked_step
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn

from course_lib.data import load_data
from course_lib.masks import apply_masks, create_masks
from course_lib.models import build_model

BATCH_SIZES = (64, 1024)
STEPS = 20
REPEATS = 15
WARMUP = 10
SPARSITY = 0.9
GOAL = 1.15


def _step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def _block(step, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def measure(batch_size: int, threads: int = 1) -> dict[str, float]:
    """Temps médian par pas (secondes) ``dense`` et ``masked``, et ``ratio`` (médiane des ratios par bloc)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = load_data("digits")
        dense = build_model(data, kind="cnn", seed=0)
        masked = apply_masks(copy.deepcopy(dense), create_masks(dense, SPARSITY))
        gen = torch.Generator().manual_seed(0)
        x = torch.rand((batch_size, *data.input_shape), generator=gen)
        y = torch.randint(0, data.num_classes, (batch_size,), generator=gen)
        steps = {"dense": _step_fn(dense, x, y), "masked": _step_fn(masked, x, y)}
        for step in steps.values():
            _block(step, WARMUP)
        times: dict[str, list[float]] = {k: [] for k in steps}
        for r in range(REPEATS):
            order = list(steps) if r % 2 == 0 else list(reversed(steps))  # alternance : même bruit pour les deux
            for k in order:
                times[k].append(_block(steps[k], STEPS))
        out = {k: statistics.median(v) for k, v in times.items()}
        out["ratio"] = statistics.median(m / d for m, d in zip(times["masked"], times["dense"], strict=True))
        return out
    finally:
        torch.set_num_threads(previous)


def run() -> list[dict]:
    rows = []
    for b in BATCH_SIZES:
        t = measure(b)
        ratio = t["ratio"]
        where = f"CNN digits, lot {b}, CPU 1 thread, médiane de {REPEATS}×{STEPS} pas"
        rows.append({"name": f"pas dense (lot {b})", "value": round(t["dense"] * 1e3, 3), "unit": "ms",
                     "detail": where})
        rows.append({"name": f"pas masqué {SPARSITY:.0%} (lot {b})", "value": round(t["masked"] * 1e3, 3),
                     "unit": "ms", "detail": f"{where} ; masques torch.nn.utils.prune"})
        verdict = "atteint" if ratio <= GOAL else "NON atteint"
        rows.append({"name": f"ratio masqué / dense (lot {b})", "value": round(ratio, 3), "unit": "x",
                     "detail": f"médiane des ratios de blocs appariés ; objectif <= {GOAL} : {verdict}"})
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
