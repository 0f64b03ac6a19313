"""Les expériences enregistrées des notebooks 06, 07 et 09, rejouées ensuite par les widgets.

- ``StepRecorder`` / ``polishing_trajectories`` (06) : ce qui arrive aux poids élagués pas à pas,
  masques tenus par ``torch.nn.utils.prune`` ou réappliqués à la main (version du chapitre) ;
  ``polishing_accuracies`` / ``say_polishing_accuracy`` (06) : la précision finale des deux versions
  sur plusieurs réseaux de référence, et la phrase que choisit leur verdict ;
- ``regrowth_trajectories`` (07) : statique, SET et RigL sur le même modèle de départ ;
- ``accuracy_table`` / ``simulate_adaptive`` / ``retained_point`` (09) : la précision de validation
  mesurée une fois sur une grille de sparsités, l'ordonnanceur adaptatif (ou la règle du chapitre)
  rejoué contre elle, et le modèle qu'on garde à la fin.

Toutes les boucles d'entraînement passent par ``course_lib.training.train_one_epoch``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .._validation import (
    check_bool,
    check_choice,
    check_fraction,
    check_model,
    check_positive_int,
    check_real,
    check_seeds,
)
from ..cache import cache_key, cached
from ..chapter import chapter_adaptive_rule
from ..evidence import Statement, compare, say
from ..masks import create_masks, get_masks, is_pruned, prunable_modules
from ..scheduling import AdaptivePruningScheduler, PruningScheduler, RegrowthPruning, polish_pruning
from ..scheduling.polishing import pruned_position_stats
from ..seeds import SeedResults, over_seeds
from ..training import (
    EpochTrainer,
    evaluate,
    fine_tune,
    make_optimizer,
    reseed_loader,
    set_seed,
    train_one_epoch,
)
from .criteria_comparison import trained_baselines
from .sensitivity import loader_tensors

# ============================================================================ 06 — polishing


class StepRecorder(EpochTrainer):
    """``train_fn`` pour ``polish_pruning`` : un ``EpochTrainer`` (SGD, momentum PERSISTANT) qui, après
    chaque pas d'optimiseur, relève ce qui se passe aux positions élaguées.

    Relevé par pas (liste ``records``) : ``step``, ``epoch``, ``revived`` (poids élagués non nuls
    dans le réseau qui s'entraîne), ``momentum`` (positions élaguées au tampon de momentum non nul),
    ``pruned_abs`` (moyenne de |w| aux positions élaguées), ``acc`` (précision de validation du réseau
    tel qu'il est) et ``acc_masked`` (la même, masque réappliqué : le réseau qu'on croit entraîner).
    """

    def __init__(self, loader, masks: Mapping[str, torch.Tensor], val_loader, lr: float = 0.05,
                 momentum: float = 0.9, seed: int = 0):
        super().__init__(loader, lr=lr, optimizer="sgd", momentum=momentum, seed=seed, callback=self._record)
        self.masks = dict(masks)
        self.x_val, self.y_val = loader_tensors(val_loader)
        self.records: list[dict] = []
        self._model: nn.Module | None = None

    def __call__(self, model: nn.Module) -> float:
        self._model = model
        return super().__call__(model)

    @torch.no_grad()
    def _accuracy(self, model, masked: bool) -> float:
        was = model.training
        model.eval()
        if masked and not all(is_pruned(m) for m in prunable_modules(model).values()):
            params = {n: p.detach() for n, p in model.named_parameters()}
            for n, m in self.masks.items():
                params[n] = params[n] * m
            logits = functional_call(model, params, (self.x_val,))
        else:
            logits = model(self.x_val)
        model.train(was)
        return float((logits.argmax(1) == self.y_val).float().mean())

    def _record(self, _step: int, _loss: float) -> None:
        model = self._model
        stats = pruned_position_stats(model, self.masks, self.optimizer)
        self.records.append({"step": len(self.records) + 1, "epoch": self.epoch, "revived": stats["revived"],
                             "momentum": stats["momentum_nonzero"], "pruned_abs": stats["mean_pruned_abs"],
                             "acc": self._accuracy(model, masked=False),
                             "acc_masked": self._accuracy(model, masked=True)})


def polishing_trajectories(model: nn.Module, data, sparsity: float = 0.9, n_epochs: int = 4,
                           lr: float = 0.05, seed: int = 0) -> dict:
    """Fait tourner ``polish_pruning`` deux fois sur des copies de ``model`` (masques tenus / naïfs).

    Returns:
        ``{"held": [...], "naive": [...]}`` (relevés par pas de ``StepRecorder``), plus ``n_pruned``
        (positions élaguées), ``n_weights`` (poids élagables : la sparsité du réseau qui s'entraîne
        vaut (``n_pruned`` − ``revived``) / ``n_weights``), ``final`` ({mode: précision de validation
        du modèle rendu, masque appliqué}) et ``masks``.
    """
    masks = create_masks(model, sparsity)
    out = {"masks": masks, "n_pruned": int(sum(int((m == 0).sum()) for m in masks.values())),
           "n_weights": int(sum(m.numel() for m in masks.values())), "final": {}}
    for mode, hold in (("held", True), ("naive", False)):
        work = copy.deepcopy(model)
        rec = StepRecorder(data.train, masks, data.val, lr=lr, seed=seed)
        polish_pruning(work, masks, rec, n_epochs=n_epochs, hold_masks=hold)
        out[mode] = rec.records
        out["final"][mode] = evaluate(work, data.val)
    return out


POLISHING_LABELS = {"held": "masques tenus", "naive": "naïf"}


def polishing_final_accuracies(seed: int, data, sparsity: float = 0.9, n_epochs: int = 4, lr: float = 0.05,
                               model: nn.Module | None = None) -> dict[str, float]:
    """Une graine du protocole de ``polishing_trajectories``, sans relevé pas à pas.

    Réseau de référence ``train_baseline(data, seed=seed)`` (relu du cache s'il a déjà été entraîné,
    par exemple par les notebooks 00 à 03 ; ou ``model``, s'il est déjà entraîné avec cette graine), masques de magnitude (global) à ``sparsity``, puis ``n_epochs`` époques de SGD
    (momentum 0,9, pas ``lr``, ordre des lots fixé par ``seed``) sur deux copies : masques tenus par
    ``torch.nn.utils.prune``, ou multiplication naïve après chaque époque (Han et al., 2015, pour le
    ré-entraînement ; la version naïve est celle du chapitre).

    Returns:
        ``{"masques tenus": précision, "naïf": précision}`` : précision de VALIDATION du modèle rendu.
    """
    base = model if model is not None else trained_baselines(data, [seed], progress=False)[seed]
    masks = create_masks(base, sparsity)
    out = {}
    for mode, hold in (("held", True), ("naive", False)):
        work = copy.deepcopy(base)
        polish_pruning(work, masks, EpochTrainer(data.train, lr=lr, seed=seed), n_epochs=n_epochs, hold_masks=hold)
        out[POLISHING_LABELS[mode]] = evaluate(work, data.val)
    return out


def _data_key(data) -> str:
    """Ce qui identifie un découpage de données pour le cache : nom, tailles, empreinte de la validation.

    (Le loader d'entraînement n'est pas parcouru : cela avancerait son générateur de mélange.)
    """
    x, y = loader_tensors(data.val)
    digest = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()[:16]
    return f"{data!r}:{digest}"


def _model_key(model: nn.Module) -> str:
    """Empreinte des poids d'un réseau fourni : le cache ne confond pas deux réseaux de départ."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode() + t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


_RESULTS: dict[str, SeedResults] = {}  # dans le processus : rien n'est recalculé, même sans cache disque


def polishing_accuracies(data, seeds, sparsity: float = 0.9, n_epochs: int = 4, lr: float = 0.05,
                         models: Mapping[int, nn.Module] | None = None, progress: bool = True) -> SeedResults:
    """``polishing_final_accuracies`` sur chaque graine de ``seeds`` : un réseau de référence par graine.

    ``models`` : ``{graine: réseau de référence déjà entraîné avec cette graine}`` (par exemple
    ``{SEED: model}`` avec ``model = train_baseline(data, seed=SEED)``) ; ces réseaux ne sont pas
    ré-entraînés, les graines absentes le sont (leurs poids entrent dans la clé du cache).
    Calculé une fois par jeu d'arguments (``course_lib.cache`` sur disque, et en mémoire dans le processus).

    Returns:
        ``SeedResults`` avec ``"masques tenus"`` et ``"naïf"`` (précisions de validation), appariés par graine.
    """
    seeds = check_seeds(seeds)
    sparsity = check_fraction(sparsity, "sparsity")
    n_epochs = check_positive_int(n_epochs, "n_epochs")
    lr = check_real(lr, "lr", low=0, low_open=True)
    check_bool(progress, "progress")
    models = dict(models or {})
    for m in models.values():
        check_model(m)
    models = {s: m for s, m in models.items() if s in seeds}
    key = {"data": _data_key(data), "seeds": seeds, "sparsity": sparsity, "n_epochs": n_epochs, "lr": lr,
           "models": tuple((s, _model_key(m)) for s, m in sorted(models.items()))}
    memo = cache_key("polishing_accuracies", **key)
    if memo not in _RESULTS:
        def compute():
            return over_seeds(lambda s: polishing_final_accuracies(s, data, sparsity, n_epochs, lr,
                                                                   models.get(s)),
                              seeds, desc="polishing, graines", progress=progress)
        _RESULTS[memo] = cached("polishing_accuracies", compute, **key)
    return _RESULTS[memo]


def say_polishing_accuracy(data, seeds, sparsity: float = 0.9, n_epochs: int = 4, lr: float = 0.05,
                           models: Mapping[int, nn.Module] | None = None) -> Statement:
    """Le verdict « masques tenus contre multiplication naïve » sur la précision finale (notebook 06).

    Mêmes arguments que ``polishing_accuracies`` (même protocole, même cache). Chacune des trois
    phrases rappelle que la précision finale ne dit pas si la version naïve entraîne le bon réseau.
    """
    res = polishing_accuracies(data, seeds, sparsity, n_epochs, lr, models, progress=False)
    held, naive = res[POLISHING_LABELS["held"]], res[POLISHING_LABELS["naive"]]
    n = len(held.seeds)
    verdict = compare(held, naive)
    return say(
        "06-held-vs-naive-accuracy", verdict, label="masques tenus − naïf",
        net=(f"Sur {n} réseaux de référence (une graine chacun), les masques tenus rendent un réseau nettement "
             "plus précis que la multiplication naïve. Une seule graine peut montrer l'inverse : c'est pour "
             "cela qu'on compare sur plusieurs."),
        pas_net=(f"Sur {n} réseaux de référence, la précision finale ne départage pas les deux versions à cette "
                 "échelle : l'écart reste dans la dispersion d'une graine à l'autre. Elle ne dit de toute façon "
                 "rien du défaut de la version naïve : pendant l'entraînement, ce n'est pas le réseau élagué "
                 "qui apprend."),
        inverse=(f"Sur {n} réseaux de référence, la version naïve finit nettement plus précise. Ce chiffre ne la "
                 "rend pas correcte : à chaque époque elle entraîne un réseau bien moins creux que celui "
                 "qu'elle rend, puis lui retire d'un coup les poids qu'il utilisait. C'est un autre protocole "
                 "(entraîner presque dense, puis ré-élaguer), qui ne ré-entraîne pas le réseau élagué."),
    )


# ============================================================================ 07 — repousse

def _cycle(loader):
    while True:
        yield from loader


def regrowth_trajectories(model: nn.Module, data, sparsity: float = 0.9, regrow_fraction: float = 0.3,
                          n_updates: int = 8, steps_between: int | None = None, lr: float = 1e-3,
                          n_batches: int = 4, seed: int = 0, scope: str = "global") -> dict:
    """Entraîne trois copies élaguées de ``model`` : statique, SET, RigL (Adam, graine fixe).

    Tous les ``steps_between`` pas (une époque par défaut) : précision de validation, puis un
    ``RegrowthPruning.step()`` (sauf statique). La fraction échangée suit le cosinus de RigL
    (``end_step=n_updates``).

    Returns:
        ``{méthode: [relevé par mise à jour]}`` avec ``update``, ``accuracy``, ``changed`` (fraction
        des poids actifs initiaux qui ne le sont plus), ``fraction`` (fraction échangée à ce pas),
        ``active`` ({couche: poids actifs}), ``grown`` ({couche: poids choisis par la repousse, juste
        retirés compris}), ``new`` ({couche: connexions nouvelles, parties de 0}), ``sparsity``.
    """
    check_positive_int(n_updates, "n_updates")
    steps_between = steps_between or len(data.train)
    out = {}
    for method in ("statique", "set", "rigl"):
        work = copy.deepcopy(model)
        rp = RegrowthPruning(work, sparsity, regrow_fraction, growth="rigl" if method == "statique" else method,
                             seed=seed, end_step=n_updates, scope=scope, data_loader=data.train,
                             n_batches=n_batches)
        start = {n: m.bool() for n, m in get_masks(work).items()}
        total_active = sum(int(m.sum()) for m in start.values())
        opt = make_optimizer(work, "adam", lr)
        set_seed(seed)
        reseed_loader(data.train, seed)
        batches = _cycle(data.train)
        records = []
        for u in range(n_updates + 1):
            masks = {n: m.bool() for n, m in get_masks(work).items()}
            changed = sum(int((start[n] & ~masks[n]).sum()) for n in start) / max(total_active, 1)
            rec = {"update": u, "accuracy": evaluate(work, data.val), "changed": changed,
                   "active": {n: int(m.sum()) for n, m in masks.items()}, "sparsity": rp.current_sparsity,
                   "fraction": 0.0, "grown": {n: 0 for n in masks}, "new": {n: 0 for n in masks}}
            if u < n_updates:
                if method != "statique":
                    rec["fraction"] = rp.drop_fraction
                    rp.step()
                    rec["grown"] = {n: int(g.sum()) for n, g in rp.last_grown.items()}
                    rec["new"] = {n: int(g.sum()) for n, g in rp.last_new.items()}
                train_one_epoch(work, itertools.islice(batches, steps_between), opt)
            records.append(rec)
        out[method] = records
    return out


# ============================================================================ 09 — adaptatif

@dataclass
class AccuracyTable:
    """Précision de validation mesurée une fois pour une grille de sparsités (puis interpolée).

    Chaque point : copie du modèle, élagage one-shot par magnitude, fine-tuning court.
    Sert de « réseau simulé » pour rejouer un ordonnanceur adaptatif instantanément.
    """

    sparsities: np.ndarray
    accuracies: np.ndarray

    def __call__(self, sparsity: float) -> float:
        return float(np.interp(sparsity, self.sparsities, self.accuracies))


def accuracy_table(model: nn.Module, data, grid: Sequence[float] | None = None, fine_tune_steps: int = 17,
                   seed: int = 0) -> AccuracyTable:
    """Mesure la précision de VALIDATION après élagage à chaque sparsité de ``grid`` (+ fine-tuning court)."""
    grid = list(grid) if grid is not None else [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98,
                                                 0.99]
    accs = []
    for s in grid:
        work = copy.deepcopy(model)
        if s > 0:
            PruningScheduler.one_shot(work, s)
            fine_tune(work, data.train, epochs=1, seed=seed, progress=False, max_steps=fine_tune_steps)
        accs.append(evaluate(work, data.val))
    return AccuracyTable(np.asarray(grid, dtype=float), np.asarray(accs, dtype=float))


def simulate_adaptive(table: Callable[[float], float], max_drop: float, target: float = 0.9,
                      rule: str = "corrected", rollback: bool = True, max_rounds: int = 40) -> list[dict]:
    """Rejoue un ordonnanceur adaptatif contre une table de précision (aucun entraînement).

    ``rule="corrected"`` : ``AdaptivePruningScheduler`` de la bibliothèque (ralentit après un dépassement ;
    avec ``rollback``, repart de la dernière sparsité qui tenait et n'essaie plus jamais une sparsité
    refusée). ``rule="chapter"`` : ``course_lib.chapter.chapter_adaptive_rule`` (sans retour arrière).

    Returns:
        Un relevé par tour : ``round``, ``sparsity`` (la sparsité essayée), ``accuracy`` (la précision
        qu'elle donne), ``ok`` (baisse dans le budget), ``next`` (la sparsité que la règle en déduit).
        Le modèle gardé à la fin : ``retained_point``.
    """
    check_choice(rule, "rule", ("corrected", "chapter"))
    baseline = table(0.0)
    history = []
    if rule == "corrected":
        sched = AdaptivePruningScheduler(0.0, target, max_drop, rollback=rollback)
        s = sched.step(baseline)
        for r in range(1, max_rounds + 1):
            if sched.finished:
                break
            acc = table(s)
            s_next = sched.step(acc)
            history.append({"round": r, "sparsity": s, "accuracy": acc, "ok": sched.history[-1]["ok"],
                            "next": s_next})
            s = s_next
        return history
    s = chapter_adaptive_rule(0.0, target, False)
    for r in range(1, max_rounds + 1):
        acc = table(s)
        ok = baseline - acc < max_drop  # le test du chapitre
        s_next = chapter_adaptive_rule(s, target, not ok)
        history.append({"round": r, "sparsity": s, "accuracy": acc, "ok": ok, "next": s_next})
        s = s_next
    return history


def retained_point(history: Sequence[Mapping], baseline: float, rollback: bool) -> dict:
    """Le modèle qu'on garde à la fin d'un élagage adaptatif (relevés de ``simulate_adaptive``).

    - avec retour arrière : le dernier tour dans le budget (ses masques ont été sauvegardés, et
      restaurés après chaque dépassement) ; le modèle de départ (sparsité 0) si aucun ne l'est ;
    - sans retour arrière : le dernier tour, dans le budget ou non : un poids élagué ne revient pas,
      le modèle est celui où l'élagage s'est arrêté.

    Returns:
        ``{"sparsity", "accuracy", "ok", "round"}`` (``round`` vaut 0 pour le modèle de départ).
    """
    check_bool(rollback, "rollback")
    if not history:
        return {"sparsity": 0.0, "accuracy": float(baseline), "ok": True, "round": 0}
    if not rollback:
        h = history[-1]
    else:
        good = [h for h in history if h["ok"]]
        if not good:
            return {"sparsity": 0.0, "accuracy": float(baseline), "ok": True, "round": 0}
        h = good[-1]
    return {"sparsity": h["sparsity"], "accuracy": h["accuracy"], "ok": h["ok"], "round": h["round"]}
