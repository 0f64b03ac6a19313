"""Les expériences du notebook 12 « Reproduire les articles » : une fonction par affirmation.

Les deux comparaisons que 12 partage avec d'autres notebooks (graduel contre one-shot, RigL contre
statique) ne sont pas ici : elles viennent de ``course_lib.experiments.schedule_evidence``, le même
protocole et les mêmes arguments que dans 05 et 07.

Chaque fonction fait UNE graine et renvoie ``{nom: précision}`` (fractions, sur le test) ;
le notebook les répète sur plusieurs graines avec ``over_seeds`` (``course_lib.seeds``).
Tout passe par les noms publics de ``course_lib`` : ``EpochTrainer`` (une époque par appel,
optimiseur persistant), ``PruningScheduler``, ``create_masks``,
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
from .scheduling import EpochTrainer, PruningScheduler
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

    Renvoie (précisions de test) :

    - ``"sans ré-entraînement"`` : ``dense`` élagué à ``sparsity`` d'un coup, sans ré-entraînement ;
    - ``"élagué et ré-entraîné"`` : ``rounds`` rondes qui suivent le calendrier cubique de Zhu & Gupta
      (2017, éq. 1), chacune suivie de ``epochs_per_round`` époques de ré-entraînement ;
    - ``"dense, même budget"`` : ``dense`` entraîné ``rounds × epochs_per_round`` époques de plus, sans
      élagage. Le réseau élagué a reçu ces époques en plus de celles du dense : c'est à ce dense-là,
      au même nombre total d'époques, qu'il se compare à armes égales.

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
    longer = copy.deepcopy(dense)
    _epochs(EpochTrainer(data.train, lr=lr, optimizer="adam", seed=seed), longer, rounds * epochs_per_round)
    return {"sans ré-entraînement": evaluate(no_retrain, data.test), "élagué et ré-entraîné": evaluate(model, data.test),
            "dense, même budget": evaluate(longer, data.test)}


RANDOM_STREAM = 10_000  # décalage de graine du hasard, loin de celles des modèles


def _random_importance(seed: int):
    """Scores au hasard (uniformes), reproductibles, tirés d'un flux **indépendant** de l'initialisation.

    ``build_model(seed)`` tire les poids initiaux avec ``torch.manual_seed(seed)`` : un générateur
    de même graine rejouerait exactement ces nombres, et le « hasard » classerait les poids par leur
    valeur initiale. D'où la graine ``RANDOM_STREAM + seed``.
    """
    def importance(model: nn.Module) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(RANDOM_STREAM + seed)
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

    Magnitude |w| ; OBD ½·F·w² avec la Fisher empirique ; Taylor (gradient de chaque exemple), normalisé par
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


def scope_vs_criterion_per_seed(results, criteria=("magnitude", "OBD (Fisher)", "Taylor")):
    """Les deux effets de ``scope_vs_criterion``, graine par graine : ``(portée, critère)`` en ``SeedStats``.

    Pour la graine i : portée_i = min sur les critères de (global − par couche) ; critère_i = max sur les
    portées de (meilleur − pire critère). Appariés, ils se comparent avec ``course_lib.evidence.compare``.
    """
    from .seeds import SeedStats

    seeds = results[f"{criteria[0]}, global"].seeds
    scope, spread = [], []
    for i in range(len(seeds)):
        def v(c, s, i=i):
            return results[f"{c}, {s}"].values[i]
        scope.append(min(v(c, "global") - v(c, "par couche") for c in criteria))
        spread.append(max(max(v(c, s) for c in criteria) - min(v(c, s) for c in criteria)
                          for s in ("global", "par couche")))
    return SeedStats(tuple(scope), seeds), SeedStats(tuple(spread), seeds)

