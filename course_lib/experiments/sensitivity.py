"""Mesures des notebooks 00 à 04 : évaluer un modèle masqué sans le modifier, comparer des classements.

Le calcul que les démonstrations de ``course_lib.widgets.criteria`` font une fois, dans leur
constructeur ; leur rappel ne fait plus que relire ces résultats et redessiner.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .._validation import check_fraction, check_loader
from ..masks import get_weights, remove_masks


def loader_tensors(loader) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatène tous les lots ``(x, y)`` d'un loader en deux tenseurs."""
    check_loader(loader)
    xs, ys = zip(*[(b[0], b[1]) for b in loader], strict=True)
    return torch.cat(xs), torch.cat(ys)


class MaskedEvaluator:
    """Précision et perte d'un modèle dont on masque certains paramètres, **sans le modifier**.

    Une copie dense (élagage rendu permanent, mode eval) est évaluée avec
    ``torch.func.functional_call`` : chaque paramètre nommé dans ``masks`` est multiplié
    par son masque (poids, mais aussi biais pour retirer un canal entier).
    """

    def __init__(self, model: nn.Module, loader, loss_fn=None, max_examples: int = 2000):
        self.model = remove_masks(copy.deepcopy(model)).eval()
        x, y = loader_tensors(loader)
        # un seul lot en mémoire : on plafonne (sans effet sur digits, 359 exemples de validation)
        self.x, self.y = x[:max_examples], y[:max_examples]
        self.params = {n: p.detach() for n, p in self.model.named_parameters()}
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()

    @torch.no_grad()
    def logits(self, masks: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        params = dict(self.params)
        for n, m in (masks or {}).items():
            if n not in params:
                raise KeyError(f"{n!r} n'est pas un paramètre du modèle ; noms possibles : {sorted(params)}.")
            params[n] = params[n] * m
        return functional_call(self.model, params, (self.x,))

    def accuracy(self, masks: Mapping[str, torch.Tensor] | None = None) -> float:
        """Fraction de bonnes réponses avec les masques donnés."""
        return float((self.logits(masks).argmax(dim=1) == self.y).float().mean())

    def loss(self, masks: Mapping[str, torch.Tensor] | None = None) -> float:
        return float(self.loss_fn(self.logits(masks), self.y))


def spearman_rho(a, b) -> float:
    """Corrélation de rang de Spearman (rangs moyens en cas d'égalité)."""
    def ranks(v):
        v = np.asarray(v, dtype=float).ravel()
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return sums[inverse] / counts[inverse]

    ra, rb = ranks(a), ranks(b)
    if len(ra) != len(rb):
        raise ValueError(f"spearman_rho : tailles différentes ({len(ra)} et {len(rb)}).")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def gradient_scores(model: nn.Module, loader, loss_fn=None) -> dict[str, dict[str, torch.Tensor]]:
    """Les scores comparés au notebook 02 : magnitude, Taylor (gradient de chaque exemple) (normalisé ℓ2 par couche,
    Molchanov et al. 2017, éq. 8 et §2.3), |w·ḡ|, la version du chapitre et (w·g_b)² moyen.

    Voir ``experiments.criteria_comparison.criteria_scores``.
    """
    from .criteria_comparison import (
        CHAPTER,
        MAGNITUDE,
        TAYLOR,
        TAYLOR_MEAN,
        TAYLOR_SQUARED,
        criteria_scores,
    )

    return criteria_scores(model, loader, (MAGNITUDE, TAYLOR, TAYLOR_MEAN, CHAPTER, TAYLOR_SQUARED), loss_fn)


def last_layer_name(model: nn.Module) -> str:
    """Le nom du poids de la dernière couche élagable (``"classifier.3.weight"`` pour ``SmallCNN``)."""
    return list(get_weights(model))[-1]


def true_loss_increase(model: nn.Module, loader, loss_fn=None, chunk: int = 128) -> torch.Tensor:
    """Hausse **réelle** de la perte quand on met à zéro un seul poids de la dernière couche linéaire.

    Force brute : pour chaque poids k, on recalcule la perte sur tout ``loader`` avec w_k = 0
    (les autres poids intacts) et l'on soustrait la perte de départ. Seule la dernière couche est
    concernée : son entrée h ne dépend pas de ses poids, on la calcule donc une fois et
    chaque essai ne coûte qu'un produit matriciel. Renvoie un tenseur de la forme du poids.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    dense = remove_masks(copy.deepcopy(model)).eval()
    name = last_layer_name(dense)
    layer = dict(dense.named_modules())[name[: -len(".weight")]]
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"true_loss_increase attend une dernière couche nn.Linear ; reçu {type(layer).__name__}.")
    inputs, labels = [], []
    handle = layer.register_forward_hook(lambda _m, inp, _out: inputs.append(inp[0]))
    try:
        with torch.no_grad():
            for batch in loader:
                dense(batch[0])
                labels.append(batch[1])
    finally:
        handle.remove()
    h, y, w, b = torch.cat(inputs), torch.cat(labels), layer.weight.detach(), layer.bias
    chunk = max(1, min(chunk, 4_000_000 // (h.shape[0] * w.shape[0])))  # borne la mémoire
    with torch.no_grad():
        base = loss_fn(h @ w.T + (b if b is not None else 0), y)
        flat = w.flatten()
        out = torch.empty_like(flat)
        for start in range(0, flat.numel(), chunk):
            idx = torch.arange(start, min(start + chunk, flat.numel()))
            trial = w.expand(len(idx), *w.shape).clone().view(len(idx), -1)
            trial[torch.arange(len(idx)), idx] = 0.0
            trial = trial.view(len(idx), *w.shape)
            logits = torch.einsum("nd,kcd->knc", h, trial) + (b if b is not None else 0)
            losses = torch.stack([loss_fn(lg, y) for lg in logits])
            out[idx] = losses - base
    return out.view_as(w)


def relu_to_layer(model: nn.Module) -> dict[str, str]:
    """``{nom du ReLU: nom du module élagable qui le précède}`` (ex. ``features.1 → features.0``)."""
    out, last = {}, None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            last = name
        elif isinstance(module, nn.ReLU) and last is not None:
            out[name] = last
            last = None
    return out


def highest_apoz_channels(apoz: torch.Tensor, fraction: float) -> list[int]:
    """Les round(fraction·C) canaux d'APoZ le plus élevé (à égalité : le plus petit indice d'abord)."""
    fraction = check_fraction(fraction, "fraction")
    k = round(fraction * apoz.numel())
    order = sorted(range(apoz.numel()), key=lambda c: (-float(apoz[c]), c))
    return sorted(order[:k])


def channel_masks(model: nn.Module, layer: str, channels: Sequence[int]) -> dict[str, torch.Tensor]:
    """Masques qui retirent des canaux de sortie entiers de ``layer`` : lignes du poids **et** biais.

    Masquer le poids seul laisserait ReLU(b_c) : une constante, pas un canal supprimé.
    """
    module = dict(model.named_modules())[layer]
    keep = torch.ones(module.weight.shape[0])
    keep[list(channels)] = 0.0
    out = {f"{layer}.weight": keep.view(-1, *([1] * (module.weight.dim() - 1))).expand_as(module.weight).clone()}
    if module.bias is not None:
        out[f"{layer}.bias"] = keep.clone()
    return out
