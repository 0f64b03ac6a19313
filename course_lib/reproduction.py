"""Les expériences du notebook 12 « Reproduire les articles » : une fonction par affirmation.

Chaque fonction fait UNE graine et renvoie ``{nom: précision}`` (fractions, sur le test) ;
le notebook les répète sur plusieurs graines avec ``over_seeds`` (``course_lib.seeds``).
Tout passe par les noms publics de ``course_lib`` : ``EpochTrainer`` (une époque par appel,
optimiseur persistant), ``PruningScheduler``, ``RegrowthPruning``, ``create_masks``,
``apply_masks``, ``evaluate`` ; aucune boucle d'entraînement ici.

Réglages choisis pour tenir dans le budget du notebook (< 60 s sur 2 cœurs) : petits MLP,
peu d'époques, Adam. Les modèles suivent ``build_model`` (MLP du cours).
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn
from torch.utils.data import DataLoader

from .criteria import compute_gradient_salience, compute_obd_saliency
from .masks import apply_masks, create_masks, create_masks_from_importance, get_weights
from .models import build_model
from .scheduling import EpochTrainer, PruningScheduler, RegrowthPruning
from .training import evaluate

LENET_300_100 = (300, 100)


def _epochs(trainer: EpochTrainer, model: nn.Module, n: int) -> None:
    for _ in range(n):
        trainer(model)


def train_dense(data, seed: int, hidden=LENET_300_100, epochs: int = 10, lr: float = 1e-3) -> nn.Module:
    """MLP dense entraîné (Adam) : le point de départ commun des expériences sur MNIST.

    Avec ``hidden=(300, 100)`` sur MNIST, c'est LeNet-300-100 (784-300-100-10, 266 610 paramètres),
    le réseau du tableau 1 de Han et al. (2015).
    """
    model = build_model(data, kind="mlp", seed=seed, hidden=tuple(hidden))
    _epochs(EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed), model, epochs)
    return model


def han_prune_retrain(dense: nn.Module, data, seed: int, sparsity: float = 0.92, rounds: int = 5,
                      epochs_per_round: int = 2, lr: float = 1e-3) -> dict[str, float]:
    """Han et al. (2015) : élaguer par magnitude (global) puis ré-entraîner, en plusieurs rondes.

    Renvoie la précision du réseau élagué à ``sparsity`` d'un coup **sans** ré-entraînement,
    et celle obtenue en ``rounds`` rondes qui suivent le calendrier cubique de Zhu & Gupta
    (2017, éq. 1), chacune suivie de ``epochs_per_round`` époques de ré-entraînement.
    ``dense`` n'est pas modifié.
    """
    no_retrain = copy.deepcopy(dense)
    apply_masks(no_retrain, create_masks(no_retrain, sparsity))
    model = copy.deepcopy(dense)
    scheduler = PruningScheduler(model, sparsity, schedule="cubic", n_steps=rounds, frequency=1)
    trainer = EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed)
    for _ in range(rounds):
        scheduler.step()
        _epochs(trainer, model, epochs_per_round)
    return {"sans ré-entraînement": evaluate(no_retrain, data.test), "élagué et ré-entraîné": evaluate(model, data.test)}


def _random_importance(seed: int):
    def importance(model: nn.Module) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        return {n: torch.rand(w.shape, generator=gen) for n, w in get_weights(model).items()}
    return importance


def scope_and_random(dense: nn.Module, data, seed: int, sparsity: float = 0.95, epochs: int = 2,
                     lr: float = 1e-3) -> dict[str, float]:
    """Blalock et al. (2020) : magnitude globale, magnitude par couche et hasard, même taille finale.

    Chaque variante part du même réseau dense, est élaguée d'un coup à ``sparsity`` puis
    ré-entraînée ``epochs`` époques (même budget). ``dense`` n'est pas modifié.
    """
    variants = {
        "magnitude globale": dict(criterion="magnitude", scope="global"),
        "magnitude par couche": dict(criterion="magnitude", scope="layer"),
        "hasard": dict(criterion=_random_importance(seed), scope="global"),
    }
    out = {}
    for name, kw in variants.items():
        model = copy.deepcopy(dense)
        apply_masks(model, create_masks(model, sparsity, **kw))
        _epochs(EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed), model, epochs)
        out[name] = evaluate(model, data.test)
    return out


def criterion_and_scope(dense: nn.Module, data, seed: int, sparsity: float = 0.9,
                        n_batches: int = 4) -> dict[str, float]:
    """Critère contre portée, **sans** ré-entraînement : 4 critères × (global, par couche).

    Magnitude |w| ; OBD ½·F·w² avec la Fisher empirique ; Taylor par exemple, normalisé par
    couche (Molchanov et al., 2017) ; hasard. Scores calculés sur ``n_batches`` lots
    d'entraînement tirés avec la graine ``seed``. Clés : ``"<critère>, global"`` et ``"<critère>, par couche"``.
    """
    loss_fn = nn.CrossEntropyLoss()
    # Lots tirés avec leur propre générateur : le résultat ne dépend pas de ce qui a tourné avant.
    loader = DataLoader(data.train.dataset, batch_size=data.train.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    batches = list(itertools.islice(loader, n_batches))
    scores = {
        "magnitude": {n: w.abs() for n, w in get_weights(dense).items()},
        "OBD (Fisher)": compute_obd_saliency(dense, loss_fn, batches),
        "Taylor": compute_gradient_salience(dense, loss_fn, batches, normalize=True),
        "hasard": _random_importance(seed)(dense),
    }
    out = {}
    for scope, label in (("global", "global"), ("layer", "par couche")):
        for name, imp in scores.items():
            model = copy.deepcopy(dense)
            apply_masks(model, create_masks_from_importance(imp, sparsity, scope=scope, warn_collapse=False))
            out[f"{name}, {label}"] = evaluate(model, data.test)
    return out


def gradual_vs_one_shot(data, seed: int, sparsities=(0.9, 0.95), hidden=(128, 64), dense_epochs: int = 10,
                        ramp_epochs: int = 15, recovery_epochs: int = 5, lr: float = 1e-3) -> dict[str, float]:
    """Zhu & Gupta (2017) : rampe cubique (éq. 1) contre élagage d'un coup, même budget d'époques.

    Tronc commun : ``dense_epochs`` époques denses. Graduel : la sparsité monte en
    ``ramp_epochs`` pas (un par époque) selon le calendrier cubique, puis ``recovery_epochs``
    époques. One-shot : ``ramp_epochs`` époques denses de plus, élagage d'un coup (magnitude,
    global) à la fin de la rampe, puis les mêmes ``recovery_epochs`` époques.
    Clés : ``"graduel 90 %"``, ``"one-shot 90 %"``...
    """
    from .fr import pct

    trunk = build_model(data, kind="mlp", seed=seed, hidden=tuple(hidden))
    _epochs(EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed), trunk, dense_epochs)
    late = copy.deepcopy(trunk)
    _epochs(EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed + 1000), late, ramp_epochs)
    out = {}
    for s in sparsities:
        model = copy.deepcopy(trunk)
        scheduler = PruningScheduler(model, s, schedule="cubic", n_steps=ramp_epochs, frequency=1)
        trainer = EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed)
        for _ in range(ramp_epochs):
            scheduler.step()
            trainer(model)
        _epochs(trainer, model, recovery_epochs)
        one_shot = copy.deepcopy(late)
        apply_masks(one_shot, create_masks(one_shot, s))
        _epochs(EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed), one_shot, recovery_epochs)
        out[f"graduel {pct(s, 0)}"] = evaluate(model, data.test)
        out[f"one-shot {pct(s, 0)}"] = evaluate(one_shot, data.test)
    return out


def sparse_training(data, seed: int, sparsity: float = 0.9, hidden=(128, 64), epochs: int = 25,
                    regrow_fraction: float = 0.3, end_fraction: float = 0.75, lr: float = 1e-3) -> dict[str, float]:
    """Evci et al. (2020) : entraînement creux statique, SET et RigL, à sparsité constante.

    Même initialisation et même masque de départ (magnitude à l'initialisation, sparsité
    uniforme par couche). Après chaque époque (l'article : tous les ΔT = 100 pas), SET et RigL échangent une fraction des poids
    actifs de chaque couche, fraction qui décroît en cosinus (Evci et al., éq. 1, α = 0,3)
    jusqu'à ``end_fraction`` de l'entraînement, puis le masque est figé. RigL fait repousser
    les poids de plus grand gradient (calculé sur un lot), SET au hasard ; statique ne change rien.
    """
    end_step = max(1, round(end_fraction * epochs))
    out = {}
    for name, growth in (("statique", None), ("SET", "set"), ("RigL", "rigl")):
        model = build_model(data, kind="mlp", seed=seed, hidden=tuple(hidden))
        regrowth = RegrowthPruning(model, sparsity, regrow_fraction=regrow_fraction if growth else 0.0,
                                   growth=growth or "set", seed=seed, end_step=end_step, scope="layer",
                                   data_loader=data.train, n_batches=1)
        trainer = EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed)
        for _ in range(epochs):
            trainer(model)
            if growth:
                regrowth.prune_and_regrow_step()
        out[name] = evaluate(model, data.test)
    return out


def train_dense_models(data, seeds, progress: bool = True, **kwargs) -> dict[int, nn.Module]:
    """``{graine: train_dense(data, graine)}``, avec une barre de progression : les réseaux denses
    partagés par plusieurs expériences (chacune en part d'une copie)."""
    from tqdm.auto import tqdm

    return {s: train_dense(data, s, **kwargs) for s in tqdm(seeds, desc="réseaux denses", disable=not progress,
                                                            leave=False)}


def scope_vs_criterion(results, criteria=("magnitude", "OBD (Fisher)", "Taylor")) -> tuple[float, float]:
    """Résume ``criterion_and_scope`` répété sur des graines (un ``SeedResults``).

    Renvoie (effet de la portée, effet du critère), en points de précision moyenne :
    - portée : le PLUS PETIT écart « global − par couche » parmi les critères ;
    - critère : le PLUS GRAND écart entre le meilleur et le pire critère, à portée fixée.
    Le hasard est exclu (ce n'est pas un critère).
    """
    scope = min(results[f"{c}, global"].mean - results[f"{c}, par couche"].mean for c in criteria)
    spread = max(
        max(results[f"{c}, {s}"].mean for c in criteria) - min(results[f"{c}, {s}"].mean for c in criteria)
        for s in ("global", "par couche")
    )
    return scope, spread
