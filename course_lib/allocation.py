"""Où élaguer : sensibilité de chaque couche, et répartition d'une sparsité globale entre les couches.

Une même sparsité globale S (fraction des poids élagables retirés) peut se répartir de bien des
façons : s_ℓ dans la couche ℓ de n_ℓ poids, avec Σ_ℓ s_ℓ·n_ℓ = S·N (N = Σ_ℓ n_ℓ). Ce module donne
quatre règles, toutes ramenées à des **comptes exacts** (k_ℓ poids retirés, Σ_ℓ k_ℓ = round(S·N)) :

- ``uniform_allocation`` : s_ℓ = S partout ;
- ``global_allocation`` : celle que produit le masque global par magnitude (``create_masks``) ;
- ``erk_allocation`` : Erdős–Rényi–Kernel (Evci et al., 2020, *Rigging the Lottery*, §3) ;
- ``sensitivity_allocation`` : lue sur un balayage de sensibilité (``sensitivity_scan``), comme
  Han et al. (2015) et le TP d'élagage du cours MIT 6.5940.

Puis ``allocation_masks`` choisit, dans chaque couche, les k_ℓ poids de plus petit |w|
(``create_masks_from_importance``, sélection exacte). Notebook 13.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._validation import check_fraction, check_loader, check_real
from .fr import md_table, num, pct
from .masks import (
    apply_masks,
    create_masks,
    create_masks_from_importance,
    get_weights,
    prunable_modules,
)
from .training import evaluate

SCAN_SPARSITIES = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# ----------------------------------------------------------------------------- balayage de sensibilité

@dataclass(frozen=True)
class SensitivityScan:
    """Précision du réseau quand on élague **une seule** couche (magnitude, sans ré-entraînement).

    ``accuracy[couche][i]`` : précision avec la couche élaguée à ``sparsities[i]``, les autres intactes ;
    ``dense`` : précision du réseau non élagué ; ``sizes`` : nombre de poids de chaque couche.
    """

    sparsities: tuple[float, ...]
    dense: float
    accuracy: dict[str, tuple[float, ...]]
    sizes: dict[str, int]

    @property
    def evaluations(self) -> int:
        """Coût du balayage : une évaluation dense + une par (couche, sparsité)."""
        return 1 + len(self.accuracy) * len(self.sparsities)

    def drop(self, layer: str) -> tuple[float, ...]:
        """Perte de précision (fraction) de la couche ``layer`` à chaque sparsité : dense − précision."""
        return tuple(self.dense - a for a in self.accuracy[layer])

    def table(self, labels: Mapping[str, str] | None = None) -> str:
        """Tableau Markdown : une ligne par couche (nommée par ``labels`` s'il est donné), une colonne par sparsité."""
        labels = labels or {}
        head = ["couche", "poids"] + [pct(s, 0) for s in self.sparsities]
        rows = [[labels.get(n, n), num(self.sizes[n], 0)] + [pct(a) for a in accs] for n, accs in self.accuracy.items()]
        return md_table(head, rows)

    def _repr_markdown_(self) -> str:
        return self.table()


def _check_sparsities(sparsities: Sequence[float]) -> tuple[float, ...]:
    if isinstance(sparsities, (str, bytes)) or not isinstance(sparsities, Sequence) or not sparsities:
        raise TypeError(f"sparsities doit être une liste non vide de fractions, par exemple (0.4, 0.6, 0.8) ; "
                        f"reçu {sparsities!r}.")
    out = tuple(check_fraction(s, "chaque sparsité de sparsities") for s in sparsities)
    if list(out) != sorted(set(out)):
        raise ValueError(f"sparsities doit être strictement croissante ; reçu {sparsities!r}.")
    return out


def sensitivity_scan(model: nn.Module, loader, sparsities: Sequence[float] = SCAN_SPARSITIES) -> SensitivityScan:
    """Balayage de sensibilité : chaque couche élaguée **seule** à chaque sparsité, précision sur ``loader``.

    Pour chaque couche ℓ et chaque s : on retire les round(s·n_ℓ) poids de plus petit |w| de ℓ
    (les autres couches intactes), sans ré-entraîner, et l'on mesure la précision
    (Han et al., 2015, *Learning both Weights and Connections* : une courbe de sensibilité par couche).
    Coût : 1 + L·|sparsities| évaluations (``SensitivityScan.evaluations``). Le modèle n'est pas modifié.
    ``loader`` : des données de **validation** (le balayage sert à décider).
    """
    sparsities = _check_sparsities(sparsities)
    check_loader(loader, "loader")
    weights = get_weights(model)
    accuracy = {}
    for name, w in weights.items():
        row = []
        for s in sparsities:
            masks = create_masks_from_importance({name: w.abs()}, s, scope="layer")
            row.append(evaluate(apply_masks(copy.deepcopy(model), masks), loader))
        accuracy[name] = tuple(row)
    return SensitivityScan(sparsities, evaluate(model, loader), accuracy, {n: w.numel() for n, w in weights.items()})


# ----------------------------------------------------------------------------- comptes exacts

def layer_sizes(model: nn.Module) -> dict[str, int]:
    """``{nom du poids: n_ℓ}`` pour chaque couche élagable."""
    return {n: m.weight.numel() for n, m in prunable_modules(model).items()}


def _check_sizes(sizes: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(sizes, Mapping) or not sizes:
        raise TypeError(f"sizes doit être un dictionnaire non vide {{couche: nombre de poids}} ; reçu {sizes!r}.")
    for n, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"sizes[{n!r}] doit être un entier >= 1 (nombre de poids) ; reçu {v!r}.")
    return dict(sizes)


def exact_counts(sizes: Mapping[str, int], sparsities: Mapping[str, float], target: float) -> dict[str, int]:
    """Nombres de poids à retirer k_ℓ, entiers, avec Σ_ℓ k_ℓ = round(target·N) exactement.

    On part de x_ℓ = s_ℓ·n_ℓ (réels), on prend ⌊x_ℓ⌋, puis on distribue les poids qui manquent
    (ou l'on reprend ceux en trop) aux couches de plus grande partie fractionnaire (méthode du plus
    fort reste) ; une couche garde toujours au moins un poids.
    """
    sizes = _check_sizes(sizes)
    target = check_fraction(target, "target")
    if set(sparsities) != set(sizes):
        raise KeyError(f"sparsities et sizes doivent nommer les mêmes couches ; reçu {sorted(sparsities)} "
                       f"et {sorted(sizes)}.")
    total = round(target * sum(sizes.values()))
    ideal = {n: check_fraction(sparsities[n], f"sparsities[{n!r}]", allow_one=True) * sizes[n] for n in sizes}
    counts = {n: min(math.floor(x), sizes[n] - 1) for n, x in ideal.items()}
    by_remainder = sorted(sizes, key=lambda n: (counts[n] - ideal[n], n))  # plus fort reste d'abord
    while sum(counts.values()) < total:
        grown = False
        for n in by_remainder:
            if sum(counts.values()) < total and counts[n] < sizes[n] - 1:
                counts[n] += 1
                grown = True
        if not grown:
            raise ValueError(f"Impossible de retirer {total} poids en gardant au moins un poids par couche.")
    for n in reversed(by_remainder):
        while sum(counts.values()) > total and counts[n] > 0:
            counts[n] -= 1
    return counts


def _from_counts(sizes: Mapping[str, int], counts: Mapping[str, int]) -> dict[str, float]:
    return {n: counts[n] / sizes[n] for n in sizes}


# ----------------------------------------------------------------------------- règles de répartition

def uniform_allocation(sizes: Mapping[str, int], target: float) -> dict[str, float]:
    """Répartition uniforme : s_ℓ = S dans chaque couche (aux arrondis près, total exact)."""
    sizes = _check_sizes(sizes)
    target = check_fraction(target, "target")
    return _from_counts(sizes, exact_counts(sizes, dict.fromkeys(sizes, target), target))


def global_allocation(model: nn.Module, target: float) -> dict[str, float]:
    """La répartition du masque **global** par magnitude : un seul seuil |w| pour tout le réseau.

    C'est ``create_masks(model, target, scope="global")`` ; on ne garde que la part retirée par couche.
    """
    masks = create_masks(model, check_fraction(target, "target"), scope="global")
    return {n: 1 - float(m.sum()) / m.numel() for n, m in masks.items()}


def erk_densities(shapes: Mapping[str, Sequence[int]], density: float) -> dict[str, float]:
    """Densités Erdős–Rényi–Kernel (Evci et al., 2020, *Rigging the Lottery*, §3, « Sparsity distribution »).

    La densité de la couche ℓ (poids de forme n_out × n_in × k_h × k_w, ou n_out × n_in) est
    d_ℓ = ε · (n_in + n_out + k_h + k_w) / (n_in · n_out · k_h · k_w), ε choisi pour que
    Σ_ℓ d_ℓ·n_ℓ = d·N. Si une couche dépasse d_ℓ = 1, elle devient dense et ε est recalculé sur les
    autres (les couches de plus grand rapport d'abord, une à la fois, comme le code de RigL).
    """
    density = check_real(density, "density", low=0, high=1, low_open=True)
    if not isinstance(shapes, Mapping) or not shapes:
        raise TypeError(f"shapes doit être un dictionnaire non vide {{couche: forme du poids}} ; reçu {shapes!r}.")
    raw = {n: sum(s) / math.prod(s) for n, s in shapes.items()}
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    dense: set[str] = set()
    while True:
        free = [n for n in shapes if n not in dense]
        budget = density * sum(sizes.values()) - sum(sizes[n] for n in dense)
        eps = budget / sum(raw[n] * sizes[n] for n in free)
        top = max(raw[n] for n in free)
        if eps * top <= 1 or len(free) == 1:
            return {n: 1.0 if n in dense else min(1.0, eps * raw[n]) for n in shapes}
        dense |= {n for n in free if raw[n] == top}


def erk_allocation(model: nn.Module, target: float) -> dict[str, float]:
    """Répartition ERK à la sparsité globale ``target`` : s_ℓ = 1 − d_ℓ (``erk_densities``), comptes exacts."""
    target = check_fraction(target, "target")
    shapes = {n: tuple(m.weight.shape) for n, m in prunable_modules(model).items()}
    sizes = layer_sizes(model)
    densities = erk_densities(shapes, 1 - target)
    return _from_counts(sizes, exact_counts(sizes, {n: 1 - d for n, d in densities.items()}, target))


def tolerated_sparsities(scan: SensitivityScan, tolerance: float) -> dict[str, float]:
    """Pour chaque couche, la plus grande sparsité balayée dont la perte reste ≤ ``tolerance`` (0 sinon)."""
    if not isinstance(scan, SensitivityScan):
        raise TypeError(f"scan doit être un SensitivityScan (résultat de sensitivity_scan) ; reçu {type(scan).__name__}.")
    tolerance = check_real(tolerance, "tolerance", low=0, high=1)
    return {n: max((s for s, d in zip(scan.sparsities, scan.drop(n), strict=True) if d <= tolerance), default=0.0)
            for n in scan.accuracy}


def sensitivity_allocation(scan: SensitivityScan, target: float, tolerance: float = 0.01) -> dict[str, float]:
    """Répartition lue sur le balayage, mise à l'échelle de la cible S.

    1. b_ℓ = plus grande sparsité balayée dont la perte reste ≤ ``tolerance`` (``tolerated_sparsities``) :
       la couche ℓ « a besoin » de garder la densité 1 − b_ℓ ;
    2. on met ces densités à l'échelle : d_ℓ = min(1, c · (1 − b_ℓ)), c choisi pour que
       Σ_ℓ d_ℓ·n_ℓ = (1 − S)·N ; s_ℓ = 1 − d_ℓ (comptes exacts, ``exact_counts``).

    Les rapports de densité entre couches sont ceux du balayage : une couche qui doit garder deux
    fois plus de poids en garde deux fois plus. On met à l'échelle les densités, pas les sparsités :
    multiplier les s_ℓ pousserait les couches tolérantes au-delà de la grille balayée (jusqu'à les
    vider), là où le balayage ne dit plus rien.
    """
    target = check_fraction(target, "target")
    base = tolerated_sparsities(scan, tolerance)
    sizes = scan.sizes
    need = {n: 1 - b for n, b in base.items()}
    kept_target = (1 - target) * sum(sizes.values())

    def kept(c: float) -> float:
        return sum(min(1.0, c * need[n]) * sizes[n] for n in need)

    low, high = 0.0, max(1 / d for d in need.values())
    for _ in range(100):  # bissection : kept(c) croît avec c
        mid = (low + high) / 2
        low, high = (mid, high) if kept(mid) < kept_target else (low, mid)
    sparsities = {n: 1 - min(1.0, high * need[n]) for n in need}
    return _from_counts(sizes, exact_counts(sizes, sparsities, target))


# ----------------------------------------------------------------------------- des sparsités aux masques

def allocation_masks(model: nn.Module, sparsities: Mapping[str, float]) -> dict[str, torch.Tensor]:
    """Masques par magnitude **dans chaque couche** : retire round(s_ℓ·n_ℓ) poids de plus petit |w| de ℓ.

    ``sparsities`` : une répartition (``uniform_allocation``, ``erk_allocation``...), une entrée par
    couche élagable. Ne modifie pas le modèle ; appliquez ensuite ``apply_masks(model, masks)``.
    """
    if not isinstance(sparsities, Mapping):
        raise TypeError(f"sparsities doit être un dictionnaire {{couche: sparsité}} ; reçu {type(sparsities).__name__}.")
    weights = get_weights(model)
    if set(sparsities) != set(weights):
        raise KeyError(f"sparsities doit avoir une entrée par couche élagable : {sorted(weights)} attendu ; "
                       f"reçu {sorted(sparsities)}.")
    masks = {}
    for n, w in weights.items():
        s = check_fraction(sparsities[n], f"sparsities[{n!r}]", allow_one=True)
        # s = 1 : couche vidée (le masque global peut le faire, voir LayerCollapseWarning)
        masks[n] = torch.zeros_like(w) if s == 1 else create_masks_from_importance({n: w.abs()}, s, scope="layer")[n]
    return masks


def global_sparsity(sizes: Mapping[str, int], sparsities: Mapping[str, float]) -> float:
    """Sparsité globale d'une répartition : Σ_ℓ s_ℓ·n_ℓ / Σ_ℓ n_ℓ."""
    sizes = _check_sizes(sizes)
    return sum(sparsities[n] * sizes[n] for n in sizes) / sum(sizes.values())
