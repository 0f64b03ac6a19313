"""``Demo`` : un contrôle principal, une sortie, et la fonction qui relie les deux."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt


def freeze_long_lived_objects() -> None:
    """Exclut des collectes du ramasse-miettes les objets déjà vivants (modules, modèle, données).

    Chaque rendu crée ~10^5 objets liés en cycles (figures matplotlib), que seul le ramasse-miettes
    cyclique de CPython libère. Quand il lance une collecte complète, il parcourt *tout* le tas
    (~4,5·10^5 objets une fois torch et matplotlib importés) : 0,3 à 0,4 s sur un CPU de portable,
    au milieu d'un rappel. Après une collecte qui libère les déchets du moment, ``gc.freeze()``
    range les objets présents dans une génération permanente que les collectes ne parcourent plus :
    une collecte complète ne voit plus que les objets récents (< 0,15 s mesuré). Appelée à la
    construction de chaque ``Demo`` ; effet sur tout le processus, voulu : c'est le noyau du
    notebook. Mesure : ``.venv/bin/python -m benchmarks.bench_widgets``.
    """
    gc.collect()
    gc.freeze()


# Le texte imprimé par une démonstration passe à la ligne entre les mots, jamais au milieu d'un mot.
OUTPUT_CSS = ("<style>.course-output pre { white-space: pre-wrap !important; "
              "word-break: normal !important; overflow-wrap: normal !important; }</style>")


class Demo:
    """Une démonstration interactive : ``control`` pilote ``output`` via ``render``.

    Args:
        control: le contrôle principal (il reçoit la classe CSS ``course-control``).
        render: ``render(**values)`` dessine dans la sortie (print, figure matplotlib...) et
            renvoie ce qu'il a calculé (gardé dans ``last_result`` : les tests le comparent).
            Il reçoit la valeur de chaque contrôle, nommée par ``names``.
        extra_controls: contrôles secondaires (toggle global/par couche, etc.).
        names: le nom de l'argument de ``render`` pour chaque contrôle, dans l'ordre
            ``[control, *extra_controls]``.

    À la construction, les objets déjà vivants sont exclus du ramasse-miettes
    (:func:`freeze_long_lived_objects`), pour que les rappels ne subissent pas de collecte complète.

    Mise en page des figures : ``render`` n'appelle pas ``tight_layout`` ; ``refresh`` le fait au
    premier rendu de chaque figure et garde les marges obtenues (``fig.subplotpars``), qu'il
    réapplique aux rendus suivants (même figure, mêmes axes : seules les données changent).
    ``tight_layout`` dessine tout le texte une fois de plus pour mesurer les étiquettes : c'était
    ~30 % du temps d'un rappel.

    Attributs utiles : ``widget`` (à afficher), ``output``, ``last_result`` (ce que ``render`` a renvoyé),
    ``last_latency`` (secondes du dernier rendu), ``renders`` (nombre de rendus).
    """

    def __init__(self, control: widgets.ValueWidget, render: Callable[..., None],
                 extra_controls: Sequence[widgets.ValueWidget] = (), names: Sequence[str] | None = None,
                 title: str | None = None):
        self.control = control
        self.controls = [control, *extra_controls]
        self.names = list(names) if names is not None else ["value"] + [f"extra{i}" for i in range(len(extra_controls))]
        if len(self.names) != len(self.controls):
            raise ValueError(f"names doit donner un nom par contrôle ({len(self.controls)}) ; reçu {self.names}.")
        self._render = render
        self.output = widgets.Output()
        self.output.add_class("course-output")
        control.add_class("course-control")
        self.last_latency = 0.0
        self.last_result = None
        self.renders = 0
        self._margins: dict[tuple, dict[str, float]] = {}
        for c in self.controls:
            c.observe(self._on_change, names="value")
        for c in self.controls:  # aucun libellé coupé : boîtes à la largeur de leur texte
            c.style.description_width = "initial"
            if isinstance(c, widgets.ToggleButtons):
                c.style.button_width = "auto"
        children = ([widgets.HTML(f"<b>{title}</b>")] if title else []) + [widgets.HBox(self.controls), self.output]
        children.insert(0, widgets.HTML(OUTPUT_CSS))
        self.widget = widgets.VBox(children)
        freeze_long_lived_objects()
        self.refresh()

    def values(self) -> dict:
        return {n: c.value for n, c in zip(self.names, self.controls, strict=True)}

    def refresh(self) -> None:
        """Redessine la sortie pour les valeurs courantes des contrôles."""
        start = time.perf_counter()
        with self.output:
            self.output.clear_output(wait=True)
            self.last_result = self._render(**self.values())
            for index, num in enumerate(plt.get_fignums()):
                self._fit(index, plt.figure(num))
            plt.show()
            plt.close("all")
        self.last_latency = time.perf_counter() - start
        self.renders += 1

    def _fit(self, index: int, fig) -> None:
        """Marges de ``tight_layout`` calculées au premier rendu de la figure, réutilisées ensuite."""
        key = (index, tuple(fig.get_size_inches()), len(fig.axes))
        if key not in self._margins:
            fig.tight_layout()
            pars = fig.subplotpars
            self._margins[key] = {k: getattr(pars, k) for k in ("left", "right", "bottom", "top", "wspace", "hspace")}
        else:
            fig.subplots_adjust(**self._margins[key])

    def _on_change(self, _change) -> None:
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
