"""Boucles d'entraînement, de fine-tuning et d'évaluation (CPU, déterministes).

Les barres de progression viennent de ``tqdm.auto`` (widget dans Jupyter,
texte ailleurs) et se coupent avec ``progress=False``.
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._validation import check_loader, check_positive_int


def set_seed(seed: int) -> None:
    """Fixe les graines de ``random``, NumPy et PyTorch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _reseed_loader(loader, seed: int) -> None:
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


def train(model: nn.Module, loader, epochs: int = 10, lr: float = 3e-3, optimizer: str = "adam",
          seed: int = 0, loss_fn: Callable | None = None, progress: bool = True,
          desc: str = "entraînement", max_steps: int | None = None) -> list[float]:
    """Entraîne ``model`` sur ``loader`` et renvoie la perte moyenne de chaque époque.

    Déterministe sur CPU pour une ``seed`` donnée (graines et ordre des lots fixés).
    ``max_steps`` arrête après ce nombre de pas (budget fixe pour les comparaisons).
    """
    check_positive_int(epochs, "epochs", minimum=0)
    check_loader(loader, "loader")
    set_seed(seed)
    _reseed_loader(loader, seed)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    opt = make_optimizer(model, optimizer, lr)
    was_training = model.training
    model.train()
    history, step = [], 0
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        total, n = 0.0, 0
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
            step += 1
            if max_steps is not None and step >= max_steps:
                break
        history.append(total / max(n, 1))
        bar.set_postfix(perte=f"{history[-1]:.3f}")
        if max_steps is not None and step >= max_steps:
            break
    model.train(was_training)
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
