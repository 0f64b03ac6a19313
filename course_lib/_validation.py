"""Validation des entrées, séparée du calcul (comme ``torch.nn.utils.prune``).

Chaque fonction lève une erreur en français qui dit ce qui a été reçu et ce
qui est attendu. Aucune ne modifie quoi que ce soit.
"""

from __future__ import annotations

import math
import numbers

import torch


def check_fraction(value, name: str = "sparsity", *, allow_one: bool = False) -> float:
    """Vérifie qu'une fraction est un réel fini dans [0, 1) (ou [0, 1] si ``allow_one``).

    Returns:
        La valeur convertie en ``float``.

    Raises:
        TypeError: si ``value`` n'est pas un nombre réel (chaîne, booléen, tenseur à plusieurs éléments...).
        ValueError: si ``value`` est NaN, infinie ou hors de l'intervalle.
    """
    interval = "[0, 1]" if allow_one else "[0, 1)"
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} doit être un nombre réel dans {interval} ; reçu {value!r} "
            f"(de type {type(value).__name__})."
        )
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} doit être un nombre réel dans {interval} ; reçu NaN.")
    upper_ok = value <= 1.0 if allow_one else value < 1.0
    if not (0.0 <= value and upper_ok):
        hint = " (1 supprimerait tous les poids)" if value == 1.0 else ""
        raise ValueError(f"{name} doit être dans {interval}{hint} ; reçu {value!r}.")
    return value


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Vérifie qu'un entier vaut au moins ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} doit être un entier >= {minimum} ; reçu {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} doit être un entier >= {minimum} ; reçu {value}.")
    return int(value)


def check_loader(data_loader, name: str = "data_loader") -> None:
    """Vérifie qu'un DataLoader (ou tout itérable de lots) n'est pas vide."""
    try:
        n = len(data_loader)
    except TypeError:
        return  # itérable sans longueur : on vérifiera à l'usage
    if n == 0:
        raise ValueError(
            f"{name} est vide (0 lot) : il faut au moins un lot (x, y). "
            "Vérifiez le jeu de données et drop_last/batch_size."
        )
