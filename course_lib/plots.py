"""Figures matplotlib partagées par les notebooks (petites, une idée par figure).

Chaque fonction dessine sur un ``Axes`` fourni (``ax``) et le renvoie : les widgets
composent leurs figures avec, les notebooks aussi. Aucune n'appelle ``plt.show()``.

Importer ce module met les graduations de toutes les figures à la française (« 0,5 », pas
« 0.5 ») : voir :func:`course_lib.fr.french_ticks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from .fr import french_ticks, layer_labels, num, pct

LAYER_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


french_ticks()  # graduations à la française pour toute figure tracée après l'import de ce module


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def short_name(name: str) -> str:
    """``"classifier.1.weight"`` → ``"classifier.1"`` (légendes plus courtes)."""
    return name[: -len(".weight")] if name.endswith(".weight") else name


def layer_mask_image(ax, weight, mask, title: str = ""):
    """Les poids d'une couche (aplatis en 2-D) ; les poids élagués apparaissent en gris clair.

    Args:
        weight: tenseur de poids (Linear : (sortie, entrée) ; Conv : (sortie, entrée·k·k)).
        mask: masque de même forme (1 = gardé, 0 = élagué).
    """
    w = _np(weight).reshape(weight.shape[0], -1).astype(float)
    m = _np(mask).reshape(w.shape)
    shown = np.ma.masked_where(m == 0, w)
    cmap = plt.get_cmap("coolwarm").with_extremes(bad="0.85")
    lim = float(np.abs(w).max()) or 1.0
    ax.imshow(shown, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_xlabel("entrée")
    ax.set_ylabel("sortie")
    ax.set_title(title, fontsize=10)
    return ax


def magnitude_histogram(ax, importance: Mapping[str, torch.Tensor],
                        thresholds: Mapping[str, float] | float | None = None, bins: int = 60):
    """Histogramme de log10 |w| par couche, avec le ou les seuils d'élagage (traits verticaux).

    ``thresholds`` : un nombre (seuil global) ou ``{couche: seuil}`` (un seuil par couche).
    Légende : les noms de :func:`layer_labels`.
    """
    labels = layer_labels(importance)
    logs = {n: np.log10(np.clip(_np(t).ravel(), 1e-8, None)) for n, t in importance.items()}
    lo = min(v.min() for v in logs.values())
    hi = max(v.max() for v in logs.values())
    edges = np.linspace(lo, hi, bins + 1)
    for i, (n, v) in enumerate(logs.items()):
        color = LAYER_COLORS[i % len(LAYER_COLORS)]
        ax.hist(v, bins=edges, histtype="step", color=color, label=labels[n], density=True)
        if isinstance(thresholds, Mapping) and thresholds.get(n) is not None:
            ax.axvline(np.log10(max(thresholds[n], 1e-8)), color=color, ls="--", lw=1)
    if thresholds is not None and not isinstance(thresholds, Mapping):
        ax.axvline(np.log10(max(float(thresholds), 1e-8)), color="k", ls="--", lw=1.5, label="seuil global")
    ax.set_xlabel("log₁₀ |w|")
    ax.set_ylabel("densité")
    ax.legend(fontsize=7)
    return ax


def layer_sparsity_bars(ax, layer_sparsity: Mapping[str, float], target: float | None = None,
                        labels: Mapping[str, str] | None = None):
    """Barres : la sparsité atteinte dans chaque couche (et la cible, en pointillé).

    ``labels`` : le nom affiché de chaque couche (:func:`layer_labels`) ; sans lui, le nom interne raccourci.
    """
    names = [labels[n] if labels else short_name(n) for n in layer_sparsity]
    values = [100 * float(v) for v in layer_sparsity.values()]
    colors = ["tab:red" if v >= 99.999 else LAYER_COLORS[i % len(LAYER_COLORS)] for i, v in enumerate(values)]
    ax.barh(names, values, color=colors)
    if target is not None:
        ax.axvline(100 * target, color="k", ls=":", lw=1)
    ax.set_xlim(0, 100)
    ax.set_xlabel("sparsité (%)")
    ax.invert_yaxis()
    for y, v in enumerate(values):
        ax.text(min(v + 1, 80), y, pct(v / 100), va="center", fontsize=8)
    return ax


def accuracy_curves(ax, sparsities: Sequence[float], curves: Mapping[str, Sequence[float]],
                    current: float | None = None, baseline: float | None = None):
    """Précision en fonction de la sparsité, une courbe par critère."""
    x = 100 * np.asarray(sparsities, dtype=float)
    for i, (label, acc) in enumerate(curves.items()):
        ax.plot(x, 100 * np.asarray(acc, dtype=float), marker="o", ms=3,
                color=LAYER_COLORS[i % len(LAYER_COLORS)], label=label)
    if baseline is not None:
        ax.axhline(100 * baseline, color="0.5", ls=":", lw=1, label="sans élagage")
    if current is not None:
        ax.axvline(100 * current, color="k", ls="--", lw=1)
    ax.set_xlabel("sparsité (%)")
    ax.set_ylabel("précision (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    return ax


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(x: float) -> str:
    """« 10⁻⁵ » pour 1e-5, « −10³ » pour −1000, « 0 » pour 0 : l'étiquette d'une décade en texte
    simple (exposant en caractères Unicode), sans la mise en page mathtext de matplotlib."""
    if x == 0:
        return "0"
    exponent = int(round(np.log10(abs(x))))
    return ("−" if x < 0 else "") + "10" + str(exponent).translate(_SUPERSCRIPT)


def decade_labels(axis, log: bool = True) -> None:
    """Axe log (``log=True``) ou symlog : les décades étiquetées par :func:`power_of_ten`, en
    texte simple plutôt qu'en mathtext (~40 ms de moins par figure). Sur un axe log, au plus
    8 décades étiquetées et pas de graduations intermédiaires : un nuage qui couvre 20 décades
    en dessinerait sinon ~300, pour rien de lisible."""
    if log:
        axis.set_major_locator(LogLocator(base=10, numticks=8))
        axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: power_of_ten(x)))
    axis.set_minor_formatter(NullFormatter())


def saliency_scatter(ax, predicted, true, label: str, rho: float | None = None,
                     ylabel: str = "effet réel |ΔL|"):
    """Nuage : score prédit (abscisse, échelle log) contre effet réel sur la perte (ordonnée)."""
    p = _np(predicted).ravel().astype(float)
    t = _np(true).ravel().astype(float)
    ax.scatter(np.clip(p, 1e-12, None), t, s=6, alpha=0.5)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-5)
    decade_labels(ax.xaxis)
    decade_labels(ax.yaxis, log=False)
    if t.size and t.min() >= 0:  # un effet |ΔL| : pas de décades négatives à l'écran
        ax.set_ylim(bottom=0)
    ax.set_xlabel(f"score prédit : {label}")
    ax.set_ylabel(ylabel)
    if rho is not None:
        ax.set_title(f"ρ de Spearman = {'+' if rho > 0 else ''}{num(rho, 3)}", fontsize=10)
    return ax


def apoz_bars(ax, apoz, removed: Sequence[int] = (), title: str = ""):
    """APoZ de chaque canal (en %) ; les canaux retirés sont en rouge."""
    a = 100 * _np(apoz).astype(float)
    colors = ["tab:red" if c in set(removed) else "tab:blue" for c in range(len(a))]
    ax.bar(np.arange(len(a)), a, color=colors)
    ax.set_ylim(0, 100)
    ax.set_xlabel("canal")
    ax.set_ylabel("APoZ (%)")
    ax.set_title(title, fontsize=10)
    return ax
