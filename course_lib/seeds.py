"""Une expérience sur plusieurs graines : moyenne ± écart type, et des conclusions qui tiennent.

Une comparaison (critère A contre B, one-shot contre graduel...) sur une seule graine peut
s'inverser avec la suivante. ``over_seeds`` relance la même expérience pour chaque graine ;
``clearly_greater`` ne conclut que si l'écart dépasse la dispersion.

    >>> acc = over_seeds(lambda seed: experience(seed), seeds=(0, 1, 2))  # doctest: +SKIP
    >>> print(acc)                                                        # doctest: +SKIP
    96,1 ± 0,6 %
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from ._validation import check_seeds
from .fr import md_table, num, pct, pm


@dataclass(frozen=True)
class SeedStats:
    """Une quantité mesurée sur plusieurs graines (``values[i]`` pour ``seeds[i]``).

    ``std`` est l'écart type **corrigé** (n − 1 au dénominateur), celui que rapportent les
    articles sous la forme « moyenne ± écart type ». ``percent`` : valeurs en fractions
    (précisions), affichées en %.
    """

    values: tuple[float, ...]
    seeds: tuple[int, ...]
    percent: bool = True

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / len(self.values)

    @property
    def std(self) -> float:
        m = self.mean
        return math.sqrt(math.fsum((v - m) ** 2 for v in self.values) / (len(self.values) - 1))

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def fmt(self, digits: int = 1) -> str:
        """« 96,1 ± 0,6 % »."""
        return pm(self.mean, self.std, digits, percent=self.percent)

    def __str__(self) -> str:
        return self.fmt()


def clearly_greater(a: SeedStats, b: SeedStats) -> bool:
    """``a`` nettement plus grand que ``b`` : moyenne(a) − moyenne(b) > std(a) + std(b).

    C'est la règle « nette » du cours (notebook 12) : l'écart des moyennes dépasse la somme
    des écarts types. Plus exigeante que ``greater_on_every_seed`` dès que les dispersions
    sont grandes ; avec 3 graines, « sur chaque graine » arrive par hasard une fois sur 8
    quand les deux méthodes se valent.
    """
    _check_pair(a, b)
    return a.mean - b.mean > a.std + b.std


def greater_on_every_seed(a: SeedStats, b: SeedStats) -> bool:
    """``a > b`` pour chaque graine, comparaison **appariée** (mêmes graines, même ordre)."""
    _check_pair(a, b)
    return all(x > y for x, y in zip(a.values, b.values, strict=True))


def _check_pair(a, b) -> None:
    for name, s in (("a", a), ("b", b)):
        if not isinstance(s, SeedStats):
            raise TypeError(f"{name} doit être un SeedStats (résultat de over_seeds) ; reçu {type(s).__name__}.")
    if a.seeds != b.seeds:
        raise ValueError(f"Les deux mesures doivent porter sur les mêmes graines ; reçu {a.seeds} et {b.seeds}.")


class SeedResults(Mapping):
    """Plusieurs quantités mesurées sur les mêmes graines : ``res["global"]`` est un ``SeedStats``.

    Affiché dans Jupyter comme un tableau (moyenne ± écart type, min, max, chaque graine).
    """

    def __init__(self, stats: Mapping[str, SeedStats]):
        self._stats = dict(stats)

    def __getitem__(self, key: str) -> SeedStats:
        return self._stats[key]

    def __iter__(self):
        return iter(self._stats)

    def __len__(self) -> int:
        return len(self._stats)

    def table(self, digits: int = 1) -> str:
        """Tableau Markdown, nombres à la française."""
        seeds = next(iter(self._stats.values())).seeds if self._stats else ()
        head = ["", "moyenne ± écart type", "min", "max"] + [f"graine {s}" for s in seeds]
        rows = []
        for name, s in self._stats.items():
            f = (lambda v: pct(v, digits)) if s.percent else (lambda v: num(v, digits))
            rows.append([name, s.fmt(digits), f(s.min), f(s.max)] + [f(v) for v in s.values])
        return md_table(head, rows)

    def _repr_markdown_(self) -> str:
        return self.table()

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"SeedResults({', '.join(f'{k}: {v}' for k, v in self._stats.items())})"


def _as_float(v, seed: int, key: str | None) -> float:
    where = f" (clé {key!r})" if key is not None else ""
    if hasattr(v, "numel") and hasattr(v, "item") and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise TypeError(
            f"run({seed}) doit renvoyer un nombre fini ou un dict {{nom: nombre}} ; reçu {v!r}{where}."
        )
    return float(v)


def over_seeds(run: Callable[[int], float | Mapping[str, float]], seeds: Sequence[int] = (0, 1, 2),
               desc: str = "graines", progress: bool = True, percent: bool = True) -> SeedStats | SeedResults:
    """Appelle ``run(seed)`` pour chaque graine et rassemble les résultats.

    ``run`` renvoie un nombre (→ ``SeedStats``) ou un dict ``{nom: nombre}`` avec les mêmes
    clés à chaque graine (→ ``SeedResults``). ``percent=True`` : nombres en fractions,
    affichés en %. Une barre ``tqdm.auto`` suit les graines.

    Raises:
        TypeError: ``run`` n'est pas appelable, ou renvoie autre chose qu'un nombre ou un dict.
        ValueError: moins de 2 graines, graines répétées, ou clés différentes d'une graine à l'autre.
    """
    if not callable(run):
        raise TypeError(f"run doit être une fonction run(seed) ; reçu {run!r}.")
    seeds = check_seeds(seeds)
    outs = [run(s) for s in tqdm(seeds, desc=desc, disable=not progress, leave=False)]
    if not isinstance(outs[0], Mapping):
        return SeedStats(tuple(_as_float(v, s, None) for v, s in zip(outs, seeds, strict=True)), seeds, percent)
    keys = list(outs[0])
    for out, s in zip(outs, seeds, strict=True):
        if not isinstance(out, Mapping) or list(out) != keys:
            got = list(out) if isinstance(out, Mapping) else type(out).__name__
            raise ValueError(f"run({s}) doit renvoyer les mêmes clés à chaque graine : {keys} attendu, reçu {got}.")
    return SeedResults({
        k: SeedStats(tuple(_as_float(o[k], s, k) for o, s in zip(outs, seeds, strict=True)), seeds, percent)
        for k in keys
    })


def plot_seed_bars(results: Mapping[str, SeedStats], ax=None, digits: int = 1, **bar_kwargs):
    """Barres (moyenne) et barres d'erreur (± écart type), une par quantité ; renvoie ``ax``."""
    import textwrap

    import matplotlib.pyplot as plt

    from .fr import percent_formatter

    ax = ax or plt.gca()
    names = list(results)
    stats = [results[n] for n in names]
    ax.bar(range(len(names)), [s.mean for s in stats], yerr=[s.std for s in stats], capsize=4, **bar_kwargs)
    # les libellés longs (« magnitude par couche ») passent à la ligne : voisins, ils se chevaucheraient
    ax.set_xticks(range(len(names)), [textwrap.fill(n, 12, break_long_words=False) for n in names])
    for i, s in enumerate(stats):
        ax.text(i, s.mean + s.std, s.fmt(digits), ha="center", va="bottom", fontsize=8)
    if all(s.percent for s in stats):
        ax.yaxis.set_major_formatter(percent_formatter())
    return ax


def plot_seed_curve(xs: Sequence[float], stats: Sequence[SeedStats], ax=None, label: str | None = None, **kwargs):
    """Courbe des moyennes avec barres d'erreur (± écart type) ; renvoie ``ax``."""
    import matplotlib.pyplot as plt

    from .fr import percent_formatter

    if len(xs) != len(stats):
        raise ValueError(f"xs et stats doivent avoir la même longueur ; reçu {len(xs)} et {len(stats)}.")
    ax = ax or plt.gca()
    ax.errorbar(list(xs), [s.mean for s in stats], yerr=[s.std for s in stats], capsize=3, label=label,
                **kwargs)
    if all(s.percent for s in stats):
        ax.yaxis.set_major_formatter(percent_formatter())
    return ax
