"""Démonstrations des notebooks 00 à 04 : masques, magnitude, gradient, second ordre, APoZ.

Tout ce qui coûte (scores, Fisher, brute force, APoZ) est calculé une fois dans le
constructeur ; le rappel du contrôle ne fait que construire un masque (un tri) et
évaluer une copie masquée du modèle sur la validation (quelques millisecondes sur *digits*).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .. import plots
from .._validation import check_fraction, check_loader
from ..criteria import (
    compute_apoz,
    compute_gradient_salience,
    compute_gradients,
    gradient_criterion,
    hessian_criterion,
    inverted_hessian_criterion,
    magnitude_criterion,
    per_sample_gradients,
)
from ..masks import LayerCollapseWarning, create_masks_from_importance, get_weights, remove_masks
from ._base import Demo

DEFAULT_SPARSITIES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998)


# ----------------------------------------------------------------------------- outils

def loader_tensors(loader) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatène tous les lots ``(x, y)`` d'un loader en deux tenseurs."""
    check_loader(loader)
    xs, ys = zip(*[(b[0], b[1]) for b in loader], strict=True)
    return torch.cat(xs), torch.cat(ys)


class MaskedEvaluator:
    """Précision et perte d'un modèle dont on masque certains paramètres, **sans le modifier**.

    Une copie dense (élagage rendu permanent, mode eval) est évaluée avec
    ``torch.func.functional_call`` : chaque paramètre nommé dans ``masks`` est multiplié
    par son masque (poids, mais aussi biais pour retirer un canal entier).
    """

    def __init__(self, model: nn.Module, loader, loss_fn=None, max_examples: int = 2000):
        self.model = remove_masks(copy.deepcopy(model)).eval()
        x, y = loader_tensors(loader)
        # un seul lot en mémoire : on plafonne (sans effet sur digits, 359 exemples de validation)
        self.x, self.y = x[:max_examples], y[:max_examples]
        self.params = {n: p.detach() for n, p in self.model.named_parameters()}
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()

    @torch.no_grad()
    def logits(self, masks: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        params = dict(self.params)
        for n, m in (masks or {}).items():
            if n not in params:
                raise KeyError(f"{n!r} n'est pas un paramètre du modèle ; noms possibles : {sorted(params)}.")
            params[n] = params[n] * m
        return functional_call(self.model, params, (self.x,))

    def accuracy(self, masks: Mapping[str, torch.Tensor] | None = None) -> float:
        """Fraction de bonnes réponses avec les masques donnés."""
        return float((self.logits(masks).argmax(dim=1) == self.y).float().mean())

    def loss(self, masks: Mapping[str, torch.Tensor] | None = None) -> float:
        return float(self.loss_fn(self.logits(masks), self.y))


def _quiet_masks(importance, sparsity, scope):
    """``create_masks_from_importance`` en capturant l'avertissement d'effondrement de couche."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LayerCollapseWarning)
        masks = create_masks_from_importance(importance, sparsity, scope=scope)
    collapsed = [n for n, m in masks.items() if not m.any()]
    return masks, collapsed, any(issubclass(w.category, LayerCollapseWarning) for w in caught)


def _thresholds(importance, masks, scope):
    """Le plus grand score élagué : le « seuil » effectif (global ou par couche)."""
    if scope == "global":
        pruned = [importance[n][masks[n] == 0] for n in importance]
        pruned = torch.cat([p.flatten() for p in pruned])
        return float(pruned.max()) if pruned.numel() else None
    out = {}
    for n, t in importance.items():
        p = t[masks[n] == 0]
        out[n] = float(p.max()) if p.numel() else None
    return out


def _sparsity_slider(sparsities: Sequence[float], value: float, description: str = "sparsité"):
    options = [(f"{100 * s:g} %", float(s)) for s in sparsities]
    for s in sparsities:
        check_fraction(s, "sparsities")
    if value not in [o[1] for o in options]:
        raise ValueError(f"value={value} doit être l'une des sparsités proposées : {list(sparsities)}.")
    return widgets.SelectionSlider(options=options, value=float(value), description=description,
                                   continuous_update=False)


def spearman_rho(a, b) -> float:
    """Corrélation de rang de Spearman (rangs moyens en cas d'égalité)."""
    def ranks(v):
        v = np.asarray(v, dtype=float).ravel()
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return sums[inverse] / counts[inverse]

    ra, rb = ranks(a), ranks(b)
    if len(ra) != len(rb):
        raise ValueError(f"spearman_rho : tailles différentes ({len(ra)} et {len(rb)}).")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


# ----------------------------------------------------------------------------- 00 : masques

def mask_demo(model: nn.Module, data, layer: str = "classifier.3.weight",
              sparsities: Sequence[float] = DEFAULT_SPARSITIES[:-3], value: float = 0.5,
              seed: int = 0) -> Demo:
    """Notebook 00 : quels poids d'une couche un masque aléatoire ou de magnitude retire.

    La même sparsité est appliquée à chaque couche (``scope="layer"``) ; on affiche les poids
    de ``layer`` (gris = élagués) et la précision de validation du réseau masqué.
    Les scores aléatoires sont tirés une fois (``seed``) : les masques sont emboîtés.
    """
    weights = get_weights(model)
    if layer not in weights:
        raise KeyError(f"layer={layer!r} inconnu ; couches élagables : {sorted(weights)}.")
    gen = torch.Generator().manual_seed(seed)
    scores = {
        "magnitude": {n: magnitude_criterion(w) for n, w in weights.items()},
        "aléatoire": {n: torch.rand(w.shape, generator=gen) for n, w in weights.items()},
    }
    evaluator = MaskedEvaluator(model, data.val)
    method = widgets.ToggleButtons(options=["magnitude", "aléatoire"], value="magnitude", description="critère")

    def render(sparsity, method):
        masks, _, _ = _quiet_masks(scores[method], sparsity, "layer")
        acc = evaluator.accuracy(masks)
        fig, ax = plt.subplots(figsize=(7, 2.6))
        plots.layer_mask_image(ax, weights[layer], masks[layer],
                               f"{plots.short_name(layer)} — masque {method}, sparsité {sparsity:.0%} "
                               f"— précision (val) {acc:.1%}")
        fig.tight_layout()
        return {"sparsity": sparsity, "method": method, "accuracy": acc,
                "kept": int(masks[layer].sum()), "mask": masks[layer]}

    return Demo(_sparsity_slider(sparsities, value), render, [method], names=["sparsity", "method"],
                title="Masque et précision : magnitude contre hasard")


# ----------------------------------------------------------------------------- 01 : magnitude

def magnitude_demo(model: nn.Module, data, sparsities: Sequence[float] = DEFAULT_SPARSITIES,
                   value: float = 0.8) -> Demo:
    """Notebook 01 : seuil de magnitude global ou par couche.

    Contrôles : la sparsité (principal) et la portée ``global``/``layer``. Affiche
    l'histogramme de log10|w| par couche avec le(s) seuil(s), la sparsité atteinte dans
    chaque couche (en rouge : couche effondrée) et la précision de validation.
    """
    importance = {n: magnitude_criterion(w) for n, w in get_weights(model).items()}
    evaluator = MaskedEvaluator(model, data.val)
    scope = widgets.ToggleButtons(options=[("global", "global"), ("par couche", "layer")], value="global",
                                  description="portée")

    def render(sparsity, scope):
        masks, collapsed, _ = _quiet_masks(importance, sparsity, scope)
        acc = evaluator.accuracy(masks)
        layer_sparsity = {n: 1 - float(m.mean()) for n, m in masks.items()}
        thresholds = _thresholds(importance, masks, scope)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [3, 2]})
        plots.magnitude_histogram(ax1, importance, thresholds)
        plots.layer_sparsity_bars(ax2, layer_sparsity, target=sparsity)
        note = f" — couche(s) effondrée(s) : {[plots.short_name(n) for n in collapsed]}" if collapsed else ""
        fig.suptitle(f"{scope} à {sparsity:.1%} : précision (val) {acc:.1%}{note}", fontsize=10)
        fig.tight_layout()
        return {"sparsity": sparsity, "scope": scope, "accuracy": acc, "layer_sparsity": layer_sparsity,
                "thresholds": thresholds, "collapsed": collapsed}

    return Demo(_sparsity_slider(sparsities, value), render, [scope], names=["sparsity", "scope"],
                title="Élagage par magnitude : seuil global ou par couche")


# ----------------------------------------------------------------------------- 02 : gradient

def chapter_gradient_salience(model: nn.Module, loss_fn, loader, n_batches: int | None = None):
    """L'estimateur du chapitre, gardé pour comparaison : |w| · moyenne des |g_b| lot par lot.

    Moyenner des valeurs absolues ne laisse pas les gradients de signes opposés se
    compenser : le score reflète le bruit du gradient plus que son effet moyen sur la perte.
    """
    weights = get_weights(model)
    acc = {n: torch.zeros_like(w) for n, w in weights.items()}
    count = 0
    for i, batch in enumerate(loader):
        if n_batches is not None and i >= n_batches:
            break
        g = compute_gradients(model, loss_fn, [(batch[0], batch[1])])
        for n in acc:
            acc[n] += g[n].abs()
        count += 1
    return {n: weights[n].abs() * a / count for n, a in acc.items()}


def gradient_scores(model: nn.Module, loader, loss_fn=None) -> dict[str, dict[str, torch.Tensor]]:
    """Les scores comparés au notebook 02 : magnitude, |w·ḡ|, (w·g_b)² moyen, et la version du chapitre."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    return {
        "magnitude |w|": {n: w.abs() for n, w in get_weights(model).items()},
        "Taylor |w·ḡ|": compute_gradient_salience(model, loss_fn, loader, variant="mean_gradient"),
        "Taylor (w·g)²": compute_gradient_salience(model, loss_fn, loader, variant="squared"),
        "chapitre |w|·moy|g_b|": chapter_gradient_salience(model, loss_fn, loader),
    }


def gradient_demo(model: nn.Module, data, sparsities: Sequence[float] = DEFAULT_SPARSITIES[:-2],
                  value: float = 0.8, loss_fn=None) -> Demo:
    """Notebook 02 : précision après élagage selon le critère (magnitude contre gradient).

    Les scores sont calculés une fois (sur ``data.train``), ainsi que les courbes
    précision/sparsité pour les deux portées. Le rappel affiche la courbe, la position
    courante et le recouvrement des poids élagués avec ceux de la magnitude.
    """
    scores = gradient_scores(model, data.train, loss_fn)
    evaluator = MaskedEvaluator(model, data.val)
    base = evaluator.accuracy()
    curves = {
        scope: {c: [evaluator.accuracy(_quiet_masks(s, sp, scope)[0]) for sp in sparsities] for c, s in scores.items()}
        for scope in ("global", "layer")
    }
    scope = widgets.ToggleButtons(options=[("global", "global"), ("par couche", "layer")], value="global",
                                  description="portée")
    reference = next(iter(scores))

    def render(sparsity, scope):
        masks = {c: _quiet_masks(s, sparsity, scope)[0] for c, s in scores.items()}
        position = list(sparsities).index(sparsity)  # précisions déjà mesurées pour les courbes
        accuracies = {c: curve[position] for c, curve in curves[scope].items()}
        ref = torch.cat([m.flatten() for m in masks[reference].values()]) == 0
        overlap = {}
        for c, m in masks.items():
            pruned = torch.cat([v.flatten() for v in m.values()]) == 0
            union = int((pruned | ref).sum())
            overlap[c] = int((pruned & ref).sum()) / union if union else 1.0
        fig, ax = plt.subplots(figsize=(7, 3))
        plots.accuracy_curves(ax, sparsities, curves[scope], current=sparsity, baseline=base)
        ax.set_title(f"portée : {scope}", fontsize=10)
        fig.tight_layout()
        print(f"sparsité {sparsity:.1%} ({scope})")
        print(f"{'critère':<24}{'précision':>10}{'recouvrement avec |w|':>24}")
        for c in scores:
            print(f"{c:<24}{accuracies[c]:>10.1%}{overlap[c]:>24.1%}")
        return {"sparsity": sparsity, "scope": scope, "accuracies": accuracies, "overlap": overlap}

    return Demo(_sparsity_slider(sparsities, value), render, [scope], names=["sparsity", "scope"],
                title="Magnitude contre saillance de gradient")


# ----------------------------------------------------------------------------- 03 : second ordre

def last_layer_name(model: nn.Module) -> str:
    """Le nom du poids de la dernière couche élagable (``"classifier.3.weight"`` pour ``SmallCNN``)."""
    return list(get_weights(model))[-1]


def true_loss_increase(model: nn.Module, loader, loss_fn=None, chunk: int = 128) -> torch.Tensor:
    """Hausse **réelle** de la perte quand on met à zéro un seul poids de la dernière couche linéaire.

    Force brute : pour chaque poids k, on recalcule la perte sur tout ``loader`` avec w_k = 0
    (les autres poids intacts) et l'on soustrait la perte de départ. Seule la dernière couche est
    concernée : son entrée h ne dépend pas de ses poids, on la calcule donc une fois et
    chaque essai ne coûte qu'un produit matriciel. Renvoie un tenseur de la forme du poids.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    dense = remove_masks(copy.deepcopy(model)).eval()
    name = last_layer_name(dense)
    layer = dict(dense.named_modules())[name[: -len(".weight")]]
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"true_loss_increase attend une dernière couche nn.Linear ; reçu {type(layer).__name__}.")
    inputs, labels = [], []
    handle = layer.register_forward_hook(lambda _m, inp, _out: inputs.append(inp[0]))
    try:
        with torch.no_grad():
            for batch in loader:
                dense(batch[0])
                labels.append(batch[1])
    finally:
        handle.remove()
    h, y, w, b = torch.cat(inputs), torch.cat(labels), layer.weight.detach(), layer.bias
    chunk = max(1, min(chunk, 4_000_000 // (h.shape[0] * w.shape[0])))  # borne la mémoire
    with torch.no_grad():
        base = loss_fn(h @ w.T + (b if b is not None else 0), y)
        flat = w.flatten()
        out = torch.empty_like(flat)
        for start in range(0, flat.numel(), chunk):
            idx = torch.arange(start, min(start + chunk, flat.numel()))
            trial = w.expand(len(idx), *w.shape).clone().view(len(idx), -1)
            trial[torch.arange(len(idx)), idx] = 0.0
            trial = trial.view(len(idx), *w.shape)
            logits = torch.einsum("nd,kcd->knc", h, trial) + (b if b is not None else 0)
            losses = torch.stack([loss_fn(lg, y) for lg in logits])
            out[idx] = losses - base
    return out.view_as(w)


def second_order_demo(model: nn.Module, data, value: int = 2, loss_fn=None) -> Demo:
    """Notebook 03 : scores prédits contre effet réel |ΔL| de la suppression d'un poids (dernière couche).

    La cible est |ΔL| : hors d'un minimum exact, le terme du premier ordre −g·w peut rendre ΔL
    négatif ; les critères, eux, estiment l'ampleur de l'effet.

    Contrôles : le nombre de lots servant à estimer g et la diagonale de la hessienne
    (principal), le critère, et l'estimateur de Fisher (par exemple, ou carré de la
    moyenne du lot comme le chapitre). Tout est précalculé lot par lot ; le rappel
    ne fait que des sommes cumulées et un nuage de points.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    dense = remove_masks(copy.deepcopy(model)).eval()
    name = last_layer_name(dense)
    w = dict(dense.named_parameters())[name].detach()
    true = true_loss_increase(dense, data.train, loss_fn).abs()
    sq_sum, grad_sum, sq_mean, sizes = [], [], [], []
    for x, y in data.train:
        g = per_sample_gradients(dense, loss_fn, x, y)[name]
        sq_sum.append((g**2).sum(0))
        grad_sum.append(g.sum(0))
        sq_mean.append(g.mean(0) ** 2)
        sizes.append(len(y))
    n_max = len(sizes)
    if not 1 <= value <= n_max:
        raise ValueError(f"value={value} : le nombre de lots doit être entre 1 et {n_max}.")
    cum = {
        "fisher": torch.cumsum(torch.stack(sq_sum), 0) / torch.cumsum(torch.tensor(sizes), 0).view(-1, 1, 1),
        "squared_batch_mean": torch.cumsum(torch.stack(sq_mean), 0)
        / torch.arange(1, n_max + 1).view(-1, 1, 1),
    }
    grad_mean = torch.cumsum(torch.stack(grad_sum), 0) / torch.cumsum(torch.tensor(sizes), 0).view(-1, 1, 1)

    def predicted(n_batches, estimator):
        h = cum[estimator][n_batches - 1]
        return {
            "magnitude |w|": magnitude_criterion(w),
            "Taylor |w·g|": gradient_criterion(w, grad_mean[n_batches - 1]),
            "OBD ½·H·w²": hessian_criterion(w, h),
            "OBD inversé w²/(2H)": inverted_hessian_criterion(w, h),
        }

    slider = widgets.IntSlider(value=value, min=1, max=n_max, description="lots", continuous_update=False)
    criterion = widgets.Dropdown(options=list(predicted(1, "fisher")), value="OBD ½·H·w²", description="critère")
    estimator = widgets.ToggleButtons(
        options=[("Fisher par exemple", "fisher"), ("carré de la moyenne du lot", "squared_batch_mean")],
        value="fisher", description="Fisher")

    def render(n_batches, criterion, estimator):
        scores = predicted(n_batches, estimator)
        rho = {c: spearman_rho(s, true) for c, s in scores.items()}
        fig, ax = plt.subplots(figsize=(6, 3.2))
        plots.saliency_scatter(ax, scores[criterion], true, criterion, rho[criterion])
        fig.tight_layout()
        n_examples = sum(sizes[:n_batches])
        exact, chapter = cum["fisher"][n_batches - 1], cum["squared_batch_mean"][n_batches - 1]
        ratio = float((chapter[exact > 0] / exact[exact > 0]).median())
        print(f"{n_batches} lot(s) = {n_examples} exemples ; estimateur : {estimator} ; "
              f"médiane (carré de la moyenne) / (Fisher par exemple) = {ratio:.3f}")
        print("ρ de Spearman avec |ΔL| réel : "
              + " | ".join(f"{c} {r:+.3f}" for c, r in rho.items()))
        return {"n_batches": n_batches, "criterion": criterion, "estimator": estimator, "rho": rho,
                "selected_rho": rho[criterion], "scale_ratio": ratio}

    return Demo(slider, render, [criterion, estimator], names=["n_batches", "criterion", "estimator"],
                title=f"Prédit contre réel : mettre à zéro un poids de {plots.short_name(name)}")


# ----------------------------------------------------------------------------- 04 : APoZ

def relu_to_layer(model: nn.Module) -> dict[str, str]:
    """``{nom du ReLU: nom du module élagable qui le précède}`` (ex. ``features.1 → features.0``)."""
    out, last = {}, None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            last = name
        elif isinstance(module, nn.ReLU) and last is not None:
            out[name] = last
            last = None
    return out


def highest_apoz_channels(apoz: torch.Tensor, fraction: float) -> list[int]:
    """Les round(fraction·C) canaux d'APoZ le plus élevé (à égalité : le plus petit indice d'abord)."""
    fraction = check_fraction(fraction, "fraction")
    k = round(fraction * apoz.numel())
    order = sorted(range(apoz.numel()), key=lambda c: (-float(apoz[c]), c))
    return sorted(order[:k])


def channel_masks(model: nn.Module, layer: str, channels: Sequence[int]) -> dict[str, torch.Tensor]:
    """Masques qui retirent des canaux de sortie entiers de ``layer`` : lignes du poids **et** biais.

    Masquer le poids seul laisserait ReLU(b_c) : une constante, pas un canal supprimé.
    """
    module = dict(model.named_modules())[layer]
    keep = torch.ones(module.weight.shape[0])
    keep[list(channels)] = 0.0
    out = {f"{layer}.weight": keep.view(-1, *([1] * (module.weight.dim() - 1))).expand_as(module.weight).clone()}
    if module.bias is not None:
        out[f"{layer}.bias"] = keep.clone()
    return out


def apoz_demo(model: nn.Module, data, fractions: Sequence[float] = tuple(i / 20 for i in range(19)),
              value: float = 0.25, layer: str | None = None) -> Demo:
    """Notebook 04 : APoZ par canal, mesuré après (correct) ou avant (chapitre) la ReLU.

    Contrôles : la fraction de canaux retirés (principal), la couche (par défaut la dernière
    ReLU, ou ``layer``), et le point de mesure.
    Les canaux d'APoZ le plus élevé sont retirés (poids et biais mis à zéro) et la précision
    de validation est affichée. APoZ est mesuré une fois sur tout ``data.train``, en mode eval.
    """
    mapping = relu_to_layer(model)
    after = compute_apoz(model, data.train)
    before_raw = compute_apoz(model, data.train, layer_types=(nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))
    relus = [r for r in mapping if r in after]
    if not relus:
        raise ValueError("apoz_demo : aucune ReLU (module nn.ReLU) ne suit une couche élagable.")
    apoz = {"après": after, "avant": {r: before_raw[mapping[r]] for r in relus}}
    evaluator = MaskedEvaluator(model, data.val)
    options = [(f"{r} (sortie de {mapping[r]}, {after[r].numel()} canaux)", r) for r in relus]
    if layer is not None and layer not in relus:
        raise ValueError(f"layer={layer!r} : choisissez une ReLU parmi {relus}.")
    layer = widgets.Dropdown(options=options, value=layer or relus[-1], description="couche")
    where = widgets.ToggleButtons(options=[("après la ReLU", "après"), ("avant la ReLU (chapitre)", "avant")],
                                  value="après", description="mesure")
    slider = widgets.SelectionSlider(options=[(f"{100 * f:g} %", float(f)) for f in fractions], value=float(value),
                                     description="canaux retirés", continuous_update=False)

    def render(fraction, layer, where):
        values = apoz[where][layer]
        removed = highest_apoz_channels(values, fraction)
        acc = evaluator.accuracy(channel_masks(evaluator.model, mapping[layer], removed))
        fig, ax = plt.subplots(figsize=(7, 2.8))
        plots.apoz_bars(ax, values, removed,
                        f"APoZ {where} la ReLU, {layer} — {len(removed)} canaux retirés — précision (val) {acc:.1%}")
        fig.tight_layout()
        return {"fraction": fraction, "layer": layer, "where": where, "removed": removed, "accuracy": acc,
                "apoz": values}

    return Demo(slider, render, [layer, where], names=["fraction", "layer", "where"],
                title="APoZ : canaux souvent éteints")
