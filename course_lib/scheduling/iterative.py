"""One-shot, itératif, graduel : UN ordonnanceur piloté par ``step()`` (notebook 05).

``PruningScheduler`` suit un calendrier (``course_lib.schedules`` ou une fonction ``t -> sparsité``)
et élague quand il monte. Les trois stratégies du chapitre en sont des usages :

- ``PruningScheduler.one_shot`` : tout au pas 0 ;
- ``PruningScheduler.iterative`` : un ``step()`` par tour, un fine-tuning entre deux (Han et al., 2015) ;
- ``PruningScheduler.gradual`` : un ``step(epoch)`` par époque pendant l'entraînement (Zhu & Gupta, 2017).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from tqdm.auto import tqdm

from .._validation import (
    check_criterion,
    check_fraction,
    check_loader,
    check_model,
    check_positive_int,
    check_schedule,
    check_schedule_name,
    check_scope,
    check_step,
)
from ..fr import pct
from ..schedules import SCHEDULES, schedule_value
from ..training import evaluate, fine_tune
from .base import EPS, BaseScheduler, criterion_name, make_criterion, masked_sparsity, prune_to


class PruningScheduler(BaseScheduler):
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
        schedule: ``"cubic"`` (Zhu & Gupta, 2017), ``"linear"``, ``"one_shot"`` (au pas ``start_step``),
            ou une fonction ``t -> sparsité`` (comme Torch-Pruning) ; ``final_sparsity`` reste le plafond.
        start_step, n_steps, frequency, initial_sparsity: t0, n, Δt, s_i du calendrier (voir ``cubic_schedule``).
        criterion: ``"magnitude"``, ``"gradient"``, ``"hessian"``, ``"apoz"`` ou ``model -> {nom: importance}``.
        scope: ``"global"`` (un classement pour tout le réseau) ou ``"layer"``.
        loss_fn, data_loader, n_batches: données des critères qui en ont besoin.
        max_layer_sparsity: plafond par couche en global (voir ``create_masks_from_importance``).
    """

    _state_keys = ("last_step", "applied_sparsity", "final_sparsity", "start_step", "n_steps", "frequency",
                   "initial_sparsity", "scope", "max_layer_sparsity", "schedule_name", "criterion_name")

    def __init__(self, model: nn.Module, final_sparsity: float, schedule: str | Callable = "cubic",
                 start_step: int = 0, n_steps: int = 10, frequency: int = 1, initial_sparsity: float = 0.0,
                 criterion: str | Callable = "magnitude", scope: str = "global", *,
                 loss_fn: Callable | None = None, data_loader=None, n_batches: int | None = None,
                 max_layer_sparsity: float | None = None):
        check_model(model)
        self.schedule = check_schedule_name(schedule, SCHEDULES)
        (self.final_sparsity, self.start_step, self.n_steps, self.frequency,
         self.initial_sparsity) = check_schedule(final_sparsity, start_step, n_steps, frequency, initial_sparsity)
        check_criterion(criterion)
        self.scope = check_scope(scope)
        if max_layer_sparsity is not None:
            max_layer_sparsity = check_fraction(max_layer_sparsity, "max_layer_sparsity", allow_one=True)
        self.model, self.criterion, self.max_layer_sparsity = model, criterion, max_layer_sparsity
        self._importance = make_criterion(criterion, loss_fn, data_loader, n_batches)
        self.last_step = 0
        self.applied_sparsity = 0.0
        self._maybe_prune()

    # -- le calendrier
    def sparsity_at(self, step) -> float:
        """Sparsité visée par le calendrier au pas ``step`` (fonction pure, rien n'est élagué)."""
        if callable(self.schedule):
            value = check_fraction(self.schedule(check_step(step)), "schedule(t)")
            return min(value, self.final_sparsity)
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
        return masked_sparsity(self.model)

    @property
    def end_step(self) -> int | None:
        """Premier pas où la sparsité finale est atteinte (``None`` pour un calendrier fonction)."""
        if callable(self.schedule):
            return None
        return self.start_step if self.schedule == "one_shot" else self.start_step + self.n_steps * self.frequency

    # -- le protocole step()
    def step(self, step: int | None = None) -> float:
        """Avance d'un pas (ou va au pas ``step``) ; élague si le calendrier est monté.

        Renvoie la sparsité courante du calendrier.
        """
        self.last_step = self.last_step + 1 if step is None else int(check_step(step, "step"))
        self._maybe_prune()
        return self.current_sparsity

    __call__ = step  # ``hook(epoch)`` : l'ancien protocole de ``gradual``

    def _maybe_prune(self) -> None:
        target = self.current_sparsity
        if target > self.applied_sparsity + EPS:
            prune_to(self.model, target, self._importance, self.scope, self.max_layer_sparsity)
            self.applied_sparsity = target

    # -- l'état (les masques sont dans model.state_dict())
    @property
    def schedule_name(self) -> str | None:
        return None if callable(self.schedule) else self.schedule

    @schedule_name.setter
    def schedule_name(self, name: str | None) -> None:
        if name is not None:
            self.schedule = name

    @property
    def criterion_name(self) -> str | None:
        return self.criterion if isinstance(self.criterion, str) else None

    @criterion_name.setter
    def criterion_name(self, name) -> None:
        """Le critère n'est pas rechargé (il peut porter des données) : ``_check_state`` vérifie l'accord."""

    def _check_state(self, sd: dict) -> None:
        if sd["schedule_name"] is None and not callable(self.schedule):
            raise ValueError("state_dict vient d'un calendrier fonction : passez la même fonction en schedule=.")
        if sd["schedule_name"] is not None:
            check_schedule_name(sd["schedule_name"], SCHEDULES)
        check_schedule(sd["final_sparsity"], sd["start_step"], sd["n_steps"], sd["frequency"],
                       sd["initial_sparsity"])
        check_scope(sd["scope"])
        check_positive_int(sd["last_step"], "state_dict['last_step']", minimum=0)
        check_fraction(sd["applied_sparsity"], "state_dict['applied_sparsity']")
        if sd["criterion_name"] is not None and sd["criterion_name"] != self.criterion:
            raise ValueError(
                f"state_dict a été produit avec criterion={sd['criterion_name']!r}, cet ordonnanceur utilise "
                f"{criterion_name(self.criterion)!r}."
            )

    def __repr__(self) -> str:
        name = self.schedule_name or getattr(self.schedule, "__name__", "fonction")
        return (f"PruningScheduler(schedule={name!r}, pas={self.last_step}, "
                f"sparsité={pct(self.current_sparsity, 2)} -> {pct(self.final_sparsity, 2)})")

    SCHEDULE_NAMES_FR = {"cubic": "cubique", "linear": "linéaire", "one_shot": "en une fois"}

    def __str__(self) -> str:
        """Ce que ``print(scheduler)`` dit à l'élève, en une phrase."""
        name = self.SCHEDULE_NAMES_FR.get(self.schedule_name, "donné par une fonction")
        return (f"Calendrier {name} : {self.last_step} {'pas joué' if self.last_step <= 1 else 'pas joués'}, "
                f"sparsité {pct(self.current_sparsity, 2)} (cible {pct(self.final_sparsity, 2)}).")

    # -- les trois stratégies du chapitre
    @staticmethod
    def one_shot(model: nn.Module, sparsity: float, criterion: str | Callable = "magnitude",
                 scope: str = "global", **criterion_kwargs) -> nn.Module:
        """Élagage en une fois à ``sparsity`` (rapide ; sans fine-tuning, le réseau garde tout le choc).

        ``criterion_kwargs`` : ``loss_fn``, ``data_loader``, ``n_batches`` pour les critères qui en ont besoin.
        """
        sparsity = check_fraction(sparsity, "sparsity")
        PruningScheduler(model, sparsity, "one_shot", criterion=criterion, scope=scope, **criterion_kwargs)
        return model

    @staticmethod
    def iterative(model: nn.Module, target_sparsity: float, n_steps: int = 10,
                  criterion: str | Callable = "magnitude", train_loader=None, fine_tune_epochs: int = 1,
                  scope: str = "global", progress: bool = False, seed: int = 0, *, val_loader=None,
                  lr: float = 1e-3, max_steps: int | None = None, loss_fn: Callable | None = None,
                  n_batches: int | None = None, schedule: str = "linear") -> list[dict]:
        """n tours « élaguer puis ré-entraîner » (Han et al., 2015, *Learning both Weights and Connections*).

        Un ``PruningScheduler`` à n pas ; chaque tour r est un ``step()`` suivi d'un fine-tuning.
        La sparsité visée s_r est une fraction **du réseau entier** (ou de chaque couche en
        ``scope="layer"``), pas une fraction de ce qui reste (ce qui donnerait 1 − (1 − s/n)^n
        au lieu de s). Les poids élagués à un tour restent élagués aux suivants.

        - ``schedule="linear"`` (le chapitre) : s_r = s_cible·r/n. Le dernier tour retire alors une
          grosse part de ce qui reste (de 72 % à 90 % : 64 % des poids encore actifs pour n = 5).
        - ``schedule="cubic"`` (Zhu & Gupta, 2017) : s_r = s_f·(1 − (1 − r/n)³), gros tours au
          début, petits à la fin : le réseau a plus de tours pour récupérer près de la cible (la
          motivation de Zhu & Gupta ; la comparaison mesurée est au notebook 05).

        Args:
            train_loader: données du fine-tuning (et des critères qui en ont besoin) ; ``None`` = sans fine-tuning.
            fine_tune_epochs: époques de fine-tuning par tour (budget total = n·fine_tune_epochs).
            val_loader: si donné, la précision de validation est mesurée après chaque tour.
            seed: le tour r ré-entraîne avec la graine ``seed + r`` (déterministe sur CPU).

        Returns:
            Un dictionnaire par tour : ``round``, ``sparsity`` (visée), ``achieved`` (réelle), ``accuracy``.
        """
        check_fraction(target_sparsity, "target_sparsity")
        fine_tune_epochs = check_positive_int(fine_tune_epochs, "fine_tune_epochs", minimum=0)
        if schedule not in ("linear", "cubic"):
            raise ValueError(f"schedule doit valoir 'linear' ou 'cubic' ; reçu {schedule!r}.")
        for loader, name in ((train_loader, "train_loader"), (val_loader, "val_loader")):
            if loader is not None:
                check_loader(loader, name)
        scheduler = PruningScheduler(model, target_sparsity, schedule, 0, n_steps, criterion=criterion,
                                     scope=scope, loss_fn=loss_fn, data_loader=train_loader, n_batches=n_batches)
        history = []
        bar = tqdm(range(1, scheduler.n_steps + 1), desc="élagage itératif", disable=not progress, leave=False)
        for r in bar:
            s_r = scheduler.step()
            if train_loader is not None and fine_tune_epochs > 0:
                fine_tune(model, train_loader, epochs=fine_tune_epochs, lr=lr, seed=seed + r, loss_fn=loss_fn,
                          progress=progress, max_steps=max_steps, desc=f"fine-tuning {r}/{n_steps}")
            acc = evaluate(model, val_loader) if val_loader is not None else None
            history.append({"round": r, "sparsity": s_r, "achieved": masked_sparsity(model), "accuracy": acc})
            bar.set_postfix(sparsité=pct(history[-1]['achieved']))
        return history

    @staticmethod
    def gradual(model: nn.Module, target_sparsity: float, start_epoch: int = 0, end_epoch: int = 50,
                criterion: str | Callable = "magnitude", schedule: str = "cubic", *, frequency: int = 1,
                initial_sparsity: float = 0.0, scope: str = "global", **criterion_kwargs) -> PruningScheduler:
        """Élagage pendant l'entraînement : un ``PruningScheduler`` compté en époques.

        Appeler ``scheduler.step(epoch)`` (ou ``scheduler(epoch)``) à chaque époque. La sparsité suit
        ``schedule`` de ``start_epoch`` (s_i) à ``end_epoch`` (exactement s_cible), un élagage toutes
        les ``frequency`` époques.
        """
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
        return PruningScheduler(model, target_sparsity, schedule, start_epoch, span // frequency, frequency,
                                initial_sparsity, criterion, scope, **criterion_kwargs)
