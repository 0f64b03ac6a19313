"""Quand élaguer : ordonnanceurs pilotés depuis une boucle d'entraînement ordinaire.

Les calendriers eux-mêmes sont des fonctions pures (``course_lib.schedules``, réexportées ici).
Ce module les branche sur un modèle :

- ``PruningScheduler`` : conventions de ``torch.optim.lr_scheduler`` (``step()``,
  ``state_dict()``/``load_state_dict()``, ``current_sparsity``), plus ``one_shot``,
  ``iterative`` et ``gradual``.
- ``polish_pruning`` : fine-tuning avec masques tenus par ``torch.nn.utils.prune``
  (et, pour la démonstration, la version naïve qui multiplie les poids).
- ``RegrowthPruning`` : retirer puis faire repousser, par couche (SET, RigL).
- ``AdaptivePruningScheduler`` et ``adaptive_pruning`` : la vitesse suit la précision de validation.
- ``compare_pruning_criteria`` : plusieurs critères dans des conditions identiques.

Toute sparsité est une fraction de la couche ENTIÈRE (ou du réseau entier en global) :
les masques sont construits par ``create_masks(..., keep_pruned=True)``, un poids élagué
le reste et compte dans la sparsité.
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ._validation import check_fraction, check_loader, check_positive_int
from .criteria import (
    apoz_importance,
    compute_gradient_salience,
    compute_gradients,
    compute_obd_saliency,
)
from .masks import (
    apply_masks,
    check_against_model,
    create_masks,
    effective_weight,
    get_masks,
    is_pruned,
    prunable_modules,
    remove_masks,
    set_masks,
)
from .schedules import (
    SCHEDULES,
    check_schedule,
    check_step,
    cubic_schedule,
    linear_schedule,
    one_shot_schedule,
    rigl_drop_fraction,
    schedule_value,
)
from .training import _reseed_loader, evaluate, fine_tune, make_optimizer, set_seed

__all__ = [
    "AdaptivePruningScheduler",
    "ComparisonResult",
    "EpochTrainer",
    "PruningScheduler",
    "RegrowthPruning",
    "adaptive_pruning",
    "compare_pruning_criteria",
    "cubic_schedule",
    "linear_schedule",
    "make_criterion",
    "one_shot_schedule",
    "polish_pruning",
    "rigl_drop_fraction",
    "schedule_value",
]

CRITERIA = ("magnitude", "gradient", "hessian", "apoz")
_EPS = 1e-12


# ----------------------------------------------------------------------------- critères par nom

def make_criterion(criterion: str | Callable, loss_fn: Callable | None = None, data_loader=None,
                   n_batches: int | None = None) -> str | Callable:
    """Traduit un critère nommé en fonction ``model -> {nom: importance}`` pour ``create_masks``.

    - ``"magnitude"`` : |w| (renvoyé tel quel, ``create_masks`` sait le calculer).
    - ``"gradient"`` : |w|·|ḡ| (``compute_gradient_salience``), besoin de ``data_loader``.
    - ``"hessian"`` : OBD ½·F_kk·w_k² avec la Fisher empirique (``compute_obd_saliency``).
    - ``"apoz"`` : 1 − APoZ du canal (``apoz_importance``).
    - une fonction ``model -> {nom: importance}`` : utilisée telle quelle.
    """
    if callable(criterion) or criterion == "magnitude":
        return criterion
    if criterion not in CRITERIA:
        raise ValueError(
            f"Critère inconnu : {criterion!r}. Valeurs possibles : {', '.join(CRITERIA)}, "
            "ou une fonction model -> {nom: importance}."
        )
    if data_loader is None:
        raise ValueError(
            f"Le critère {criterion!r} a besoin de données : passez le jeu d'entraînement "
            "(data_loader=... ou train_loader=... selon la fonction)."
        )
    check_loader(data_loader)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    if criterion == "gradient":
        return lambda m: compute_gradient_salience(m, loss_fn, data_loader, n_batches)
    if criterion == "hessian":
        return lambda m: compute_obd_saliency(m, loss_fn, data_loader, n_batches, method="fisher")
    return lambda m: apoz_importance(m, data_loader, n_batches)


def _criterion_name(criterion) -> str:
    return criterion if isinstance(criterion, str) else getattr(criterion, "__name__", repr(criterion))


def _check_scope(scope: str) -> str:
    if scope not in ("global", "layer"):
        raise ValueError(f"scope doit valoir 'global' ou 'layer' ; reçu {scope!r}.")
    return scope


def _check_criterion(criterion) -> None:
    if not (callable(criterion) or criterion in CRITERIA):
        raise ValueError(
            f"criterion doit valoir l'un de {CRITERIA} ou être une fonction model -> {{nom: importance}} ; "
            f"reçu {criterion!r}."
        )


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model doit être un torch.nn.Module ; reçu {type(model).__name__}.")
    prunable_modules(model)  # lève une erreur claire s'il n'y a rien à élaguer


def _prune_to(model: nn.Module, sparsity: float, criterion, scope: str, max_layer_sparsity=None) -> dict:
    """Élague ``model`` jusqu'à la sparsité TOTALE ``sparsity`` (les poids déjà élagués restent élagués)."""
    masks = create_masks(model, sparsity, criterion, scope=scope, max_layer_sparsity=max_layer_sparsity,
                         keep_pruned=True)
    apply_masks(model, masks)
    return masks


def _global_sparsity(model: nn.Module) -> float:
    """Fraction de poids élagués d'après les masques (et non d'après les zéros fortuits)."""
    masks = get_masks(model)
    return sum(int((m == 0).sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())


# ----------------------------------------------------------------------------- PruningScheduler

class PruningScheduler:
    """Ordonnanceur d'élagage, sur le modèle de ``torch.optim.lr_scheduler``.

    Dans une boucle d'entraînement ordinaire ::

        scheduler = PruningScheduler(model, 0.9, schedule="cubic", n_steps=10, frequency=20)
        for x, y in loader:
            optimizer.zero_grad(); loss_fn(model(x), y).backward(); optimizer.step()
            scheduler.step()          # élague quand le calendrier monte

    À la construction (pas 0), le modèle est élagué à la valeur du calendrier au pas 0
    si elle est > 0 (comme un ``lr_scheduler`` fixe le taux initial). Ensuite, ``step()``
    avance d'un pas et élague quand la sparsité du calendrier dépasse celle déjà appliquée.
    Les masques passent par ``torch.nn.utils.prune`` : ils tiennent pendant l'optimisation.

    Args:
        model: le réseau à élaguer (modifié en place).
        final_sparsity: s_f ∈ [0, 1), fraction de poids retirés à la fin.
        schedule: ``"cubic"`` (Zhu & Gupta, 2017), ``"linear"`` ou ``"one_shot"`` (au pas ``start_step``).
        start_step, n_steps, frequency, initial_sparsity: t0, n, Δt, s_i du calendrier (voir ``cubic_schedule``).
        criterion: ``"magnitude"``, ``"gradient"``, ``"hessian"``, ``"apoz"`` ou ``model -> {nom: importance}``.
        scope: ``"global"`` (un classement pour tout le réseau) ou ``"layer"``.
        loss_fn, data_loader, n_batches: données des critères qui en ont besoin.
        max_layer_sparsity: plafond par couche en global (voir ``create_masks_from_importance``).
    """

    def __init__(self, model: nn.Module, final_sparsity: float, schedule: str = "cubic", start_step: int = 0,
                 n_steps: int = 10, frequency: int = 1, initial_sparsity: float = 0.0,
                 criterion: str | Callable = "magnitude", scope: str = "global", *,
                 loss_fn: Callable | None = None, data_loader=None, n_batches: int | None = None,
                 max_layer_sparsity: float | None = None):
        _check_model(model)
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule doit valoir l'un de {sorted(SCHEDULES)} ; reçu {schedule!r}.")
        (self.final_sparsity, self.start_step, self.n_steps, self.frequency,
         self.initial_sparsity) = check_schedule(final_sparsity, start_step, n_steps, frequency, initial_sparsity)
        _check_criterion(criterion)
        self.scope = _check_scope(scope)
        if max_layer_sparsity is not None:
            max_layer_sparsity = check_fraction(max_layer_sparsity, "max_layer_sparsity", allow_one=True)
        self.model = model
        self.schedule = schedule
        self.criterion = criterion
        self.max_layer_sparsity = max_layer_sparsity
        self._importance = make_criterion(criterion, loss_fn, data_loader, n_batches)
        self.last_step = 0
        self.applied_sparsity = 0.0
        self._maybe_prune()

    # -- le calendrier
    def sparsity_at(self, step) -> float:
        """Sparsité visée par le calendrier au pas ``step`` (fonction pure, rien n'est élagué)."""
        return schedule_value(self.schedule, step, self.final_sparsity, self.start_step, self.n_steps,
                              self.frequency, self.initial_sparsity)

    @property
    def current_sparsity(self) -> float:
        """Ce que dit le calendrier au pas courant (lisible à tout moment)."""
        return self.sparsity_at(self.last_step)

    def get_last_sparsity(self) -> float:
        """Comme ``get_last_lr`` : la sparsité calculée au dernier pas."""
        return self.current_sparsity

    @property
    def achieved_sparsity(self) -> float:
        """Sparsité réellement portée par les masques du modèle (toutes couches élagables)."""
        return _global_sparsity(self.model)

    @property
    def end_step(self) -> int:
        """Premier pas où la sparsité finale est atteinte."""
        return self.start_step if self.schedule == "one_shot" else self.start_step + self.n_steps * self.frequency

    # -- le protocole step()
    def step(self) -> float:
        """Avance d'un pas ; élague si le calendrier est monté. Renvoie la sparsité courante."""
        self.last_step += 1
        self._maybe_prune()
        return self.current_sparsity

    def _maybe_prune(self) -> None:
        target = self.current_sparsity
        if target > self.applied_sparsity + _EPS:
            _prune_to(self.model, target, self._importance, self.scope, self.max_layer_sparsity)
            self.applied_sparsity = target

    def state_dict(self) -> dict:
        """L'état de l'ordonnanceur (sans le modèle ni une fonction de critère).

        Les masques vivent dans ``model.state_dict()`` (``weight_mask``) : sauvegardez les deux,
        rechargez le modèle avec ``load_pruned_state_dict`` puis l'ordonnanceur avec ``load_state_dict``.
        """
        return {
            "last_step": self.last_step,
            "applied_sparsity": self.applied_sparsity,
            "final_sparsity": self.final_sparsity,
            "schedule": self.schedule,
            "start_step": self.start_step,
            "n_steps": self.n_steps,
            "frequency": self.frequency,
            "initial_sparsity": self.initial_sparsity,
            "scope": self.scope,
            "criterion": self.criterion if isinstance(self.criterion, str) else None,
            "max_layer_sparsity": self.max_layer_sparsity,
        }

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Recharge un état produit par ``state_dict`` (validé entièrement avant d'être appliqué)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict doit être un dictionnaire ; reçu {type(state_dict).__name__}.")
        expected = set(self.state_dict())
        missing = sorted(expected - set(state_dict))
        if missing:
            raise KeyError(f"state_dict incomplet : il manque {missing}.")
        sd = dict(state_dict)
        if sd["schedule"] not in SCHEDULES:
            raise ValueError(f"state_dict['schedule'] inconnu : {sd['schedule']!r}.")
        check_schedule(sd["final_sparsity"], sd["start_step"], sd["n_steps"], sd["frequency"],
                       sd["initial_sparsity"])
        _check_scope(sd["scope"])
        check_positive_int(sd["last_step"], "state_dict['last_step']", minimum=0)
        check_fraction(sd["applied_sparsity"], "state_dict['applied_sparsity']")
        if sd["criterion"] is not None and sd["criterion"] != self.criterion:
            raise ValueError(
                f"state_dict a été produit avec criterion={sd['criterion']!r}, cet ordonnanceur utilise "
                f"{_criterion_name(self.criterion)!r}."
            )
        for key in expected - {"criterion"}:
            setattr(self, key, sd[key])

    def __repr__(self) -> str:
        return (f"PruningScheduler(schedule={self.schedule!r}, pas={self.last_step}, "
                f"sparsité={self.current_sparsity:.2%} -> {self.final_sparsity:.2%})")

    # -- les trois stratégies du chapitre
    @staticmethod
    def one_shot(model: nn.Module, sparsity: float, criterion: str | Callable = "magnitude",
                 scope: str = "global", **criterion_kwargs) -> nn.Module:
        """Élagage en une fois à ``sparsity`` (rapide ; la précision chute davantage sans fine-tuning).

        ``criterion_kwargs`` : ``loss_fn``, ``data_loader``, ``n_batches`` pour les critères qui en ont besoin.
        """
        _check_model(model)
        sparsity = check_fraction(sparsity, "sparsity")
        _check_criterion(criterion)
        _check_scope(scope)
        _prune_to(model, sparsity, make_criterion(criterion, **criterion_kwargs), scope)
        return model

    @staticmethod
    def iterative(model: nn.Module, target_sparsity: float, n_steps: int = 10,
                  criterion: str | Callable = "magnitude", train_loader=None, fine_tune_epochs: int = 1,
                  scope: str = "global", progress: bool = False, seed: int = 0, *, val_loader=None,
                  lr: float = 1e-3, max_steps: int | None = None, loss_fn: Callable | None = None,
                  n_batches: int | None = None, schedule: str = "linear") -> list[dict]:
        """n tours « élaguer puis ré-entraîner » (Han et al., 2015, *Learning both Weights and Connections*).

        Au tour r, la sparsité visée s_r est une fraction **du réseau entier** (ou de chaque couche
        en ``scope="layer"``), pas une fraction de ce qui reste (ce qui donnerait 1 − (1 − s/n)^n
        au lieu de s). Les poids élagués à un tour restent élagués aux suivants.

        - ``schedule="linear"`` (le chapitre) : s_r = s_cible·r/n. Le dernier tour retire alors une
          grosse part de ce qui reste (de 72 % à 90 % : 64 % des poids encore actifs pour n = 5).
        - ``schedule="cubic"`` (Zhu & Gupta, 2017) : s_r = s_f·(1 − (1 − r/n)³), gros tours au
          début, petits à la fin ; à budget de fine-tuning égal, il garde mieux la précision.

        Args:
            train_loader: données du fine-tuning (et des critères qui en ont besoin) ; ``None`` = sans fine-tuning.
            fine_tune_epochs: époques de fine-tuning par tour (budget total = n·fine_tune_epochs).
            val_loader: si donné, la précision de validation est mesurée après chaque tour.
            seed: le tour r ré-entraîne avec la graine ``seed + r`` (déterministe sur CPU).

        Returns:
            Un dictionnaire par tour : ``round``, ``sparsity`` (visée), ``achieved`` (réelle), ``accuracy``.
        """
        _check_model(model)
        target_sparsity = check_fraction(target_sparsity, "target_sparsity")
        n_steps = check_positive_int(n_steps, "n_steps")
        fine_tune_epochs = check_positive_int(fine_tune_epochs, "fine_tune_epochs", minimum=0)
        _check_criterion(criterion)
        _check_scope(scope)
        if schedule not in ("linear", "cubic"):
            raise ValueError(f"schedule doit valoir 'linear' ou 'cubic' ; reçu {schedule!r}.")
        if train_loader is not None:
            check_loader(train_loader, "train_loader")
        if val_loader is not None:
            check_loader(val_loader, "val_loader")
        importance = make_criterion(criterion, loss_fn, train_loader, n_batches)
        history = []
        bar = tqdm(range(1, n_steps + 1), desc="élagage itératif", disable=not progress, leave=False)
        for r in bar:
            s_r = SCHEDULES[schedule](r, target_sparsity, 0, n_steps)
            _prune_to(model, s_r, importance, scope)
            if train_loader is not None and fine_tune_epochs > 0:
                fine_tune(model, train_loader, epochs=fine_tune_epochs, lr=lr, seed=seed + r, loss_fn=loss_fn,
                          progress=progress, max_steps=max_steps, desc=f"fine-tuning {r}/{n_steps}")
            acc = evaluate(model, val_loader) if val_loader is not None else None
            history.append({"round": r, "sparsity": s_r, "achieved": _global_sparsity(model), "accuracy": acc})
            bar.set_postfix(sparsité=f"{history[-1]['achieved']:.1%}")
        return history

    @staticmethod
    def gradual(model: nn.Module, target_sparsity: float, start_epoch: int = 0, end_epoch: int = 50,
                criterion: str | Callable = "magnitude", schedule: str = "cubic", *, frequency: int = 1,
                initial_sparsity: float = 0.0, scope: str = "global", **criterion_kwargs) -> Callable[[int], float]:
        """Élagage pendant l'entraînement : renvoie ``hook(epoch) -> sparsité`` à appeler à chaque époque.

        La sparsité suit ``schedule`` de ``start_epoch`` (s_i) à ``end_epoch`` (exactement s_cible),
        un élagage toutes les ``frequency`` époques ; rien n'est élagué avant le premier appel.
        """
        _check_model(model)
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule doit valoir l'un de {sorted(SCHEDULES)} ; reçu {schedule!r}.")
        check_positive_int(start_epoch, "start_epoch", minimum=0)
        check_positive_int(end_epoch, "end_epoch", minimum=0)
        if start_epoch >= end_epoch:
            raise ValueError(
                f"start_epoch ({start_epoch}) doit être < end_epoch ({end_epoch}) : le calendrier va du début à la fin."
            )
        frequency = check_positive_int(frequency, "frequency")
        span = end_epoch - start_epoch
        if span % frequency:
            raise ValueError(
                f"end_epoch − start_epoch ({span}) doit être un multiple de frequency ({frequency}) "
                "pour finir exactement à end_epoch."
            )
        check_schedule(target_sparsity, start_epoch, span // frequency, frequency, initial_sparsity)
        _check_criterion(criterion)
        _check_scope(scope)
        return _GradualHook(model, target_sparsity, start_epoch, span // frequency, frequency, initial_sparsity,
                            schedule, make_criterion(criterion, **criterion_kwargs), scope)


class _GradualHook:
    """``hook(epoch)`` : élague le modèle à la sparsité du calendrier à cette époque (jamais en arrière)."""

    def __init__(self, model, target, start, n_steps, frequency, initial, schedule, importance, scope):
        self.model, self.importance, self.scope = model, importance, scope
        self.params = (target, start, n_steps, frequency, initial)
        self.schedule = schedule
        self.sparsity = 0.0

    def sparsity_at(self, epoch) -> float:
        return schedule_value(self.schedule, epoch, *self.params)

    def __call__(self, epoch: int) -> float:
        s = self.sparsity_at(check_step(epoch, "epoch"))
        if s > self.sparsity + _EPS:
            _prune_to(self.model, s, self.importance, self.scope)
            self.sparsity = s
        return self.sparsity

    def __repr__(self) -> str:
        return f"<hook d'élagage graduel {self.schedule!r}, sparsité appliquée {self.sparsity:.2%}>"


# ----------------------------------------------------------------------------- polishing

class EpochTrainer:
    """Une époque d'entraînement par appel, avec un optimiseur PERSISTANT : ``trainer(model)``.

    Le momentum (ou l'état d'Adam) survit d'une époque à l'autre, comme dans une vraie
    boucle d'entraînement : c'est ce qui rend la démonstration de ``polish_pruning(hold_masks=False)``
    honnête. L'optimiseur (``self.optimizer``) est créé au premier appel, sur les paramètres
    du modèle à ce moment (``weight_orig`` si le modèle est élagué), et recréé si ces paramètres changent.
    """

    def __init__(self, loader, lr: float = 0.05, optimizer: str = "sgd", momentum: float = 0.9, seed: int = 0,
                 loss_fn: Callable | None = None, max_steps: int | None = None, progress: bool = False):
        check_loader(loader, "loader")
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"lr doit être un réel > 0 ; reçu {lr!r}.")
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer doit valoir 'sgd' ou 'adam' ; reçu {optimizer!r}.")
        if max_steps is not None:
            check_positive_int(max_steps, "max_steps")
        self.loader, self.lr, self.optimizer_name, self.momentum = loader, float(lr), optimizer, momentum
        self.seed, self.loss_fn, self.max_steps, self.progress = seed, loss_fn or nn.CrossEntropyLoss(), max_steps, progress
        self.optimizer: torch.optim.Optimizer | None = None
        self.epoch = 0
        self._param_ids: list[int] = []

    def __call__(self, model: nn.Module) -> float:
        ids = [id(p) for p in model.parameters()]
        if self.optimizer is None or ids != self._param_ids:
            kw = {"momentum": self.momentum} if self.optimizer_name == "sgd" else {}
            self.optimizer = make_optimizer(model, self.optimizer_name, self.lr, **kw)
            self._param_ids = ids
        set_seed(self.seed + self.epoch)
        _reseed_loader(self.loader, self.seed + self.epoch)
        was_training = model.training
        model.train()
        total = count = 0
        batches = self.loader if self.max_steps is None else itertools.islice(self.loader, self.max_steps)
        for x, y in tqdm(batches, desc=f"époque {self.epoch}", disable=not self.progress, leave=False):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(model(x), y)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
        model.train(was_training)
        self.epoch += 1
        return total / max(count, 1)


def _check_masks(model: nn.Module, masks) -> dict[str, torch.Tensor]:
    if not isinstance(masks, Mapping):
        raise TypeError(f"masks doit être un dictionnaire {{nom: masque}} ; reçu {type(masks).__name__}.")
    check_against_model(model, masks, "masks")
    for n, m in masks.items():
        if not torch.all((m == 0) | (m == 1)):
            raise ValueError(f"masks[{n!r}] doit ne contenir que des 0 et des 1.")
    return dict(masks)


def _polish_diagnostics(model, masks, train_fn, epoch, loss) -> dict:
    """Ce qui se passe aux positions élaguées : poids non nuls, momentum non nul."""
    modules = prunable_modules(model)
    opt = getattr(train_fn, "optimizer", None)
    revived = momentum = 0
    max_abs = 0.0
    for n, mask in masks.items():
        module = modules[n]
        pruned = mask == 0
        w = effective_weight(module)[pruned]
        revived += int((w != 0).sum())
        if w.numel():
            max_abs = max(max_abs, float(w.abs().max()))
        param = module.weight_orig if is_pruned(module) else module.weight
        buf = opt.state.get(param, {}).get("momentum_buffer") if isinstance(opt, torch.optim.Optimizer) else None
        if buf is not None:
            momentum += int((buf[pruned] != 0).sum())
    return {"epoch": epoch, "loss": loss if isinstance(loss, numbers.Real) else None,
            "revived": revived, "max_pruned_abs": max_abs,
            "momentum_nonzero": momentum if isinstance(opt, torch.optim.Optimizer) else None}


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
    _check_model(model)
    masks = _check_masks(model, masks)
    if not callable(train_fn):
        raise TypeError(f"train_fn doit être une fonction train_fn(model) ; reçu {type(train_fn).__name__}.")
    n_epochs = check_positive_int(n_epochs, "n_epochs")
    if not isinstance(hold_masks, bool):
        raise TypeError(f"hold_masks doit être un booléen ; reçu {hold_masks!r}.")
    if history is not None and not isinstance(history, list):
        raise TypeError(f"history doit être une liste (ou None) ; reçu {type(history).__name__}.")

    if hold_masks:
        apply_masks(model, masks)
    else:
        remove_masks(model)  # plus aucun hook : le modèle est dense
        _multiply_in_place(model, masks)
    for epoch in range(n_epochs):
        loss = train_fn(model)
        if history is not None:
            history.append(_polish_diagnostics(model, masks, train_fn, epoch, loss))
        if not hold_masks:
            _multiply_in_place(model, masks)
    return model


@torch.no_grad()
def _multiply_in_place(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """La ré-application naïve : w ← w ⊙ m, sans toucher à l'état de l'optimiseur."""
    modules = prunable_modules(model)
    for n, m in masks.items():
        modules[n].weight.mul_(m.to(modules[n].weight.dtype))


# ----------------------------------------------------------------------------- regrowth

class RegrowthPruning:
    """Élagage avec repousse (*prune and regrow*) à sparsité constante.

    À chaque ``prune_and_regrow_step``, dans CHAQUE couche l (comptes tirés de sa propre taille) :

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
        _check_model(model)
        sparsity = check_fraction(sparsity, "sparsity")
        self.regrow_fraction = check_fraction(regrow_fraction, "regrow_fraction", allow_one=True)
        if growth not in ("rigl", "set"):
            raise ValueError(f"growth doit valoir 'rigl' ou 'set' ; reçu {growth!r}.")
        if end_step is not None:
            end_step = check_positive_int(end_step, "end_step")
        _check_scope(scope)
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
        if not all(is_pruned(m) for m in prunable_modules(model).values()) or _global_sparsity(model) < sparsity:
            _prune_to(model, sparsity, "magnitude", scope)

    @property
    def drop_fraction(self) -> float:
        """Fraction échangée au prochain pas (constante, ou cosinus de RigL si ``end_step``)."""
        if self.end_step is None:
            return self.regrow_fraction
        return rigl_drop_fraction(self.step_count, self.regrow_fraction, self.end_step)

    @property
    def current_sparsity(self) -> float:
        return _global_sparsity(self.model)

    def prune_and_regrow_step(self, loss_fn: Callable | None = None, data_loader=None) -> dict[str, torch.Tensor]:
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
        return (f"RegrowthPruning(growth={self.growth!r}, sparsité={self.current_sparsity:.2%}, "
                f"fraction échangée={self.drop_fraction:.3f}, pas={self.step_count})")


# ----------------------------------------------------------------------------- adaptatif

class AdaptivePruningScheduler:
    """Sparsité pilotée par la précision de VALIDATION (jamais le jeu de test).

    Règle : tant que la baisse de précision par rapport à la référence reste dans le budget
    (baseline − précision <= ``max_accuracy_drop``), on avance d'un pas fixe ``increment``
    (par défaut (cible − initiale)/10) : la cible est atteinte en un nombre fini de pas, exactement
    (``min(s + incrément, cible)``), jamais dépassée. Après un dépassement du budget, l'incrément
    est multiplié par ``slowdown`` < 1 : on RALENTIT (le chapitre fait l'inverse : il prend alors
    la moitié du chemin restant, plus que son pas normal d'un dixième, et n'atteint jamais la cible).
    Avec ``rollback=True``, après un dépassement on repart de la dernière sparsité qui tenait
    (``last_good_sparsity`` ; ``needs_rollback`` dit à l'appelant de restaurer ses masques).
    On s'arrête (``finished``) à la cible, ou quand l'incrément passe sous ``min_increment``.

    Protocole : ``s = sched.get_next_sparsity(précision_val)`` ; le premier appel fixe la référence.
    Voir ``adaptive_pruning`` pour la boucle complète.
    """

    def __init__(self, initial_sparsity: float = 0.0, target_sparsity: float = 0.9, max_accuracy_drop: float = 0.02,
                 base_increment: float | None = None, slowdown: float = 0.5, rollback: bool = False,
                 min_increment: float | None = None):
        initial_sparsity = check_fraction(initial_sparsity, "initial_sparsity")
        target_sparsity = check_fraction(target_sparsity, "target_sparsity")
        if initial_sparsity > target_sparsity:
            raise ValueError(
                f"initial_sparsity ({initial_sparsity}) doit être <= target_sparsity ({target_sparsity})."
            )
        if (isinstance(max_accuracy_drop, bool) or not isinstance(max_accuracy_drop, numbers.Real)
                or not math.isfinite(max_accuracy_drop) or max_accuracy_drop < 0):
            raise ValueError(f"max_accuracy_drop doit être un réel fini >= 0 ; reçu {max_accuracy_drop!r}.")
        gap = target_sparsity - initial_sparsity
        if base_increment is None:
            base_increment = gap / 10
        elif not isinstance(base_increment, numbers.Real) or isinstance(base_increment, bool) \
                or not 0 < base_increment <= 1:
            raise ValueError(f"base_increment doit être un réel dans ]0, 1] ; reçu {base_increment!r}.")
        if isinstance(slowdown, bool) or not isinstance(slowdown, numbers.Real) or not 0 < slowdown < 1:
            raise ValueError(f"slowdown doit être dans ]0, 1[ (un facteur qui RÉDUIT l'incrément) ; reçu {slowdown!r}.")
        if not isinstance(rollback, bool):
            raise TypeError(f"rollback doit être un booléen ; reçu {rollback!r}.")
        if min_increment is None:
            min_increment = base_increment / 64
        elif isinstance(min_increment, bool) or not isinstance(min_increment, numbers.Real) or min_increment < 0:
            raise ValueError(f"min_increment doit être un réel >= 0 ; reçu {min_increment!r}.")
        self.initial_sparsity, self.target_sparsity = initial_sparsity, target_sparsity
        self.max_accuracy_drop = float(max_accuracy_drop)
        self.base_increment = float(base_increment)
        self.increment = float(base_increment)
        self.slowdown, self.rollback, self.min_increment = float(slowdown), rollback, float(min_increment)
        self.current_sparsity = initial_sparsity
        self.last_good_sparsity = initial_sparsity
        self.baseline_accuracy: float | None = None
        self.violations = 0
        self.needs_rollback = False
        self.finished = gap == 0
        self.history: list[dict] = []

    @staticmethod
    def _check_accuracy(acc) -> float:
        if isinstance(acc, torch.Tensor) and acc.numel() == 1:
            acc = acc.item()
        if isinstance(acc, bool) or not isinstance(acc, numbers.Real) or not 0 <= acc <= 1:
            raise ValueError(f"current_accuracy doit être une précision dans [0, 1] ; reçu {acc!r}.")
        return float(acc)

    def should_prune_more(self, current_accuracy: float) -> bool:
        """Vrai si la baisse de précision reste dans le budget. Le premier appel fixe la référence."""
        acc = self._check_accuracy(current_accuracy)
        if self.baseline_accuracy is None:
            self.baseline_accuracy = acc
            return True
        return self.baseline_accuracy - acc <= self.max_accuracy_drop + _EPS

    def get_next_sparsity(self, current_accuracy: float) -> float:
        """Enregistre la précision (de validation) à la sparsité courante et renvoie la suivante."""
        ok = self.should_prune_more(current_accuracy)
        self.history.append({"sparsity": self.current_sparsity, "accuracy": float(current_accuracy), "ok": ok,
                             "increment": self.increment})
        self.needs_rollback = False
        if self.finished:
            return self.current_sparsity
        if ok:
            self.last_good_sparsity = self.current_sparsity
        else:
            self.violations += 1
            self.increment *= self.slowdown
            if self.rollback:
                self.current_sparsity = self.last_good_sparsity
                self.needs_rollback = True
        at_target = self.current_sparsity >= self.target_sparsity
        if at_target or self.increment < self.min_increment:
            self.finished = True
            return self.current_sparsity
        nxt = self.current_sparsity + self.increment
        # cible atteinte EXACTEMENT (10 × 0.09 vaut 0.8999999999999998 en flottants)
        self.current_sparsity = self.target_sparsity if nxt >= self.target_sparsity - 1e-9 else nxt
        return self.current_sparsity

    def __repr__(self) -> str:
        return (f"AdaptivePruningScheduler(sparsité={self.current_sparsity:.2%} -> {self.target_sparsity:.2%}, "
                f"incrément={self.increment:.4f}, dépassements={self.violations}, fini={self.finished})")


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
    _check_model(model)
    check_loader(train_loader, "train_loader")
    check_loader(val_loader, "val_loader")
    scheduler = scheduler if scheduler is not None else AdaptivePruningScheduler()
    if not isinstance(scheduler, AdaptivePruningScheduler):
        raise TypeError(f"scheduler doit être un AdaptivePruningScheduler ; reçu {type(scheduler).__name__}.")
    max_rounds = check_positive_int(max_rounds, "max_rounds")
    _check_criterion(criterion)
    _check_scope(scope)
    importance = make_criterion(criterion, loss_fn, train_loader)
    apply_masks(model, get_masks(model))  # même structure (weight_orig/weight_mask) à chaque tour
    good_state = copy.deepcopy(model.state_dict())
    s = scheduler.get_next_sparsity(evaluate(model, val_loader))
    history = []
    for r in tqdm(range(1, max_rounds + 1), desc="élagage adaptatif", disable=not progress, leave=False):
        if scheduler.finished:
            break
        _prune_to(model, s, importance, scope)
        fine_tune(model, train_loader, epochs=fine_tune_epochs, lr=lr, seed=seed + r, loss_fn=loss_fn,
                  progress=progress, max_steps=max_steps)
        acc = evaluate(model, val_loader)
        achieved = _global_sparsity(model)
        s_next = scheduler.get_next_sparsity(acc)
        ok = scheduler.history[-1]["ok"]
        if scheduler.needs_rollback:
            model.load_state_dict(good_state)
        elif ok:
            good_state = copy.deepcopy(model.state_dict())
        history.append({"round": r, "sparsity": s, "achieved": achieved, "accuracy": acc, "ok": ok,
                        "rolled_back": scheduler.needs_rollback})
        s = s_next
    return history


# ----------------------------------------------------------------------------- comparaison

@dataclass
class ComparisonResult:
    """Résultat de ``compare_pruning_criteria``.

    Attributes:
        table: une ligne par critère : ``criterion``, ``accuracy`` (validation, après fine-tuning),
            ``accuracy_pruned`` (juste après l'élagage), ``sparsity`` (atteinte, d'après les masques),
            ``seconds`` (calcul de l'importance + élagage + fine-tuning).
        overlap: ``{(a, b): J}`` dans les deux sens, J = |P_a ∩ P_b| / |P_a ∪ P_b| (Jaccard des
            ensembles de poids élagués).
        masks: ``{critère: {nom: masque}}``.
    """

    table: list[dict]
    overlap: dict[tuple[str, str], float]
    masks: dict[str, dict[str, torch.Tensor]] = field(repr=False)

    def row(self, criterion: str) -> dict:
        for r in self.table:
            if r["criterion"] == criterion:
                return r
        raise KeyError(f"Critère absent de la comparaison : {criterion!r}.")

    def __repr__(self) -> str:
        lines = [f"{'critère':<12} {'précision':>9} {'avant FT':>9} {'sparsité':>9} {'temps (s)':>9}"]
        for r in self.table:
            lines.append(f"{r['criterion']:<12} {r['accuracy']:>9.2%} {r['accuracy_pruned']:>9.2%} "
                         f"{r['sparsity']:>9.2%} {r['seconds']:>9.2f}")
        names = [r["criterion"] for r in self.table]
        for a, b in itertools.combinations(names, 2):
            lines.append(f"recouvrement (Jaccard) {a} / {b} : {self.overlap[(a, b)]:.3f}")
        return "\n".join(lines)


def jaccard_overlap(masks_a: Mapping[str, torch.Tensor], masks_b: Mapping[str, torch.Tensor]) -> float:
    """|P_a ∩ P_b| / |P_a ∪ P_b| où P = ensemble des poids élagués (masque nul), toutes couches."""
    inter = union = 0
    for n in masks_a:
        pa, pb = masks_a[n] == 0, masks_b[n] == 0
        inter += int((pa & pb).sum())
        union += int((pa | pb).sum())
    return inter / union if union else 1.0


def compare_pruning_criteria(model: nn.Module, train_loader, val_loader,
                             criteria: Sequence[str | Callable] | Mapping[str, Callable] = ("magnitude", "gradient", "hessian"),
                             sparsity: float = 0.9, fine_tune_epochs: int = 2, seed: int = 0,
                             loss_fn: Callable | None = None, progress: bool = False, *, scope: str = "global",
                             lr: float = 1e-3, n_batches: int | None = None, max_steps: int | None = None
                             ) -> ComparisonResult:
    """Compare des critères d'élagage à conditions égales.

    Pour chaque critère : une copie (``deepcopy``) du MÊME modèle de référence, la même graine,
    le même ordre des lots (le loader est ré-amorcé avant le calcul d'importance et avant le
    fine-tuning), le même budget de fine-tuning ; précision mesurée sur ``val_loader``.
    Le modèle passé n'est jamais modifié, et l'ordre des critères ne change aucun chiffre
    (hors ``seconds``).

    Args:
        criteria: noms (``"magnitude"``, ``"gradient"``, ``"hessian"``, ``"apoz"``), fonctions
            ``model -> {nom: importance}`` (nommées par ``__name__``), ou ``{nom: fonction}``.
        n_batches: lots de ``train_loader`` utilisés pour calculer les importances (``None`` = tous).
        max_steps: plafond de pas de fine-tuning (budget identique pour tous).
    """
    _check_model(model)
    check_loader(train_loader, "train_loader")
    check_loader(val_loader, "val_loader")
    sparsity = check_fraction(sparsity, "sparsity")
    fine_tune_epochs = check_positive_int(fine_tune_epochs, "fine_tune_epochs", minimum=0)
    _check_scope(scope)
    if isinstance(criteria, Mapping):
        named = dict(criteria)
    elif isinstance(criteria, (str, bytes)) or not isinstance(criteria, Sequence) or not criteria:
        raise TypeError(f"criteria doit être une liste non vide de critères ; reçu {criteria!r}.")
    else:
        named = {_criterion_name(c): c for c in criteria}
        if len(named) != len(criteria):
            raise ValueError(f"criteria contient des doublons : {[_criterion_name(c) for c in criteria]}.")
    for c in named.values():
        _check_criterion(c)

    table, all_masks = [], {}
    for name, crit in tqdm(named.items(), desc="critères", disable=not progress, leave=False):
        work = copy.deepcopy(model)
        start = time.perf_counter()
        set_seed(seed)
        _reseed_loader(train_loader, seed)
        _prune_to(work, sparsity, make_criterion(crit, loss_fn, train_loader, n_batches), scope)
        acc_pruned = evaluate(work, val_loader)
        if fine_tune_epochs > 0:
            fine_tune(work, train_loader, epochs=fine_tune_epochs, lr=lr, seed=seed, loss_fn=loss_fn,
                      progress=progress, max_steps=max_steps, desc=f"fine-tuning {name}")
        seconds = time.perf_counter() - start
        all_masks[name] = get_masks(work)
        table.append({"criterion": name, "accuracy": evaluate(work, val_loader), "accuracy_pruned": acc_pruned,
                      "sparsity": _global_sparsity(work), "seconds": seconds})
    overlap = {}
    for a, b in itertools.combinations(named, 2):
        overlap[(a, b)] = overlap[(b, a)] = jaccard_overlap(all_masks[a], all_masks[b])
    return ComparisonResult(table=table, overlap=overlap, masks=all_masks)
