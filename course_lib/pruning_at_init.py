"""Quand, à l'extrême : élaguer **avant** d'entraîner (SNIP), et le test de Frankle et al. (2021).

- ``snip_masks`` : masques globaux par la sensibilité de connexion de SNIP (Lee et al., 2019,
  éq. 6 : ``criteria.snip_saliency``), calculée sur un lot, à l'initialisation ;
- ``random_masks`` : la référence sans critère, un classement tiré au hasard ;
- ``shuffle_within_layers`` : le contrôle de Frankle, Dziugaite, Roy & Carbin (2021, *Pruning Neural
  Networks at Initialization: Why are We Missing the Mark?*, ICLR) : mélanger les positions
  gardées **dans chaque couche**. Les comptes par couche sont exactement les mêmes ; seul le choix
  des poids, à l'intérieur d'une couche, est perdu. Si la précision ne baisse pas, ce que la
  méthode apporte tient à la **part gardée par couche** (notebook 13, section « Où »).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import torch
from torch import nn

from ._validation import check_binary_masks, check_fraction
from .criteria import snip_saliency
from .masks import create_masks_from_importance, get_weights

RANDOM_MASK_STREAM = 10_000   # classement au hasard : flux indépendant de build_model(seed)
SHUFFLE_STREAM = 30_000       # permutations du contrôle de Frankle et al.


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed doit être un entier ; reçu {seed!r}.")
    return int(seed)


def snip_masks(model: nn.Module, batch, sparsity: float, loss_fn=None) -> dict[str, torch.Tensor]:
    """Masques SNIP : retire les round(s·N) connexions de plus faible sensibilité s_j (classement global)."""
    sparsity = check_fraction(sparsity, "sparsity")
    scores = snip_saliency(model, loss_fn or nn.CrossEntropyLoss(), batch)
    return create_masks_from_importance(scores, sparsity, scope="global")


def random_masks(model: nn.Module, sparsity: float, seed: int) -> dict[str, torch.Tensor]:
    """Masques au hasard : round(s·N) poids tirés uniformément parmi tous (chaque couche ≈ s).

    Le tirage part de ``RANDOM_MASK_STREAM + seed`` (indépendant de l'initialisation du modèle).
    """
    sparsity = check_fraction(sparsity, "sparsity")
    gen = torch.Generator().manual_seed(RANDOM_MASK_STREAM + _check_seed(seed))
    scores = {n: torch.rand(w.shape, generator=gen) for n, w in get_weights(model).items()}
    return create_masks_from_importance(scores, sparsity, scope="global")


def shuffle_within_layers(masks: Mapping[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Chaque masque voit ses positions permutées au hasard : mêmes nombres de 0 et de 1 par couche.

    Frankle et al. (2021, le mélange par couche) : m'_ℓ = m_ℓ[π_ℓ], π_ℓ permutation uniforme
    de la couche ℓ. Tirage depuis ``SHUFFLE_STREAM + seed``.
    """
    if not isinstance(masks, Mapping) or not masks:
        raise TypeError(f"masks doit être un dictionnaire non vide {{nom: masque}} ; reçu {type(masks).__name__}.")
    check_binary_masks(masks)
    gen = torch.Generator().manual_seed(SHUFFLE_STREAM + _check_seed(seed))
    out = {}
    for n, m in masks.items():
        flat = m.flatten()
        out[n] = flat[torch.randperm(flat.numel(), generator=gen)].view_as(m).clone()
    return out
