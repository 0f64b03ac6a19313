"""Nombres à la française pour tout ce qu'un élève lit : « 97,2 % », « 96,1 ± 0,6 % », « 3 500 ».

Une seule source pour les ``print``, les tableaux, les figures et les widgets :

- virgule décimale ; signe moins typographique (U+2212) ;
- espace fine insécable (U+202F, ``NNBSP``) avant « % » et entre les milliers, comme le
  recommande l'Imprimerie nationale ; insécable : « 97,2 » et « % » ne sont jamais
  séparés par un retour à la ligne (la police DejaVu de matplotlib a ce caractère) ;
- espace insécable ordinaire (U+00A0, ``NBSP``) de part et d'autre de « ± ».

Les pourcentages prennent une **fraction** (0,972 → « 97,2 % »), comme ``evaluate``.
"""

from __future__ import annotations

import math
import numbers

NNBSP = "\u202f"  # espace fine insécable : avant %, séparateur de milliers
NBSP = "\u00a0"  # espace insécable : autour de ±
MINUS = "\u2212"


def _real(x, name: str) -> float:
    if hasattr(x, "numel") and hasattr(x, "item") and x.numel() == 1:  # tenseur à un élément
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} doit être un nombre réel ; reçu {x!r} (de type {type(x).__name__}).")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} doit être un nombre fini ; reçu {x!r}.")
    return x


def _digits(digits) -> int:
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral) or digits < 0:
        raise ValueError(f"digits doit être un entier >= 0 ; reçu {digits!r}.")
    return int(digits)


def num(x, digits: int = 2) -> str:
    """« 0,25 », « 3 500 », « −1,5 » : ``x`` arrondi à ``digits`` décimales, à la française."""
    x, digits = _real(x, "x"), _digits(digits)
    text = f"{abs(x):,.{digits}f}".replace(",", NNBSP).replace(".", ",")
    negative = x < 0 and any(c not in "0," + NNBSP for c in text)  # pas de « −0,0 »
    return (MINUS if negative else "") + text


def pct(x, digits: int = 1) -> str:
    """« 97,2 % » pour la fraction ``x = 0.972`` (espace fine insécable avant %)."""
    return num(100 * _real(x, "x"), digits) + NNBSP + "%"


def pm(mean, spread, digits: int = 1, percent: bool = True) -> str:
    """« 96,1 ± 0,6 % » (fractions, ``percent=True``) ou « 0,25 ± 0,01 » (``percent=False``).

    ``spread`` (écart type, demi-étendue...) doit être >= 0.
    """
    mean, spread = _real(mean, "mean"), _real(spread, "spread")
    if spread < 0:
        raise ValueError(f"spread (la dispersion) doit être >= 0 ; reçu {spread!r}.")
    scale = 100 if percent else 1
    text = f"{num(scale * mean, digits)}{NBSP}±{NBSP}{num(scale * spread, digits)}"
    return text + (NNBSP + "%" if percent else "")


def count(n, singular: str, plural: str | None = None) -> str:
    """« 0 tour », « 1 lot », « 3 lots », « 64 canaux », « 1 500 exemples » : le nombre et son nom accordé.

    En français, 0 et 1 (et tout nombre inférieur à 2) prennent le singulier. ``plural`` : le pluriel
    s'il ne s'obtient pas en ajoutant « s » (« canal », « canaux »).
    """
    n = _real(n, "n")
    word = singular if abs(n) < 2 else (plural or singular + "s")
    return f"{num(n, 0 if n == int(n) else 1)} {word}"


def _needed_digits(fractions) -> int:
    """Le moins de décimales qui écrit exactement chaque pourcentage de ``fractions`` (4 au plus)."""
    for digits in range(5):
        if all(abs(100 * v - round(100 * v, digits)) < 1e-6 for v in fractions):
            return digits
    return 4


def percent_formatter(digits: int | None = None):
    """Formateur d'axe matplotlib : graduations en « 90 % », « 82,5 % » (valeurs en fractions).

    Chaque graduation est écrite exactement : autant de décimales qu'il en faut pour les graduations
    de l'axe (« 82,5 % », jamais « 82 % » posé à 82,5), ``digits`` au moins s'il est donné.
    Met aussi les autres graduations à la française (:func:`french_ticks`).
    """
    from matplotlib.ticker import Formatter

    minimum = 0 if digits is None else _digits(digits)
    french_ticks()

    class FrenchPercentFormatter(Formatter):
        ticks: list = []  # les graduations de l'axe, données par matplotlib avant l'écriture

        def set_locs(self, locs):
            self.ticks = list(locs)

        def __call__(self, x, pos=None):
            return pct(x, max(minimum, _needed_digits(self.ticks or [x])))

    return FrenchPercentFormatter()


def group_thousands(label: str) -> str:
    """« 35000 » → « 35 000 », « −1200,5 » → « −1 200,5 » (espace fine insécable) dans un libellé de graduation."""
    import re

    return re.sub(r"(?<![\d,.])\d{4,}", lambda m: f"{int(m.group(0)):,}".replace(",", NNBSP), label)


def decimal_comma(label: str) -> str:
    """« 0.5 » → « 0,5 » dans un libellé de graduation (« {,} » en mathtext : pas d'espace après la virgule)."""
    return label.replace(".", "{,}" if "$" in label else ",")


def french_ticks() -> None:
    """Graduations à la française (« 0,5 », pas « 0.5 ») sur tout axe linéaire de matplotlib.

    ``axes.formatter.use_locale`` demanderait une locale française installée sur la machine de
    l'élève. Ici, l'échelle « linear » du registre de matplotlib (``matplotlib.scale.register_scale``)
    est remplacée par la même échelle munie de ``FrenchScalarFormatter`` (le formateur par défaut,
    virgule décimale comprise dans le décalage « +0,5 ») : aucune cellule qui trace n'a à changer.
    Les axes déjà créés avec le formateur par défaut le reçoivent aussi. Idempotente ; appelée à
    l'import de ``course_lib.plots`` (donc des widgets) et par :func:`percent_formatter`.
    """
    import sys
    import warnings

    from matplotlib import scale, ticker

    if getattr(scale._scale_mapping.get("linear"), "french", False):  # déjà fait
        return

    class FrenchScalarFormatter(ticker.ScalarFormatter):
        def __call__(self, x, pos=None):
            label = decimal_comma(super().__call__(x, pos))
            return label if "$" in label else group_thousands(label)

        def get_offset(self):
            return decimal_comma(super().get_offset())

        def format_data_short(self, value):
            return decimal_comma(super().format_data_short(value))

    class FrenchLinearScale(scale.LinearScale):
        french = True

        def set_default_locators_and_formatters(self, axis):
            super().set_default_locators_and_formatters(axis)
            axis.set_major_formatter(FrenchScalarFormatter())

    with warnings.catch_warnings():  # matplotlib ≥ 3.11 : constructeur hérité, qui prend encore ``axis``
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        scale.register_scale(FrenchLinearScale)
    pyplot = sys.modules.get("matplotlib.pyplot")
    for num_ in pyplot.get_fignums() if pyplot else ():
        for ax in pyplot.figure(num_).axes:
            for axis in (ax.xaxis, ax.yaxis):
                if type(axis.get_major_formatter()) is ticker.ScalarFormatter:
                    axis.set_major_formatter(FrenchScalarFormatter())


# --- les couches, nommées pour l'élève -------------------------------------------------------------

def _ndim(w) -> int:
    """Nombre de dimensions d'un tenseur PyTorch, d'un tableau NumPy ou d'une forme (tuple)."""
    if hasattr(w, "dim"):
        return w.dim()
    return w.ndim if hasattr(w, "ndim") else len(w)


def layer_labels(layers) -> dict[str, str]:
    """Le nom qu'un élève lit pour chaque couche : « convolution 1 », « couche cachée 1 », « couche de sortie ».

    ``layers`` : un modèle PyTorch, ou ``{nom du poids: tenseur ou forme}`` dans l'ordre du réseau
    (``masks.get_weights``, ou des formes comme ``(32, 16, 3, 3)``). Un poids à plus de 2 dimensions est une convolution ; à 2 dimensions,
    une couche linéaire, la dernière étant la couche de sortie. Les clés du résultat : le nom du
    poids (``"classifier.3.weight"``) et celui du module (``"classifier.3"``) ; pour un modèle, une
    ReLU reçoit le nom de la couche qu'elle suit (son APoZ mesure les canaux de cette couche).
    Les noms internes restent dans le code ; le texte affiché dit ceux-ci.
    """
    if hasattr(layers, "named_modules"):
        modules = list(layers.named_modules())
        weights = {f"{n}.weight": m.weight for n, m in modules
                   if getattr(m, "weight", None) is not None and m.weight.dim() >= 2}
    else:
        modules, weights = [], dict(layers)
    dims = {n: _ndim(w) for n, w in weights.items()}
    convs = [n for n in weights if dims[n] > 2]
    linears = [n for n in weights if dims[n] == 2]
    out = {n: f"convolution {i}" for i, n in enumerate(convs, start=1)}
    out.update({n: "couche de sortie" if n == linears[-1] else f"couche cachée {i}"
                for i, n in enumerate(linears, start=1)})
    out.update({n[: -len(".weight")]: label for n, label in list(out.items()) if n.endswith(".weight")})
    previous = None
    for name, module in modules:  # une ReLU : la couche qu'elle suit
        if f"{name}.weight" in out:
            previous = out[f"{name}.weight"]
        elif type(module).__name__ == "ReLU" and previous:
            out[name] = previous
    return out


# --- tableaux : une seule fonction, qui échappe ce que Markdown interpréterait -----------------

MARKDOWN_SPECIALS = "\\`*_[]<>|~"


def escape_markdown(text: str) -> str:
    """Échappe les caractères qui changent le sens d'un texte Markdown (``|`` d'une cellule de tableau, ``*``, ``_``...).

    Les formules entre ``$...$`` sont gardées telles quelles (MathJax les lit avant Markdown).
    """
    if not isinstance(text, str):
        text = str(text)
    parts = text.split("$")
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 1 and i < len(parts) - 1:      # dans une formule $...$
            out.append(part.replace("|", "\\vert "))
        else:
            out.append("".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in part))
    return "$".join(out)


def md_table(header, rows) -> str:
    """Tableau Markdown dont chaque cellule est échappée (un ``|`` dans un nom ne décale plus les colonnes).

    ``header`` : les titres de colonnes ; ``rows`` : des suites de cellules (converties en texte),
    toutes de la longueur de ``header``.
    """
    header = [str(h) for h in header]
    rows = [[str(c) for c in r] for r in rows]
    for i, r in enumerate(rows):
        if len(r) != len(header):
            raise ValueError(f"La ligne {i} a {len(r)} cellules, le titre en a {len(header)}.")

    def line(cells):
        return "| " + " | ".join(escape_markdown(c) for c in cells) + " |"
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])
