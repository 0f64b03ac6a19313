"""Des scores d'importance aux masques, et des masques au modèle.

- ``create_masks_from_importance`` : élague **exactement** k = round(s·n) poids
  (les k scores les plus faibles ; à égalité, le plus petit indice d'abord).
  Pas de seuil par quantile : un seuil interpolé se trompe de compte dès qu'il
  y a des égalités (par exemple des poids déjà nuls).
- ``apply_masks`` passe par ``torch.nn.utils.prune.custom_from_mask`` : le
  masque est réappliqué à chaque passe avant, il survit donc à tous les pas
  d'optimiseur (momentum, weight decay, Adam). Réappliquer combine les masques.
- ``remove_masks`` rend l'élagage permanent (supprime ``weight_orig``/``weight_mask``).

Par défaut, seuls les poids (``weight``) des couches ``Linear`` et ``Conv``
sont élagables : jamais les biais ni la BatchNorm.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from ._validation import (
    check_against_model,
    check_binary_masks,
    check_fraction,
    check_importance,
    check_other_masks,
)
from .fr import layer_labels, num, pct

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class LayerCollapseWarning(UserWarning):
    """Un masque global supprimerait une couche entière (le réseau ne transmettrait plus rien)."""


class ChannelImportance(dict):
    """Importance ``{nom du poids: scores}`` où tous les poids d'un canal de sortie ont le même score.

    Renvoyée par les critères de canal (``apoz_importance``). ``create_masks`` sait alors qu'un canal
    dont tous les poids sont retirés est un canal **retiré** : il masque aussi son biais. Sans cela le
    canal émettrait encore ReLU(b_c), une constante (notebook 04).
    """


# ----------------------------------------------------------------------------- noms et poids

def prunable_modules(model: nn.Module, types: tuple[type[nn.Module], ...] = PRUNABLE_TYPES) -> dict[str, nn.Module]:
    """Les couches élagables, indexées par le nom de leur poids (``"features.0.weight"``).

    Les noms restent les mêmes avant et après élagage : ``weight_orig`` n'apparaît jamais.

    Raises:
        ValueError: si le modèle n'a aucune couche élagable.
    """
    out = {f"{name}.weight" if name else "weight": m for name, m in model.named_modules() if isinstance(m, types)}
    if not out:
        kinds = ", ".join(t.__name__ for t in types)
        raise ValueError(
            f"Le modèle {type(model).__name__} n'a aucune couche élagable : il faut au moins une couche {kinds}."
        )
    return out


def effective_weight(module: nn.Module) -> torch.Tensor:
    """Le poids effectif d'une couche, détaché : ``weight_orig * weight_mask`` si elle est élaguée.

    Calculé à partir des paramètres (et non de l'attribut ``weight``, qui n'est
    remis à jour qu'à la passe avant suivante) : exact même juste après un pas d'optimiseur.
    """
    if is_pruned(module):
        return (module.weight_orig * module.weight_mask).detach()
    return module.weight.detach()


def get_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Les poids **effectifs** (masque appliqué), détachés : ``{nom: tenseur}``."""
    return {n: effective_weight(m) for n, m in prunable_modules(model).items()}


def is_pruned(module: nn.Module) -> bool:
    """Vrai si ``module.weight`` est reparamétré par ``torch.nn.utils.prune``."""
    return hasattr(module, "weight_mask")


def get_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Les masques courants (des 1 pour une couche pas encore élaguée)."""
    return {
        n: (m.weight_mask.detach().clone() if is_pruned(m) else torch.ones_like(m.weight, dtype=torch.float32))
        for n, m in prunable_modules(model).items()
    }


# ----------------------------------------------------------------------------- sélection exacte

def _smallest_k_mask(flat: torch.Tensor, k: int) -> torch.Tensor:
    """Masque booléen « à garder » qui élimine exactement les ``k`` plus petites valeurs.

    ``kthvalue`` donne la k-ième valeur v ; on retire tout ce qui est < v, puis,
    parmi les valeurs égales à v, les premières par indice jusqu'à atteindre k.
    C'est exact avec des égalités, et bien plus rapide que ``topk(k, largest=False)``
    quand k est une grande part de n.
    """
    keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)
    if k == 0:
        return keep
    if k >= flat.numel():
        return torch.zeros_like(keep)
    v = flat.kthvalue(k).values
    below = flat < v
    keep &= ~below
    missing = k - int(below.sum())
    if missing > 0:
        tied = torch.nonzero(flat == v, as_tuple=False).flatten()[:missing]
        keep[tied] = False
    return keep


def create_masks_from_importance(importance: Mapping[str, torch.Tensor], sparsity: float,
                                 scope: str = "global", max_layer_sparsity: float | None = None,
                                 warn_collapse: bool = True) -> dict[str, torch.Tensor]:
    """Masques binaires qui retirent les poids de plus faible importance.

    Args:
        importance: ``{nom: scores}`` ; un score plus élevé = un poids plus important.
        sparsity: fraction s ∈ [0, 1) à retirer. On retire exactement k = round(s·n) poids,
            n étant le total (``scope="global"``) ou la taille de chaque couche (``scope="layer"``).
        scope: ``"global"`` (un seul classement pour toutes les couches) ou ``"layer"``.
        max_layer_sparsity: en global, plafond de sparsité par couche (ex. 0.98) pour éviter
            l'effondrement d'une couche ; chaque couche garde alors ses meilleurs poids.
        warn_collapse: émettre ``LayerCollapseWarning`` si une couche est entièrement retirée.

    Returns:
        ``{nom: masque}`` de même forme que les scores, en ``float32`` (1 = gardé, 0 = élagué).
    """
    sparsity = check_fraction(sparsity, "sparsity")
    importance = check_importance(importance)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope doit valoir 'global' ou 'layer' ; reçu {scope!r}.")
    if max_layer_sparsity is not None:
        max_layer_sparsity = check_fraction(max_layer_sparsity, "max_layer_sparsity", allow_one=True)

    if scope == "layer":
        masks = {}
        for n, t in importance.items():
            k = round(sparsity * t.numel())
            masks[n] = _smallest_k_mask(t.detach().flatten().float(), k).view_as(t).float()
        return masks

    names = list(importance)
    flat = torch.cat([importance[n].detach().flatten().float() for n in names])
    k = round(sparsity * flat.numel())
    if max_layer_sparsity is not None:
        flat = flat.clone()
        offset = 0
        for n in names:
            size = importance[n].numel()
            n_keep = size - int(max_layer_sparsity * size)  # au moins ceci reste dans la couche
            if n_keep > 0:
                seg = flat[offset : offset + size]
                protected = torch.topk(seg, n_keep).indices
                seg[protected] = float("inf")
            offset += size
        if int(torch.isinf(flat).logical_and(flat > 0).sum()) > flat.numel() - k:
            raise ValueError(
                f"Impossible d'atteindre sparsity={sparsity} avec max_layer_sparsity={max_layer_sparsity} : "
                "le plafond par couche protège trop de poids. Relevez le plafond ou baissez la sparsité."
            )
    keep = _smallest_k_mask(flat, k)
    masks, offset = {}, 0
    for n in names:
        size = importance[n].numel()
        masks[n] = keep[offset : offset + size].view(importance[n].shape).float()
        offset += size
    if warn_collapse:
        dead = [n for n, m in masks.items() if m.numel() > 0 and not m.any()]
        if dead:
            warnings.warn(
                f"Effondrement de couche : le masque global retire 100 % des poids de {dead}. "
                "Le réseau ne peut plus rien transmettre. Utilisez max_layer_sparsity (ex. 0.98) "
                "ou scope='layer'.",
                LayerCollapseWarning,
                stacklevel=2,
            )
    return masks


def create_masks(model: nn.Module, sparsity: float, criterion: str | Callable = "magnitude",
                 scope: str = "global", max_layer_sparsity: float | None = None,
                 keep_pruned: bool = True) -> dict[str, torch.Tensor]:
    """Masques pour ``model`` à la sparsité totale ``sparsity``, selon ``criterion``.

    Args:
        criterion: ``"magnitude"`` (|w| des poids effectifs) ou une fonction ``model -> {nom: scores}``
            (par exemple ``lambda m: compute_gradient_salience(m, loss_fn, loader)``).
        keep_pruned: les poids déjà élagués restent élagués et comptent dans la sparsité :
            la sparsité demandée est celle de la couche entière, pas une fraction de ce qui reste.

    Ne modifie pas le modèle ; appliquez ensuite ``apply_masks(model, masks)``.
    """
    sparsity = check_fraction(sparsity, "sparsity")
    modules = prunable_modules(model)
    if criterion == "magnitude":
        importance = {n: effective_weight(m).abs() for n, m in modules.items()}
    elif callable(criterion):
        importance = criterion(model)
    else:
        raise ValueError(
            f"criterion doit valoir 'magnitude' ou être une fonction model -> {{nom: scores}} ; reçu {criterion!r}."
        )
    by_channel = isinstance(importance, ChannelImportance)
    importance = check_importance(importance)
    check_against_model(model, importance, "importance")
    if keep_pruned:
        current = get_masks(model)
        importance = {
            n: torch.where(current[n].bool(), t.detach().float(), torch.tensor(float("-inf")))
            for n, t in importance.items()
        }
    masks = create_masks_from_importance(importance, sparsity, scope, max_layer_sparsity)
    if by_channel:
        masks.update(_bias_masks(modules, masks))
    return masks


def _bias_masks(modules: Mapping[str, nn.Module], masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masques de biais ``{"couche.bias": (C,)}`` : 0 pour chaque canal de sortie dont tout le poids est masqué."""
    out = {}
    for n, m in masks.items():
        alive = m.flatten(1).any(dim=1)
        if modules[n].bias is not None and not alive.all():
            out[n[: -len("weight")] + "bias"] = alive.float()
    return out


# ----------------------------------------------------------------------------- application

def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Applique ``masks`` avec ``torch.nn.utils.prune.custom_from_mask``.

    Les clés sont les poids élagables (``"features.0.weight"``) ; pour retirer un canal entier,
    on peut aussi masquer un biais ou les paramètres d'une BatchNorm (``"features.0.bias"``,
    ``"features.1.weight"``), comme le fait ``course_lib.structured.channel_masks``.
    Tout est vérifié (noms, formes, valeurs 0/1) avant de toucher au modèle : en cas
    d'erreur, le modèle est inchangé. Un second appel combine les masques (produit).
    """
    if not isinstance(masks, Mapping):
        raise TypeError(f"masks doit être un dictionnaire {{nom: masque}} ; reçu {type(masks).__name__}.")
    modules = prunable_modules(model)
    others = {n: m for n, m in masks.items() if n not in modules}
    check_against_model(model, {n: m for n, m in masks.items() if n in modules}, "masks")
    targets = check_other_masks(model, others)
    check_binary_masks(masks)
    for n, m in masks.items():
        module, pname = (modules[n], "weight") if n in modules else targets[n]
        param = getattr(module, pname)
        prune.custom_from_mask(module, pname, m.to(device=param.device, dtype=param.dtype))
        _detach_weight(module)
        if _detach_weight not in module._forward_hooks.values():
            module.register_forward_hook(_detach_weight)
    return model


def _detach_weight(module: nn.Module, *_args) -> None:
    """Remplace l'attribut ``weight`` (non-feuille, recalculé à chaque passe avant par
    ``torch.nn.utils.prune``) par une copie détachée une fois la passe avant finie.

    Le graphe d'autograd garde ses propres références : les gradients sont inchangés.
    Sans cela, ``copy.deepcopy`` d'un modèle élagué échoue (« Only Tensors created
    explicitly by the user support the deepcopy protocol »).
    """
    for pname in _pruned_names(module):
        object.__setattr__(module, pname, getattr(module, pname).detach())


def _pruned_names(module: nn.Module) -> list[str]:
    """Les paramètres reparamétrés par ``torch.nn.utils.prune`` (``weight``, ``bias``...)."""
    names = [b[: -len("_mask")] for b, _ in module.named_buffers(recurse=False) if b.endswith("_mask")]
    return [n for n in names if hasattr(module, n + "_orig")]


def set_masks(model: nn.Module, masks: Mapping[str, torch.Tensor], zero_regrown: bool = True) -> nn.Module:
    """**Remplace** les masques (au lieu de les combiner) : permet la repousse (SET, RigL).

    Une couche pas encore élaguée reçoit simplement le masque. Pour une couche élaguée,
    le tampon ``weight_mask`` est écrasé ; avec ``zero_regrown``, les poids qui
    repoussent (masque 0 → 1) repartent de 0 dans ``weight_orig`` (Evci et al., 2020).
    Tout est vérifié avant de modifier le modèle.
    """
    if not isinstance(masks, Mapping):
        raise TypeError(f"masks doit être un dictionnaire {{nom: masque}} ; reçu {type(masks).__name__}.")
    check_against_model(model, masks, "masks")
    check_binary_masks(masks)
    modules = prunable_modules(model)
    fresh = {n: m for n, m in masks.items() if not is_pruned(modules[n])}
    apply_masks(model, fresh)
    with torch.no_grad():
        for n, m in masks.items():
            module = modules[n]
            if n in fresh:
                continue
            new = m.to(device=module.weight_mask.device, dtype=module.weight_mask.dtype)
            if zero_regrown:
                regrown = (new == 1) & (module.weight_mask == 0)
                module.weight_orig[regrown] = 0.0
            module.weight_mask.copy_(new)
            object.__setattr__(module, "weight", (module.weight_orig * module.weight_mask).detach())
    return model


def remove_masks(model: nn.Module) -> nn.Module:
    """Rend l'élagage permanent : ``weight = weight_orig * weight_mask`` devient un paramètre ordinaire
    (de même pour un biais ou une BatchNorm masqués)."""
    prunable_modules(model)  # erreur claire si le modèle n'a rien d'élagable
    for m in model.modules():
        for pname in _pruned_names(m):
            prune.remove(m, pname)
        for key, hook in list(m._forward_hooks.items()):
            if hook is _detach_weight:
                del m._forward_hooks[key]
    return model


make_permanent = remove_masks


def load_pruned_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Charge le ``state_dict`` d'un modèle élagué (avec ``*_orig``/``*_mask``) dans un modèle neuf.

    Les masques sont d'abord posés (pour créer ``weight_orig``/``weight_mask``), puis tout est chargé.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict doit être un dictionnaire ; reçu {type(state_dict).__name__}.")
    masks = {k[: -len("_mask")]: v for k, v in state_dict.items() if k.endswith("_mask")}
    modules = prunable_modules(model)
    check_against_model(model, {n: m for n, m in masks.items() if n in modules}, "state_dict (masques)")
    named = dict(model.named_modules())
    fresh = {n: m for n, m in masks.items()
             if not hasattr(named.get(n.rpartition(".")[0]), n.rpartition(".")[2] + "_mask")}
    # Essai sur une copie : si le state_dict ne convient pas, le modèle reste intact.
    trial = apply_masks(copy.deepcopy(model), fresh)
    try:
        trial.load_state_dict(state_dict)
    except RuntimeError as err:
        raise ValueError(
            f"state_dict incompatible avec le modèle {type(model).__name__} (attendu : les clés et les "
            f"formes de son state_dict, masques compris) ; reçu : {err}"
        ) from err
    apply_masks(model, fresh)
    model.load_state_dict(state_dict)
    for module in model.modules():  # ``weight`` (et ``bias``) à jour sans attendre la prochaine passe avant
        for pname in _pruned_names(module):
            value = getattr(module, pname + "_orig") * getattr(module, pname + "_mask")
            object.__setattr__(module, pname, value.detach())
    return model


# ----------------------------------------------------------------------------- rapport

@dataclass
class LayerSparsity:
    name: str
    zeros: int
    total: int
    label: str = ""  # le nom affiché (« couche cachée 1 ») : ``fr.layer_labels``

    @property
    def sparsity(self) -> float:
        return self.zeros / self.total if self.total else 0.0


@dataclass
class SparsityReport:
    """Sparsité (fraction de poids nuls) par couche et globale, sur les poids élagables."""

    layers: list[LayerSparsity]

    @property
    def zeros(self) -> int:
        return sum(layer.zeros for layer in self.layers)

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers)

    @property
    def global_sparsity(self) -> float:
        return self.zeros / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, float]:
        return {layer.name: layer.sparsity for layer in self.layers}

    def __repr__(self) -> str:
        width = max(len("réseau entier"), *(len(layer.label or layer.name) for layer in self.layers))
        lines = [f"{'couche':<{width}}  {'nuls':>9} / {'total':<9} sparsité"]
        for layer in self.layers:
            lines.append(f"{layer.label or layer.name:<{width}}  {num(layer.zeros, 0):>9} / {num(layer.total, 0):<9} "
                         f"{pct(layer.sparsity, 2):>8}")
        lines.append(f"{'réseau entier':<{width}}  {num(self.zeros, 0):>9} / {num(self.total, 0):<9} "
                     f"{pct(self.global_sparsity, 2):>8}")
        return "\n".join(lines)


def sparsity_report(model: nn.Module) -> SparsityReport:
    """Compte les poids effectifs nuls de chaque couche élagable (biais exclus).

    On compte les valeurs du poids effectif w = w_orig ⊙ m, pas les zéros des masques : un poids
    réactivé par la repousse (``set_masks``) repart de 0 et compte donc comme nul tant que
    l'entraînement ne l'a pas fait bouger. Pour la sparsité *des masques*, utilisez
    ``get_masks`` (ce que fait ``RegrowthPruning.current_sparsity``).
    """
    weights = get_weights(model)
    labels = layer_labels(weights)
    return SparsityReport(
        [LayerSparsity(n, int((w == 0).sum()), w.numel(), labels[n]) for n, w in weights.items()]
    )
