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

SET_STREAM = 10_000  # décalage de graine : un flux de hasard indépendant de celui de l'initialisation


class RegrowthPruning(BaseScheduler):
    """Élagage avec repousse (*prune and regrow*) à sparsité constante.

    À chaque ``step()`` (ancien nom : ``prune_and_regrow_step``), dans CHAQUE couche l (comptes tirés
    de sa propre taille), comme l'algorithme 1 d'Evci et al. (2020, *Rigging the Lottery*) :

    1. retrait : I_drop = les k_l = round(f · actifs_l) poids actifs de plus faible |w| ;
    2. repousse : I_grow = k_l poids choisis parmi TOUS ceux qui sont inactifs **après** le retrait,
       ceux qu'on vient de retirer compris :
       - ``growth="rigl"`` : ceux de plus grand |∂L/∂w| (Evci et al., 2020, algorithme 1),
         gradient dense calculé par ``compute_gradients`` (il existe aussi aux positions élaguées) ;
       - ``growth="set"`` : au hasard. C'est la variante de SET **ré-implémentée par Evci et al.
         (2020)** pour la comparer à RigL à règles égales (retrait par |w| sur toute la couche,
         repousse à zéro). Le SET d'origine (Mocanu et al., 2018) retire séparément la fraction ζ
         des plus petits poids positifs et des plus grands poids négatifs, et donne aux nouvelles
         connexions des valeurs aléatoires : ce n'est pas ce que fait cette classe ;
    3. un poids **nouveau** (inactif avant le pas) repart de 0 exactement (``weight_orig`` mis à 0) ;
       un poids retiré puis aussitôt choisi par la repousse garde sa valeur (comme le code des
       auteurs de RigL : seules les nouvelles connexions sont initialisées).

    Chaque couche garde son nombre de poids actifs : la sparsité totale (celle des masques,
    ``current_sparsity``) ne bouge pas. ``sparsity_report``, qui compte les poids NULS, voit
    en plus les poids nouveaux tant qu'ils valent encore 0 (avant le prochain pas d'optimiseur).
    Avec ``end_step``, la fraction f suit la décroissance cosinus de RigL (``rigl_drop_fraction``,
    Evci et al., 2020, éq. 1).

    Args:
        model: réseau à élaguer ; il est élagué à ``sparsity`` (magnitude, ``scope``) à la construction.
        sparsity: fraction de poids inactifs, dans [0, 1).
        regrow_fraction: f ∈ [0, 1], fraction des poids actifs de chaque couche échangés à chaque pas.
        growth: ``"rigl"`` ou ``"set"``.
        seed: graine du tirage de SET. Le tirage passe par son propre générateur, graine
            ``SET_STREAM + seed`` : la même graine que ``build_model(seed)`` ne rejoue pas les nombres
            qui ont tiré les poids initiaux.
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
        self.generator = torch.Generator().manual_seed(SET_STREAM + seed)
        self.step_count = 0
        self.last_dropped: dict[str, torch.Tensor] = {}
        self.last_grown: dict[str, torch.Tensor] = {}
        self.last_new: dict[str, torch.Tensor] = {}
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

        Masques booléens gardés après le pas : ``last_dropped`` (I_drop, les k retirés), ``last_grown``
        (I_grow, les k choisis par la repousse, qui peuvent comprendre des poids juste retirés) et
        ``last_new`` (les connexions nouvelles : inactives avant le pas, actives après, parties de 0).
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
        new_masks, dropped_all, grown_all, new_all = {}, {}, {}, {}
        for n, module in modules.items():
            mask = module.weight_mask.detach().flatten().bool()
            active = mask.nonzero().flatten()
            k = round(fraction * active.numel())  # f <= 1 : k <= actifs, et il y a au moins k candidats
            w = effective_weight(module).flatten()
            drop = active[torch.topk(w[active].abs(), k, largest=False).indices] if k else active[:0]
            after_drop = mask.clone()
            after_drop[drop] = False
            candidates = (~after_drop).nonzero().flatten()  # inactifs après le retrait, juste retirés compris
            if k == 0:
                grow = candidates[:0]
            elif self.growth == "set":
                grow = candidates[torch.randperm(candidates.numel(), generator=self.generator)[:k]]
            else:
                grow = candidates[torch.topk(grads[n].flatten()[candidates].abs(), k).indices]
            new = after_drop.clone()
            new[grow] = True
            shape = module.weight_mask.shape
            new_masks[n] = new.view(shape).float()
            dropped_all[n] = torch.zeros_like(mask).index_fill_(0, drop, True).view(shape)
            grown_all[n] = torch.zeros_like(mask).index_fill_(0, grow, True).view(shape)
            new_all[n] = (new & ~mask).view(shape)
        set_masks(self.model, new_masks, zero_regrown=True)  # les connexions nouvelles repartent de zéro
        self.last_dropped, self.last_grown, self.last_new = dropped_all, grown_all, new_all
        self.step_count += 1
        return {n: m.clone() for n, m in new_masks.items()}

    def __repr__(self) -> str:
        return (f"RegrowthPruning(growth={self.growth!r}, sparsité={pct(self.current_sparsity, 2)}, "
                f"fraction échangée={num(self.drop_fraction, 3)}, pas={self.step_count})")

    def __str__(self) -> str:
        """Ce que ``print(scheduler)`` dit à l'élève, en une phrase."""
        growth = {"set": "au hasard (SET)", "rigl": "par le gradient (RigL)"}.get(self.growth, self.growth)
        return (f"Repousse {growth} : sparsité {pct(self.current_sparsity, 2)}, fraction échangée "
                f"{pct(self.drop_fraction, 1)}, {self.step_count} {'mise à jour' if self.step_count <= 1 else 'mises à jour'}.")

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
