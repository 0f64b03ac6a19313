"""Les versions ERRONÉES du chapitre 8.5, réunies ici, chacune à côté de la correction qu'elle enseigne.

Le code du chapitre contient de vraies erreurs ; le cours les garde pour les montrer (un
notebook compare la version du chapitre et la version corrigée sur le même modèle). Chaque
fonction dit l'erreur commise et pointe vers la fonction correcte de ``course_lib``.
Aucune n'est utilisée par la bibliothèque, sauf à la demande explicite (``method=...``).

| version du chapitre                | erreur                                   | correction                                |
|------------------------------------|------------------------------------------|-------------------------------------------|
| ``quantile_threshold_mask``        | seuil interpolé : mauvais compte         | ``masks.create_masks_from_importance``    |
| ``chapter_gradient_salience``      | moyenne des \\|g_b\\| par lot              | ``criteria.compute_gradient_salience``    |
| ``inverted_hessian_criterion``     | w²/(2H) au lieu de ½·H·w²                | ``criteria.hessian_criterion``            |
| ``squared_batch_mean_hessian_diag``| carré du gradient MOYEN d'un lot         | ``criteria.approximate_hessian_diag``     |
| ``apoz_before_relu``               | APoZ mesuré avant la ReLU                | ``criteria.compute_apoz``                 |
| ``multiply_masks_in_place``        | masque réappliqué à la main (momentum)   | ``masks.apply_masks`` / ``polish_pruning``|
| ``chapter_adaptive_rule``          | accélère après un dépassement            | ``AdaptivePruningScheduler.step``         |
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .criteria import compute_apoz, compute_gradients
from .masks import get_weights, prunable_modules


def quantile_threshold_mask(importance: torch.Tensor, sparsity: float) -> torch.Tensor:
    """**Version du chapitre** : masque « garder si score >= quantile(sparsity) ».

    Erreur : ``torch.quantile`` interpole entre deux scores ; dès qu'il y a des égalités
    (poids déjà nuls, scores arrondis), ``score >= seuil`` retire plus ou moins que
    k = round(s·n) poids (avec des poids déjà nuls, souvent aucun). Correction : ``course_lib.masks.create_masks_from_importance``
    (compte exact avec ``topk``, comme ``torch.nn.utils.prune``).
    """
    threshold = torch.quantile(importance.flatten().float(), sparsity)
    return (importance >= threshold).float()


def chapter_gradient_salience(model: nn.Module, loss_fn, loader, n_batches: int | None = None):
    """**Version du chapitre** : |w| · moyenne des |g_b| lot par lot.

    Ce n'est ni le critère de l'article ni sa variante : Molchanov et al. (2017, éq. 8 et la phrase
    qui la suit) moyennent |w·g^(m)| **exemple par exemple** ; |w·ḡ| (gradient moyen) laisse les
    signes se compenser. La moyenne des |g_b| sur des lots de B exemples est un intermédiaire
    (|w·ḡ| ≤ version du chapitre ≤ version par exemple, à lots égaux) qui dépend de B.
    Correction (critère de l'article) : ``course_lib.criteria.compute_gradient_salience`` (notebook 02).
    """
    weights = get_weights(model)
    acc = {n: torch.zeros_like(w) for n, w in weights.items()}
    count = 0
    for i, batch in enumerate(loader):
        if n_batches is not None and i >= n_batches:
            break
        g = compute_gradients(model, loss_fn, [(batch[0], batch[1])])
        for n in acc:
            acc[n] += g[n].abs()
        count += 1
    return {n: weights[n].abs() * a / count for n, a in acc.items()}


def inverted_hessian_criterion(weights: torch.Tensor, hessian_diag: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """**Formule erronée du chapitre**, gardée pour l'enseignement : w² / (2 H_kk).

    Erreur : elle divise par la courbure au lieu de multiplier (OBD, LeCun et al., 1990, éq. 6 :
    s_k = ½·H_kk·w_k²) : les poids situés dans les directions les plus courbes (les plus
    sensibles) passent pour les moins importants. Correction : ``course_lib.criteria.hessian_criterion``.
    """
    return weights**2 / (2 * hessian_diag + eps)


def squared_batch_mean_hessian_diag(dense: nn.Module, loss_fn, batches) -> dict[str, torch.Tensor]:
    """**Estimateur du chapitre** : moyenne sur les lots de (ḡ_b)², carré du gradient MOYEN d'un lot.

    Erreur : son espérance vaut μ² + σ²/B, pas la Fisher empirique E[g²] = μ² + σ² (Martens, 2020,
    *New insights and perspectives on the natural gradient method*, §6) : il sous-estime la
    courbure d'un facteur qui dépend de la taille de lot B. Correction :
    ``course_lib.criteria.approximate_hessian_diag(method="fisher")`` (gradients par exemple).
    Appelé par ``approximate_hessian_diag(method="squared_batch_mean")``.
    """
    acc = {n: torch.zeros_like(m.weight) for n, m in prunable_modules(dense).items()}
    count = 0
    for x, y in batches:
        g = compute_gradients(dense, loss_fn, [(x, y)])
        for n in acc:
            acc[n] += g[n] ** 2
        count += 1
    return {n: a / count for n, a in acc.items()}


def apoz_before_relu(model: nn.Module, data_loader, n_batches: int | None = None) -> dict[str, torch.Tensor]:
    """**Version du chapitre** : APoZ mesuré à la sortie des couches Linear/Conv, AVANT la ReLU.

    Erreur : une sortie de convolution n'est presque jamais exactement nulle, l'APoZ vaut ≈ 0
    partout et ne classe rien (Hu et al., 2016, définissent l'APoZ après la ReLU, éq. 1).
    Correction : ``course_lib.criteria.compute_apoz`` (sortie des modules ``nn.ReLU``).
    """
    return compute_apoz(model, data_loader, n_batches, layer_types=(nn.Conv2d, nn.Linear))


@torch.no_grad()
def multiply_masks_in_place(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """**Version du chapitre** : réappliquer le masque à la main, w ← w ⊙ m, après une époque.

    Erreur : entre deux multiplications, le gradient du modèle dense est non nul aux positions
    élaguées et le tampon de momentum de SGD garde cette vitesse : les poids élagués reviennent.
    Correction : ``course_lib.masks.apply_masks`` (``torch.nn.utils.prune`` : w = w_orig ⊙ m à
    chaque passe avant), utilisé par ``polish_pruning(hold_masks=True)``.
    """
    modules = prunable_modules(model)
    for n, m in masks.items():
        modules[n].weight.mul_(m.to(modules[n].weight.dtype))


def chapter_adaptive_rule(current: float, target: float, violated: bool) -> float:
    """La règle du CHAPITRE (contre-exemple) : après un dépassement du budget, l'incrément vaut la
    moitié du chemin restant, soit PLUS que le pas normal d'un dixième : elle accélère au lieu de ralentir.

    Correction : ``course_lib.scheduling.AdaptivePruningScheduler.step`` (l'incrément est multiplié
    par ``slowdown`` < 1 après un dépassement, avec retour possible aux derniers masques qui tenaient).
    """
    increment = (target - current) * 0.5 if violated else (target - current) / 10
    return min(current + increment, target)
