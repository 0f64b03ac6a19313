"""Ce que mesurent les notebooks 04 et 11 : retirer des canaux entiers, précision, MAC et latence.

- ``apoz_measures`` (notebook 04) : APoZ mesuré sur la validation (Hu et al., 2016), retrait de la
  moitié des canaux d'une couche choisis par APoZ élevé, faible ou mesuré avant la ReLU, précision
  sur le test ; un appel par graine, pour ``over_seeds`` ;
- ``removal_measures`` (notebook 11) : quatre critères de canal sans fine-tuning, puis le
  fine-tuning du retrait par norme L1, précision sur le test ; un appel par graine ;
- ``latency_measures`` (notebook 11) : latence d'un CNN de forme CIFAR dense, masqué, réduit ;
- ``sweep_fractions`` : le calcul lourd de la démonstration ``widgets.structured.structured_demo``.

Partage des données (``DataBundle``) : ``val`` sert aux **décisions** (quels canaux retirer :
l'APoZ se mesure sur la validation, comme dans l'article), ``test`` au **rapport** (la précision
affichée). Taylor et le fine-tuning lisent l'entraînement, comme chez Molchanov et al. (2017).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import check_fraction, check_positive_int
from ..cost import count_macs, count_params, measure_latency
from ..criteria import compute_apoz
from ..masks import apply_masks, create_masks
from ..models import CifarCNN
from ..structured import channel_importance, remove_channels, select_channels
from ..training import evaluate, fine_tune

# ----------------------------------------------------------------------------- notebook 04 : APoZ

REFERENCE = "sans retrait"
APOZ_HIGH = "APoZ le plus élevé (après la ReLU)"
APOZ_LOW = "APoZ le plus faible (après la ReLU)"
APOZ_BEFORE = "mesure avant la ReLU (chapitre)"
DEAD = "part des canaux toujours éteints"
ONE_BATCH_GAP = "écart maximal, 1 lot contre toute la validation"
_PRE_RELU = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def apoz_measures(model: nn.Module, data, relus: Sequence[str], fraction: float = 0.5) -> dict[str, float]:
    """Notebook 04, une graine : ``{"<relu> : <mesure>": valeur}`` (fractions, pour ``over_seeds``).

    L'APoZ se mesure sur ``data.val`` (Hu et al., 2016, éq. (1) : N exemples de validation). Pour
    chaque ReLU de ``relus``, on retire ``fraction`` des canaux de la couche qui la précède (poids
    **et** biais), choisis par APoZ élevé, APoZ faible, ou APoZ mesuré avant la ReLU comme le
    chapitre, et on mesure la précision sur ``data.test``. Aussi : la part des canaux d'APoZ = 100 %
    (jamais allumés sur la validation) et l'écart maximal |APoZ(1 lot) − APoZ(toute la validation)|.
    """
    from .sensitivity import MaskedEvaluator, channel_masks, highest_apoz_channels, relu_to_layer

    fraction = check_fraction(fraction, "fraction")
    mapping = relu_to_layer(model)
    unknown = [r for r in relus if r not in mapping]
    if unknown or not relus:
        raise ValueError(f"relus={list(relus)!r} : choisissez des ReLU qui suivent une couche élagable parmi "
                         f"{list(mapping)}.")
    after = compute_apoz(model, data)                         # data.val
    before = compute_apoz(model, data, layer_types=_PRE_RELU)
    one_batch = compute_apoz(model, data, n_batches=1)
    evaluator = MaskedEvaluator(model, data.test)
    out = {REFERENCE: evaluator.accuracy()}
    for relu in relus:
        layer = mapping[relu]
        choices = {APOZ_HIGH: highest_apoz_channels(after[relu], fraction),
                   APOZ_LOW: highest_apoz_channels(-after[relu], fraction),
                   APOZ_BEFORE: highest_apoz_channels(before[layer], fraction)}
        for label, channels in choices.items():
            out[f"{relu} : {label}"] = evaluator.accuracy(channel_masks(evaluator.model, layer, channels))
        out[f"{relu} : {DEAD}"] = float((after[relu] == 1).float().mean())
        out[f"{relu} : {ONE_BATCH_GAP}"] = float((one_batch[relu] - after[relu]).abs().max())
    return out


# ----------------------------------------------------------------------------- notebook 11 : précision

METHOD_LABELS = {"l1": "norme L1 du filtre", "l2": "norme L2 du filtre", "apoz": "1 − APoZ",
                 "taylor": "Taylor par canal"}
FINE_TUNED = "norme L1, après fine-tuning"


def removal_measures(model: nn.Module, data, fraction: float = 0.5,
                     methods: Sequence[str] = ("l1", "l2", "apoz", "taylor"), epochs: int = 2,
                     seed: int = 0) -> dict[str, float]:
    """Notebook 11, une graine : précision sur ``data.test`` du modèle complet (``"sans retrait"``),
    puis juste après le retrait de ``fraction`` des canaux de chaque couche cachée, pour chaque
    critère de ``methods`` (clés : ``METHOD_LABELS``), et après ``epochs`` époques de fine-tuning
    du retrait par norme L1 (``FINE_TUNED``).

    Données : APoZ sur ``data.val`` (Hu et al., 2016), Taylor sur ``data.train`` (Molchanov et al.,
    2017, le mesurent pendant l'entraînement) ; L1 et L2 ne lisent aucune donnée.
    """
    fraction = check_fraction(fraction, "fraction")
    epochs = check_positive_int(epochs, "epochs", minimum=0)
    out = {REFERENCE: evaluate(model, data.test)}
    small_l1 = None
    for method in methods:
        source = {"apoz": data.val, "taylor": data.train}.get(method)
        small = remove_channels(model, select_channels(channel_importance(model, method, source), fraction))
        out[METHOD_LABELS.get(method, method)] = evaluate(small, data.test)
        if method == "l1":
            small_l1 = small
    if small_l1 is not None and epochs > 0:
        fine_tune(small_l1, data.train, epochs=epochs, seed=seed, progress=False)
        out[FINE_TUNED] = evaluate(small_l1, data.test)
    return out


# ----------------------------------------------------------------------------- notebook 11 : latence

DENSE, MASKED, SMALL = "dense", "masqué à 90 %", "50 % des canaux retirés"


def latency_measures(seed: int, input_shape: Sequence[int] = (3, 32, 32), width: int = 64,
                     sparsity: float = 0.9, fraction: float = 0.5, min_run_time: float = 0.05,
                     min_blocks: int = 5) -> dict[str, float]:
    """Notebook 11, une graine : latence médiane (millisecondes, lot de 1, 1 thread) d'un ``CifarCNN(width)``
    tiré avec ``seed``, dense, masqué à ``sparsity`` (par couche) et réduit de ``fraction`` de ses
    canaux (norme L1). La latence ne dépend que des formes : des poids aléatoires suffisent."""
    torch.manual_seed(seed)
    dense = CifarCNN(width).eval()
    masked = apply_masks(copy.deepcopy(dense), create_masks(dense, sparsity, scope="layer"))
    small = remove_channels(dense, select_channels(channel_importance(dense, "l1"), fraction))
    kw = {"batch_size": 1, "threads": 1, "min_run_time": min_run_time, "min_blocks": min_blocks, "seed": seed}
    return {name: 1e3 * measure_latency(net, input_shape, **kw).median
            for name, net in ((DENSE, dense), (MASKED, masked), (SMALL, small))}


# ----------------------------------------------------------------------------- notebook 11 : balayage

@dataclass
class SweepRow:
    """Une fraction de canaux retirés : précision (modèle du cours) et coût (modèle de forme CIFAR)."""

    fraction: float
    accuracy_before: float      # test, juste après le retrait
    accuracy_after: float       # test, après ``epochs`` époques de fine-tuning
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
    de test avant et après ``epochs`` époques de fine-tuning (graine ``seed``), compte MAC et
    paramètres, et mesure la latence (1 thread) du modèle ``latency_model`` réduit de la même fraction
    (par défaut ``CifarCNN(64)`` : la latence ne dépend pas des données, seulement des formes).
    APoZ se mesure sur ``data.val``, Taylor sur ``data.train`` (voir l'en-tête du module).
    """
    for f in fractions:
        check_fraction(f, "fraction")
    check_positive_int(epochs, "epochs", minimum=0)
    if latency_model is None:
        torch.manual_seed(seed)
        latency_model = CifarCNN(64)
    source = {"apoz": data.val, "taylor": data.train}.get(method)
    importance = channel_importance(model, method, source)
    latency_importance = channel_importance(latency_model, "l1")
    shape = data.input_shape
    rows = []
    for f in fractions:
        small = remove_channels(model, select_channels(importance, f)) if f > 0 else copy.deepcopy(model)
        before = evaluate(small, data.test)
        after = before
        if f > 0 and epochs > 0:
            fine_tune(small, data.train, epochs=epochs, seed=seed, progress=False)
            after = evaluate(small, data.test)
        fast = remove_channels(latency_model, select_channels(latency_importance, f)) if f > 0 else latency_model
        latency = {b: measure_latency(fast, latency_input_shape, b, threads=1, min_run_time=min_run_time,
                                      min_blocks=min_blocks, seed=seed) for b in batch_sizes}
        rows.append(SweepRow(float(f), before, after, count_macs(small, shape), count_params(small),
                             count_macs(fast, latency_input_shape), count_params(fast), latency))
    return rows
