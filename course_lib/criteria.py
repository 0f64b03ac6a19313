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
    """Magnitude : I_j = |w_j| (Han et al., 2015, *Learning both Weights and Connections*)."""
    return weights.abs()


def gradient_criterion(weights: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Saillance de Taylor au premier ordre : I_j = |w_j · g_j| = |w_j|·|g_j|.

    ΔL ≈ -g·w quand on met w à zéro (développement de Taylor d'ordre 1) ;
    Molchanov et al., 2017, *Pruning Convolutional Neural Networks for Resource
    Efficient Inference* (ICLR). Formule pour un gradient ``g`` donné : l'article moyenne
    |w · g_n| sur les exemples (``per_example_taylor_salience``).
    """
    return weights.abs() * gradients.abs()


def taylor_squared_criterion(weights: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Variante s = (w · g)² (Molchanov et al., 2019, *Importance Estimation for Neural
    Network Pruning*, CVPR), moyennée par lot dans ``compute_gradient_salience(variant="squared")``."""
    return (weights * gradients) ** 2


def hessian_criterion(weights: torch.Tensor, hessian_diag: torch.Tensor) -> torch.Tensor:
    """Saillance OBD : I_j = ½ · H_jj · w_j² (LeCun, Denker & Solla, 1990, *Optimal Brain Damage*).

    Au second ordre, autour d'un minimum (g ≈ 0) et avec une hessienne supposée
    diagonale, mettre w_j à zéro augmente la perte de ½ H_jj w_j². Une forte
    courbure rend donc un poids **plus** important. Le chapitre écrit w²/(2H) :
    cette formule inverse le classement (voir ``inverted_hessian_criterion``).
    OBS (Hassibi & Stork, 1993) divise, elle, par l'élément diagonal de l'**inverse**
    de la hessienne : I_q = w_q² / (2 [H⁻¹]_qq) — voir ``obs_criterion``.
    """
    return 0.5 * hessian_diag * weights**2


def obs_criterion(weights: torch.Tensor, hessian_inv_diag: torch.Tensor) -> torch.Tensor:
    """Saillance OBS : I_q = w_q² / (2 [H⁻¹]_qq) (Hassibi & Stork, 1993, *Optimal Brain Surgeon*).

    Attention : c'est la diagonale de l'**inverse** de H, pas 1/H_qq (égaux seulement si H est diagonale).
    """
    return weights**2 / (2 * hessian_inv_diag)


def apoz_criterion(activations: torch.Tensor) -> torch.Tensor:
    """APoZ par canal : fraction des activations (après ReLU) exactement nulles.

    Hu, Peng, Tai & Tang, 2016, *Network Trimming*, section 3.1, éq. (1) :
    APoZ_c = Σ_k Σ_j 1[O_c,j(k) = 0] / (N·M), N exemples, M positions du canal c.
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


def snip_saliency(model: nn.Module, loss_fn, batch) -> dict[str, torch.Tensor]:
    """SNIP : sensibilité de connexion, sur **un** lot, à l'initialisation (Lee, Ajanthan & Torr, 2019,
    *SNIP: Single-shot Network Pruning based on Connection Sensitivity*, ICLR).

    On multiplie chaque poids par une porte c_j (c = 1) ; la sensibilité de la connexion j est
    g_j = ∂L(c ⊙ w)/∂c_j = w_j · ∂L/∂w_j (éq. 5), normalisée : s_j = |g_j| / Σ_k |g_k| (éq. 6),
    la somme portant sur **tous** les poids élagables (classement global). ``batch`` : un lot (x, y).
    """
    if not isinstance(batch, (tuple, list)) or len(batch) < 2 or not all(
            isinstance(t, torch.Tensor) for t in batch[:2]):
        raise TypeError(f"batch doit être un lot (x, y) de deux tenseurs ; reçu {type(batch).__name__}.")
    x, y = batch[0], batch[1]
    grads = compute_gradients(model, loss_fn, [(x, y)])
    weights = {n: m.weight.detach() for n, m in prunable_modules(_dense_copy(model)).items()}
    scores = {n: gradient_criterion(weights[n], grads[n]) for n in weights}
    total = sum(float(s.sum()) for s in scores.values())
    return {n: s / total for n, s in scores.items()} if total > 0 else scores


GRADIENT_SALIENCE_VARIANTS = ("per_example", "mean_gradient", "squared")


def compute_gradient_salience(model: nn.Module, loss_fn, data_loader, n_batches: int | None = None,
                              variant: str = "per_example", normalize: bool = False,
                              chunk_size: int = 64) -> dict[str, torch.Tensor]:
    """Saillance de Taylor au premier ordre de chaque poids élagable.

    - ``variant="per_example"`` (défaut, celui de l'article) : I_j = (1/N) Σ_m |w_j · g_j^(m)|,
      g_j^(m) gradient de la perte de l'exemple m ; voir ``per_example_taylor_salience``.
    - ``variant="mean_gradient"`` : I_j = |w_j · ḡ_j|, ḡ gradient moyen sur le loader. C'est la
      variation, au premier ordre, de la perte **moyenne** ; les effets de signes opposés d'un
      exemple à l'autre s'y compensent (I_j ≤ variante par exemple, inégalité triangulaire).
    - ``variant="squared"`` : moyenne sur les lots de (w·g_b)² (Molchanov et al., 2019).

    ``normalize=True`` divise les scores de chaque couche par leur norme ℓ2
    (``normalize_per_layer`` ; Molchanov et al., 2017, §2.3) avant un classement global.

    Note : le chapitre moyenne |g_b| lot par lot ; c'est un intermédiaire entre les deux
    premières variantes, qui dépend de la taille des lots.
    """
    if variant not in GRADIENT_SALIENCE_VARIANTS:
        raise ValueError(
            f"variant doit valoir {', '.join(map(repr, GRADIENT_SALIENCE_VARIANTS))} ; reçu {variant!r}."
        )
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize doit être un booléen (True/False) ; reçu {normalize!r}.")
    if variant == "per_example":
        scores = per_example_taylor_salience(model, loss_fn, data_loader, n_batches, chunk_size)
        return normalize_per_layer(scores) if normalize else scores
    weights = {n: m.weight.detach() for n, m in prunable_modules(_dense_copy(model)).items()}
    if variant == "mean_gradient":
        grads = compute_gradients(model, loss_fn, data_loader, n_batches)
        scores = {n: gradient_criterion(weights[n], grads[n]) for n in weights}
    else:
        acc = {n: torch.zeros_like(w) for n, w in weights.items()}
        count = 0
        for x, y in _batches(data_loader, n_batches):
            g = compute_gradients(model, loss_fn, [(x, y)])
            for n in acc:
                acc[n] += taylor_squared_criterion(weights[n], g[n])
            count += 1
        scores = {n: a / count for n, a in acc.items()}
    return normalize_per_layer(scores) if normalize else scores


def per_example_taylor_salience(model: nn.Module, loss_fn, data_loader, n_batches: int | None = None,
                                chunk_size: int = 64) -> dict[str, torch.Tensor]:
    """Critère de Taylor calculé **exemple par exemple** : I_j = (1/N) Σ_m |w_j · g_j^(m)|, g_j^(m) = ∂ℓ_m/∂w_j.

    Molchanov, Tyree, Karras, Aila & Kautz, 2017, *Pruning Convolutional Neural Networks for
    Resource Efficient Inference* (ICLR), §2.2 : éq. 8, Θ_TE = |(1/M) Σ_m (∂C/∂z_m) z_m|, et la
    phrase qui la suit : pour un lot de T > 1 exemples, le critère est calculé pour chaque
    exemple séparément puis moyenné sur les T exemples. L'article l'applique à une carte
    d'activation z ; ici, même raisonnement au premier ordre pour un poids (z = w, M = 1) :
    retirer w_j change la perte de l'exemple m d'environ -w_j g_j^(m), et l'on moyenne la
    **valeur absolue** de ce changement sur les exemples.

    Gradients par exemple avec ``torch.func`` (``per_sample_gradients``), par paquets de
    ``chunk_size`` exemples pour borner la mémoire ; ``loss_fn`` doit renvoyer la moyenne du lot.
    """
    check_positive_int(chunk_size, "chunk_size")
    dense = _dense_copy(model)
    weights = {n: m.weight.detach() for n, m in prunable_modules(dense).items()}
    acc = {n: torch.zeros_like(w) for n, w in weights.items()}
    count = 0
    for x, y in _batches(data_loader, n_batches):
        for xc, yc in zip(x.split(chunk_size), y.split(chunk_size), strict=True):
            g = per_sample_gradients(dense, loss_fn, xc, yc)
            for n in acc:
                acc[n] += g[n].mul_(weights[n]).abs_().sum(dim=0)  # en place : (B, *forme) une fois
            count += len(yc)
    return {n: a / count for n, a in acc.items()}


def normalize_per_layer(scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Normalisation ℓ2 couche par couche : ŝ = s / ‖s‖₂ (norme des scores de la couche).

    Molchanov et al., 2017, §2.3 (*Normalization*) : l'échelle des scores bruts varie avec la
    profondeur de la couche ; Θ̂(z_l^(k)) = Θ(z_l^(k)) / sqrt(Σ_j Θ(z_l^(j))²) les rend
    comparables entre couches avant un classement **global**. Sans effet sur un classement
    par couche. Une couche dont tous les scores sont nuls reste nulle (pas de division par 0).

    Raises:
        TypeError: si ``scores`` n'est pas un dict {nom: tenseur}.
    """
    if not isinstance(scores, dict) or not all(isinstance(v, torch.Tensor) for v in scores.values()):
        raise TypeError(
            f"normalize_per_layer attend un dict {{nom: tenseur}} ; reçu {type(scores).__name__}."
        )
    out = {}
    for n, s in scores.items():
        norm = s.norm()
        out[n] = s / norm if norm > 0 else s.clone()
    return out


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

    - ``method="fisher"`` (défaut) : Fisher **empirique**, F_jj = (1/N) Σ_m (g_j^(m))²,
      moyenne des carrés des gradients **par exemple** (calculés avec ``torch.func``,
      par paquets de ``chunk_size`` pour borner la mémoire). Proche de la hessienne près
      d'un minimum pour une perte de log-vraisemblance (Martens, 2020, *New insights and
      perspectives on the natural gradient method*).
    - ``method="squared_batch_mean"`` : l'estimateur du chapitre
      (``chapter.squared_batch_mean_hessian_diag``), moyenne sur les lots de (ḡ_b)², carré
      du gradient **moyen** d'un lot de taille B. Son espérance vaut μ² + σ²/B, pas E[g²] = μ² + σ² : il sous-estime la courbure d'un facteur qui dépend
      de B. (Le chapitre divise en plus par N au lieu du nombre de lots : un simple facteur
      d'échelle.) Gardé pour le notebook qui compare les deux.
    """
    if method not in ("fisher", "squared_batch_mean"):
        raise ValueError(f"method doit valoir 'fisher' ou 'squared_batch_mean' ; reçu {method!r}.")
    check_positive_int(chunk_size, "chunk_size")
    dense = _dense_copy(model)
    if method == "squared_batch_mean":  # la version du chapitre vit dans course_lib.chapter
        return squared_batch_mean_hessian_diag(dense, loss_fn, _batches(data_loader, n_batches))
    acc = {n: torch.zeros_like(m.weight) for n, m in prunable_modules(dense).items()}
    count = 0
    for x, y in _batches(data_loader, n_batches):
        for xc, yc in zip(x.split(chunk_size), y.split(chunk_size), strict=True):
            g = per_sample_gradients(dense, loss_fn, xc, yc)
            for n in acc:
                acc[n] += g[n].square_().sum(dim=0)  # en place : pas de second tampon (B, *forme)
            count += len(yc)
    return {n: a / count for n, a in acc.items()}


def compute_obd_saliency(model: nn.Module, loss_fn, data_loader, n_batches: int | None = None,
                         method: str = "fisher") -> dict[str, torch.Tensor]:
    """Saillance OBD ½·F_jj·w_j² de chaque poids élagable, F estimée par ``approximate_hessian_diag``."""
    h = approximate_hessian_diag(model, loss_fn, data_loader, method=method, n_batches=n_batches)
    weights = {n: m.weight.detach() for n, m in prunable_modules(_dense_copy(model)).items()}
    return {n: hessian_criterion(weights[n], h[n]) for n in weights}


# ----------------------------------------------------------------------------- APoZ

def apoz_loader(data):
    """Le loader sur lequel mesurer l'APoZ : ``data.val`` pour un ``DataBundle`` (Hu et al., 2016,
    éq. (1) : N exemples de validation), ``data`` lui-même pour un loader."""
    if all(hasattr(data, split) for split in ("train", "val", "test")):
        return data.val
    return data


def compute_apoz(model: nn.Module, data, n_batches: int | None = None,
                 layer_types: tuple[type[nn.Module], ...] = (nn.ReLU,)) -> dict[str, torch.Tensor]:
    """APoZ de chaque canal, mesuré à la **sortie** de chaque module ReLU : ``{nom du ReLU: (C,)}``.

    APoZ_c = Σ_k Σ_j 1[O_c,j(k) = 0] / (N·M) : part des sorties nulles du canal c, sur N exemples
    et ses M positions (Hu, Peng, Tai & Tang, 2016, *Network Trimming*, section 3.1, éq. (1)).

    **Sur quelles données ?** L'article mesure l'APoZ sur des exemples de **validation** (N est
    « le nombre total d'exemples de validation », éq. (1) ; section 3.2 : on fait tourner le réseau
    entraîné sur un grand jeu de validation). Choisir les canaux à retirer est une décision : elle
    se prend sur la validation, pas sur les exemples que le réseau a appris. ``data`` est donc soit
    un ``DataBundle`` (``load_data``) — on mesure alors sur ``data.val`` —, soit un ``DataLoader``
    que vous choisissez vous-même.

    Mesuré sur tout le loader (ou ``n_batches`` lots), en mode eval et sans gradient ;
    les hooks sont retirés et le mode d'origine rétabli, même en cas d'erreur.
    ``layer_types=(nn.Conv2d, nn.Linear)`` mesure **avant** la ReLU, comme le chapitre :
    une sortie de convolution n'est presque jamais exactement nulle (APoZ ≈ 0 partout).

    Raises:
        ValueError: si le modèle n'a aucun module de ``layer_types`` (par défaut, aucun ``nn.ReLU``).
    """
    data_loader = apoz_loader(data)
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


def apoz_importance(model: nn.Module, data, n_batches: int | None = None) -> ChannelImportance:
    """Importance par poids déduite d'APoZ : chaque ReLU est rattachée à la couche élagable qui la
    précède ; tous les poids d'un canal de sortie c reçoivent 1 − APoZ_c (Hu et al., 2016, éq. (1)).
    Les couches sans ReLU après elles (la dernière, en général) reçoivent +∞ (jamais élaguées par
    ce critère). ``data`` : un ``DataBundle`` (mesure sur ``data.val``, comme l'article) ou un loader.

    Renvoie une ``ChannelImportance`` : ``create_masks`` masque alors aussi le **biais** d'un canal
    retiré en entier (sinon il émettrait encore ReLU(b_c)).
    """
    apoz = compute_apoz(model, data, n_batches)
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


# Les versions erronées du chapitre vivent dans course_lib.chapter ; importées en dernier
# (chapter.py importe ce module) pour garder ``from course_lib.criteria import inverted_hessian_criterion``.
from .chapter import inverted_hessian_criterion, squared_batch_mean_hessian_diag  # noqa: E402, F401
