"""Élagage structuré : retirer pour de vrai des canaux (convolutions) ou des neurones (linéaires).

Un masque met des poids à zéro mais garde leur place : le calcul reste dense, donc aussi
long (pytorch#36214). Retirer un canal rend le réseau **plus petit** : la couche a moins de
sorties et la suivante moins d'entrées. Notebook 11 (``notebooks/11_elagage_structure.ipynb``).

- ``channel_importance`` : un score par canal (L1/L2 du filtre, APoZ, Taylor) ;
- ``select_channels`` : les canaux gardés, couche par couche ;
- ``channel_masks`` : la version masquée (poids, biais et BatchNorm du canal à zéro) ;
- ``remove_channels`` : la version physique, un nouveau modèle plus petit, mêmes sorties ;

Ce que l'on gagne vraiment (MAC, paramètres, latence) se mesure avec ``course_lib.cost`` ;
le balayage du notebook 11 est dans ``course_lib.experiments.structured``.

Architectures prises en charge : des chaînes de modules (``nn.Sequential`` imbriqués, comme
``SmallCNN``, ``MLP`` et ``CifarCNN``) faites de Conv2d/Linear, BatchNorm, ReLU, pooling,
Dropout et Flatten. ``remove_channels`` vérifie sur une entrée que la chaîne reproduit le modèle.

Ordres pris en charge entre une couche et la suivante : toute suite de ReLU, pooling, Dropout et
BatchNorm, dans n'importe quel ordre (Conv → BN → ReLU, Conv → ReLU → BN, Conv → ReLU → BN → pooling,
Linear → ReLU → BatchNorm1d...) : chaque BatchNorm agit canal par canal, on retire les mêmes canaux
de chacune. Refusée, avec une erreur avant toute modification : une BatchNorm dont le nombre de
canaux n'est pas celui de la couche qui la précède, par exemple une BatchNorm1d placée après un
Flatten (elle normalise les C·H·W entrées une à une, pas les C canaux).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._validation import check_fraction
from .criteria import _batches, compute_apoz

LAYERS = (nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
PASSIVE = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Dropout, nn.Identity, nn.Flatten)
METHODS = ("l1", "l2", "apoz", "taylor")


# ----------------------------------------------------------------------------- structure du réseau

@dataclass
class ChannelGroup:
    """Une couche dont on peut retirer des canaux de sortie, et ce qu'il faut couper avec eux."""

    layer: str            # la couche (Conv2d/Linear) dont on retire des sorties
    norms: list[str]      # les BatchNorm qui la suivent, avant ou après la ReLU (mêmes canaux)
    relu: str | None      # la première ReLU qui la suit (APoZ, Taylor)
    consumer: str         # la couche suivante, dont on retire les entrées correspondantes
    channels: int         # nombre de canaux de sortie
    flattened: bool = False  # un Flatten sépare la couche de la suivante


def _chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Les modules feuilles dans l'ordre de déclaration ; refuse ce qu'on ne sait pas élaguer."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model doit être un torch.nn.Module ; reçu {type(model).__name__}.")
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    for name, module in leaves:
        if not isinstance(module, LAYERS + NORMS + PASSIVE):
            raise ValueError(
                f"Élagage structuré : le module {name!r} ({type(module).__name__}) n'est pas pris en charge. "
                "Attendu : une chaîne de Conv2d, Linear, BatchNorm, ReLU, pooling, Dropout et Flatten."
            )
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            raise ValueError(f"Élagage structuré : la convolution {name!r} a groups={module.groups} ; attendu 1.")
    return leaves


def channel_groups(model: nn.Module) -> dict[str, ChannelGroup]:
    """``{nom de couche: ChannelGroup}`` pour chaque Conv2d/Linear suivie d'une autre (toutes sauf la sortie).

    Raises:
        ValueError: une BatchNorm après un Flatten, ou dont le nombre de canaux n'est pas celui de
            la couche qui la précède (voir les ordres pris en charge en tête du module).
    """
    chain = _chain(model)
    groups: dict[str, ChannelGroup] = {}
    current: ChannelGroup | None = None
    for name, module in chain:
        if isinstance(module, LAYERS):
            if current is not None:
                current.consumer = name
                groups[current.layer] = current
            channels = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
            current = ChannelGroup(name, [], None, "", channels)
        elif current is None:
            continue
        elif isinstance(module, nn.Flatten):
            current.flattened = True
        elif isinstance(module, NORMS):
            if module.num_features != current.channels:
                where = " après un Flatten" if current.flattened else ""
                raise ValueError(
                    f"Élagage structuré : la BatchNorm {name!r} normalise {module.num_features} entrées{where}, "
                    f"mais la couche {current.layer!r} qui la précède a {current.channels} canaux de sortie ; "
                    "on ne sait pas quelles entrées de la BatchNorm retirer avec chaque canal. Ordres pris en "
                    "charge : une BatchNorm d'autant de canaux que la couche, avant ou après la ReLU "
                    "(Conv2d → BatchNorm2d → ReLU, Conv2d → ReLU → BatchNorm2d), pas une BatchNorm1d des "
                    "C·H·W entrées après un Flatten."
                )
            current.norms.append(name)
        elif isinstance(module, nn.ReLU) and current.relu is None:
            current.relu = name
    return groups


# ----------------------------------------------------------------------------- critères de canal

def channel_importance(model: nn.Module, method: str = "l1", data_loader=None, loss_fn=None,
                       n_batches: int | None = None) -> dict[str, torch.Tensor]:
    """Un score par canal de sortie, ``{nom de couche: (C,)}`` ; un score **élevé** = un canal **important**.

    - ``"l1"`` : s_j = Σ |F_j|, norme L1 du filtre j (Li et al., 2017, *Pruning Filters for
      Efficient ConvNets*, éq. de la section 3.1) ; ``"l2"`` : ‖F_j‖₂.
    - ``"apoz"`` : 1 − APoZ_j, APoZ mesuré après la ReLU (Hu et al., 2016, *Network Trimming*, éq. 1).
    - ``"taylor"`` : Θ_j = moyenne sur les exemples de |(1/M) Σ_m a_m · ∂L/∂a_m|, a la carte
      d'activation (après la ReLU) du canal j, M ses positions (Molchanov et al., 2017,
      *Pruning Convolutional Neural Networks for Resource Efficient Inference*, éq. 8), normalisée
      par sa norme L2 dans la couche (éq. 9) pour comparer les couches.

    ``"apoz"`` et ``"taylor"`` ont besoin de ``data_loader`` ; aucun critère ne modifie le modèle.
    """
    if method not in METHODS:
        raise ValueError(f"method doit valoir l'un de {METHODS} ; reçu {method!r}.")
    groups = channel_groups(model)
    if not groups:
        raise ValueError("Le modèle n'a aucune couche dont on puisse retirer des canaux (il en faut au moins deux).")
    modules = dict(model.named_modules())
    if method in ("l1", "l2"):
        p = 1 if method == "l1" else 2
        return {n: _weight(modules[n]).flatten(1).norm(p=p, dim=1) for n in groups}
    if data_loader is None:
        raise ValueError(f"Le critère {method!r} a besoin de données : passez data_loader=....")
    missing = [n for n, g in groups.items() if g.relu is None]
    if missing:
        raise ValueError(f"Le critère {method!r} mesure la sortie d'une ReLU ; aucune ne suit {missing}.")
    if method == "apoz":
        apoz = compute_apoz(model, data_loader, n_batches)
        return {n: 1 - apoz[g.relu] for n, g in groups.items()}
    return _taylor(model, groups, data_loader, loss_fn or nn.CrossEntropyLoss(), n_batches)


def _weight(module: nn.Module) -> torch.Tensor:
    if hasattr(module, "weight_orig"):
        return (module.weight_orig * module.weight_mask).detach()
    return module.weight.detach()


def _taylor(model, groups, data_loader, loss_fn, n_batches) -> dict[str, torch.Tensor]:
    from .masks import remove_masks

    dense = remove_masks(copy.deepcopy(model)).eval()
    modules = dict(dense.named_modules())
    acts: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(_m, _i, out):
            out.retain_grad()
            acts[name] = out
        return hook

    handles = [modules[g.relu].register_forward_hook(keep(n)) for n, g in groups.items()]
    total = {n: torch.zeros(g.channels, dtype=torch.float64) for n, g in groups.items()}
    seen = 0
    try:
        for x, y in _batches(data_loader, n_batches):
            dense.zero_grad(set_to_none=True)
            loss_fn(dense(x), y).backward()
            for n, a in acts.items():
                prod = (a.detach() * a.grad).flatten(2).mean(dim=2) if a.dim() == 4 else a.detach() * a.grad
                total[n] += prod.abs().sum(dim=0).double() * len(y)  # la perte est une moyenne du lot
            seen += len(y)
    finally:
        for h in handles:
            h.remove()
    out = {}
    for n, t in total.items():
        theta = (t / seen).float()
        out[n] = theta / theta.norm().clamp_min(1e-12)
    return out


def select_channels(importance: Mapping[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Les canaux **gardés** de chaque couche : on retire les round(fraction·C) de score le plus faible.

    Couche par couche, compte exact (à égalité, le plus petit indice part d'abord) ; au moins un
    canal reste. Renvoie ``{nom: indices gardés, triés}``.
    """
    fraction = check_fraction(fraction, "fraction")
    if not isinstance(importance, Mapping) or not importance:
        raise TypeError(f"importance doit être un dictionnaire non vide {{couche: scores (C,)}} ; reçu {importance!r}.")
    keep = {}
    for n, s in importance.items():
        if not isinstance(s, torch.Tensor) or s.dim() != 1:
            raise ValueError(f"importance[{n!r}] doit être un tenseur 1-D (un score par canal) ; reçu {s!r}.")
        n_keep = max(1, s.numel() - round(fraction * s.numel()))
        s = s.detach()
        order = sorted(range(s.numel()), key=lambda c: (-float(s[c]), -c))  # le plus petit indice part d'abord
        keep[n] = torch.tensor(sorted(order[:n_keep]), dtype=torch.long)
    return keep


# ----------------------------------------------------------------------------- masquer ou retirer

def _check_keep(model: nn.Module, keep) -> tuple[dict[str, ChannelGroup], dict[str, torch.Tensor]]:
    groups = channel_groups(model)
    if not isinstance(keep, Mapping):
        raise TypeError(f"keep doit être un dictionnaire {{couche: indices gardés}} ; reçu {type(keep).__name__}.")
    out = {}
    for n, idx in keep.items():
        if n not in groups:
            raise ValueError(f"keep[{n!r}] : pas une couche dont on peut retirer des canaux ; couches possibles : "
                             f"{sorted(groups)} (la couche de sortie ne se réduit pas).")
        idx = torch.as_tensor(idx)
        if idx.dtype == torch.bool:
            if idx.numel() != groups[n].channels:
                raise ValueError(f"keep[{n!r}] : masque de {idx.numel()} booléens pour {groups[n].channels} canaux.")
            idx = torch.nonzero(idx).flatten()
        if idx.dim() != 1 or idx.is_floating_point() or idx.numel() == 0:
            raise ValueError(f"keep[{n!r}] doit être une liste non vide d'indices entiers ; reçu {idx.tolist()!r}.")
        if int(idx.min()) < 0 or int(idx.max()) >= groups[n].channels or len(set(idx.tolist())) != idx.numel():
            raise ValueError(f"keep[{n!r}] : indices distincts dans [0, {groups[n].channels}) attendus ; "
                             f"reçu {idx.tolist()!r}.")
        out[n] = idx.sort().values
    return groups, out


def channel_masks(model: nn.Module, keep: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """Masques (pour ``apply_masks``) qui éteignent les canaux **non** gardés : ligne du poids, biais,
    et poids + biais de chaque BatchNorm qui suit (sinon la BatchNorm rallumerait le canal : β − γ·μ/σ)."""
    groups, keep = _check_keep(model, keep)
    modules = dict(model.named_modules())
    masks = {}
    for n, idx in keep.items():
        g, layer = groups[n], modules[n]
        alive = torch.zeros(g.channels)
        alive[idx] = 1.0
        w = _weight(layer)
        masks[f"{n}.weight"] = alive.view(-1, *([1] * (w.dim() - 1))).expand_as(w).clone()
        if layer.bias is not None:
            masks[f"{n}.bias"] = alive.clone()
        for norm in g.norms:
            if modules[norm].affine:
                masks[f"{norm}.weight"] = alive.clone()
                masks[f"{norm}.bias"] = alive.clone()
    return masks


def remove_channels(model: nn.Module, keep: Mapping[str, Sequence[int]], check_input=None) -> nn.Module:
    """Un **nouveau** modèle où seuls les canaux ``keep[couche]`` restent (``model`` n'est pas modifié).

    Pour chaque couche : lignes gardées du poids et du biais, canaux gardés de chaque BatchNorm
    qui la suit, avant ou après la ReLU (γ, β, moyenne et variance courantes), colonnes correspondantes de la couche suivante
    (après un Flatten, les H·W colonnes de chaque canal). Un masque de ``torch.nn.utils.prune`` est
    d'abord rendu permanent sur la copie. Même sortie que ``apply_masks(model, channel_masks(model, keep))``.

    Args:
        keep: ``{nom de couche: indices des canaux gardés}`` (ou masque booléen), par ``select_channels``.
        check_input: une entrée (ex. ``torch.zeros(1, 3, 32, 32)``) sur laquelle on vérifie d'abord
            que la chaîne des modules reproduit ``model(x)`` (un ``forward`` qui ne suit pas l'ordre
            des modules ne peut pas être élagué ainsi).
    """
    from .masks import remove_masks

    groups, keep = _check_keep(model, keep)
    if check_input is not None:
        _check_chain(model, check_input)
    new = remove_masks(copy.deepcopy(model))
    modules = dict(new.named_modules())
    with torch.no_grad():
        for n, idx in keep.items():
            g = groups[n]
            _set(new, n, _cut_out(modules[n], idx))
            for norm in g.norms:
                _set(new, norm, _cut_norm(modules[norm], idx))
            _set(new, g.consumer, _cut_in(modules[g.consumer], idx, g.channels))
            modules = dict(new.named_modules())
    return new


def _check_chain(model: nn.Module, x: torch.Tensor) -> None:
    chain = _chain(model)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = x
            for _, m in chain:
                out = m(out)
            ref = model(x)
    finally:
        model.train(was)
    if out.shape != ref.shape or not torch.allclose(out, ref, atol=1e-5):
        raise ValueError(f"{type(model).__name__} : son forward n'est pas la simple chaîne de ses modules ; "
                         "remove_channels ne sait pas l'élaguer.")


def _set(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def _cut_out(layer: nn.Module, idx: torch.Tensor) -> nn.Module:
    new = copy.deepcopy(layer)
    new.weight = nn.Parameter(layer.weight[idx].clone())
    if layer.bias is not None:
        new.bias = nn.Parameter(layer.bias[idx].clone())
    if isinstance(layer, nn.Conv2d):
        new.out_channels = len(idx)
    else:
        new.out_features = len(idx)
    return new


def _cut_norm(norm: nn.Module, idx: torch.Tensor) -> nn.Module:
    new = copy.deepcopy(norm)
    new.num_features = len(idx)
    if norm.affine:
        new.weight = nn.Parameter(norm.weight[idx].clone())
        new.bias = nn.Parameter(norm.bias[idx].clone())
    if norm.track_running_stats:
        new.running_mean = norm.running_mean[idx].clone()
        new.running_var = norm.running_var[idx].clone()
    return new


def _cut_in(layer: nn.Module, idx: torch.Tensor, channels: int) -> nn.Module:
    new = copy.deepcopy(layer)
    if isinstance(layer, nn.Conv2d):
        new.weight = nn.Parameter(layer.weight[:, idx].clone())
        new.in_channels = len(idx)
        return new
    if layer.in_features % channels:
        raise ValueError(f"Couche linéaire à {layer.in_features} entrées après {channels} canaux : "
                         "ce n'est pas un multiple, impossible de retrouver les entrées de chaque canal.")
    spatial = layer.in_features // channels  # après Flatten : les H·W entrées de chaque canal sont contiguës
    w = layer.weight.view(layer.out_features, channels, spatial)[:, idx].reshape(layer.out_features, -1)
    new.weight = nn.Parameter(w.clone())
    new.in_features = len(idx) * spatial
    return new
