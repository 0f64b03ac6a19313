"""Balayage du notebook 11 : retirer une fraction des canaux, mesurer précision, MAC et latence.

Le calcul lourd de la démonstration ``widgets.structured.structured_demo``, fait une fois.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import check_fraction, check_positive_int
from ..cost import count_macs, count_params, measure_latency
from ..models import CifarCNN
from ..structured import channel_importance, remove_channels, select_channels
from ..training import evaluate, fine_tune


@dataclass
class SweepRow:
    """Une fraction de canaux retirés : précision (modèle du cours) et coût (modèle de forme CIFAR)."""

    fraction: float
    accuracy_before: float      # validation, juste après le retrait
    accuracy_after: float       # validation, après ``epochs`` époques de fine-tuning
    macs: int                   # modèle du cours, une entrée
    params: int
    latency_macs: int           # modèle de latence, une entrée
    latency_params: int
    latency: dict               # {taille de lot: Latency} (1 thread)


def sweep_fractions(model: nn.Module, data, fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75),
                    method: str = "l1", epochs: int = 2, latency_model: nn.Module | None = None,
                    latency_input_shape: Sequence[int] = (3, 32, 32), batch_sizes: Sequence[int] = (1, 16),
                    min_run_time: float = 0.1, min_blocks: int = 5, seed: int = 0) -> list[SweepRow]:
    """Pour chaque fraction : retire les canaux (critère ``method``, couche par couche), mesure la précision
    de validation avant et après ``epochs`` époques de fine-tuning (graine ``seed``), compte MAC et
    paramètres, et mesure la latence (1 thread) du modèle ``latency_model`` réduit de la même fraction
    (par défaut ``CifarCNN(64)`` : la latence ne dépend pas des données, seulement des formes).
    """
    for f in fractions:
        check_fraction(f, "fraction")
    check_positive_int(epochs, "epochs", minimum=0)
    if latency_model is None:
        torch.manual_seed(seed)
        latency_model = CifarCNN(64)
    importance = channel_importance(model, method, data.train)
    latency_importance = channel_importance(latency_model, "l1")
    shape = data.input_shape
    rows = []
    for f in fractions:
        small = remove_channels(model, select_channels(importance, f)) if f > 0 else copy.deepcopy(model)
        before = evaluate(small, data.val)
        after = before
        if f > 0 and epochs > 0:
            fine_tune(small, data.train, epochs=epochs, seed=seed, progress=False)
            after = evaluate(small, data.val)
        fast = remove_channels(latency_model, select_channels(latency_importance, f)) if f > 0 else latency_model
        latency = {b: measure_latency(fast, latency_input_shape, b, threads=1, min_run_time=min_run_time,
                                      min_blocks=min_blocks, seed=seed) for b in batch_sizes}
        rows.append(SweepRow(float(f), before, after, count_macs(small, shape), count_params(small),
                             count_macs(fast, latency_input_shape), count_params(fast), latency))
    return rows
