"""*Polishing* : ré-entraîner un réseau élagué en gardant ses masques (notebook 06).

La bonne façon passe par ``torch.nn.utils.prune`` (``apply_masks``) ; la version du chapitre,
qui multiplie les poids par le masque après chaque époque, vit dans ``course_lib.chapter``
(``multiply_masks_in_place``) et n'est appelée ici qu'avec ``hold_masks=False``.
Un ``train_fn`` typique est ``course_lib.training.EpochTrainer`` (optimiseur persistant).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import torch
from torch import nn

from .._validation import (
    check_bool,
    check_callable,
    check_masks_for,
    check_model,
    check_optional_list,
    check_positive_int,
)
from ..chapter import multiply_masks_in_place
from ..masks import apply_masks, effective_weight, is_pruned, prunable_modules, remove_masks


def pruned_position_stats(model: nn.Module, masks: Mapping[str, torch.Tensor],
                          optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Ce qui se passe aux positions élaguées (masque 0) : le relevé commun des diagnostics.

    Returns:
        ``revived`` (poids effectifs non nuls), ``max_pruned_abs`` et ``mean_pruned_abs`` (|w| max et
        moyen), ``momentum_nonzero`` (entrées non nulles du tampon de momentum de ``optimizer``,
        ``None`` sans optimiseur).
    """
    modules = prunable_modules(model)
    revived = momentum = count = 0
    max_abs = total_abs = 0.0
    for n, mask in masks.items():
        pruned = mask == 0
        w = effective_weight(modules[n])[pruned]
        revived += int((w != 0).sum())
        total_abs += float(w.abs().sum())
        count += w.numel()
        if w.numel():
            max_abs = max(max_abs, float(w.abs().max()))
        param = modules[n].weight_orig if is_pruned(modules[n]) else modules[n].weight
        buf = optimizer.state.get(param, {}).get("momentum_buffer") if optimizer is not None else None
        if buf is not None:
            momentum += int((buf[pruned] != 0).sum())
    return {"revived": revived, "max_pruned_abs": max_abs, "mean_pruned_abs": total_abs / max(count, 1),
            "momentum_nonzero": momentum if optimizer is not None else None}


def polish_pruning(model: nn.Module, masks: Mapping[str, torch.Tensor], train_fn: Callable[[nn.Module], object],
                   n_epochs: int = 10, hold_masks: bool = True, history: list | None = None) -> nn.Module:
    """*Polishing* : ré-entraîner le réseau élagué en gardant ses masques (Han et al., 2015).

    - ``hold_masks=True`` (la bonne façon) : les masques sont posés par ``torch.nn.utils.prune``.
      Le poids effectif w = w_orig ⊙ m est recalculé à chaque passe avant et ∂L/∂w_orig = ∂L/∂w ⊙ m
      est nul aux positions élaguées : ni le gradient ni le momentum ne les font revivre.
    - ``hold_masks=False`` (démonstration de ce qui ne va PAS) : le modèle est rendu dense et les
      poids sont multipliés par le masque en place APRÈS chaque époque. Pendant l'époque, le
      gradient du modèle dense est non nul aux positions « élaguées » et le tampon de momentum de
      SGD garde cette vitesse après la multiplication : entre deux ré-applications, le réseau
      entraîné n'est pas le réseau élagué.

    Args:
        masks: ``{nom: masque 0/1}`` (par exemple ``create_masks(model, 0.9)``).
        train_fn: ``train_fn(model)`` entraîne une époque ; avec un optimiseur persistant exposé en
            ``train_fn.optimizer`` (voir ``EpochTrainer``), le momentum est aussi inspecté.
        history: liste (facultative) qui reçoit, par époque et AVANT toute ré-application :
            ``revived`` (poids élagués non nuls), ``max_pruned_abs``, ``momentum_nonzero``, ``loss``.

    Returns:
        Le modèle (modifié en place). En mode naïf, il ne porte plus de masques ``torch.nn.utils.prune``.
    """
    check_model(model)
    masks = check_masks_for(model, masks)
    check_callable(train_fn, "train_fn", "une fonction train_fn(model)")
    n_epochs = check_positive_int(n_epochs, "n_epochs")
    check_bool(hold_masks, "hold_masks")
    check_optional_list(history, "history")

    if hold_masks:
        apply_masks(model, masks)
    else:
        remove_masks(model)  # plus aucun hook : le modèle est dense
        multiply_masks_in_place(model, masks)
    for epoch in range(n_epochs):
        loss = train_fn(model)
        if history is not None:
            history.append(_epoch_record(model, masks, train_fn, epoch, loss))
        if not hold_masks:
            multiply_masks_in_place(model, masks)
    return model


def _epoch_record(model, masks, train_fn, epoch, loss) -> dict:
    opt = getattr(train_fn, "optimizer", None)
    stats = pruned_position_stats(model, masks, opt if isinstance(opt, torch.optim.Optimizer) else None)
    return {"epoch": epoch, "loss": loss if isinstance(loss, numbers.Real) else None,
            "revived": stats["revived"], "max_pruned_abs": stats["max_pruned_abs"],
            "momentum_nonzero": stats["momentum_nonzero"]}
