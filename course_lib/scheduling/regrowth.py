"""Retirer puis faire repousser à sparsité constante : SET et RigL (notebook 07)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._validation import (
    check_choice,
    check_fraction,
    check_loader,
    check_model,
    check_positive_int,
    check_scope,
)
from ..criteria import compute_gradients
from ..fr import num, pct
from ..masks import effective_weight, is_pruned, prunable_modules, set_masks
from ..schedules import rigl_drop_fraction
from .base import BaseScheduler, masked_sparsity, prune_to


class RegrowthPruning(BaseScheduler):
    """Élagage avec repousse (*prune and regrow*) à sparsité constante.

    À chaque ``step()`` (ancien nom : ``prune_and_regrow_step``), dans CHAQUE couche l (comptes tirés de sa propre taille) :

    1. on retire les k_l = round(f · actifs_l) poids actifs de plus faible |w| ;
    2. on réactive k_l poids qui étaient inactifs avant ce pas :
       - ``growth="set"`` : au hasard (Mocanu et al., 2018, *SET*) ;
       - ``growth="rigl"`` : ceux de plus grand |∂L/∂w| (Evci et al., 2020, *RigL*), gradient dense
         calculé par ``compute_gradients`` (il existe aussi aux positions élaguées) ;
    3. les poids réactivés repartent de 0 exactement (``weight_orig`` mis à 0).

    Chaque couche garde son nombre de poids actifs : la sparsité totale (celle des masques,
    ``current_sparsity``) ne bouge pas. ``sparsity_report``, qui compte les poids NULS, voit
    en plus les poids réactivés tant qu'ils valent encore 0 (avant le prochain pas d'optimiseur).
    Avec ``end_step``, la fraction f suit la décroissance cosinus de RigL (``rigl_drop_fraction``).

    Args:
        model: réseau à élaguer ; il est élagué à ``sparsity`` (magnitude, ``scope``) à la construction.
        sparsity: fraction de poids inactifs, dans [0, 1).
        regrow_fraction: f ∈ [0, 1], fraction des poids actifs de chaque couche échangés à chaque pas.
        growth: ``"rigl"`` ou ``"set"``.
        seed: graine du tirage de SET.
        end_step: si donné, f(t) = f/2·(1 + cos(π t / end_step)), 0 après ``end_step``.
        scope: répartition initiale de la sparsité (``"layer"`` = uniforme, ``"global"``).
        loss_fn, data_loader, n_batches: pour les gradients de RigL (peuvent aussi être passés à chaque pas).
    """

    def __init__(self, model: nn.Module, sparsity: float, regrow_fraction: float = 0.1, growth: str = "rigl",
                 seed: int = 0, *, end_step: int | None = None, scope: str = "layer",
                 loss_fn: Callable | None = None, data_loader=None, n_batches: int | None = None):
        check_model(model)
        sparsity = check_fraction(sparsity, "sparsity")
        self.regrow_fraction = check_fraction(regrow_fraction, "regrow_fraction", allow_one=True)
        check_choice(growth, "growth", ("rigl", "set"))
        if end_step is not None:
            end_step = check_positive_int(end_step, "end_step")
        check_scope(scope)
        if data_loader is not None:
            check_loader(data_loader)
        if n_batches is not None:
            check_positive_int(n_batches, "n_batches")
        self.model, self.sparsity, self.growth, self.seed = model, sparsity, growth, seed
        self.end_step, self.loss_fn, self.data_loader, self.n_batches = end_step, loss_fn, data_loader, n_batches
        self.generator = torch.Generator().manual_seed(seed)
        self.step_count = 0
        self.last_dropped: dict[str, torch.Tensor] = {}
        self.last_grown: dict[str, torch.Tensor] = {}
        if not all(is_pruned(m) for m in prunable_modules(model).values()) or masked_sparsity(model) < sparsity:
            prune_to(model, sparsity, "magnitude", scope)

    @property
    def drop_fraction(self) -> float:
        """Fraction échangée au prochain pas (constante, ou cosinus de RigL si ``end_step``)."""
        if self.end_step is None:
            return self.regrow_fraction
        return rigl_drop_fraction(self.step_count, self.regrow_fraction, self.end_step)

    @property
    def current_sparsity(self) -> float:
        return masked_sparsity(self.model)

    def sparsity_at(self, t=None) -> float:
        """La sparsité ne bouge pas : chaque pas échange autant de poids qu'il en retire."""
        return self.sparsity

    def step(self, loss_fn: Callable | None = None, data_loader=None) -> dict[str, torch.Tensor]:
        """Un pas « retirer puis faire repousser » ; renvoie les nouveaux masques ``{nom: masque}``.

        Les indices retirés et réactivés sont gardés dans ``last_dropped`` / ``last_grown`` (masques booléens).
        """
        loss_fn = loss_fn or self.loss_fn or nn.CrossEntropyLoss()
        data_loader = data_loader if data_loader is not None else self.data_loader
        grads = None
        if self.growth == "rigl":
            if data_loader is None:
                raise ValueError(
                    "RigL fait repousser les poids de plus grand gradient : passez data_loader=... "
                    "(ici ou à la construction), ou choisissez growth='set'."
                )
            check_loader(data_loader)
            grads = compute_gradients(self.model, loss_fn, data_loader, self.n_batches)
        fraction = self.drop_fraction
        modules = prunable_modules(self.model)
        new_masks, dropped_all, grown_all = {}, {}, {}
        for n, module in modules.items():
            mask = module.weight_mask.detach().flatten().bool()
            active = mask.nonzero().flatten()
            inactive = (~mask).nonzero().flatten()
            k = min(round(fraction * active.numel()), inactive.numel())
            w = effective_weight(module).flatten()
            drop = active[torch.topk(w[active].abs(), k, largest=False).indices] if k else active[:0]
            if k == 0:
                grow = inactive[:0]
            elif self.growth == "set":
                grow = inactive[torch.randperm(inactive.numel(), generator=self.generator)[:k]]
            else:
                grow = inactive[torch.topk(grads[n].flatten()[inactive].abs(), k).indices]
            new = mask.clone()
            new[drop] = False
            new[grow] = True
            new_masks[n] = new.view_as(module.weight_mask).float()
            dropped_all[n] = torch.zeros_like(mask).index_fill_(0, drop, True).view_as(module.weight_mask)
            grown_all[n] = torch.zeros_like(mask).index_fill_(0, grow, True).view_as(module.weight_mask)
        set_masks(self.model, new_masks, zero_regrown=True)  # les poids réactivés repartent de zéro
        self.last_dropped, self.last_grown = dropped_all, grown_all
        self.step_count += 1
        return {n: m.clone() for n, m in new_masks.items()}

    def __repr__(self) -> str:
        return (f"RegrowthPruning(growth={self.growth!r}, sparsité={pct(self.current_sparsity, 2)}, "
                f"fraction échangée={num(self.drop_fraction, 3)}, pas={self.step_count})")

    prune_and_regrow_step = step  # l'ancien nom (notebook 07)

    # -- l'état : compteur, tirage de SET ; les masques sont dans model.state_dict()
    _state_keys = ("step_count", "sparsity", "regrow_fraction", "growth", "end_step", "seed", "generator_state")

    @property
    def generator_state(self) -> torch.Tensor:
        return self.generator.get_state()

    @generator_state.setter
    def generator_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def _check_state(self, sd: dict) -> None:
        check_positive_int(sd["step_count"], "state_dict['step_count']", minimum=0)
        check_fraction(sd["sparsity"], "state_dict['sparsity']")
        check_fraction(sd["regrow_fraction"], "state_dict['regrow_fraction']", allow_one=True)
        check_choice(sd["growth"], "state_dict['growth']", ("rigl", "set"))
        if not isinstance(sd["generator_state"], torch.Tensor):
            raise TypeError("state_dict['generator_state'] doit être un tenseur (Generator.get_state()).")
