"""Démonstration du notebook 13 : courbes de sensibilité par couche et répartitions qu'elles produisent.

Le calcul vit dans ``course_lib.experiments.where_when`` (balayage, répartitions globales, fait une
fois) et ``course_lib.allocation`` (règles, fonctions pures) ; le constructeur calcule toutes les
répartitions de la grille de curseurs, le rappel ne fait que relire et redessiner.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, MaxNLocator

from ..allocation import (
    erk_densities,
    exact_counts,
    sensitivity_allocation,
    tolerated_sparsities,
    uniform_allocation,
)
from ..fr import layer_labels, md_table, num, pct, percent_formatter
from ._base import Demo

TOLERANCES = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
TARGETS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
RULES = ("uniforme", "globale", "ERK", "sensibilité")
COLORS = {"uniforme": "0.6", "globale": "tab:blue", "ERK": "tab:green", "sensibilité": "tab:orange"}
# couleurs des couches, distinctes de celles des règles : le nom de chaque couche, sous ses barres
# (à droite), est écrit dans la couleur de sa courbe (à gauche) et sert de légende aux deux
LAYER_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:cyan", "tab:olive", "tab:red")


def allocation_grid(results, seed: int) -> dict[tuple[float, float], dict[str, dict[str, float]]]:
    """``{(tolérance, cible): {règle: {couche: s_ℓ}}}`` pour toute la grille des curseurs (graine ``seed``)."""
    scan, shapes = results.scans[seed], results.shapes
    sizes = scan.sizes
    grid = {}
    for target in TARGETS:
        erk = erk_densities(shapes, 1 - target)
        fixed = {"uniforme": uniform_allocation(sizes, target),
                 "globale": results.global_allocations[seed][target],
                 "ERK": {n: c / sizes[n] for n, c in
                         exact_counts(sizes, {n: 1 - d for n, d in erk.items()}, target).items()}}
        for tol in TOLERANCES:
            grid[(tol, target)] = {**fixed, "sensibilité": sensitivity_allocation(scan, target, tol)}
    return grid


def _slider(values, value, description):
    return widgets.SelectionSlider(options=[(pct(v, 1 if v * 100 % 1 else 0), v) for v in values], value=value,
                                   description=description, continuous_update=False)


def allocation_demo(results, seed: int = 0, tolerance: float = 0.01, target: float = 0.9) -> Demo:
    """Courbes du balayage (graine ``seed``) avec la ligne « dense − tolérance », et, à droite, la sparsité
    de chaque couche selon les quatre règles à la cible choisie. ``last_result`` : ``tolerated``
    (b_ℓ lus sur les courbes) et ``allocations`` (``{règle: {couche: s_ℓ}}``)."""
    if seed not in results.scans:
        raise ValueError(f"seed doit être l'une des graines mesurées {sorted(results.scans)} ; reçu {seed!r}.")
    if tolerance not in TOLERANCES or target not in TARGETS:
        raise ValueError(f"tolerance doit être dans {TOLERANCES} et target dans {TARGETS} ; "
                         f"reçu {tolerance!r} et {target!r}.")
    scan = results.scans[seed]
    labels = layer_labels(results.shapes)
    grid = allocation_grid(results, seed)
    tolerated = {tol: tolerated_sparsities(scan, tol) for tol in TOLERANCES}
    layers = list(scan.accuracy)
    xs = np.array(scan.sparsities)

    def render(tolerance, target):
        allocs = grid[(tolerance, target)]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        colors = {n: LAYER_COLORS[i % len(LAYER_COLORS)] for i, n in enumerate(layers)}
        for n, color in colors.items():
            left.plot(xs, np.array(scan.accuracy[n]), marker="o", ms=3, color=color)
            b = tolerated[tolerance][n]
            if b > 0:
                left.plot([b], [scan.accuracy[n][scan.sparsities.index(b)]], marker="s", ms=9,
                          mfc="none", color=color)
        left.axhline(scan.dense - tolerance, color="k", ls=":", lw=1)
        left.set_xlabel("sparsité de la seule couche élaguée")
        left.set_ylabel("précision de validation")
        # graduations comptées : chacune coûte ~2 ms à chaque rendu
        left.xaxis.set_major_locator(FixedLocator(xs))
        left.yaxis.set_major_locator(MaxNLocator(5))
        left.xaxis.set_major_formatter(percent_formatter())
        left.yaxis.set_major_formatter(percent_formatter())
        left.set_title("balayage : une couche à la fois, sans ré-entraînement\n"
                       f"couleur = couche (noms à droite) ; pointillés : dense − "
                       f"{pct(tolerance, 1 if tolerance * 100 % 1 else 0)}", fontsize=9)
        width = 0.2
        for i, rule in enumerate(RULES):
            right.bar(np.arange(len(layers)) + (i - 1.5) * width, [allocs[rule][n] for n in layers],
                      width, label=rule, color=COLORS[rule])
        right.set_xticks(range(len(layers)), [f"{labels[n]}\n{num(scan.sizes[n], 0)} poids" for n in layers], fontsize=7)
        for tick, n in zip(right.get_xticklabels(), layers, strict=True):
            tick.set_color(colors[n])
        right.set_ylim(0, 1)
        right.yaxis.set_major_locator(FixedLocator([0, 0.5, 1]))
        right.grid(axis="y", alpha=0.3)
        right.yaxis.set_major_formatter(percent_formatter())
        right.set_ylabel(f"sparsité de la couche ({pct(target, 0)} au total)", fontsize=9)
        right.legend(fontsize=7, ncol=len(RULES), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                     frameon=False)  # au-dessus des barres, qu'elle ne cache pas
        rows = [[rule] + [pct(allocs[rule][n], 1) for n in layers] for rule in RULES]
        from IPython.display import Markdown, display

        display(Markdown(md_table(["règle"] + [labels[n] for n in layers], rows)))
        return {"tolerated": tolerated[tolerance], "allocations": allocs}

    return Demo(_slider(TOLERANCES, tolerance, "tolérance par couche"), render,
                [_slider(TARGETS, target, "sparsité globale")], names=["tolerance", "target"],
                title="Où élaguer : balayage de sensibilité et répartitions")
