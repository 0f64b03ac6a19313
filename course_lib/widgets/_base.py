"""``Demo`` : un contrôle principal, une sortie, et la fonction qui relie les deux."""

from __future__ import annotations

import base64
import contextlib
import gc
import html
import io
import re
import sys
import time
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython import get_ipython
from IPython.display import Image, display


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
# Réglages matplotlib le temps d'un rendu : un titre à hauteur fixe (au-dessus de l'axe, comme le
# placement automatique quand rien n'y est dessiné) évite à chaque affichage le calcul des boîtes
# des graduations qui sert à le placer (3 à 10 ms par axe ; voir benchmarks/bench_widgets.py).
RENDER_RC = {"axes.titley": 1.0}

OUTPUT_CSS = ("<style>.course-output pre { white-space: pre-wrap !important; "
              "word-break: normal !important; overflow-wrap: normal !important; }</style>")


# ----------------------------------------------------------------------------- vue figée

STATIC_CLASS = "course-static"
STATIC_NOTE = ("Version figée de la démonstration : exécutez le notebook (dans JupyterLab ou sur "
               "Binder) pour faire varier ses contrôles.")


class _Tee(io.TextIOBase):
    """Écrit dans le flux d'origine (la sortie du widget) et garde une copie du texte."""

    def __init__(self, stream, parts: list):
        self.stream, self.parts = stream, parts

    def write(self, text: str) -> int:
        if self.parts and self.parts[-1][0] == "text":
            self.parts[-1] = ("text", self.parts[-1][1] + text)
        else:
            self.parts.append(("text", text))
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def _capture(parts: list):
    """Recopie dans ``parts``, dans l'ordre, ce que ``render`` imprime (``("text", str)``) et ce qu'il
    affiche en Markdown ou en HTML (``("text/markdown" | "text/html", str)``), sans rien retirer
    de la sortie du widget. Les affichages ne sont vus que dans un noyau Jupyter (crochet de
    ``display_pub``) ; les figures sont prises à part (``_png``)."""
    pub = getattr(get_ipython(), "display_pub", None)
    hooked = hasattr(pub, "register_hook")

    def hook(msg):
        data = msg.get("content", {}).get("data", {})
        if not any(k.startswith("image/") for k in data):  # les figures : par _png
            for mime in ("text/html", "text/markdown"):
                if mime in data:
                    parts.append((mime, data[mime]))
                    break
        return msg

    if hooked:
        pub.register_hook(hook)
    try:
        with contextlib.redirect_stdout(_Tee(sys.stdout, parts)):
            yield
    finally:
        if hooked:
            pub.unregister_hook(hook)


def _png(fig) -> bytes:
    """La figure en PNG, à 100 ppp, avec les marges posées par ``Demo._fit``.

    Le backend inline de Jupyter (``plt.show``) enregistre avec ``bbox_inches="tight"``, ce qui
    dessine la figure deux fois (une pour mesurer, une pour l'image) : ~30 % de plus à chaque
    mouvement d'un contrôle. Les marges étant déjà calculées par ``tight_layout``, un seul dessin
    suffit pour la même image.
    """
    buf = io.BytesIO()
    # compression zlib la plus rapide : ~1,4 fois plus d'octets, quelques ms de moins par rendu
    fig.savefig(buf, format="png", dpi=100, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _unescape_markdown(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _markdown_html(text: str) -> str:
    """Un tableau de ``course_lib.fr.md_table`` en ``<table>`` ; tout autre Markdown en texte brut."""
    lines = [line.strip() for line in text.strip().splitlines()]
    is_table = (len(lines) >= 2 and all(line.startswith("|") and line.endswith("|") for line in lines)
                and set(lines[1]) <= set("|-: "))
    if not is_table:
        return f"<p>{html.escape(text)}</p>"

    def cells(line: str) -> list[str]:
        inner = re.split(r"(?<!\\)\|", line[1:-1])
        return [html.escape(_unescape_markdown(c.strip())) for c in inner]

    head = "".join(f"<th>{c}</th>" for c in cells(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells(line)) + "</tr>" for line in lines[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _control_html(control: widgets.ValueWidget) -> tuple[str, str]:
    """``("setting", "sparsité 50 %")`` ; une question sans réponse (boutons radio vides) :
    ``("choices", "<ul>…</ul>")``, la liste de ses choix."""
    name = html.escape(control.description or "")
    options = getattr(control, "options", None)
    if options is not None and control.value is None:
        labels = getattr(control, "_options_labels", None) or [str(o) for o in options]
        return "choices", "<ul>" + "".join(f"<li>{html.escape(str(label))}</li>" for label in labels) + "</ul>"
    if isinstance(control, widgets.Checkbox | widgets.ToggleButton):
        shown = "oui" if control.value else "non"
    elif options is not None:
        shown = str(control.label)
    else:
        shown = str(control.value)
    return "setting", f"{name} {html.escape(shown)}" if name else html.escape(shown)


class DemoBox(widgets.VBox):
    """La boîte d'une démonstration : son affichage porte, en plus du widget, une vue figée en HTML.

    ``_repr_mimebundle_`` renvoie le paquet MIME d'ipywidgets (le widget vivant,
    ``application/vnd.jupyter.widget-view+json``) augmenté de ``text/html`` : ``static_html()`` de la
    démonstration (titre, réglage, texte imprimé, tableaux et figure PNG du premier rendu).
    JupyterLab n'affiche qu'un type par sortie et préfère le widget (rang -10, contre 50 pour le
    HTML) : l'élève ne voit que le widget vivant. Sans noyau (site statique, notebook ouvert sans
    l'extension des widgets), le HTML prend sa place : la page montre la figure.
    """

    def __init__(self, children, static_html: Callable[[], str]):
        super().__init__(children)
        self._static_html = static_html

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, dict) and "application/vnd.jupyter.widget-view+json" in data:
            data = {**data, "text/html": self._static_html()}
        return data


class DemoGroup(widgets.VBox):
    """Des démonstrations l'une sous l'autre (les questions d'un quiz) : leurs vues figées, bout à bout,
    accompagnent le widget vivant comme pour :class:`DemoBox`."""

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, dict) and "application/vnd.jupyter.widget-view+json" in data:
            static = [c._static_html() for c in self.children if isinstance(c, DemoBox)]
            if static:
                data = {**data, "text/html": "\n".join(static)}
        return data


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

    Vue figée : le premier rendu (le réglage de départ) est aussi gardé, texte, tableaux et figures
    en PNG (``static_parts``, ``static_figures``) ; ``static_html()`` en fait un bloc HTML, que
    l'affichage de ``widget`` (un :class:`DemoBox`) joint au widget vivant. Le site statique du cours
    montre ce bloc : une page se lit sans noyau.

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
        self.static_parts: list[tuple[str, str]] = []
        self.static_figures: list[str] = []
        self._margins: dict[tuple, dict[str, float]] = {}
        for c in self.controls:
            c.observe(self._on_change, names="value")
        for c in self.controls:  # aucun libellé coupé : boîtes à la largeur de leur texte
            c.style.description_width = "initial"
            if isinstance(c, widgets.ToggleButtons):
                c.style.button_width = "auto"
        self.title = widgets.HTML(f"<b>{title}</b>") if title else None
        children = ([self.title] if title else []) + [widgets.HBox(self.controls), self.output]
        children.insert(0, widgets.HTML(OUTPUT_CSS))
        self.widget = DemoBox(children, self.static_html)
        freeze_long_lived_objects()
        self.refresh()

    def values(self) -> dict:
        return {n: c.value for n, c in zip(self.names, self.controls, strict=True)}

    def refresh(self) -> None:
        """Redessine la sortie pour les valeurs courantes des contrôles."""
        start = time.perf_counter()
        first = self.renders == 0  # le réglage de départ : gardé pour la vue figée
        shell = get_ipython()
        with self.output:
            self.output.clear_output(wait=True)
            with _capture(self.static_parts) if first else contextlib.nullcontext(), plt.rc_context(RENDER_RC):
                self.last_result = self._render(**self.values())
            for index, num in enumerate(plt.get_fignums()):
                fig = plt.figure(num)
                self._fit(index, fig)
                png = _png(fig)  # un seul dessin, affiché et gardé pour la vue figée
                if first:
                    self.static_figures.append(base64.b64encode(png).decode("ascii"))
                if shell is not None:  # hors IPython, comme plt.show sous Agg : rien à montrer
                    display(Image(data=png, format="png"))
            plt.close("all")
        self.last_latency = time.perf_counter() - start
        self.renders += 1

    def static_html(self) -> str:
        """Le réglage de départ en HTML : titre, valeurs des contrôles, texte, tableaux, figures."""
        title = self.title.value if self.title is not None else ""
        described = [_control_html(c) for c in self.controls]
        settings = ", ".join(text for kind, text in described if kind == "setting")
        blocks = [f'<div class="{STATIC_CLASS}">']
        if title:
            blocks.append(f"<p>{title}</p>")
        blocks.append(f"<p><em>{html.escape(STATIC_NOTE)}</em></p>")
        if settings:
            blocks.append(f"<p>Réglage de départ : {settings}</p>")
        blocks.extend(text for kind, text in described if kind == "choices")
        for kind, content in self.static_parts:
            if kind == "text" and content.strip():
                blocks.append(f"<pre>{html.escape(content.rstrip())}</pre>")
            elif kind == "text/markdown":
                blocks.append(_markdown_html(content))
            elif kind == "text/html":
                blocks.append(content)
        alt = html.escape(re.sub(r"<[^>]+>", "", title) or "figure de la démonstration", quote=True)
        for png in self.static_figures:
            blocks.append(f'<img src="data:image/png;base64,{png}" alt="{alt}" style="max-width: 100%;">')
        blocks.append("</div>")
        return "\n".join(blocks)

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
        display(self.widget)
