"""Le protocole commun des ordonnanceurs d'élagage, sur le modèle de ``torch.optim.lr_scheduler``.

Tout ordonnanceur du cours :

- avance d'un pas avec ``step()`` (``AdaptivePruningScheduler.step(précision)`` reçoit une mesure,
  comme ``ReduceLROnPlateau.step(metrics)``) et élague le modèle quand il le faut ;
- dit la sparsité visée à un pas donné avec ``sparsity_at(t)`` (sans rien élaguer) ;
- se sauvegarde et se recharge avec ``state_dict()`` / ``load_state_dict()`` ; les masques, eux,
  vivent dans ``model.state_dict()`` (``weight_mask``) et se rechargent avec ``load_pruned_state_dict``.

Ce module contient aussi les deux gestes que partagent les ordonnanceurs : traduire un critère
nommé en fonction d'importance (``make_criterion``) et élaguer un modèle jusqu'à une sparsité
TOTALE (``prune_to``, les poids déjà élagués restent élagués).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

from torch import nn

from .._validation import CRITERIA, check_loader, criterion_name  # noqa: F401  (réexporté)
from ..criteria import apoz_importance, compute_gradient_salience, compute_obd_saliency
from ..masks import apply_masks, create_masks, get_masks

EPS = 1e-12


class BaseScheduler:
    """Classe de base : ``step()``, ``sparsity_at(t)``, ``state_dict()`` / ``load_state_dict()``.

    Une sous-classe nomme dans ``_state_keys`` les attributs qui font son état (des nombres,
    des chaînes, des tenseurs : jamais le modèle ni une fonction) et vérifie un état reçu dans
    ``_check_state`` avant qu'il ne soit appliqué : un état invalide ne change rien.
    """

    _state_keys: tuple[str, ...] = ()

    def step(self, *args, **kwargs):
        raise NotImplementedError

    def sparsity_at(self, t) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """L'état de l'ordonnanceur (copié : le modifier ne touche pas l'ordonnanceur)."""
        return {key: copy.deepcopy(getattr(self, key)) for key in self._state_keys}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Recharge un état produit par ``state_dict`` (validé entièrement avant d'être appliqué)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict doit être un dictionnaire ; reçu {type(state_dict).__name__}.")
        missing = sorted(set(self._state_keys) - set(state_dict))
        if missing:
            raise KeyError(f"state_dict incomplet : il manque {missing}.")
        state = {key: state_dict[key] for key in self._state_keys}
        self._check_state(state)
        for key, value in state.items():
            setattr(self, key, copy.deepcopy(value))

    def _check_state(self, state: dict) -> None:
        """Lève une erreur claire si ``state`` ne peut pas être chargé (surchargé par les sous-classes)."""


def make_criterion(criterion: str | Callable, loss_fn: Callable | None = None, data_loader=None,
                   n_batches: int | None = None) -> str | Callable:
    """Traduit un critère nommé en fonction ``model -> {nom: importance}`` pour ``create_masks``.

    - ``"magnitude"`` : |w| (renvoyé tel quel, ``create_masks`` sait le calculer).
    - ``"gradient"`` : Taylor (gradient de chaque exemple), I_j = (1/N) Σ_m |w_j·g_j^(m)| (``compute_gradient_salience``,
      Molchanov et al., 2017, éq. 8 appliquée à chaque poids), besoin de ``data_loader``.
    - ``"hessian"`` : OBD ½·F_kk·w_k² avec la Fisher empirique (``compute_obd_saliency``).
    - ``"apoz"`` : 1 − APoZ du canal (``apoz_importance``), mesuré sur ``data_loader`` : passez la
      validation, comme Hu et al. (2016, éq. (1)).
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


def prune_to(model: nn.Module, sparsity: float, importance, scope: str, max_layer_sparsity=None) -> dict:
    """Élague ``model`` jusqu'à la sparsité TOTALE ``sparsity`` (les poids déjà élagués restent élagués)."""
    masks = create_masks(model, sparsity, importance, scope=scope, max_layer_sparsity=max_layer_sparsity,
                         keep_pruned=True)
    apply_masks(model, masks)
    return masks


def masked_sparsity(model: nn.Module) -> float:
    """Fraction de poids élagués d'après les masques (et non d'après les zéros fortuits)."""
    masks = get_masks(model)
    return sum(int((m == 0).sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
