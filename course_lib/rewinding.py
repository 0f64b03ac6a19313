"""Quand, après l'élagage : ré-entraîner (fine-tuning) ou rembobiner (poids, taux d'apprentissage).

Après un élagage, trois façons de dépenser le même budget de t époques (Renda, Frankle & Carbin,
2020, *Comparing Rewinding and Fine-tuning in Neural Network Pruning*) :

- **fine-tuning** : depuis les poids finaux, t époques au **dernier** taux du calendrier η(T−1) ;
- **rembobinage des poids** : les poids survivants reprennent leur valeur θ_{T−t} de l'époque T−t
  (Frankle & Carbin, 2019, *The Lottery Ticket Hypothesis*, à l'époque 0 ; Frankle et al., 2020,
  *Linear Mode Connectivity and the Lottery Ticket Hypothesis*, à une itération précoce), et l'on
  rejoue le calendrier η(T−t), …, η(T−1) ;
- **rembobinage du taux** (*learning-rate rewinding*, Renda et al.) : depuis les poids finaux, le
  même calendrier η(T−t), …, η(T−1).

Le témoin de Frankle & Carbin : les mêmes masques, des poids **tirés au hasard** (``random_reinit``).
Toutes les époques passent par la boucle du cours, ``training.train_one_epoch``. Notebook 13.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ._validation import check_loader, check_positive_int, check_real
from .masks import _pruned_names, prunable_modules, remove_masks
from .training import make_optimizer, reseed_loader, set_seed, train_one_epoch

REINIT_STREAM = 20_000  # graine des poids tirés au hasard : indépendante de build_model(seed)


def step_schedule(base_lr: float = 3e-3, milestones: Sequence[int] = (4,), gamma: float = 0.1) -> Callable[[int], float]:
    """Calendrier par paliers : η(e) = η₀ · γ^{#{m ∈ milestones : m ≤ e}} (époque e comptée depuis 0).

    Le type de calendrier des réseaux de Renda et al. (2020) : un taux divisé par 10 à des époques
    fixées. Renvoie une fonction pure de l'époque, qu'on peut tracer et tester.
    """
    base_lr = check_real(base_lr, "base_lr", low=0, low_open=True)
    gamma = check_real(gamma, "gamma", low=0, high=1, low_open=True)
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise TypeError(f"milestones doit être une liste d'époques, par exemple (4,) ; reçu {milestones!r}.")
    marks = tuple(check_positive_int(m, "chaque époque de milestones") for m in milestones)

    def lr(epoch: int) -> float:
        return base_lr * gamma ** sum(m <= epoch for m in marks)

    return lr


def train_with_schedule(model: nn.Module, loader, schedule: Callable[[int], float], start: int, stop: int,
                        seed: int = 0, optimizer: str = "adam",
                        on_epoch_end: Callable[[int, nn.Module], object] | None = None) -> list[float]:
    """Époques ``start`` à ``stop − 1`` du calendrier : l'époque e se fait au taux ``schedule(e)``.

    Un optimiseur neuf (l'état d'Adam repart de zéro), puis, pour chaque époque, le taux du
    calendrier, la graine ``seed + e`` et l'ordre des lots fixés, et une passe de
    ``train_one_epoch`` (la boucle du cours). ``on_epoch_end(e + 1, model)`` permet de garder une
    copie des poids à une époque donnée. Renvoie la perte moyenne de chaque époque.
    """
    check_loader(loader, "loader")
    if not callable(schedule):
        raise TypeError(f"schedule doit être une fonction époque -> taux ; reçu {type(schedule).__name__}.")
    start = check_positive_int(start, "start", minimum=0)
    stop = check_positive_int(stop, "stop", minimum=start)
    opt = make_optimizer(model, optimizer, schedule(start))
    losses = []
    for epoch in range(start, stop):
        for group in opt.param_groups:
            group["lr"] = schedule(epoch)
        set_seed(seed + epoch)
        reseed_loader(loader, seed + epoch)
        losses.append(train_one_epoch(model, loader, opt))
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, model)
    return losses


def weights_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copie des paramètres et tampons **denses** du modèle (``weight`` même s'il est élagué : poids effectifs).

    C'est θ_k, le point où l'on rembobinera ; à prendre pendant l'entraînement dense.
    """
    dense = remove_masks(copy.deepcopy(model))
    return {n: t.detach().clone() for n, t in dense.state_dict().items()}


def rewind_weights(model: nn.Module, snapshot: Mapping[str, torch.Tensor]) -> nn.Module:
    """Rembobinage : chaque paramètre reprend sa valeur de ``snapshot``, **les masques restent**.

    Pour une couche élaguée, c'est ``weight_orig`` qui reçoit θ_k : le poids effectif vaut
    θ_k ⊙ m (Frankle & Carbin, 2019, §1, étape 4 de leur méthode : les paramètres restants reprennent
    leur valeur de θ₀). Tout est vérifié avant de modifier le modèle.
    """
    if not isinstance(snapshot, Mapping):
        raise TypeError(f"snapshot doit être un dictionnaire {{nom: tenseur}} (weights_snapshot) ; "
                        f"reçu {type(snapshot).__name__}.")
    targets = {}
    for mname, module in model.named_modules():
        pruned = set(_pruned_names(module))
        for pname, param in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
            if pname.endswith("_mask"):
                continue
            base = pname[: -len("_orig")] if pname.endswith("_orig") and pname[: -len("_orig")] in pruned else pname
            key = f"{mname}.{base}" if mname else base
            if key not in snapshot:
                raise KeyError(f"snapshot n'a pas d'entrée {key!r} : prenez-le avec weights_snapshot sur le même "
                               f"modèle ; clés reçues : {sorted(snapshot)[:6]}...")
            if tuple(snapshot[key].shape) != tuple(param.shape):
                raise ValueError(f"snapshot[{key!r}] a la forme {tuple(snapshot[key].shape)} ; "
                                 f"attendu {tuple(param.shape)}.")
            targets[key] = param
    with torch.no_grad():
        for key, param in targets.items():
            param.copy_(snapshot[key])
        for module in model.modules():  # poids effectifs à jour sans attendre la passe avant
            for pname in _pruned_names(module):
                value = getattr(module, pname + "_orig") * getattr(module, pname + "_mask")
                object.__setattr__(module, pname, value.detach())
    return model


def random_reinit(model: nn.Module, seed: int) -> nn.Module:
    """Le témoin « réinitialisation aléatoire » : mêmes masques, poids survivants **tirés à nouveau**
    selon l'initialisation de PyTorch (le témoin « réinitialisé au hasard » de Frankle & Carbin, 2019).

    Le tirage part de ``REINIT_STREAM + seed``, un flux indépendant de ``build_model(seed)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed doit être un entier ; reçu {seed!r}.")
    prunable_modules(model)
    fresh = remove_masks(copy.deepcopy(model))
    with torch.random.fork_rng():
        torch.manual_seed(REINIT_STREAM + int(seed))
        for module in fresh.modules():
            if module is not fresh and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return rewind_weights(model, weights_snapshot(fresh))
