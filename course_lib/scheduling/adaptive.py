"""Élagage adaptatif : la vitesse suit la précision de VALIDATION (notebook 09).

``AdaptivePruningScheduler.step(précision)`` fonctionne comme ``ReduceLROnPlateau.step(metrics)`` :
la mesure décide du pas suivant. La règle du chapitre, qui accélère au lieu de ralentir, vit dans
``course_lib.chapter.chapter_adaptive_rule``. ``adaptive_pruning`` est la boucle complète.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from torch import nn
from tqdm.auto import tqdm

from .._validation import (
    check_accuracy,
    check_bool,
    check_criterion,
    check_fraction,
    check_loader,
    check_model,
    check_positive_int,
    check_real,
    check_scope,
)
from ..fr import num, pct
from ..masks import apply_masks, get_masks, set_masks
from ..training import evaluate, fine_tune
from .base import EPS, BaseScheduler, make_criterion, masked_sparsity, prune_to


class AdaptivePruningScheduler(BaseScheduler):
    """Sparsité pilotée par la précision de VALIDATION (jamais le jeu de test).

    Règle (notebook 09) : à chaque tour, d_k = a_0 − a_k est la baisse de précision par rapport à la
    référence a_0 (le premier appel), et b = ``max_accuracy_drop`` le budget.

    - d_k <= b : on avance d'un pas fixe Δ (``increment``, par défaut (cible − initiale)/10) ;
      s_{k+1} = min(s_k + Δ, cible) : la cible est atteinte en un nombre fini de pas, exactement,
      jamais dépassée ;
    - d_k > b : Δ ← γ·Δ avec γ = ``slowdown`` < 1 : on RALENTIT (le chapitre fait l'inverse : voir
      ``course_lib.chapter.chapter_adaptive_rule``).

    Avec ``rollback=True``, après un dépassement on repart de la dernière sparsité qui tenait
    (``last_good_sparsity`` ; ``needs_rollback`` dit à l'appelant de restaurer ses masques), et la
    plus petite sparsité refusée (``refused_sparsity``) devient un plafond : tant que s + Δ
    l'atteindrait, Δ ← γ·Δ encore. Sans ce plafond, avec γ = 1/2, le second pas réduit
    (s_bon + Δ/2 + Δ/2 = s_bon + Δ) ramènerait exactement à la sparsité qui vient d'échouer ;
    avec lui, les essais se resserrent sous la sparsité refusée, comme une dichotomie.
    On s'arrête (``finished``) à la cible, ou quand Δ passe sous ``min_increment``.

    Protocole : ``s = sched.step(précision_val)`` (ancien nom : ``get_next_sparsity``) ; le premier
    appel fixe la référence. Avec ``model=...``, ``step`` élague aussi le modèle à la sparsité
    renvoyée (et remet les derniers masques qui tenaient après un rollback). Voir
    ``adaptive_pruning`` pour la boucle complète (elle restaure aussi les poids).
    """

    _state_keys = ("initial_sparsity", "target_sparsity", "max_accuracy_drop", "base_increment", "increment",
                   "slowdown", "rollback", "min_increment", "current_sparsity", "last_good_sparsity",
                   "baseline_accuracy", "violations", "needs_rollback", "finished", "history", "good_masks",
                   "refused_sparsity")

    def __init__(self, initial_sparsity: float = 0.0, target_sparsity: float = 0.9, max_accuracy_drop: float = 0.02,
                 base_increment: float | None = None, slowdown: float = 0.5, rollback: bool = False,
                 min_increment: float | None = None, *, model: nn.Module | None = None,
                 criterion: str | Callable = "magnitude", scope: str = "global", **criterion_kwargs):
        initial_sparsity = check_fraction(initial_sparsity, "initial_sparsity")
        target_sparsity = check_fraction(target_sparsity, "target_sparsity")
        if initial_sparsity > target_sparsity:
            raise ValueError(
                f"initial_sparsity ({initial_sparsity}) doit être <= target_sparsity ({target_sparsity})."
            )
        max_accuracy_drop = check_real(max_accuracy_drop, "max_accuracy_drop", low=0)
        gap = target_sparsity - initial_sparsity
        base_increment = gap / 10 if base_increment is None else check_real(
            base_increment, "base_increment", low=0, high=1, low_open=True)
        slowdown = check_real(slowdown, "slowdown (un facteur qui RÉDUIT l'incrément)", low=0, high=1,
                              low_open=True, high_open=True)
        check_bool(rollback, "rollback")
        min_increment = base_increment / 64 if min_increment is None else check_real(min_increment, "min_increment",
                                                                                     low=0)
        if model is not None:
            check_model(model)
            check_criterion(criterion)
            check_scope(scope)
        self.model, self.scope = model, scope
        self._importance = make_criterion(criterion, **criterion_kwargs) if model is not None else None
        self.initial_sparsity, self.target_sparsity = initial_sparsity, target_sparsity
        self.max_accuracy_drop, self.base_increment, self.increment = max_accuracy_drop, base_increment, base_increment
        self.slowdown, self.rollback, self.min_increment = slowdown, rollback, min_increment
        self.current_sparsity = initial_sparsity
        self.last_good_sparsity = initial_sparsity
        self.refused_sparsity: float | None = None  # plafond (avec rollback) : la plus petite sparsité refusée
        self.baseline_accuracy: float | None = None
        self.violations = 0
        self.needs_rollback = False
        self.finished = gap == 0
        self.history: list[dict] = []
        self.good_masks = None
        if model is not None and initial_sparsity > 0:
            prune_to(model, initial_sparsity, self._importance, scope)

    def should_prune_more(self, current_accuracy: float) -> bool:
        """Vrai si la baisse de précision reste dans le budget. Le premier appel fixe la référence."""
        acc = check_accuracy(current_accuracy)
        if self.baseline_accuracy is None:
            self.baseline_accuracy = acc
            return True
        return self.baseline_accuracy - acc <= self.max_accuracy_drop + EPS

    def step(self, current_accuracy: float) -> float:
        """Enregistre la précision (de validation) à la sparsité courante et renvoie la suivante."""
        ok = self.should_prune_more(current_accuracy)
        self.history.append({"sparsity": self.current_sparsity, "accuracy": float(current_accuracy), "ok": ok,
                             "increment": self.increment})
        self.needs_rollback = False
        if not self.finished:
            self._advance(ok)
        if self.model is not None:
            self._apply_to_model(ok)
        return self.current_sparsity

    get_next_sparsity = step  # l'ancien nom (notebook 09, exercice 8.5.2)

    def _advance(self, ok: bool) -> None:
        if ok:
            self.last_good_sparsity = self.current_sparsity
        else:
            self.violations += 1
            self.increment *= self.slowdown
            if self.rollback:
                refused = self.current_sparsity
                self.refused_sparsity = refused if self.refused_sparsity is None else min(self.refused_sparsity,
                                                                                        refused)
                self.current_sparsity = self.last_good_sparsity
                self.needs_rollback = True
        if self.refused_sparsity is not None:
            # jamais une sparsité déjà refusée : le pas se réduit encore tant qu'il y mènerait
            while (self.current_sparsity + self.increment >= self.refused_sparsity - 1e-9
                   and self.increment >= self.min_increment):
                self.increment *= self.slowdown
        if self.current_sparsity >= self.target_sparsity or self.increment < self.min_increment:
            self.finished = True
            return
        nxt = self.current_sparsity + self.increment
        # cible atteinte EXACTEMENT (10 × 0.09 vaut 0.8999999999999998 en flottants)
        self.current_sparsity = self.target_sparsity if nxt >= self.target_sparsity - 1e-9 else nxt

    def _apply_to_model(self, ok: bool) -> None:
        if ok:
            self.good_masks = {n: m.clone() for n, m in get_masks(self.model).items()}
        elif self.needs_rollback and self.good_masks is not None:
            set_masks(self.model, self.good_masks, zero_regrown=False)
        if self.current_sparsity > masked_sparsity(self.model) + EPS:
            prune_to(self.model, self.current_sparsity, self._importance, self.scope)

    def sparsity_at(self, t: int) -> float:
        """Sparsité au tour ``t`` : mesurée (``history``) pour un tour passé, courante pour ``t = len(history)``.

        Le futur dépend des précisions à venir : il n'a pas de forme fermée.
        """
        t = check_positive_int(t, "t", minimum=0)
        if t < len(self.history):
            return self.history[t]["sparsity"]
        if t == len(self.history):
            return self.current_sparsity
        raise ValueError(f"t doit être <= {len(self.history)} (tours déjà joués) ; reçu {t}.")

    def _check_state(self, sd: dict) -> None:
        check_fraction(sd["current_sparsity"], "state_dict['current_sparsity']")
        check_fraction(sd["target_sparsity"], "state_dict['target_sparsity']")
        if not isinstance(sd["history"], list):
            raise TypeError("state_dict['history'] doit être une liste.")
        if sd["refused_sparsity"] is not None:
            check_fraction(sd["refused_sparsity"], "state_dict['refused_sparsity']")

    def __repr__(self) -> str:
        return (f"AdaptivePruningScheduler(sparsité={pct(self.current_sparsity, 2)} -> {pct(self.target_sparsity, 2)}, "
                f"incrément={num(self.increment, 4)}, dépassements={self.violations}, fini={self.finished})")

    def __str__(self) -> str:
        """Ce que ``print(scheduler)`` dit à l'élève, en une phrase."""
        over = f"{self.violations} {'dépassement' if self.violations <= 1 else 'dépassements'} du budget"
        return (f"Ordonnanceur adaptatif : sparsité {pct(self.current_sparsity, 2)} (cible "
                f"{pct(self.target_sparsity, 2)}), pas de sparsité actuel {pct(self.increment, 2)}, {over}, "
                f"{'terminé' if self.finished else 'pas terminé'}.")


def adaptive_pruning(model: nn.Module, train_loader, val_loader, scheduler: AdaptivePruningScheduler | None = None,
                     criterion: str | Callable = "magnitude", scope: str = "global", fine_tune_epochs: int = 1,
                     lr: float = 1e-3, max_rounds: int = 50, seed: int = 0, max_steps: int | None = None,
                     loss_fn: Callable | None = None, progress: bool = False) -> list[dict]:
    """Boucle complète de l'élagage adaptatif : élaguer, ré-entraîner, mesurer sur ``val_loader``.

    La précision est mesurée sur le jeu de VALIDATION : le jeu de test reste réservé au
    chiffre final. Avec ``scheduler.rollback``, l'état complet du modèle (poids et masques)
    à la dernière sparsité qui tenait est restauré après un dépassement du budget.

    Returns:
        Un dictionnaire par tour : ``round``, ``sparsity``, ``achieved``, ``accuracy``, ``ok``, ``rolled_back``.
    """
    check_model(model)
    check_loader(train_loader, "train_loader")
    check_loader(val_loader, "val_loader")
    scheduler = scheduler if scheduler is not None else AdaptivePruningScheduler()
    if not isinstance(scheduler, AdaptivePruningScheduler):
        raise TypeError(f"scheduler doit être un AdaptivePruningScheduler ; reçu {type(scheduler).__name__}.")
    max_rounds = check_positive_int(max_rounds, "max_rounds")
    check_criterion(criterion)
    check_scope(scope)
    importance = make_criterion(criterion, loss_fn, train_loader)
    apply_masks(model, get_masks(model))  # même structure (weight_orig/weight_mask) à chaque tour
    good_state = copy.deepcopy(model.state_dict())
    s = scheduler.step(evaluate(model, val_loader))
    history = []
    for r in tqdm(range(1, max_rounds + 1), desc="élagage adaptatif", disable=not progress, leave=False):
        if scheduler.finished:
            break
        prune_to(model, s, importance, scope)
        fine_tune(model, train_loader, epochs=fine_tune_epochs, lr=lr, seed=seed + r, loss_fn=loss_fn,
                  progress=progress, max_steps=max_steps)
        acc = evaluate(model, val_loader)
        achieved = masked_sparsity(model)
        s_next = scheduler.step(acc)
        ok = scheduler.history[-1]["ok"]
        if scheduler.needs_rollback:
            model.load_state_dict(good_state)
        elif ok:
            good_state = copy.deepcopy(model.state_dict())
        history.append({"round": r, "sparsity": s, "achieved": achieved, "accuracy": acc, "ok": ok,
                        "rolled_back": scheduler.needs_rollback})
        s = s_next
    return history
