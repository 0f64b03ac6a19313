"""Boucles d'entraînement, de fine-tuning et d'évaluation (CPU, déterministes).

Les barres de progression viennent de ``tqdm.auto`` (widget dans Jupyter,
texte ailleurs) et se coupent avec ``progress=False``.
"""

from __future__ import annotations

import itertools
import numbers
import random
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._validation import check_loader, check_positive_int
from .fr import num


def set_seed(seed: int) -> None:
    """Fixe les graines de ``random``, NumPy et PyTorch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def reseed_loader(loader, seed: int) -> None:
    """Rend l'ordre des lots identique d'un appel à l'autre (même ``seed`` → même ordre)."""
    gen = getattr(loader, "generator", None)
    if isinstance(gen, torch.Generator):
        gen.manual_seed(seed)



def make_optimizer(model: nn.Module, name: str = "adam", lr: float = 1e-3, **kwargs) -> torch.optim.Optimizer:
    """``"adam"`` ou ``"sgd"`` (momentum 0,9 par défaut) sur tous les paramètres du modèle.

    Avec un modèle élagué par ``torch.nn.utils.prune``, ce sont les ``weight_orig``
    qui sont optimisés ; le masque est réappliqué à chaque passe avant.
    """
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, **kwargs)
    if name == "sgd":
        kwargs.setdefault("momentum", 0.9)
        return torch.optim.SGD(model.parameters(), lr=lr, **kwargs)
    raise ValueError(f"Optimiseur inconnu : {name!r}. Valeurs possibles : 'adam', 'sgd'.")


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn: Callable | None = None,
                    *, callback: Callable[[int, float], object] | None = None, max_steps: int | None = None,
                    progress: bool = False, desc: str = "époque") -> float:
    """LA boucle d'entraînement du cours : une passe sur ``loader``, renvoie la perte moyenne par exemple.

    Chaque pas : ``zero_grad`` → perte → ``backward`` → ``optimizer.step()`` → ``callback(pas, perte)``
    (pas compté à partir de 1 dans l'époque). Le callback est l'endroit où un ordonnanceur
    appelle ``scheduler.step()`` ou où une expérience relève l'état du modèle.
    ``max_steps`` arrête l'époque après ce nombre de pas. Les graines et l'ordre des lots sont
    fixés par l'appelant (``set_seed``, ``reseed_loader``) : cette fonction n'en tire aucune.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.train()
    total, count = 0.0, 0
    batches = loader if max_steps is None else itertools.islice(loader, max_steps)
    for step, (x, y) in enumerate(tqdm(batches, desc=desc, disable=not progress, leave=False), start=1):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
        if callback is not None:
            callback(step, loss.item())
    model.train(was_training)
    return total / max(count, 1)


def train(model: nn.Module, loader, epochs: int = 10, lr: float = 3e-3, optimizer: str = "adam",
          seed: int = 0, loss_fn: Callable | None = None, progress: bool = True,
          desc: str = "entraînement", max_steps: int | None = None) -> list[float]:
    """Entraîne ``model`` sur ``loader`` et renvoie la perte moyenne de chaque époque.

    Déterministe sur CPU pour une ``seed`` donnée (graines et ordre des lots fixés).
    ``max_steps`` arrête après ce nombre de pas au total (budget fixe pour les comparaisons).
    """
    check_positive_int(epochs, "epochs", minimum=0)
    check_loader(loader, "loader")
    set_seed(seed)
    reseed_loader(loader, seed)
    opt = make_optimizer(model, optimizer, lr)
    history, done = [], 0

    def count(_step, _loss):
        nonlocal done
        done += 1

    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        left = None if max_steps is None else max_steps - done
        history.append(train_one_epoch(model, loader, opt, loss_fn, callback=count, max_steps=left))
        bar.set_postfix(perte=num(history[-1], 3))
        if max_steps is not None and done >= max_steps:
            break
    return history


def fine_tune(model: nn.Module, loader, epochs: int = 2, lr: float = 1e-3, **kwargs) -> list[float]:
    """Ré-entraînement court après élagage (même boucle que ``train``, taux plus faible)."""
    kwargs.setdefault("desc", "fine-tuning")
    return train(model, loader, epochs=epochs, lr=lr, **kwargs)


@torch.no_grad()
def evaluate(model: nn.Module, loader) -> float:
    """Précision (fraction de bonnes réponses, dans [0, 1]) de ``model`` sur ``loader``.

    Passe en mode ``eval`` le temps de la mesure, puis rétablit le mode d'origine.
    """
    check_loader(loader, "loader")
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += (model(x).argmax(dim=1) == y).sum().item()
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("loader ne contient aucun exemple : impossible de mesurer une précision.")
    return correct / total


def train_baseline(data, kind: str = "cnn", epochs: int = 15, seed: int = 0, progress: bool = True) -> nn.Module:
    """Modèle de référence du cours : construit avec ``seed`` puis entraîné sur ``data.train``."""
    from .models import build_model

    model = build_model(data, kind=kind, seed=seed)
    train(model, data.train, epochs=epochs, seed=seed, progress=progress, desc="référence")
    model.eval()
    return model


class EpochTrainer:
    """Une époque d'entraînement par appel, avec un optimiseur PERSISTANT : ``trainer(model)``.

    Le momentum (ou l'état d'Adam) survit d'une époque à l'autre, comme dans une vraie
    boucle d'entraînement : c'est ce qui rend la démonstration de ``polish_pruning(hold_masks=False)``
    honnête. L'optimiseur (``self.optimizer``) est créé au premier appel, sur les paramètres
    du modèle à ce moment (``weight_orig`` si le modèle est élagué), et recréé si ces paramètres changent.
    ``callback(pas, perte)`` est appelé après chaque pas d'optimiseur (voir ``train_one_epoch``).
    """

    def __init__(self, loader, lr: float = 0.05, optimizer: str = "sgd", momentum: float = 0.9, seed: int = 0,
                 loss_fn: Callable | None = None, max_steps: int | None = None, progress: bool = False,
                 callback: Callable[[int, float], object] | None = None):
        check_loader(loader, "loader")
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not lr > 0:
            raise ValueError(f"lr doit être un réel > 0 ; reçu {lr!r}.")
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer doit valoir 'sgd' ou 'adam' ; reçu {optimizer!r}.")
        if max_steps is not None:
            check_positive_int(max_steps, "max_steps")
        self.loader, self.lr, self.optimizer_name, self.momentum = loader, float(lr), optimizer, momentum
        self.seed, self.loss_fn, self.max_steps, self.progress = seed, loss_fn, max_steps, progress
        self.callback = callback
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
        reseed_loader(self.loader, self.seed + self.epoch)
        loss = train_one_epoch(model, self.loader, self.optimizer, self.loss_fn, callback=self.callback,
                               max_steps=self.max_steps, progress=self.progress, desc=f"époque {self.epoch}")
        self.epoch += 1
        return loss
