"""Des conclusions calculées sur votre propre exécution : verdicts et phrases qui en découlent.

Les arrondis des calculs en virgule flottante changent d'un processeur à l'autre (jeu
d'instructions, nombre de fils) : sur une graine, deux méthodes proches peuvent s'inverser d'une
machine à l'autre. Le cours n'écrit donc jamais une conclusion expérimentale en dur. Il compare
deux mesures **appariées** (mêmes graines, même modèle de départ) par une règle fixée d'avance,
et la phrase affichée est choisie par le verdict de cette règle, sur les nombres de votre machine.

La règle du cours (énoncée au notebook 00) : soit :math:`d_i = a_i - b_i` l'écart sur la graine
:math:`i` (:math:`n` graines), :math:`\\bar d` sa moyenne et :math:`e = s_d / \\sqrt n` son erreur
type (:math:`s_d` : écart type corrigé des :math:`d_i`).

- **net** : :math:`\\bar d > 2e` (et au-delà d'un écart minimal ``margin``), et :math:`a` fait mieux
  que :math:`b` sur au moins deux graines sur trois ;
- **inversé** : la même chose dans l'autre sens (:math:`b` nettement meilleur) ;
- **pas net** : ni l'un ni l'autre.

Deux erreurs types, c'est le seuil usuel d'un test de Student apparié à environ 5 % (un peu
moins exigeant que le vrai quantile pour peu de graines : la condition sur les signes compense).

    >>> from course_lib.seeds import SeedStats
    >>> a = SeedStats((0.91, 0.93, 0.92, 0.94), (0, 1, 2, 3))
    >>> b = SeedStats((0.88, 0.90, 0.90, 0.90), (0, 1, 2, 3))
    >>> compare(a, b).label
    'net'
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .fr import MINUS, NBSP, escape_markdown, num
from .seeds import SeedStats

NET, NOT_CLEAR, REVERSED = "net", "pas net", "inversé"
LABELS = (NET, NOT_CLEAR, REVERSED)
RULE = ("**Règle du cours.** Un écart entre deux méthodes est dit *net* quand, sur des graines appariées, "
        "l'écart moyen dépasse deux fois son erreur type (écart type des écarts divisé par √n) et va dans "
        "le même sens sur au moins deux graines sur trois ; *inversé* s'il est net dans l'autre sens ; "
        "*pas net* sinon. Les phrases qui concluent une expérience sont choisies par ce verdict, calculé "
        "sur votre propre exécution.")
K_SE = 2.0
MIN_AGREEMENT = 2 / 3


@dataclass(frozen=True)
class Verdict:
    """Résultat de ``compare`` : le verdict et les nombres qui le justifient.

    ``diffs[i] = a[i] - b[i]`` (graine ``seeds[i]``) ; ``percent`` : écarts en fractions, lus en points.
    """

    label: str
    diffs: tuple[float, ...]
    seeds: tuple[int, ...]
    percent: bool = True
    margin: float = 0.0

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return math.fsum(self.diffs) / self.n

    @property
    def se(self) -> float:
        """Erreur type de l'écart moyen : s_d / √n."""
        m = self.mean
        return math.sqrt(math.fsum((d - m) ** 2 for d in self.diffs) / (self.n - 1) / self.n)

    @property
    def wins(self) -> int:
        """Nombre de graines où ``a`` fait strictement mieux que ``b``."""
        return sum(d > 0 for d in self.diffs)

    @property
    def losses(self) -> int:
        return sum(d < 0 for d in self.diffs)

    def choose(self, net: str, pas_net: str, inverse: str) -> str:
        """La phrase qui correspond au verdict."""
        return {NET: net, NOT_CLEAR: pas_net, REVERSED: inverse}[self.label]

    def evidence(self) -> str:
        """« écart moyen +1,2 point (erreur type 0,3), meilleur sur 9 graines sur 10 »."""
        scale, unit = (100, " point") if self.percent else (1, "")
        sign = "+" if self.mean > 0 else ""
        mean = sign + num(scale * self.mean, 2 if not self.percent else 1)
        plural = "s" if self.percent and abs(scale * self.mean) >= 2 else ""
        return (f"écart moyen {mean}{unit}{plural} (erreur type {num(scale * self.se, 2 if not self.percent else 1)}), "
                f"meilleur sur {self.wins} graine{'s' if self.wins > 1 else ''} sur {self.n}, "
                f"verdict : {self.label}").replace("-", MINUS)

    def __str__(self) -> str:
        return self.evidence()


def _values(x, seeds: tuple[int, ...] | None, name: str) -> tuple[tuple[float, ...], tuple[int, ...] | None]:
    if isinstance(x, SeedStats):
        return x.values, x.seeds
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(float(x)):
        raise TypeError(f"{name} doit être un SeedStats (résultat de over_seeds) ou un nombre fini ; "
                        f"reçu {x!r}.")
    if seeds is None:
        raise TypeError("a doit être un SeedStats : seul b peut être une constante (un seuil).")
    return tuple(float(x) for _ in seeds), seeds


def compare(a: SeedStats, b: SeedStats | float, *, margin: float = 0.0,
            higher_is_better: bool = True) -> Verdict:
    """Verdict de la règle du cours pour « ``a`` fait mieux que ``b`` ».

    ``b`` peut être une constante (un seuil : « au-dessus du hasard », « à moins d'un point de la
    référence »). ``margin`` : écart minimal, dans l'unité des valeurs, pour parler de « net »
    (0 par défaut). ``higher_is_better=False`` pour une perte ou un temps.

    Raises:
        TypeError: ``a`` n'est pas un ``SeedStats`` ou ``b`` ni un ``SeedStats`` ni un nombre.
        ValueError: graines différentes, moins de 2 graines, ou ``margin`` négatif.
    """
    va, seeds = _values(a, None, "a")
    vb, seeds_b = _values(b, seeds, "b")
    if seeds_b != seeds:
        raise ValueError(f"Les deux mesures doivent porter sur les mêmes graines, dans le même ordre ; "
                         f"reçu {seeds} et {seeds_b}.")
    if len(seeds) < 2:
        raise ValueError(f"Il faut au moins 2 graines pour une erreur type ; reçu {seeds}.")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin >= 0:
        raise ValueError(f"margin doit être un nombre >= 0 ; reçu {margin!r}.")
    sign = 1.0 if higher_is_better else -1.0
    diffs = tuple(sign * (x - y) for x, y in zip(va, vb, strict=True))
    percent = a.percent
    v = Verdict(NOT_CLEAR, diffs, seeds, percent, float(margin))
    mean, se, n = v.mean, v.se, v.n
    if mean > K_SE * se and mean > margin and v.wins >= MIN_AGREEMENT * n:
        label = NET
    elif -mean > K_SE * se and -mean > margin and v.losses >= MIN_AGREEMENT * n:
        label = REVERSED
    else:
        label = NOT_CLEAR
    return Verdict(label, diffs, seeds, percent, float(margin))


class Statement:
    """Une phrase choisie par un ou plusieurs verdicts, affichée en Markdown dans Jupyter.

    ``text`` est la phrase lue par l'élève ; ``verdicts`` les verdicts qui l'ont choisie (leurs
    preuves s'affichent en petit dessous).
    """

    def __init__(self, claim_id: str, text: str, verdicts: dict[str, Verdict]):
        self.claim_id, self.text, self.verdicts = claim_id, text, dict(verdicts)

    def _repr_markdown_(self) -> str:
        lines = [self.text]
        for name, v in self.verdicts.items():
            lines.append(f"<small>{escape_markdown(name)}{NBSP}: {v.evidence()}</small>")
        return "\n\n".join(lines)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Statement({self.claim_id!r}, {self.text!r})"


def say(claim_id: str, verdict: Verdict, *, net: str, pas_net: str, inverse: str,
        label: str | None = None) -> Statement:
    """La phrase qui correspond au verdict, prête à afficher (``display(say(...))``).

    ``claim_id`` nomme le résultat (le même dans tous les notebooks qui le citent) ; ``label``
    nomme la comparaison dans la ligne de preuve (par défaut « mesure »).
    """
    if not isinstance(verdict, Verdict):
        raise TypeError(f"verdict doit être un Verdict (résultat de compare) ; reçu {type(verdict).__name__}.")
    text = verdict.choose(net, pas_net, inverse)
    return Statement(claim_id, text, {label or "mesure": verdict})


class Bullets:
    """Liste Markdown de phrases déjà choisies par leurs verdicts (la section « À retenir »)."""

    def __init__(self, *items: Statement | str):
        self.items = [str(i) for i in items]

    def _repr_markdown_(self) -> str:
        return "\n".join(f"- {i}" for i in self.items)

    def __str__(self) -> str:
        return self._repr_markdown_()


def bullets(*items: Statement | str) -> Bullets:
    """``display(bullets(s1, s2))`` : les phrases calculées plus haut, en liste à puces."""
    return Bullets(*items)
