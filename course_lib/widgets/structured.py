"""Démonstration du notebook 11 : retirer une fraction des canaux, et ce que l'on y gagne vraiment.

Tout est calculé à la construction par ``course_lib.experiments.structured.sweep_fractions`` (retrait,
fine-tuning, MAC, latence mesurée) ; le rappel ne fait que choisir une ligne et dessiner.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from torch import nn

from .. import plots  # noqa: F401  (graduations des figures à la française)
from ..experiments.structured import SweepRow, sweep_fractions
from ..fr import num, pct
from ._base import Demo


def structured_demo(model: nn.Module, data, fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75),
                    value: float = 0.5, method: str = "l1", **sweep_kwargs) -> Demo:
    """Notebook 11 : un curseur, la fraction de canaux retirés dans chaque couche cachée.

    À gauche, la précision de test du modèle du cours juste après le retrait et après
    fine-tuning ; à droite, pour chaque fraction, combien de fois moins de MAC, de paramètres,
    et combien de fois plus rapide (latence mesurée, 1 thread, lot de 1 et grand lot) sur le
    modèle de forme CIFAR. Arguments supplémentaires : ceux de ``sweep_fractions``.
    """
    if float(value) not in [float(f) for f in fractions]:
        raise ValueError(f"value={value!r} doit être l'une des fractions {list(fractions)}.")
    rows = sweep_fractions(model, data, fractions, method=method, **sweep_kwargs)
    by_fraction = {r.fraction: r for r in rows}
    dense = rows[0] if rows[0].fraction == 0 else None
    slider = widgets.SelectionSlider(options=[(pct(f, 0), float(f)) for f in fractions], value=float(value),
                                     description="canaux retirés", continuous_update=False)

    def speedups(r: SweepRow, ref: SweepRow) -> dict[str, float]:
        out = {"MAC": ref.latency_macs / r.latency_macs, "paramètres": ref.latency_params / r.latency_params}
        for b, lat in r.latency.items():
            out[f"latence, lot de {b}"] = ref.latency[b].median / lat.median
        return out

    def render(fraction):
        r = by_fraction[fraction]
        ref = dense or r
        gains = speedups(r, ref)
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
        xs = [100 * x.fraction for x in rows]
        left.plot(xs, [100 * x.accuracy_before for x in rows], "o-", label="juste après le retrait")
        left.plot(xs, [100 * x.accuracy_after for x in rows], "s-", label="après fine-tuning")
        left.axvline(100 * fraction, color="gray", ls=":")
        left.set(xlabel="canaux retirés (%)", ylabel="précision (test, %)", title="Modèle du cours (digits)")
        left.legend(fontsize=8)
        names = list(gains)
        right.bar(range(len(names)), [gains[n] for n in names], color=["C0", "C1", "C2", "C3"][: len(names)])
        right.axhline(1, color="gray", lw=0.8)
        right.set_xticks(range(len(names)), names, fontsize=8, rotation=15)
        right.set(ylabel="gain (nombre de fois)", title="Modèle de forme CIFAR (3×32×32)")
        for i, n in enumerate(names):
            right.text(i, gains[n], f"{num(gains[n], 1)}×", ha="center", va="bottom", fontsize=8)
        b1 = min(r.latency)
        head = (f"{pct(fraction, 0)} des canaux retirés : précision {pct(r.accuracy_before)} "
                f"→ {pct(r.accuracy_after)} après fine-tuning" if fraction else
                f"Modèle complet (référence) : précision {pct(r.accuracy_before)}")
        print(f"{head} ; modèle du cours : {num(r.macs / 1000, 1)} k MAC, {num(r.params / 1000, 1)} k "
              f"paramètres. Modèle CIFAR : {num(gains['MAC'], 1)}× moins de MAC, "
              f"{num(gains[f'latence, lot de {b1}'], 1)}× plus rapide (lot de {b1}, 1 fil de calcul).")
        return {"fraction": fraction, "accuracy_before": r.accuracy_before, "accuracy_after": r.accuracy_after,
                "macs": r.macs, "params": r.params, "gains": gains}

    return Demo(slider, render, names=["fraction"], title="Élagage structuré : ce que l'on gagne vraiment")
