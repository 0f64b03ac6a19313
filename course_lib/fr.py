"""Nombres à la française pour tout ce qu'un élève lit : « 97,2 % », « 96,1 ± 0,6 % », « 3 500 ».

Une seule source pour les ``print``, les tableaux, les figures et les widgets :

- virgule décimale ; signe moins typographique (U+2212) ;
- espace fine insécable (U+202F, ``NNBSP``) avant « % » et entre les milliers, comme le
  recommande l'Imprimerie nationale ; insécable : « 97,2 » et « % » ne sont jamais
  séparés par un retour à la ligne (la police DejaVu de matplotlib a ce caractère) ;
- espace insécable ordinaire (U+00A0, ``NBSP``) de part et d'autre de « ± ».

Les pourcentages prennent une **fraction** (0,972 → « 97,2 % »), comme ``evaluate``.
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
    """« 97,2 % » pour la fraction ``x = 0.972`` (espace fine insécable avant %)."""
    return num(100 * _real(x, "x"), digits) + NNBSP + "%"


def pm(mean, spread, digits: int = 1, percent: bool = True) -> str:
    """« 96,1 ± 0,6 % » (fractions, ``percent=True``) ou « 0,25 ± 0,01 » (``percent=False``).

    ``spread`` (écart type, demi-étendue...) doit être >= 0.
    """
    mean, spread = _real(mean, "mean"), _real(spread, "spread")
    if spread < 0:
        raise ValueError(f"spread (la dispersion) doit être >= 0 ; reçu {spread!r}.")
    scale = 100 if percent else 1
    text = f"{num(scale * mean, digits)}{NBSP}±{NBSP}{num(scale * spread, digits)}"
    return text + (NNBSP + "%" if percent else "")


def percent_formatter(digits: int = 0):
    """Formateur d'axe matplotlib : graduations en « 90 % » (valeurs en fractions)."""
    from matplotlib.ticker import FuncFormatter

    _digits(digits)
    return FuncFormatter(lambda v, _pos: pct(v, digits))


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
