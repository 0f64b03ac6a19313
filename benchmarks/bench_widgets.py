"""Réactivité des widgets : temps de construction de chaque démo et latence de chaque contrôle.

Chaque démo est construite comme dans son notebook (CNN du cours entraîné sur *digits*, graine 0),
puis chaque contrôle parcourt ses valeurs (toutes les options d'un menu ou d'un curseur à
options, jusqu'à ``MAX_VALUES`` positions d'un curseur numérique, les deux états d'une case),
et revient à sa valeur de départ. La latence est le temps du rappel ``Demo.refresh`` : calcul,
dessin et rendu PNG des figures (``plt.show`` est remplacé ici par ce que fait le backend
*inline* de Jupyter : un ``savefig`` PNG par figure ouverte). Le transport vers le navigateur
n'est pas compté. Objectif : médiane < 0,2 s et maximum < 0,5 s par démo (« répond tout de suite »).

    .venv/bin/python -m benchmarks.bench_widgets
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

MAX_VALUES = 8
GOAL_MEDIAN, GOAL_MAX = 0.1, 0.2  # s : médiane et pire cas visés pour un contrôle


def _inline_show(*_args, **_kwargs) -> None:
    """Ce que fait ``plt.show`` sous le backend inline de Jupyter : un PNG par figure ouverte, par
    le même chemin (``IPython.core.pylabtools.print_figure`` avec les réglages d'``InlineBackend``,
    dont ``bbox_inches="tight"`` qui dessine deux fois). Les démos (``Demo``) n'y passent pas :
    elles produisent leur PNG elles-mêmes, et c'est ce coût-là que mesure leur latence."""
    from IPython.core.pylabtools import print_figure
    from matplotlib_inline.config import InlineBackend

    kwargs = InlineBackend.instance().print_figure_kwargs
    for num in plt.get_fignums():
        print_figure(plt.figure(num), "png", **kwargs)


def control_values(control) -> list:
    """Les valeurs que parcourt un contrôle (sans sa valeur de départ)."""
    start = control.value
    options = getattr(control, "options", None)
    if options:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        if len(values) > MAX_VALUES:
            step = (len(values) - 1) / (MAX_VALUES - 1)
            values = [values[round(i * step)] for i in range(MAX_VALUES)]
    elif isinstance(start, bool):
        values = [not start]
    elif hasattr(control, "min") and hasattr(control, "max"):
        lo, hi = control.min, control.max
        values = [lo + (hi - lo) * i / (MAX_VALUES - 1) for i in range(MAX_VALUES)]
        if isinstance(start, int):
            values = sorted({round(v) for v in values})
    else:
        return []
    return [v for v in values if v != start]


def cycle(demo) -> dict[str, list[float]]:
    """Latences (s) de chaque changement de valeur, par contrôle ; l'état final = l'initial."""
    latencies = {}
    for name, control in zip(demo.names, demo.controls, strict=True):
        start = control.value
        for value in [*control_values(control), start]:
            before = demo.renders
            control.value = value
            if demo.renders > before:
                latencies.setdefault(name, []).append(demo.last_latency)
    return latencies


def builders() -> dict[str, Callable[[], list]]:
    """Pour chaque notebook, une fonction qui construit ses démos comme le notebook le fait."""
    from course_lib import load_data, train_baseline
    from course_lib.experiments import where_when as ww
    from course_lib.widgets import criteria as c
    from course_lib.widgets import scheduling as s
    from course_lib.widgets.allocation import allocation_demo
    from course_lib.widgets.structured import structured_demo

    data = load_data("digits", seed=0)
    model = train_baseline(data, seed=0, progress=False)
    where_when = ww.where_when_results(progress=False)  # l'expérience du notebook 13 (cache)
    return {
        "00 introduction (mask_demo)": lambda: [c.mask_demo(model, data)],
        "01 magnitude": lambda: [c.magnitude_demo(model, data)],
        "02 gradient": lambda: [c.gradient_demo(model, data)],
        "03 second ordre": lambda: [c.second_order_demo(model, data)],
        "04 APoZ": lambda: [c.apoz_demo(model, data)],
        "05 schedules": lambda: [s.schedule_demo()],
        "06 polishing": lambda: [s.polishing_demo(model, data, seed=0)],
        "07 regrowth": lambda: [s.regrowth_demo(model, data, seed=0)],
        "08 comparaison": lambda: [s.comparison_demo(model, data, sparsities=(0.5, 0.8, 0.9, 0.95), seed=0)],
        "09 adaptatif": lambda: [s.adaptive_demo(model, data, target=0.95, max_drop=0.02, seed=0)],
        "10 quiz": lambda: s.quiz(),
        "11 structuré": lambda: [structured_demo(model, data, latency_model=_cifar(), epochs=2)],
        "13 où et quand": lambda: [allocation_demo(where_when, seed=0)],
    }


def _cifar():
    """Le CNN de forme CIFAR du notebook 11 (poids aléatoires, graine 0)."""
    import torch

    from course_lib.models import CifarCNN

    torch.manual_seed(0)
    return CifarCNN(64).eval()


def run() -> list[dict]:
    import torch

    previous_show = plt.show
    plt.show = _inline_show
    rows = []
    try:
        for name, build in builders().items():
            torch.manual_seed(0)
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # hors noyau, les print iraient au terminal
                demos = build()
            built = time.perf_counter() - start
            rows.append({"name": f"{name} : construction", "value": round(built, 2), "unit": "s",
                         "detail": "calculs faits une fois à l'affichage (tables, trajectoires), premier rendu compris"})
            per_control: dict[str, list[float]] = {}
            for demo in demos:  # le quiz : une Demo par question, regroupées
                with contextlib.redirect_stdout(io.StringIO()):  # hors noyau, les print iraient au terminal
                    measured = cycle(demo)
                for control, latencies in measured.items():
                    key = f"« {control} »" if len(demos) == 1 else f"réponse ({len(demos)} questions)"
                    per_control.setdefault(key, []).extend(latencies)
            if not per_control:
                raise RuntimeError(f"{name} : aucun contrôle n'a redessiné la sortie.")
            for control, latencies in per_control.items():
                med, worst = statistics.median(latencies), max(latencies)
                verdict = "atteint" if round(med * 1000) <= GOAL_MEDIAN * 1000 and round(worst * 1000) <= GOAL_MAX * 1000 else "NON atteint"
                rows.append({"name": f"{name} : contrôle {control}", "value": round(med * 1000),
                             "unit": "ms (médiane)",
                             "detail": f"{len(latencies)} changements, max {worst * 1000:.0f} ms ; objectif "
                             f"médiane ≤ {GOAL_MEDIAN * 1000:.0f} ms, max ≤ {GOAL_MAX * 1000:.0f} ms : {verdict}"})
    finally:
        plt.show = previous_show
        plt.close("all")
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
