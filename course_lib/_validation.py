"""Validation des entrées, séparée du calcul (comme ``torch.nn.utils.prune``).

Chaque fonction lève une erreur en français qui dit ce qui a été reçu et ce
qui est attendu. Aucune ne modifie quoi que ce soit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

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


def check_real(value, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """Vérifie qu'un nombre est un réel fini (booléens refusés), éventuellement borné.

    ``low``/``high`` : bornes (incluses, ou exclues avec ``low_open``/``high_open``).
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    left = "" if low is None else ("]" if low_open else "[") + f"{low:g}"
    right = "" if high is None else f"{high:g}" + ("[" if high_open else "]")
    expected = f"un réel fini dans {left or ']-∞'}, {right or '+∞['}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} doit être {expected} ; reçu {value!r} (de type {type(value).__name__}).")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{name} doit être {expected} ; reçu {value!r}.")
    return value


def check_bool(value, name: str) -> bool:
    """Vérifie qu'un drapeau est un vrai booléen (``1`` ou ``"oui"`` sont refusés)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} doit être un booléen (True ou False) ; reçu {value!r}.")
    return value


def check_choice(value, name: str, choices) -> str:
    """Vérifie qu'une option nommée fait partie de ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} doit valoir l'un de {sorted(choices)} ; reçu {value!r}.")
    return value


def check_step(step, name: str = "step") -> float:
    """Un pas est un nombre réel fini >= 0 (entier en pratique, réel accepté pour tracer)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        raise TypeError(f"{name} doit être un nombre >= 0 ; reçu {step!r} (de type {type(step).__name__}).")
    if not math.isfinite(step) or step < 0:
        raise ValueError(f"{name} doit être un nombre fini >= 0 ; reçu {step!r}.")
    return step


def check_schedule(final_sparsity, start_step=0, n_steps=10, frequency=1,
                   initial_sparsity=0.0) -> tuple[float, int, int, int, float]:
    """Valide les paramètres communs des calendriers progressifs (rien n'est modifié).

    Raises:
        TypeError / ValueError: sparsités hors de [0, 1), ``initial_sparsity > final_sparsity``,
            ``start_step < 0``, ``n_steps < 1``, ``frequency < 1``.
    """
    final_sparsity = check_fraction(final_sparsity, "final_sparsity")
    initial_sparsity = check_fraction(initial_sparsity, "initial_sparsity")
    if initial_sparsity > final_sparsity:
        raise ValueError(
            f"initial_sparsity ({initial_sparsity}) doit être <= final_sparsity ({final_sparsity}) : "
            "un calendrier d'élagage ne fait que monter (un poids élagué reste élagué)."
        )
    start_step = check_positive_int(start_step, "start_step", minimum=0)
    n_steps = check_positive_int(n_steps, "n_steps", minimum=1)
    frequency = check_positive_int(frequency, "frequency", minimum=1)
    return final_sparsity, start_step, n_steps, frequency, initial_sparsity


def check_schedule_name(schedule, names) -> str | object:
    """Un calendrier est un nom de ``names`` ou une fonction ``t -> sparsité``."""
    if callable(schedule):
        return schedule
    if not isinstance(schedule, str) or schedule not in names:
        raise ValueError(
            f"schedule doit valoir l'un de {sorted(names)} ou être une fonction t -> sparsité ; reçu {schedule!r}."
        )
    return schedule


def check_scope(scope) -> str:
    """``"global"`` (un classement pour tout le réseau) ou ``"layer"`` (un par couche)."""
    if scope not in ("global", "layer"):
        raise ValueError(f"scope doit valoir 'global' ou 'layer' ; reçu {scope!r}.")
    return scope


CRITERIA = ("magnitude", "gradient", "hessian", "apoz")


def check_criterion(criterion) -> None:
    """Un critère est un nom de ``CRITERIA`` ou une fonction ``model -> {nom: importance}``."""
    if not (callable(criterion) or (isinstance(criterion, str) and criterion in CRITERIA)):
        raise ValueError(
            f"criterion doit valoir l'un de {CRITERIA} ou être une fonction model -> {{nom: importance}} ; "
            f"reçu {criterion!r}."
        )


def check_model(model) -> None:
    """Un ``torch.nn.Module`` qui a au moins une couche élagable."""
    from .masks import prunable_modules

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model doit être un torch.nn.Module ; reçu {type(model).__name__}.")
    prunable_modules(model)  # lève une erreur claire s'il n'y a rien à élaguer


def check_binary_masks(masks, name: str = "masks") -> None:
    """Chaque masque ne contient que des 0 et des 1 (le premier intrus est cité)."""
    for n, m in masks.items():
        bad = m[(m != 0) & (m != 1)]
        if bad.numel():
            raise ValueError(
                f"{name}[{n!r}] doit ne contenir que des 0 et des 1 ; reçu aussi {bad.flatten()[0].item()!r} "
                f"({bad.numel()} valeur(s) hors de {{0, 1}})."
            )


def check_masks_for(model, masks, name: str = "masks") -> dict:
    """Un dictionnaire ``{nom: masque 0/1}`` dont les noms et formes sont ceux des poids élagables."""
    if not isinstance(masks, Mapping):
        raise TypeError(f"{name} doit être un dictionnaire {{nom: masque}} ; reçu {type(masks).__name__}.")
    check_against_model(model, masks, name)
    check_binary_masks(masks, name)
    return dict(masks)


def check_accuracy(acc, name: str = "current_accuracy") -> float:
    """Une précision est un réel dans [0, 1] (tenseur à un élément accepté)."""
    if isinstance(acc, torch.Tensor) and acc.numel() == 1:
        acc = acc.item()
    if isinstance(acc, bool) or not isinstance(acc, numbers.Real) or not 0 <= acc <= 1:
        raise ValueError(f"{name} doit être une précision dans [0, 1] ; reçu {acc!r}.")
    return float(acc)


def check_optional_list(value, name: str) -> None:
    if value is not None and not isinstance(value, list):
        raise TypeError(f"{name} doit être une liste (ou None) ; reçu {type(value).__name__}.")


def check_callable(value, name: str, expected: str) -> None:
    if not callable(value):
        raise TypeError(f"{name} doit être {expected} ; reçu {type(value).__name__}.")


def check_importance(importance) -> dict[str, torch.Tensor]:
    """Un dictionnaire non vide ``{nom: tenseur de scores}`` sans NaN."""
    if not isinstance(importance, Mapping) or len(importance) == 0:
        raise TypeError(
            "importance doit être un dictionnaire non vide {nom du poids: tenseur de scores} ; "
            f"reçu {type(importance).__name__}{' vide' if isinstance(importance, Mapping) else ''}."
        )
    for n, t in importance.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"importance[{n!r}] doit être un tenseur ; reçu {type(t).__name__}.")
        if t.is_floating_point() and torch.isnan(t).any():
            raise ValueError(f"importance[{n!r}] contient des NaN : les scores doivent être comparables.")
    return dict(importance)


def check_against_model(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], what: str = "masks") -> None:
    """Vérifie que les noms et les formes de ``tensors`` correspondent aux poids élagables du modèle."""
    from .masks import prunable_modules

    modules = prunable_modules(model)
    if not isinstance(tensors, Mapping):
        raise TypeError(f"{what} doit être un dictionnaire {{nom du poids: tenseur}} ; reçu {type(tensors).__name__}.")
    for n, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{what}[{n!r}] doit être un tenseur ; reçu {type(t).__name__}.")
    unknown = sorted(set(tensors) - set(modules))
    if unknown:
        raise KeyError(
            f"{what} contient des noms qui ne sont pas des poids élagables du modèle : {unknown}. "
            f"Noms attendus (parmi) : {sorted(modules)}."
        )
    for n, t in tensors.items():
        if tuple(t.shape) != tuple(modules[n].weight.shape):
            raise ValueError(
                f"{what}[{n!r}] a la forme {tuple(t.shape)} alors que le poids {n!r} "
                f"a la forme {tuple(modules[n].weight.shape)}."
            )


def criterion_name(criterion) -> str:
    """Le nom d'un critère : la chaîne elle-même, ou le ``__name__`` de la fonction."""
    check_criterion(criterion)
    return criterion if isinstance(criterion, str) else getattr(criterion, "__name__", repr(criterion))


def check_named_criteria(criteria) -> dict[str, str | Callable]:
    """Une liste non vide de critères (sans doublon) ou ``{nom: critère}`` → ``{nom: critère}``."""
    if isinstance(criteria, Mapping):
        named = dict(criteria)
    elif isinstance(criteria, (str, bytes)) or not isinstance(criteria, Sequence) or not criteria:
        raise TypeError(f"criteria doit être une liste non vide de critères ; reçu {criteria!r}.")
    else:
        named = {criterion_name(c): c for c in criteria}
        if len(named) != len(criteria):
            raise ValueError(f"criteria contient des doublons : {[criterion_name(c) for c in criteria]}.")
    for c in named.values():
        criterion_name(c)  # vérifie chaque critère
    return named


def check_other_masks(model: torch.nn.Module, masks: Mapping[str, torch.Tensor]) -> dict:
    """Masques de paramètres autres que les poids élagables : biais, BatchNorm. ``{nom: (module, paramètre)}``."""
    from .masks import prunable_modules

    named = dict(model.named_modules())
    out = {}
    for n, m in masks.items():
        owner, _, pname = n.rpartition(".")
        module = named.get(owner)
        if module is None or pname not in ("weight", "bias") or getattr(module, pname, None) is None:
            raise KeyError(
                f"masks contient {n!r}, qui n'est ni un poids élagable ni un biais ou un paramètre de "
                f"normalisation du modèle. Noms attendus : {sorted(prunable_modules(model))}, ou « couche.bias »."
            )
        if not isinstance(m, torch.Tensor):
            raise TypeError(f"masks[{n!r}] doit être un tenseur ; reçu {type(m).__name__}.")
        if tuple(m.shape) != tuple(getattr(module, pname).shape):
            raise ValueError(
                f"masks[{n!r}] a la forme {tuple(m.shape)} alors que le paramètre a la forme "
                f"{tuple(getattr(module, pname).shape)}."
            )
        out[n] = (module, pname)
    return out


def check_seeds(seeds) -> tuple[int, ...]:
    """Des graines pour une expérience répétée : au moins 2 entiers distincts ; renvoie un tuple d'``int``."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds doit être une suite d'entiers, par exemple (0, 1, 2) ; reçu {seeds!r}.")
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds
    ):
        raise ValueError(
            f"seeds doit contenir au moins 2 entiers distincts (un écart type en demande 2) ; reçu {seeds!r}."
        )
    return tuple(int(s) for s in seeds)
