"""Les quatre critères de sélection du chapitre 8.5 : magnitude, gradient, second ordre, APoZ.

Convention : un score **élevé** = un poids **important** (on élague les plus faibles).
Les fonctions ``compute_*`` travaillent sur une copie dense du modèle : elles ne
touchent ni à ses gradients, ni à son mode train/eval, ni à ses hooks.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

from ._validation import check_loader, check_positive_int
from .masks import ChannelImportance, prunable_modules, remove_masks

# ----------------------------------------------------------------------------- formules

def magnitude_criterion(weights: torch.Tensor) -> torch.Tensor:
    """Magnitude : s = |w| (Han et al., 2015, *Learning both Weights and Connections*)."""
    return weights.abs()


def gradient_criterion(weights: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Saillance de Taylor au premier ordre : s = |w · g| = |w|·|g|.

    ΔL ≈ -g·w quand on met w à zéro (développement de Taylor d'ordre 1) ;
    Molchanov et al., 2017, *Pruning Convolutional Neural Networks for Resource
    Efficient Inference* (ICLR). ``g`` est le gradient moyen sur les données.
    """
    return weights.abs() * gradients.abs()


def taylor_squared_criterion(weights: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Variante s = (w · g)² (Molchanov et al., 2019, *Importance Estimation for Neural
    Network Pruning*, CVPR), moyennée par lot dans ``compute_gradient_salience(variant="squared")``."""
    return (weights * gradients) ** 2


def hessian_criterion(weights: torch.Tensor, hessian_diag: torch.Tensor) -> torch.Tensor:
    """Saillance OBD : s_k = ½ · H_kk · w_k² (LeCun, Denker & Solla, 1990, *Optimal Brain Damage*).

    Au second ordre, autour d'un minimum (g ≈ 0) et avec une hessienne supposée
    diagonale, mettre w_k à zéro augmente la perte de ½ H_kk w_k². Une forte
    courbure rend donc un poids **plus** important. Le chapitre écrit w²/(2H) :
    cette formule inverse le classement (voir ``inverted_hessian_criterion``).
    OBS (Hassibi & Stork, 1993) divise, elle, par l'élément diagonal de l'**inverse**
    de la hessienne : s_q = w_q² / (2 [H⁻¹]_qq) — voir ``obs_criterion``.
    """
    return 0.5 * hessian_diag * weights**2


def inverted_hessian_criterion(weights: torch.Tensor, hessian_diag: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """**Formule erronée du chapitre**, gardée pour l'enseignement : w² / (2 H_kk).

    Elle divise par la courbure au lieu de multiplier : les poids situés dans les
    directions les plus courbes (les plus sensibles) passent pour les moins importants.
    """
    return weights**2 / (2 * hessian_diag + eps)


def obs_criterion(weights: torch.Tensor, hessian_inv_diag: torch.Tensor) -> torch.Tensor:
    """Saillance OBS : s_q = w_q² / (2 [H⁻¹]_qq) (Hassibi & Stork, 1993, *Optimal Brain Surgeon*).

    Attention : c'est la diagonale de l'**inverse** de H, pas 1/H_qq (égaux seulement si H est diagonale).
    """
    return weights**2 / (2 * hessian_inv_diag)


def apoz_criterion(activations: torch.Tensor) -> torch.Tensor:
    """APoZ par canal : fraction des activations (après ReLU) exactement nulles.

    Hu et al., 2016, *Network Trimming* : APoZ_c = moyenne sur (exemples, positions) de 1[a_c = 0].
    Accepte (N, C, H, W) pour une convolution et (N, C) pour une couche linéaire.
    Un APoZ **élevé** = un canal souvent éteint = un candidat à l'élagage.
    """
    if activations.dim() == 4:
        dims = (0, 2, 3)
    elif activations.dim() == 2:
        dims = (0,)
    else:
        raise ValueError(
            f"apoz_criterion attend des activations (N, C, H, W) ou (N, C) ; reçu la forme {tuple(activations.shape)}."
        )
    return (activations == 0).float().mean(dim=dims)


# ----------------------------------------------------------------------------- outils

def _dense_copy(model: nn.Module) -> nn.Module:
    """Copie du modèle, élagage rendu permanent et en mode eval : on peut y calculer sans effet de bord."""
    dense = remove_masks(copy.deepcopy(model))
    dense.eval()
    return dense


def _batches(data_loader, n_batches: int | None):
    check_loader(data_loader)
    if n_batches is not None:
        check_positive_int(n_batches, "n_batches")
    it = iter(data_loader) if n_batches is None else itertools.islice(data_loader, n_batches)
    count = 0
    for batch in it:
        count += 1
        yield batch[0], batch[1]
    if count == 0:
        raise ValueError("data_loader n'a fourni aucun lot (x, y) : il en faut au moins un.")


# ----------------------------------------------------------------------------- gradients

def compute_gradients(model: nn.Module, loss_fn, data_loader, n_batches: int | None = None) -> dict[str, torch.Tensor]:
    """Gradient moyen de la perte par rapport à chaque poids élagable : ḡ = (1/N) Σ_n ∂ℓ_n/∂w.

    Calculé sur une copie dense (mode eval) : pour un poids déjà élagué, c'est le
    gradient qu'il aurait s'il était réactivé (ce dont RigL a besoin). La moyenne est
    pondérée par la taille des lots (``loss_fn`` doit renvoyer la moyenne du lot).
    """
    dense = _dense_copy(model)
    modules = prunable_modules(dense)
    total = {n: torch.zeros_like(m.weight) for n, m in modules.items()}
    seen = 0
    for x, y in _batches(data_loader, n_batches):
        dense.zero_grad(set_to_none=True)
        loss_fn(dense(x), y).backward()
        for n, m in modules.items():
            total[n] += m.weight.grad * len(y)
        seen += len(y)
    return {n: t / seen for n, t in total.items()}


def compute_gradient_salience(model: nn.Module, loss_fn, data_loader, n_batches: int | None = None,
                              variant: str = "abs") -> dict[str, torch.Tensor]:
    """Saillance de gradient de chaque poids élagable.

    - ``variant="abs"`` (défaut) : |w|·|ḡ|, ḡ gradient moyen sur le loader (Molchanov et al., 2017).
    - ``variant="squared"`` : moyenne sur les lots de (w·g_b)² (Molchanov et al., 2019).

    Note : le chapitre moyenne |g_b| lot par lot ; les gradients de signes opposés
    ne s'y compensent plus, ce qui surestime les poids au gradient bruité.
    """
    if variant not in ("abs", "squared"):
        raise ValueError(f"variant doit valoir 'abs' ou 'squared' ; reçu {variant!r}.")
    weights = {n: m.weight.detach() for n, m in prunable_modules(_dense_copy(model)).items()}
    if variant == "abs":
        grads = compute_gradients(model, loss_fn, data_loader, n_batches)
        return {n: gradient_criterion(weights[n], grads[n]) for n in weights}
    acc = {n: torch.zeros_like(w) for n, w in weights.items()}
    count = 0
    for x, y in _batches(data_loader, n_batches):
        g = compute_gradients(model, loss_fn, [(x, y)])
        for n in acc:
            acc[n] += taylor_squared_criterion(weights[n], g[n])
        count += 1
    return {n: a / count for n, a in acc.items()}


# ----------------------------------------------------------------------------- second ordre

def per_sample_gradients(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients par exemple des poids élagables : ``{nom: (B, *forme)}``.

    ``torch.func`` : ``vmap`` sur ``grad`` d'une perte à un exemple, évaluée par
    ``functional_call``. ``model`` doit être dense et en mode eval (voir ``_dense_copy``).
    """
    from torch.func import functional_call, grad, vmap

    names = list(prunable_modules(model))
    params = {n: p.detach() for n, p in model.named_parameters()}
    weights = {n: params.pop(n) for n in names}
    fixed = {**params, **dict(model.named_buffers())}

    def loss_one(w, xi, yi):
        out = functional_call(model, {**fixed, **w}, (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(loss_one), in_dims=(None, 0, 0))(weights, x, y)


def approximate_hessian_diag(model: nn.Module, loss_fn, data_loader, method: str = "fisher",
                             n_batches: int | None = None, chunk_size: int = 64) -> dict[str, torch.Tensor]:
    """Approximation diagonale de la hessienne de la perte, par poids élagable.

    - ``method="fisher"`` (défaut) : Fisher **empirique**, F_kk = (1/N) Σ_n (∂ℓ_n/∂w_k)²,
      moyenne des carrés des gradients **par exemple** (calculés avec ``torch.func``,
      par paquets de ``chunk_size`` pour borner la mémoire). Proche de la hessienne près
      d'un minimum pour une perte de log-vraisemblance (Martens, 2020, *New insights and
      perspectives on the natural gradient method*).
    - ``method="squared_batch_mean"`` : l'estimateur du chapitre, moyenne sur les lots de
      (ḡ_b)², carré du gradient **moyen** d'un lot de taille B. Son espérance vaut
      μ² + σ²/B, pas E[g²] = μ² + σ² : il sous-estime la courbure d'un facteur qui dépend
      de B. (Le chapitre divise en plus par N au lieu du nombre de lots : un simple facteur
      d'échelle.) Gardé pour le notebook qui compare les deux.
    """
    if method not in ("fisher", "squared_batch_mean"):
        raise ValueError(f"method doit valoir 'fisher' ou 'squared_batch_mean' ; reçu {method!r}.")
    check_positive_int(chunk_size, "chunk_size")
    dense = _dense_copy(model)
    acc = {n: torch.zeros_like(m.weight) for n, m in prunable_modules(dense).items()}
    count = 0
    for x, y in _batches(data_loader, n_batches):
        if method == "squared_batch_mean":
            g = compute_gradients(dense, loss_fn, [(x, y)])
            for n in acc:
                acc[n] += g[n] ** 2
            count += 1
            continue
        for xc, yc in zip(x.split(chunk_size), y.split(chunk_size), strict=True):
            g = per_sample_gradients(dense, loss_fn, xc, yc)
            for n in acc:
                acc[n] += g[n].square_().sum(dim=0)  # en place : pas de second tampon (B, *forme)
            count += len(yc)
    return {n: a / count for n, a in acc.items()}


def compute_obd_saliency(model: nn.Module, loss_fn, data_loader, n_batches: int | None = None,
                         method: str = "fisher") -> dict[str, torch.Tensor]:
    """Saillance OBD ½·F_kk·w_k² de chaque poids élagable, F estimée par ``approximate_hessian_diag``."""
    h = approximate_hessian_diag(model, loss_fn, data_loader, method=method, n_batches=n_batches)
    weights = {n: m.weight.detach() for n, m in prunable_modules(_dense_copy(model)).items()}
    return {n: hessian_criterion(weights[n], h[n]) for n in weights}


# ----------------------------------------------------------------------------- APoZ

def compute_apoz(model: nn.Module, data_loader, n_batches: int | None = None,
                 layer_types: tuple[type[nn.Module], ...] = (nn.ReLU,)) -> dict[str, torch.Tensor]:
    """APoZ de chaque canal, mesuré à la **sortie** de chaque module ReLU : ``{nom du ReLU: (C,)}``.

    Mesuré sur tout le loader (ou ``n_batches`` lots), en mode eval et sans gradient ;
    les hooks sont retirés et le mode d'origine rétabli, même en cas d'erreur.
    ``layer_types=(nn.Conv2d, nn.Linear)`` mesure **avant** la ReLU, comme le chapitre :
    une sortie de convolution n'est presque jamais exactement nulle (APoZ ≈ 0 partout).

    Raises:
        ValueError: si le modèle n'a aucun module de ``layer_types`` (par défaut, aucun ``nn.ReLU``).
    """
    targets = {n: m for n, m in model.named_modules() if isinstance(m, layer_types)}
    if not targets:
        kinds = ", ".join(t.__name__ for t in layer_types)
        raise ValueError(
            f"compute_apoz : le modèle {type(model).__name__} n'a aucun module {kinds}. "
            "APoZ se mesure à la sortie de modules nn.ReLU (un F.relu dans forward ne peut pas être observé)."
        )
    zeros: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def make_hook(name):
        def hook(_module, _inputs, output):
            dims = (0, 2, 3) if output.dim() == 4 else (0,)
            z = (output == 0).sum(dim=dims).to(torch.float64)
            zeros[name] = zeros.get(name, 0) + z
            counts[name] = counts.get(name, 0) + output.numel() // output.shape[1]
        return hook

    modes = {m: m.training for m in model.modules()}  # mode de CHAQUE sous-module, pas seulement du modèle
    handles = [m.register_forward_hook(make_hook(n)) for n, m in targets.items()]
    try:
        model.eval()
        with torch.no_grad():
            for x, _ in _batches(data_loader, n_batches):
                model(x)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    return {n: (zeros[n] / counts[n]).float() for n in targets if n in zeros}


def apoz_importance(model: nn.Module, data_loader, n_batches: int | None = None) -> ChannelImportance:
    """Importance par poids déduite d'APoZ : chaque ReLU est rattachée à la couche élagable qui la
    précède ; tous les poids d'un canal de sortie c reçoivent 1 − APoZ_c. Les couches sans ReLU
    après elles (la dernière, en général) reçoivent +∞ (jamais élaguées par ce critère).

    Renvoie une ``ChannelImportance`` : ``create_masks`` masque alors aussi le **biais** d'un canal
    retiré en entier (sinon il émettrait encore ReLU(b_c)).
    """
    apoz = compute_apoz(model, data_loader, n_batches)
    modules = prunable_modules(model)
    out = ChannelImportance({n: torch.full_like(m.weight.detach(), float("inf")) for n, m in modules.items()})
    last = None
    for name, _ in model.named_modules():
        if f"{name}.weight" in modules:
            last = f"{name}.weight"
        elif name in apoz and last is not None and apoz[name].numel() == out[last].shape[0]:
            shape = (-1,) + (1,) * (out[last].dim() - 1)
            out[last] = (1 - apoz[name]).view(shape).expand_as(out[last]).clone()
            last = None
    return out
