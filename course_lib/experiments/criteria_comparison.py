"""Notebooks 00 à 04 : les comparaisons de critères sur plusieurs graines, et les phrases qui en concluent.

Une graine = un modèle de référence entraîné avec cette graine (``train_baseline``), les scores
de chaque critère calculés une fois sur ``data.train``, puis la précision de validation du
réseau masqué (sans ré-entraînement) à chaque sparsité. Les notebooks affichent ces résultats,
les widgets les relisent, et chaque conclusion est une phrase choisie par le verdict de la règle
du cours (``course_lib.evidence``) : les fonctions ``say_*`` de ce module, les mêmes pour tous
les notebooks qui citent le résultat.

Les modèles de référence et les comparaisons complètes passent par ``course_lib.cache.cached`` :
un notebook relit ceux qu'un autre a déjà calculés sur la même machine (mêmes données, mêmes
graines, même code).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..cache import cached
from ..chapter import chapter_gradient_salience
from ..criteria import compute_gradient_salience
from ..evidence import NET, NOT_CLEAR, REVERSED, Statement, Verdict, compare, say
from ..fr import escape_markdown, pct
from ..masks import create_masks_from_importance, get_weights
from ..seeds import SeedResults, SeedStats, over_seeds
from ..training import train_baseline
from .comparison import CRITERION_LABELS
from .sensitivity import MaskedEvaluator

# Les noms que lit l'élève (légendes, tableaux) ; l'ordre est celui des tableaux.
MAGNITUDE = "magnitude |w|"
RANDOM = "hasard"
TAYLOR = CRITERION_LABELS["gradient"]  # un seul libellé pour tout le cours
TAYLOR_MEAN = "Taylor |w·ḡ|"
TAYLOR_SQUARED = "Taylor (w·g)²"
CHAPTER = "chapitre |w|·moy|g_b|"
OBD = "OBD ½·F·w²"
OBD_INVERTED = "OBD inversé w²/(2F)"

# Les scores aléatoires sont tirés d'un flux décalé de celui qui initialise le modèle
# (build_model(seed) fait torch.manual_seed(seed)) : avec la même graine, les « scores au hasard »
# de la première couche seraient exactement les nombres qui ont tiré ses poids initiaux.
RANDOM_STREAM = 10_000

# Les sparsités dont la précision moyenne compare les critères de gradient (notebook 02).
HIGH_SPARSITIES = (0.7, 0.8, 0.9, 0.95)

SCOPE_WORDS = {"global": "en global", "layer": "par couche"}


def random_scores(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Scores tirés au hasard (uniformes), un par poids élagable : la référence « sans critère ».

    Le générateur part de ``RANDOM_STREAM + seed`` (10 000 + graine), un flux indépendant de celui
    qui a initialisé le modèle de la graine ``seed`` : sinon, dans la première couche, l'ordre
    « aléatoire » serait celui des poids initiaux, et le hasard garderait surtout les poids
    positifs.
    """
    gen = torch.Generator().manual_seed(RANDOM_STREAM + int(seed))
    return {n: torch.rand(w.shape, generator=gen) for n, w in get_weights(model).items()}


def criteria_scores(model: nn.Module, loader, names: Sequence[str] = (MAGNITUDE, TAYLOR, TAYLOR_MEAN, CHAPTER),
                    loss_fn=None, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Les scores I_j des critères ``names`` (dans cet ordre), calculés une fois sur ``loader``.

    - ``TAYLOR`` : Molchanov et al. 2017, éq. 8, I_j = (1/N) Σ_m |w_j g_j^(m)| (par exemple),
      puis normalisation ℓ2 par couche (§2.3) pour un classement global ;
    - ``TAYLOR_MEAN`` : la variante |w_j ḡ_j| (gradient moyen : les signes se compensent) ;
    - ``TAYLOR_SQUARED`` : (w_j g_j)² moyenné par lot (Molchanov et al., 2019) ;
    - ``CHAPTER`` : la version du chapitre, |w_j| · moyenne des |g_j| lot par lot ;
    - ``RANDOM`` : tirage uniforme (``random_scores(model, seed)``, flux indépendant du modèle).
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    batches = [(b[0], b[1]) for b in loader]  # mêmes lots pour tous les critères
    makers: dict[str, Callable[[], dict[str, torch.Tensor]]] = {
        MAGNITUDE: lambda: {n: w.abs() for n, w in get_weights(model).items()},
        RANDOM: lambda: random_scores(model, seed),
        TAYLOR: lambda: compute_gradient_salience(model, loss_fn, batches, normalize=True),
        TAYLOR_MEAN: lambda: compute_gradient_salience(model, loss_fn, batches, variant="mean_gradient"),
        TAYLOR_SQUARED: lambda: compute_gradient_salience(model, loss_fn, batches, variant="squared"),
        CHAPTER: lambda: chapter_gradient_salience(model, loss_fn, batches),
    }
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise ValueError(f"Critère(s) inconnu(s) : {unknown} ; critères possibles : {list(makers)}.")
    return {n: makers[n]() for n in names}


def pruned_accuracies(model: nn.Module, val_loader, scores: Mapping[str, Mapping[str, torch.Tensor]],
                      sparsities: Sequence[float], scope: str = "global") -> dict[str, list[float]]:
    """Précision de validation du modèle masqué (sans ré-entraînement), par critère et par sparsité."""
    evaluator = MaskedEvaluator(model, val_loader)
    return {c: [evaluator.accuracy(create_masks_from_importance(s, sp, scope=scope)) for sp in sparsities]
            for c, s in scores.items()}


# ----------------------------------------------------------------------------- modèles de référence

def data_fingerprint(data) -> str:
    """Empreinte des exemples d'entraînement et de validation de ``data`` (clé du cache).

    Deux découpages différents du même jeu de données (autre graine de ``load_data``) n'ont pas
    la même empreinte : un modèle entraîné sur l'un n'est jamais relu pour l'autre.
    """
    h = hashlib.sha256(str(getattr(data, "name", "")).encode())
    for loader in (data.train, data.val):
        for t in loader.dataset.tensors:
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


_TRAINED: dict[tuple, nn.Module] = {}


def trained_baselines(data, seeds: Sequence[int], epochs: int = 15, progress: bool = True) -> dict[int, nn.Module]:
    """``{graine: train_baseline(data, seed=graine, epochs=epochs)}``, chaque modèle rangé dans le cache.

    Les notebooks 00 à 03 entraînent les mêmes modèles de référence : le deuxième les relit. Dans
    un même processus, chaque modèle n'est entraîné qu'une fois (même cache désactivé) ; chaque appel
    renvoie des copies.
    """
    from tqdm.auto import tqdm

    key = data_fingerprint(data)

    def one(seed: int) -> nn.Module:
        memo = (key, int(seed), int(epochs), torch.get_num_threads())
        if memo not in _TRAINED:  # même sans cache disque, un notebook n'entraîne chaque modèle qu'une fois
            _TRAINED[memo] = cached("baseline_cnn", lambda: train_baseline(data, seed=seed, epochs=epochs,
                                                                           progress=False),
                                    data=key, seed=int(seed), epochs=int(epochs))
        return copy.deepcopy(_TRAINED[memo])  # une copie, comme une relecture du cache : l'original reste intact

    return {s: one(s) for s in tqdm(seeds, desc="modèles de référence", disable=not progress, leave=False)}


# ----------------------------------------------------------------------------- comparaison sur graines

class SeedComparison:
    """Précisions après élagage (sans ré-entraînement) de plusieurs critères sur plusieurs graines.

    ``acc[scope][critère][i]`` est un ``SeedStats`` (une valeur par graine) à ``sparsities[i]``.
    ``models[seed]`` et ``scores[seed]`` sont gardés : les notebooks et les widgets les réutilisent.
    ``baseline[seed]`` : la précision du modèle non élagué.
    """

    def __init__(self, data, names: Sequence[str], sparsities: Sequence[float], seeds: Sequence[int] = (0, 1, 2),
                 scopes: Sequence[str] = ("global",), epochs: int = 15, progress: bool = True):
        from tqdm.auto import tqdm

        if len(seeds) < 3:
            raise ValueError(f"Une comparaison du cours porte sur au moins 3 graines ; reçu {list(seeds)}.")
        self.names, self.sparsities, self.seeds = list(names), [float(s) for s in sparsities], tuple(seeds)
        self.scopes, self.dataset, self.epochs = list(scopes), getattr(data, "name", "?"), int(epochs)
        self.models = trained_baselines(data, self.seeds, epochs, progress=progress)
        self.scores, self.baseline = {}, {}
        raw = {scope: {c: [] for c in self.names} for scope in self.scopes}  # raw[scope][c][graine] = liste
        for seed in tqdm(self.seeds, desc="graines (scores et élagage)", disable=not progress, leave=False):
            model = self.models[seed]
            self.scores[seed] = criteria_scores(model, data.train, self.names, seed=seed)
            self.baseline[seed] = MaskedEvaluator(model, data.val).accuracy()
            for scope in self.scopes:
                accs = pruned_accuracies(model, data.val, self.scores[seed], self.sparsities, scope)
                for c in self.names:
                    raw[scope][c].append(accs[c])
        self.acc = {
            scope: {c: [SeedStats(tuple(run[i] for run in raw[scope][c]), self.seeds) for i in range(len(sparsities))]
                    for c in self.names}
            for scope in self.scopes
        }

    def _check(self, criterion: str, scope: str) -> None:
        if scope not in self.acc:
            raise ValueError(f"scope={scope!r} n'a pas été mesurée ; portées mesurées : {self.scopes}.")
        if criterion not in self.acc[scope]:
            raise ValueError(f"Critère {criterion!r} non mesuré ; critères mesurés : {self.names}.")

    def at(self, criterion: str, sparsity: float, scope: str = "global") -> SeedStats:
        """Le ``SeedStats`` de ``criterion`` à ``sparsity`` (une des sparsités mesurées)."""
        self._check(criterion, scope)
        if float(sparsity) not in self.sparsities:
            raise ValueError(f"sparsity={sparsity} n'a pas été mesurée ; sparsités mesurées : {self.sparsities}.")
        return self.acc[scope][criterion][self.sparsities.index(float(sparsity))]

    def mean_over(self, criterion: str, sparsities: Sequence[float], scope: str = "global") -> SeedStats:
        """Précision moyenne sur ``sparsities``, graine par graine : (1/K) Σ_k acc(s_k).

        Une seule mesure par graine pour toute une plage de sparsités : moins sensible qu'une
        sparsité isolée au hasard d'un modèle qui s'effondre un peu plus tôt qu'un autre.
        """
        stats = [self.at(criterion, s, scope) for s in sparsities]
        if not stats:
            raise ValueError("sparsities doit contenir au moins une sparsité mesurée ; reçu une suite vide.")
        values = tuple(math.fsum(st.values[i] for st in stats) / len(stats) for i in range(len(self.seeds)))
        return SeedStats(values, self.seeds)

    def baseline_stats(self) -> SeedStats:
        """La précision des modèles non élagués, graine par graine."""
        return SeedStats(tuple(self.baseline[s] for s in self.seeds), self.seeds)

    def compare(self, a: str, b: str, sparsity: float, scope: str = "global", scope_b: str | None = None,
                margin: float = 0.0) -> Verdict:
        """Verdict de la règle du cours pour « ``a`` (portée ``scope``) garde plus de précision que
        ``b`` (portée ``scope_b``, par défaut la même) à ``sparsity`` »."""
        return compare(self.at(a, sparsity, scope), self.at(b, sparsity, scope_b or scope), margin=margin)

    def table(self, scope: str = "global", digits: int = 1) -> str:
        """Tableau Markdown : une ligne par critère, une colonne par sparsité, « moyenne ± écart type »."""
        from ..fr import md_table

        head = ["critère"] + [f"s = {pct(s, 0)}" for s in self.sparsities]
        return md_table(head, [[c] + [s.fmt(digits) for s in self.acc[scope][c]] for c in self.names])

    def verdict_table(self, a: str, b: str, scope: str = "global", scope_b: str | None = None,
                      labels: tuple[str, str] | None = None) -> str:
        """Tableau Markdown, une ligne par sparsité : ``a``, ``b``, écart moyen (erreur type), verdict."""
        from ..fr import md_table, num

        la, lb = labels or (a, b)
        rows = []
        for s in self.sparsities:
            v = self.compare(a, b, s, scope, scope_b)
            rows.append([pct(s, 0), self.at(a, s, scope).fmt(), self.at(b, s, scope_b or scope).fmt(),
                         f"{num(100 * v.mean, 1)} ({num(100 * v.se, 1)})", f"{v.wins} sur {v.n}", v.label])
        head = ["sparsité", la, lb, "écart moyen en points (erreur type)", "graines où " + la + " gagne", "verdict"]
        return md_table(head, rows)

    def _protocol(self, scope: str) -> str:
        return (f"{self.dataset}, {len(self.seeds)} graines, élagage {SCOPE_WORDS.get(scope, scope)} "
                "sans ré-entraînement")


def seed_comparison(data, names: Sequence[str], sparsities: Sequence[float], seeds: Sequence[int],
                    scopes: Sequence[str] = ("global",), epochs: int = 15, progress: bool = True) -> SeedComparison:
    """``SeedComparison(...)`` calculée une fois par machine : un autre notebook qui cite le même
    résultat avec les mêmes arguments la relit (``course_lib.cache``)."""
    return cached("seed_comparison",
                  lambda: SeedComparison(data, names, sparsities, seeds, scopes, epochs, progress),
                  data=data_fingerprint(data), names=tuple(names), sparsities=tuple(float(s) for s in sparsities),
                  seeds=tuple(int(s) for s in seeds), scopes=tuple(scopes), epochs=int(epochs))


# ----------------------------------------------------------------------------- les conclusions

def _weakest(verdicts: Mapping[object, Verdict]):
    """La clé du verdict le moins favorable : inversé, puis pas net, puis le plus petit écart/erreur type."""
    rank = {REVERSED: 0, NOT_CLEAR: 1, NET: 2}

    def strength(item):
        v = item[1]
        ratio = v.mean / v.se if v.se > 0 else math.copysign(math.inf, v.mean)
        return rank[v.label], ratio

    return min(verdicts.items(), key=strength)[0]


def say_magnitude_beats_random(comparison: SeedComparison, sparsity: float = 0.8, scope: str = "layer") -> Statement:
    """« La magnitude garde plus de précision que le hasard » à ``sparsity`` (notebook 00).

    Protocole : ``comparison`` mesure ``MAGNITUDE`` et ``RANDOM`` dans la portée ``scope``.
    """
    v = comparison.compare(MAGNITUDE, RANDOM, sparsity, scope)
    mag, rnd = comparison.at(MAGNITUDE, sparsity, scope).fmt(), comparison.at(RANDOM, sparsity, scope).fmt()
    where = f"À {pct(sparsity, 0)} {SCOPE_WORDS.get(scope, scope)}"
    return say(
        "00-magnitude-beats-random", v,
        net=f"{where}, la magnitude garde nettement plus de précision que le hasard ({mag} contre {rnd}) : "
            "à sparsité égale, *quels* poids on retire change tout.",
        pas_net=f"{where}, on ne peut pas départager la magnitude et le hasard sur ces graines ({mag} contre "
                f"{rnd}) : à ce niveau d'élagage, bien choisir les poids ne suffit plus à sauver le réseau.",
        inverse=f"{where}, le hasard garde plus de précision que la magnitude ({rnd} contre {mag}) : le critère "
                "le plus simple n'est pas toujours le bon, d'où les critères des notebooks suivants.",
        label=f"magnitude − hasard, {comparison._protocol(scope)}")


def say_global_beats_layer(comparison: SeedComparison, sparsity: float = 0.9) -> Statement:
    """« Le seuil global fait mieux que le seuil par couche » à ``sparsity`` (notebook 01).

    Protocole : ``comparison`` mesure ``MAGNITUDE`` dans les portées ``"global"`` et ``"layer"``.
    """
    v = comparison.compare(MAGNITUDE, MAGNITUDE, sparsity, "global", "layer")
    glob, lay = comparison.at(MAGNITUDE, sparsity, "global").fmt(), comparison.at(MAGNITUDE, sparsity, "layer").fmt()
    s = pct(sparsity, 0)
    return say(
        "01-global-beats-layer-at-90", v,
        net=f"À {s}, le seuil global garde nettement plus de précision que le seuil par couche ({glob} contre "
            f"{lay}) : il élague davantage les couches redondantes et épargne les petites couches indispensables.",
        pas_net=f"À {s}, on ne peut pas départager le seuil global et le seuil par couche sur ces graines "
                f"({glob} contre {lay}) : la répartition de la sparsité entre couches compte peu ici.",
        inverse=f"À {s}, le seuil par couche garde plus de précision que le seuil global ({lay} contre {glob}) : "
                "un seuil global peut trop élaguer une couche dont les poids sont petits mais utiles.",
        label=f"global − par couche (magnitude), {comparison.dataset}, {len(comparison.seeds)} graines, "
              "sans ré-entraînement")


def _span(sparsities: Sequence[float]) -> str:
    return f"de {pct(min(sparsities), 0)} à {pct(max(sparsities), 0)}"


def say_per_example_beats_mean_gradient(comparison: SeedComparison,
                                        sparsities: Sequence[float] = HIGH_SPARSITIES) -> Statement:
    """« Taylor (gradient de chaque exemple) garde plus de précision que |w·ḡ| » (notebook 02).

    Mesure : la précision moyenne sur ``sparsities`` (``SeedComparison.mean_over``), élagage global.
    """
    a, b = comparison.mean_over(TAYLOR, sparsities), comparison.mean_over(TAYLOR_MEAN, sparsities)
    v = compare(a, b)
    span = _span(sparsities)
    return say(
        "02-per-example-beats-mean-gradient", v,
        net=f"Le critère de Taylor calculé **exemple par exemple** garde nettement plus de précision que $|w\\,\\bar g|$ "
            f"(précision moyenne {span} de sparsité : {a} contre {b}) : dans $\\bar g$, les contributions de "
            "signes opposés se compensent et effacent l'information utile.",
        pas_net=f"À cette échelle, on ne peut pas départager {TAYLOR} et $|w\\,\\bar g|$ (précision "
                f"moyenne {span} : {a} contre {b}) : la compensation des signes dans $\\bar g$ ne coûte pas assez "
                "pour se voir d'une graine à l'autre.",
        inverse=f"$|w\\,\\bar g|$ garde plus de précision que {TAYLOR} (précision moyenne {span} : {b} "
                f"contre {a}) : ici, l'effet sur la perte moyenne suffit à classer les poids, même si chaque "
                "exemple est sensible à un poids que $|w\\,\\bar g|$ juge inutile.",
        label=f"{TAYLOR} − Taylor |w·ḡ|, précision moyenne {span}, {comparison._protocol('global')}")


def say_magnitude_vs_taylor(comparison: SeedComparison, sparsities: Sequence[float] = HIGH_SPARSITIES) -> Statement:
    """Magnitude contre Taylor (gradient de chaque exemple), sans ré-entraînement (notebook 02).

    Mesure : la précision moyenne sur ``sparsities``, élagage global.
    """
    a, b = comparison.mean_over(MAGNITUDE, sparsities), comparison.mean_over(TAYLOR, sparsities)
    v = compare(a, b)
    span = _span(sparsities)
    return say(
        "02-magnitude-vs-taylor", v,
        net=f"Sur ce petit réseau élagué d'un coup, sans ré-entraînement, la magnitude garde même nettement plus "
            f"de précision que {TAYLOR} (précision moyenne {span} : {a} contre {b}) : l'avantage que "
            "rapportent Molchanov et al. (2017) ne se voit pas dans ce cadre.",
        pas_net=f"À cette échelle, on ne peut pas départager la magnitude et {TAYLOR} (précision moyenne "
                f"{span} : {a} contre {b}) : l'écart est plus petit que ce que ces graines permettent de "
                "distinguer ; l'avantage rapporté par l'article ne se voit pas ici.",
        inverse=f"{TAYLOR} garde nettement plus de précision que la magnitude (précision moyenne {span} : "
                f"{b} contre {a}), comme le rapportent Molchanov et al. (2017), ici même sans ré-entraînement.",
        label=f"magnitude − {TAYLOR}, précision moyenne {span}, {comparison._protocol('global')}")


def say_criteria_beat_random(comparison: SeedComparison, names: Sequence[str] | None = None,
                             scope: str = "global") -> Statement:
    """« Chaque critère fait mieux que le hasard, à chaque sparsité » (notebook 02).

    Un verdict par (critère, sparsité) ; la phrase et la preuve suivent le moins favorable.
    """
    names = [c for c in (names or comparison.names) if c != RANDOM]
    verdicts = {(c, s): comparison.compare(c, RANDOM, s, scope) for c in names for s in comparison.sparsities}
    key, s = _weakest(verdicts)
    v, c = verdicts[key, s], escape_markdown(key)
    crit, rnd = comparison.at(key, s, scope).fmt(), comparison.at(RANDOM, s, scope).fmt()
    n_net = sum(x.label == NET for x in verdicts.values())
    span = _span(comparison.sparsities)
    return say(
        "02-gradient-criteria-beat-random", v,
        net=f"Chacun des {len(names)} critères fait nettement mieux que le hasard à chaque sparsité mesurée "
            f"({span}) ; le cas le moins net : {c} à {pct(s, 0)} ({crit} contre {rnd}).",
        pas_net=f"Les critères font nettement mieux que le hasard dans {n_net} cas sur {len(verdicts)}, mais pas "
                f"{c} à {pct(s, 0)} ({crit} contre {rnd}) : à ce niveau, ce critère ne vaut guère mieux qu'un "
                "tirage au sort.",
        inverse=f"{c} fait même moins bien que le hasard à {pct(s, 0)} ({crit} contre {rnd}) : un critère peut "
                "être pire que pas de critère du tout, quand il retire en priorité des poids utiles.",
        label=f"{key} − hasard à {pct(s, 0)} (le cas le moins net), {comparison._protocol(scope)}")


# ----------------------------------------------------------------------------- 03 : classer les poids

def last_layer_rank_correlations(model: nn.Module, loader, loss_fn=None) -> dict[str, float]:
    """Notebook 03 : ρ de Spearman entre chaque critère et l'effet réel |ΔL| (force brute), dernière couche.

    L'effet réel de la suppression de chaque poids de la dernière couche linéaire vient de
    ``true_loss_increase`` ; la diagonale de la hessienne est estimée par la Fisher empirique
    par exemple (``approximate_hessian_diag``). Critères : magnitude |w_j|, Taylor |w_j ḡ_j|,
    Taylor (gradient de chaque exemple) (1/N) Σ_m |w_j g_j^(m)| (Molchanov et al., 2017, éq. 8), OBD ½ F_jj w_j²
    (LeCun et al., 1990) et la formule inversée du chapitre w_j² / (2 F_jj).
    """
    from ..chapter import inverted_hessian_criterion
    from ..criteria import approximate_hessian_diag, compute_gradients, hessian_criterion
    from .sensitivity import last_layer_name, spearman_rho, true_loss_increase

    loss_fn = loss_fn or nn.CrossEntropyLoss()
    batches = [(b[0], b[1]) for b in loader]
    name = last_layer_name(model)
    w = get_weights(model)[name]
    true = true_loss_increase(model, batches, loss_fn).abs()
    fisher = approximate_hessian_diag(model, loss_fn, batches)[name]
    g = compute_gradients(model, loss_fn, batches)[name]
    per_example = compute_gradient_salience(model, loss_fn, batches)[name]
    candidates = {
        MAGNITUDE: w.abs(),
        TAYLOR_MEAN: (w * g).abs(),
        TAYLOR: per_example,
        OBD: hessian_criterion(w, fisher),
        OBD_INVERTED: inverted_hessian_criterion(w, fisher),
    }
    return {c: spearman_rho(s, true) for c, s in candidates.items()}


def rank_correlations_over_seeds(data, seeds: Sequence[int], epochs: int = 15, progress: bool = True) -> SeedResults:
    """``last_layer_rank_correlations`` pour le modèle de référence de chaque graine (ρ, pas des %).

    Calculé une fois par machine (``course_lib.cache``) ; les modèles viennent de ``trained_baselines``.
    """
    def compute():
        models = trained_baselines(data, seeds, epochs, progress=progress)
        return over_seeds(lambda s: last_layer_rank_correlations(models[s], data.train), seeds=tuple(seeds),
                          desc="graines (ρ de Spearman)", progress=progress, percent=False)

    return cached("rank_correlations", compute, data=data_fingerprint(data), seeds=tuple(int(s) for s in seeds),
                  epochs=int(epochs))


LOSS_AWARE = (TAYLOR_MEAN, TAYLOR, OBD)


def say_loss_aware_beat_magnitude(rho: SeedResults, names: Sequence[str] = LOSS_AWARE) -> Statement:
    """« Les critères qui tiennent compte de la perte classent mieux que la magnitude » (notebook 03).

    ``rho`` : ``rank_correlations_over_seeds`` (ρ de Spearman avec |ΔL| réel, dernière couche).
    Un verdict par critère contre ``MAGNITUDE`` ; la phrase et la preuve suivent le moins favorable.
    """
    missing = [c for c in (*names, MAGNITUDE) if c not in rho]
    if missing:
        raise ValueError(f"rho doit contenir {missing} ; reçu les critères {list(rho)}.")
    verdicts = {c: compare(rho[c], rho[MAGNITUDE]) for c in names}
    c = _weakest(verdicts)
    v = verdicts[c]
    listed = ", ".join(escape_markdown(x) for x in names)
    weakest, mag = rho[c].fmt(3), rho[MAGNITUDE].fmt(3)
    n = len(rho[c].seeds)
    return say(
        "03-loss-aware-beat-magnitude", v,
        net=f"Sur les {n} graines, les critères qui tiennent compte de la perte ({listed}) classent les poids de "
            f"cette couche nettement mieux que la magnitude (ρ de {escape_markdown(c)}, le moins net : {weakest} ; "
            f"magnitude : {mag}) : la taille d'un poids ne dit pas tout de son effet sur la perte.",
        pas_net=f"On ne peut pas dire, sur ces {n} graines, que tous les critères qui tiennent compte de la perte "
                f"classent mieux que la magnitude : {escape_markdown(c)} a ρ = {weakest}, la magnitude {mag}.",
        inverse=f"La magnitude classe les poids de cette couche mieux que {escape_markdown(c)} (ρ = {mag} contre "
                f"{weakest}) : ici, la taille d'un poids prédit mieux son effet que ce critère.",
        label=f"ρ({c}) − ρ(magnitude), dernière couche, {n} graines")


APOZ_HIGH = "APoZ le plus élevé (après ReLU)"
APOZ_LOW = "APoZ le plus faible (après ReLU)"
APOZ_BEFORE = "mesure avant la ReLU (chapitre)"


def apoz_channel_removal(model: nn.Module, data, relu: str, fraction: float = 0.5) -> dict[str, float]:
    """Notebook 04 : précision de validation après retrait de ``fraction`` des canaux de la couche
    qui précède ``relu`` (poids **et** biais), choisis par APoZ (Hu et al., 2016) élevé, faible,
    ou mesuré avant la ReLU comme le chapitre ; ``"sans retrait"`` : la référence.
    """
    from ..criteria import compute_apoz
    from .sensitivity import channel_masks, highest_apoz_channels, relu_to_layer

    mapping = relu_to_layer(model)
    if relu not in mapping:
        raise ValueError(f"relu={relu!r} : choisissez une ReLU qui suit une couche élagable parmi {list(mapping)}.")
    layer = mapping[relu]
    after = compute_apoz(model, data.train)[relu]
    before = compute_apoz(model, data.train, layer_types=(nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))[layer]
    evaluator = MaskedEvaluator(model, data.val)
    choices = {
        APOZ_HIGH: highest_apoz_channels(after, fraction),
        APOZ_LOW: highest_apoz_channels(-after, fraction),
        APOZ_BEFORE: highest_apoz_channels(before, fraction),
    }
    out = {"sans retrait": evaluator.accuracy()}
    out.update({label: evaluator.accuracy(channel_masks(evaluator.model, layer, ch)) for label, ch in choices.items()})
    return out
