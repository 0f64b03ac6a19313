"""Les comparaisons des notebooks 05, 07 et 10, une graine à la fois (à passer à ``seeds.over_seeds``).

Chaque fonction prend une ``seed`` et renvoie ``{méthode: précision de validation}`` : la même
graine fixe l'initialisation, l'ordre des lots et les tirages, et toutes les méthodes d'une même
graine partent du même réseau. Petits budgets (MLP sur *digits*, moins d'une seconde par méthode)
pour que trois graines tiennent dans le temps d'un notebook.

- ``one_shot_vs_gradual`` (notebook 05) : élaguer d'un coup puis ré-entraîner, ou élaguer pendant
  l'entraînement avec le calendrier cubique (Zhu & Gupta, 2017, éq. 1), même nombre de pas.
- ``sparse_training_run`` (notebook 07) : entraînement creux depuis l'initialisation, masque fixe
  (statique), SET (Mocanu et al., 2018) ou RigL (Evci et al., 2020, éq. 1 pour la fraction cosinus).
"""

from __future__ import annotations

import copy

from torch import nn

from .._validation import check_fraction, check_positive_int
from ..models import build_model
from ..scheduling.iterative import PruningScheduler
from ..scheduling.regrowth import RegrowthPruning
from ..training import evaluate, make_optimizer, reseed_loader, set_seed, train, train_one_epoch


def _train_steps(model: nn.Module, loader, n_steps: int, lr: float, seed: int, callback=None) -> None:
    """``n_steps`` pas d'Adam sur ``loader`` (époques enchaînées), graine et ordre des lots fixés."""
    set_seed(seed)
    reseed_loader(loader, seed)
    opt = make_optimizer(model, "adam", lr)
    done = 0
    while done < n_steps:
        def count(step, loss):
            nonlocal done
            done += 1
            if callback is not None:
                callback(done, loss)
        train_one_epoch(model, loader, opt, callback=count, max_steps=n_steps - done)


def one_shot_vs_gradual(seed: int, data, sparsity: float = 0.95, epochs: int = 6, baseline_epochs: int = 15,
                        kind: str = "mlp", lr: float = 1e-3, end_fraction: float = 0.75) -> dict[str, float]:
    """One-shot (+ ré-entraînement) contre graduel cubique, même réseau de départ, même nombre de pas.

    Le réseau de référence est entraîné ``baseline_epochs`` époques avec ``seed`` ; puis, sur deux copies :

    - ``"one-shot"`` : élagage par magnitude (global) à ``sparsity``, puis ``epochs`` époques d'Adam ;
    - ``"graduel"`` : les mêmes ``epochs`` époques d'Adam, avec un ``PruningScheduler`` cubique
      (Zhu & Gupta, 2017, éq. 1 : s_t = s_f (1 − (1 − (t − t0)/(nΔt)))³) qui élague à chaque pas
      jusqu'à ``sparsity``, atteinte à ``end_fraction`` des pas (le reste sert à récupérer).

    Renvoie aussi ``"one-shot, avant"`` (juste après l'élagage, sans ré-entraînement).
    """
    check_fraction(sparsity, "sparsity")
    check_positive_int(epochs, "epochs")
    check_fraction(end_fraction, "end_fraction")
    model = build_model(data, kind=kind, seed=seed)
    train(model, data.train, epochs=baseline_epochs, seed=seed, progress=False)
    n_steps = epochs * len(data.train)
    out = {}
    one_shot = PruningScheduler.one_shot(copy.deepcopy(model), sparsity)
    out["one-shot, avant"] = evaluate(one_shot, data.val)
    _train_steps(one_shot, data.train, n_steps, lr, seed + 1)
    out["one-shot"] = evaluate(one_shot, data.val)
    gradual = copy.deepcopy(model)
    prune_steps = max(int(end_fraction * n_steps), 1)
    scheduler = PruningScheduler(gradual, sparsity, "cubic", start_step=0, n_steps=prune_steps, frequency=1)
    _train_steps(gradual, data.train, n_steps, lr, seed + 1, callback=lambda step, _loss: scheduler.step(step))
    out["graduel"] = evaluate(gradual, data.val)
    return out


def sparse_training_run(seed: int, data, method: str, sparsity: float = 0.9, epochs: int = 35,
                        regrow_fraction: float = 0.3, update_every: int = 5, end_fraction: float = 0.75,
                        lr: float = 3e-3, kind: str = "mlp") -> float:
    """Entraînement creux depuis l'initialisation ; renvoie la précision de validation finale.

    Masque initial : magnitude des poids initiaux, ``sparsity`` dans chaque couche (uniforme, comme
    Evci et al., 2020, §4). Puis ``epochs`` époques d'Adam ; tous les ``update_every`` pas jusqu'à
    ``end_fraction`` de l'entraînement, ``"set"`` ou ``"rigl"`` échange une fraction des poids actifs
    (α = ``regrow_fraction``, décroissance cosinus) ; ``"statique"`` garde son masque.
    """
    if method not in ("statique", "set", "rigl"):
        raise ValueError(f"method doit valoir 'statique', 'set' ou 'rigl' ; reçu {method!r}.")
    check_fraction(sparsity, "sparsity")
    check_positive_int(epochs, "epochs")
    check_positive_int(update_every, "update_every")
    model = build_model(data, kind=kind, seed=seed)
    n_steps = epochs * len(data.train)
    n_updates = max(int(end_fraction * n_steps) // update_every, 1)
    rp = RegrowthPruning(model, sparsity, regrow_fraction, growth="set" if method == "set" else "rigl",
                         seed=seed, end_step=n_updates, scope="layer", data_loader=data.train, n_batches=1)

    def update(step, _loss):
        if method != "statique" and step % update_every == 0 and rp.step_count < n_updates:
            rp.step()

    _train_steps(model, data.train, n_steps, lr, seed, callback=update)
    return evaluate(model, data.val)


def sparse_training_comparison(seed: int, data, methods=("statique", "set", "rigl"), **kwargs) -> dict[str, float]:
    """``sparse_training_run`` pour chaque méthode, même graine : ``{méthode: précision}``."""
    return {m: sparse_training_run(seed, data, m, **kwargs) for m in methods}


__all__ = ["one_shot_vs_gradual", "sparse_training_comparison", "sparse_training_run"]
