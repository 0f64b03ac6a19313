"""Démonstrations des notebooks 00 à 04 : masques, magnitude, gradient, second ordre, APoZ.

Tout ce qui coûte (scores, Fisher, brute force, APoZ) est calculé une fois dans le
constructeur ; le rappel du contrôle ne fait que construire un masque (un tri) et
évaluer une copie masquée du modèle sur la validation (quelques millisecondes sur *digits*).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from torch import nn

from .. import plots
from .._validation import check_fraction
from ..chapter import chapter_gradient_salience, inverted_hessian_criterion
from ..criteria import (
    compute_apoz,
    compute_gradients,
    gradient_criterion,
    hessian_criterion,
    magnitude_criterion,
    per_sample_gradients,
)
from ..experiments.criteria_comparison import random_scores
from ..experiments.sensitivity import (
    MaskedEvaluator,
    channel_masks,
    gradient_scores,
    highest_apoz_channels,
    last_layer_name,
    loader_tensors,
    relu_to_layer,
    spearman_rho,
    true_loss_increase,
)
from ..fr import NNBSP, count, num, pct
from ..masks import LayerCollapseWarning, create_masks_from_importance, get_weights, remove_masks
from ._base import Demo

__all__ = [
    "MaskedEvaluator", "apoz_demo", "channel_masks", "chapter_gradient_salience", "compute_gradients",
    "gradient_demo", "gradient_scores", "highest_apoz_channels", "last_layer_name", "loader_tensors",
    "magnitude_demo", "mask_demo", "relu_to_layer", "second_order_demo", "spearman_rho", "true_loss_increase",
]

DEFAULT_SPARSITIES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998)


# ----------------------------------------------------------------------------- outils

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


SCOPE_LABELS = {"global": "globale", "layer": "par couche"}
# « fisher » : la moyenne des g² calculés exemple par exemple (pas « Fisher, par exemple »).
ESTIMATOR_LABELS = {"fisher": "Fisher (gradient de chaque exemple)", "squared_batch_mean": "carré de la moyenne du lot"}


def _pct_label(fraction: float) -> str:
    """« 99,5 % » pour 0.995 : pas de zéros inutiles, virgule décimale, espace fine insécable."""
    return f"{100 * fraction:g}".replace(".", ",") + NNBSP + "%"


def _demo(control, render, extra_controls, **kwargs) -> Demo:
    """Une ``Demo`` dont aucun libellé n'est coupé : largeur de description « initial » partout."""
    for c in (control, *extra_controls):
        c.style.description_width = "initial"
        if isinstance(c, widgets.Dropdown):  # le menu s'élargit à son plus long libellé : rien n'est coupé
            c.layout.width = "auto"
    return Demo(control, render, extra_controls, **kwargs)


def _sparsity_slider(sparsities: Sequence[float], value: float, description: str = "sparsité"):
    options = [(_pct_label(s), float(s)) for s in sparsities]
    for s in sparsities:
        check_fraction(s, "sparsities")
    if value not in [o[1] for o in options]:
        raise ValueError(f"value={value} doit être l'une des sparsités proposées : {list(sparsities)}.")
    return widgets.SelectionSlider(options=options, value=float(value), description=description,
                                   continuous_update=False, style={"description_width": "initial"})


# ----------------------------------------------------------------------------- 00 : masques

def mask_demo(model: nn.Module, data, layer: str = "classifier.3.weight",
              sparsities: Sequence[float] = DEFAULT_SPARSITIES[:-3], value: float = 0.5,
              seed: int = 0) -> Demo:
    """Notebook 00 : quels poids d'une couche un masque aléatoire ou de magnitude retire.

    La même sparsité est appliquée à chaque couche (``scope="layer"``) ; on affiche les poids
    de ``layer`` (gris = élagués) et la précision de validation du réseau masqué.
    Les scores aléatoires sont tirés une fois, comme le bras « hasard » de la comparaison du
    notebook 00 (``random_scores(model, seed)``, ``seed`` : la graine du modèle ; flux indépendant
    de celui qui a initialisé ses poids) : les masques sont emboîtés.
    """
    weights = get_weights(model)
    if layer not in weights:
        raise KeyError(f"layer={layer!r} inconnu ; couches élagables : {sorted(weights)}.")
    scores = {
        "magnitude": {n: magnitude_criterion(w) for n, w in weights.items()},
        "aléatoire": random_scores(model, seed),
    }
    evaluator = MaskedEvaluator(model, data.val)
    shown_name = plots.layer_labels(weights)[layer]
    method = widgets.ToggleButtons(options=["magnitude", "aléatoire"], value="magnitude", description="critère")

    def render(sparsity, method):
        masks, _, _ = _quiet_masks(scores[method], sparsity, "layer")
        acc = evaluator.accuracy(masks)
        fig, ax = plt.subplots(figsize=(7, 2.6))
        plots.layer_mask_image(ax, weights[layer], masks[layer],
                               f"{shown_name} : masque {method}, sparsité {_pct_label(sparsity)}, "
                               f"précision (validation) {pct(acc)}")
        return {"sparsity": sparsity, "method": method, "accuracy": acc,
                "kept": int(masks[layer].sum()), "mask": masks[layer]}

    return _demo(_sparsity_slider(sparsities, value), render, [method], names=["sparsity", "method"],
                title="Masque et précision : magnitude contre hasard")


# ----------------------------------------------------------------------------- 01 : magnitude

def magnitude_demo(model: nn.Module, data, sparsities: Sequence[float] = DEFAULT_SPARSITIES,
                   value: float = 0.8) -> Demo:
    """Notebook 01 : seuil de magnitude global ou par couche.

    Contrôles : la sparsité (principal) et la portée ``global``/``layer``. Affiche
    l'histogramme de log10|w| par couche avec le seuil (ou les seuils par couche), la sparsité atteinte dans
    chaque couche (en rouge : couche effondrée) et la précision de validation.
    """
    importance = {n: magnitude_criterion(w) for n, w in get_weights(model).items()}
    labels = plots.layer_labels(importance)
    evaluator = MaskedEvaluator(model, data.val)
    scope = widgets.ToggleButtons(options=[(SCOPE_LABELS[k], k) for k in ("global", "layer")], value="global",
                                  description="portée")

    def render(sparsity, scope):
        masks, collapsed, _ = _quiet_masks(importance, sparsity, scope)
        acc = evaluator.accuracy(masks)
        layer_sparsity = {n: 1 - float(m.mean()) for n, m in masks.items()}
        thresholds = _thresholds(importance, masks, scope)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [3, 2]})
        plots.magnitude_histogram(ax1, importance, thresholds)
        plots.layer_sparsity_bars(ax2, layer_sparsity, target=sparsity, labels=labels)
        names = ", ".join(labels[n] for n in collapsed)
        note = (f" ; {'couche vidée' if len(collapsed) == 1 else 'couches vidées'} : {names}" if collapsed else "")
        fig.suptitle(f"portée {SCOPE_LABELS[scope]}, sparsité {_pct_label(sparsity)} : "
                     f"précision (validation) {pct(acc)}{note}", fontsize=10)
        return {"sparsity": sparsity, "scope": scope, "accuracy": acc, "layer_sparsity": layer_sparsity,
                "thresholds": thresholds, "collapsed": collapsed}

    return _demo(_sparsity_slider(sparsities, value), render, [scope], names=["sparsity", "scope"],
                title="Élagage par magnitude : seuil global ou par couche")


# ----------------------------------------------------------------------------- 02 : gradient

def gradient_demo(model: nn.Module, data, sparsities: Sequence[float] = DEFAULT_SPARSITIES[:-2],
                  value: float = 0.8, loss_fn=None, scores=None) -> Demo:
    """Notebook 02 : précision après élagage selon le critère (magnitude contre gradient).

    Les scores sont calculés une fois (sur ``data.train``, ou donnés par ``scores``, par exemple ceux
    de ``experiments.criteria_comparison.SeedComparison``), ainsi que les courbes
    précision/sparsité pour les deux portées. Le rappel affiche la courbe, la position
    courante et le recouvrement des poids élagués avec ceux de la magnitude.
    """
    scores = scores if scores is not None else gradient_scores(model, data.train, loss_fn)
    evaluator = MaskedEvaluator(model, data.val)
    base = evaluator.accuracy()
    curves = {
        scope: {c: [evaluator.accuracy(_quiet_masks(s, sp, scope)[0]) for sp in sparsities] for c, s in scores.items()}
        for scope in ("global", "layer")
    }
    scope = widgets.ToggleButtons(options=[(SCOPE_LABELS[k], k) for k in ("global", "layer")], value="global",
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
        ax.set_title(f"portée {SCOPE_LABELS[scope]}", fontsize=10)
        print(f"sparsité {_pct_label(sparsity)}, portée {SCOPE_LABELS[scope]}")
        print(f"{'critère':<22}{'précision':>10}{'Jaccard':>9}")
        for c in scores:
            print(f"{c:<22}{pct(accuracies[c]):>10}{pct(overlap[c]):>9}")
        return {"sparsity": sparsity, "scope": scope, "accuracies": accuracies, "overlap": overlap}

    return _demo(_sparsity_slider(sparsities, value), render, [scope], names=["sparsity", "scope"],
                title="Magnitude contre saillance de gradient")


# ----------------------------------------------------------------------------- 03 : second ordre

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
            "Taylor |w·ḡ|": gradient_criterion(w, grad_mean[n_batches - 1]),
            "OBD ½·H·w²": hessian_criterion(w, h),
            "OBD inversé w²/(2H)": inverted_hessian_criterion(w, h),
        }

    slider = widgets.IntSlider(value=value, min=1, max=n_max, description="lots", continuous_update=False)
    criterion = widgets.Dropdown(options=list(predicted(1, "fisher")), value="OBD ½·H·w²", description="critère")
    estimator = widgets.ToggleButtons(
        options=[(label, key) for key, label in ESTIMATOR_LABELS.items()], value="fisher",
        description="estimateur")

    def render(n_batches, criterion, estimator):
        scores = predicted(n_batches, estimator)
        rho = {c: spearman_rho(s, true) for c, s in scores.items()}
        fig, ax = plt.subplots(figsize=(6, 3.2))
        plots.saliency_scatter(ax, scores[criterion], true, criterion, rho[criterion])
        n_examples = sum(sizes[:n_batches])
        exact, chapter = cum["fisher"][n_batches - 1], cum["squared_batch_mean"][n_batches - 1]
        ratio = float((chapter[exact > 0] / exact[exact > 0]).median())
        print(f"{n_batches} {'lot' if n_batches == 1 else 'lots'} = {num(n_examples, 0)} exemples ; "
              f"estimateur : {ESTIMATOR_LABELS[estimator]}")
        print(f"médiane (carré de la moyenne du lot) / ({ESTIMATOR_LABELS['fisher']}) : {num(ratio, 3)}")
        print("ρ de Spearman avec l'effet réel |ΔL| :")
        for c, r in rho.items():
            print(f"  {c:<22}{num(r, 3):>8}")
        return {"n_batches": n_batches, "criterion": criterion, "estimator": estimator, "rho": rho,
                "selected_rho": rho[criterion], "scale_ratio": ratio}

    return _demo(slider, render, [criterion, estimator], names=["n_batches", "criterion", "estimator"],
                title=f"Prédit contre réel : mettre à zéro un poids de la "
                      f"{plots.layer_labels(get_weights(dense))[name]}")


# ----------------------------------------------------------------------------- 04 : APoZ

def apoz_demo(model: nn.Module, data, fractions: Sequence[float] = tuple(i / 20 for i in range(19)),
              value: float = 0.25, layer: str | None = None) -> Demo:
    """Notebook 04 : APoZ par canal, mesuré après (correct) ou avant (chapitre) la ReLU.

    Contrôles : la fraction de canaux retirés (principal), la couche (par défaut la dernière
    ReLU, ou ``layer``), et le point de mesure.
    Les canaux d'APoZ le plus élevé sont retirés (poids et biais mis à zéro) et la précision
    de test est affichée. APoZ est mesuré une fois sur toute la validation (``data.val``, comme
    Hu et al., 2016, éq. (1)), en mode évaluation : la validation choisit, le test rend compte.
    """
    mapping = relu_to_layer(model)
    after = compute_apoz(model, data)
    before_raw = compute_apoz(model, data, layer_types=(nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))
    relus = [r for r in mapping if r in after]
    if not relus:
        raise ValueError("apoz_demo : aucune ReLU (module nn.ReLU) ne suit une couche élagable.")
    apoz = {"après": after, "avant": {r: before_raw[mapping[r]] for r in relus}}
    evaluator = MaskedEvaluator(model, data.test)
    names = plots.layer_labels(get_weights(model))
    shown = {r: names.get(f"{mapping[r]}.weight", mapping[r]) for r in relus}  # ReLU nommée par sa couche
    options = [(f"{shown[r]} ({count(after[r].numel(), 'canal', 'canaux')})", r) for r in relus]
    if layer is not None and layer not in relus:
        raise ValueError(f"layer={layer!r} : choisissez une ReLU parmi {relus}.")
    layer = widgets.Dropdown(options=options, value=layer or relus[-1], description="ReLU de la")
    where = widgets.ToggleButtons(options=[("après la ReLU", "après"), ("avant la ReLU (chapitre)", "avant")],
                                  value="après", description="mesure")
    slider = widgets.SelectionSlider(options=[(_pct_label(f), float(f)) for f in fractions], value=float(value),
                                     description="canaux retirés", continuous_update=False,
                                     style={"description_width": "initial"})

    def render(fraction, layer, where):
        values = apoz[where][layer]
        removed = highest_apoz_channels(values, fraction)
        acc = evaluator.accuracy(channel_masks(evaluator.model, mapping[layer], removed))
        fig, ax = plt.subplots(figsize=(7, 2.8))
        plots.apoz_bars(ax, values, removed,
                        f"APoZ {where} la ReLU, {shown[layer]} : {count(len(removed), 'canal retiré', 'canaux retirés')}, "
                        f"précision (test) {pct(acc)}")
        return {"fraction": fraction, "layer": layer, "where": where, "removed": removed, "accuracy": acc,
                "apoz": values}

    return _demo(slider, render, [layer, where], names=["fraction", "layer", "where"],
                title="APoZ : canaux souvent éteints")
