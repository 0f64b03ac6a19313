"""Élagage structuré contre masques : MAC comptés et latence mesurée sur un CNN de forme CIFAR.

Modèle : ``CifarCNN(64)`` (six convolutions 3×3 avec BatchNorm, entrée 3×32×32, 1,19 M paramètres,
153 M MAC). On retire 50 % des canaux de chaque couche cachée (norme L1 du filtre, Li et al. 2017)
avec ``remove_channels`` ; on masque 90 % des poids de chaque couche (magnitude) avec ``apply_masks``.
Latence : ``course_lib.structured.measure_latency`` (``torch.utils.benchmark.Timer``, échauffement,
blocs de ~10 ms, médiane), entrées aléatoires (la latence ne dépend que des formes). Les modèles
sont mesurés en alternance, ``ROUNDS`` fois ; le ratio est la médiane des ratios par tour, ce qui
résiste à une machine partagée. Objectifs : ratio de latence ≥ 1,8× (1 thread, lot de 1) pour
50 % des canaux retirés ; ≈ 1× pour les masques.

    .venv/bin/python -m benchmarks.bench_structured
"""

from __future__ import annotations

import copy
import statistics

import torch

from course_lib.cost import count_macs, count_params, measure_latency
from course_lib.masks import apply_masks, create_masks, remove_masks
from course_lib.models import CifarCNN
from course_lib.structured import channel_importance, remove_channels, select_channels

SHAPE = (3, 32, 32)
FRACTION = 0.5
SPARSITY = 0.9
ROUNDS = 5
GOAL = 1.8


def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    dense = CifarCNN(64).eval()
    small = remove_channels(dense, select_channels(channel_importance(dense, "l1"), FRACTION))
    masked = apply_masks(copy.deepcopy(dense), create_masks(dense, SPARSITY, scope="layer"))
    zeros = remove_masks(copy.deepcopy(masked))  # zéros écrits dans un poids dense ordinaire
    return {"dense": dense, "structuré 50 %": small, "masqué 90 %": masked, "zéros 90 % (masque retiré)": zeros}


def latency_ratios(nets: dict, batch_size: int, threads: int) -> tuple[dict[str, float], dict[str, float]]:
    """Médianes (s) par modèle et médiane des ratios dense / modèle, mesures alternées."""
    times: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(ROUNDS):
        order = list(nets) if r % 2 == 0 else list(reversed(nets))
        for k in order:
            times[k].append(measure_latency(nets[k], SHAPE, batch_size, threads, min_run_time=0.2,
                                            min_blocks=5).median)
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratios = {k: statistics.median(d / t for d, t in zip(times["dense"], v, strict=True))
              for k, v in times.items() if k != "dense"}
    return medians, ratios


def run() -> list[dict]:
    nets = models()
    dense, small = nets["dense"], nets["structuré 50 %"]
    macs_d, macs_s = count_macs(dense, SHAPE), count_macs(small, SHAPE)
    rows = [
        {"name": "MAC dense / structuré 50 %", "value": round(macs_d / macs_s, 2), "unit": "×",
         "detail": f"{macs_d / 1e6:.1f} M → {macs_s / 1e6:.1f} M MAC par image (count_macs, = flop_counter / 2)"},
        {"name": "paramètres dense / structuré 50 %", "value": round(count_params(dense) / count_params(small), 2),
         "unit": "×", "detail": f"{count_params(dense)} → {count_params(small)}"},
        {"name": "MAC dense / masqué 90 %", "value": round(macs_d / count_macs(nets["masqué 90 %"], SHAPE), 2),
         "unit": "×", "detail": "un poids masqué est quand même multiplié"},
    ]
    default = torch.get_num_threads()
    for batch_size in (1, 64):
        for threads in sorted({1, default}):
            sub = nets if (batch_size, threads) == (1, 1) else {k: nets[k] for k in ("dense", "structuré 50 %",
                                                                                     "masqué 90 %")}
            medians, ratios = latency_ratios(sub, batch_size, threads)
            cond = f"lot de {batch_size}, {threads} thread(s)"
            rows.append({"name": f"latence dense ({cond})", "value": round(medians["dense"] * 1e3, 2), "unit": "ms",
                         "detail": f"médiane de {ROUNDS} mesures alternées"})
            for k, ratio in ratios.items():
                goal = ""
                if k.startswith("structuré") and (batch_size, threads) == (1, 1):
                    goal = f" ; objectif ≥ {GOAL}× : {'atteint' if ratio >= GOAL else 'NON atteint'}"
                elif k.startswith("masqué"):
                    goal = " ; attendu ≈ 1× (un masque ne retire aucun calcul)"
                rows.append({"name": f"latence dense / {k} ({cond})", "value": round(ratio, 2), "unit": "×",
                             "detail": f"{medians[k] * 1e3:.2f} ms ; ratio des MAC "
                                       f"{macs_d / count_macs(nets[k], SHAPE):.2f}×{goal}"})
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
