"""Ce que coûte un réseau : multiplications-additions (MAC), paramètres, latence mesurée.

Un masque ne change aucun de ces chiffres (le calcul reste dense) ; retirer des canaux
(``course_lib.structured.remove_channels``) les change tous, mais la latence moins que les MAC.
Notebook 11 (``notebooks/11_elagage_structure.ipynb``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._validation import check_positive_int

LAYERS = (nn.Conv2d, nn.Linear)


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiplications-additions (MAC) d'une passe avant pour **une** entrée de forme ``input_shape`` (C, H, W).

    Convolution : H_out·W_out·C_out·(C_in/groupes)·k_h·k_w ; linéaire : n_in·n_out (les MAC
    des produits matriciels, comme Torch-Pruning et la convention FLOPs = 2·MAC de
    ``torch.utils.flop_counter``). BatchNorm, ReLU et pooling sont négligés. Un poids masqué
    compte : le calcul dense le fait quand même.
    """
    shape = tuple(int(s) for s in input_shape) if isinstance(input_shape, Sequence) else None
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape doit être une forme d'entrée sans le lot, ex. (3, 32, 32) ; reçu {input_shape!r}.")
    total = 0

    def hook(module, _inputs, out):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += out[0].numel() * k
        else:
            total += out[0].numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, LAYERS)]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return int(total)


def count_params(model: nn.Module) -> int:
    """Nombre de paramètres stockés (un poids masqué compte : il occupe toujours sa place)."""
    return sum(p.numel() for p in model.parameters())


@dataclass
class Latency:
    """Latence mesurée par ``torch.utils.benchmark`` : médiane et écart interquartile, en secondes."""

    median: float
    iqr: float
    batch_size: int
    threads: int

    @property
    def per_example(self) -> float:
        return self.median / self.batch_size


def _no_cuda_runtime(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("No CUDA runtime is found")


def _drop_no_cuda_runtime_warning() -> None:
    """Tait le seul avertissement « No CUDA runtime is found » de ``torch.utils.cpp_extension``.

    ``torch.utils.benchmark`` importe ce module, qui cherche un CUDA à l'import et l'écrit dans la
    sortie de la cellule quand un dossier CUDA existe sans carte graphique : hors sujet pour un
    cours sur CPU. Les autres messages de ce journal passent.
    """
    logger = logging.getLogger("torch.utils.cpp_extension")
    if _no_cuda_runtime not in logger.filters:
        logger.addFilter(_no_cuda_runtime)


def measure_latency(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1, threads: int = 1,
                    min_run_time: float = 0.2, min_blocks: int = 7, warmup: int = 3, seed: int = 0) -> Latency:
    """Latence d'une passe avant (mode eval, sans gradient) sur une entrée aléatoire.

    ``torch.utils.benchmark.Timer`` : ``warmup`` passes d'échauffement, puis des blocs d'environ
    10 ms (``Timer.timeit(number)``) jusqu'à ``min_run_time`` secondes et au moins ``min_blocks``
    blocs ; médiane et écart interquartile du temps par passe sur les blocs. (``blocked_autorange``
    fait des blocs de ~0,1 s : trop peu de blocs pour un IQR en 0,2 s.)
    ``threads`` : threads de calcul (1, ou ``torch.get_num_threads()`` pour le défaut).
    """
    _drop_no_cuda_runtime_warning()
    from torch.utils import benchmark

    batch_size = check_positive_int(batch_size, "batch_size")
    threads = check_positive_int(threads, "threads")
    min_blocks = check_positive_int(min_blocks, "min_blocks")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, *input_shape, generator=gen)
    was = model.training
    model.eval()
    previous = torch.get_num_threads()
    try:
        with torch.inference_mode():
            timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=threads)
            one = min(timer.timeit(1).median for _ in range(max(1, warmup)))  # échauffement
            number = max(1, round(0.01 / one))
            times, start = [], time.perf_counter()
            while len(times) < min_blocks or time.perf_counter() - start < min_run_time:
                times.append(timer.timeit(number).median)
    finally:
        torch.set_num_threads(previous)
        model.train(was)
    q1, median, q3 = torch.tensor(times, dtype=torch.float64).quantile(torch.tensor([0.25, 0.5, 0.75],
                                                                                   dtype=torch.float64)).tolist()
    return Latency(median, q3 - q1, batch_size, threads)
