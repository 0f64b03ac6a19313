"""Notebook 13 : où élaguer (répartition entre couches) et quand (rembobinage, élagage à l'initialisation).

Un seul protocole, calculé une fois par graine et rangé dans le cache (``course_lib.cache.cached``) ;
les fonctions ``say_*`` en tirent leurs phrases, les mêmes pour tout notebook qui les cite.

Par graine (CNN du cours sur *digits*, découpage de la graine 0) :

1. **entraînement dense** : ``EPOCHS`` époques d'Adam, calendrier par paliers ``SCHEDULE``
   (η = 10⁻² puis 10⁻³ à partir de l'époque 4 ; ``SCHEDULES`` : 3·10⁻³ puis 3·10⁻⁴ sur MNIST-5k) ;
   on garde les poids θ_{T−t} de l'époque T − t ;
2. **balayage de sensibilité** sur la validation (``allocation.sensitivity_scan``) ;
3. **(a) où** : à chaque sparsité globale de ``ALLOCATION_SPARSITIES``, quatre répartitions (uniforme,
   globale, ERK, sensibilité à ``TOLERANCE``), masques par magnitude dans chaque couche, puis
   ``ALLOCATION_FINE_TUNE`` époque(s) de fine-tuning au dernier taux du calendrier ;
4. **(b) quand, après** : à ``REWIND_SPARSITY`` (masque global par magnitude), t = ``RETRAIN`` époques
   de fine-tuning, de rembobinage des poids, de rembobinage du taux, et le témoin réinitialisé ;
5. **(c) quand, à l'initialisation** : à ``INIT_SPARSITY``, masques SNIP (un lot), au hasard, et SNIP
   mélangé dans chaque couche, posés sur le réseau initial puis entraînés ``EPOCHS`` époques avec le
   même calendrier.

Toutes les précisions finales sont mesurées sur le **test** (la validation a servi à décider :
balayage). Chaque graine fixe l'initialisation, l'ordre des lots et les tirages ; toutes les
méthodes d'une graine partent du même réseau : les comparaisons sont **appariées**.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from torch import nn

from ..allocation import (
    SensitivityScan,
    allocation_masks,
    erk_allocation,
    global_allocation,
    layer_sizes,
    sensitivity_allocation,
    sensitivity_scan,
    uniform_allocation,
)
from ..cache import cache_key, cached
from ..data import load_data
from ..evidence import Statement, compare, say
from ..fr import pct, pm
from ..masks import apply_masks, get_weights
from ..models import build_model
from ..pruning_at_init import random_masks, shuffle_within_layers, snip_masks
from ..rewinding import (
    random_reinit,
    rewind_weights,
    step_schedule,
    train_with_schedule,
    weights_snapshot,
)
from ..seeds import SeedResults, over_seeds
from ..training import evaluate

SEEDS = tuple(range(6))
EPOCHS = 6                       # T : entraînement dense (et entraînement creux depuis l'initialisation)
SCHEDULE = dict(base_lr=1e-2, milestones=(4,), gamma=0.1)
# Sur MNIST-5k, le CNN du cours a dix fois plus de poids (couche cachée sur des cartes 28×28) : à 10⁻²,
# Adam y fait diverger une graine sur six (graine 4 : 10 % de précision, le hasard) ; à 3·10⁻³, les six
# apprennent. Même calendrier par ailleurs.
SCHEDULES = {"digits": SCHEDULE, "mnist": dict(SCHEDULE, base_lr=3e-3)}
RETRAIN = 3                      # t : budget de ré-entraînement après élagage ; rembobinage à l'époque T − t
ALLOCATION_SPARSITIES = (0.6, 0.7, 0.8, 0.9)
ALLOCATION_FINE_TUNE = 1         # époque(s) de fine-tuning après chaque répartition
TOLERANCE = 0.01                 # perte tolérée par couche dans le balayage (1 point)
WITHIN = 0.005                   # « à moins de 0,5 point du dense »
REWIND_SPARSITY = 0.95
INIT_SPARSITY = 0.95

UNIFORM, GLOBAL, ERK, SENSITIVITY = "uniforme", "globale", "ERK", "sensibilité"
ALLOCATIONS = (UNIFORM, GLOBAL, ERK, SENSITIVITY)
FINE_TUNING, WEIGHT_REWIND, LR_REWIND, REINIT = ("fine-tuning", "rembobinage des poids", "rembobinage du taux",
                                                 "réinitialisation aléatoire")
SNIP, RANDOM, SHUFFLED = "SNIP", "hasard", "SNIP mélangé par couche"
SLUG = {UNIFORM: "uniforme", GLOBAL: "globale", ERK: "erk", SENSITIVITY: "sensibilite"}  # identifiants de claims


def schedule(dataset: str = "digits"):
    """Le calendrier du protocole : η(e) = 10⁻² pour e < 4, 10⁻³ ensuite (MNIST-5k : 3·10⁻³ puis 3·10⁻⁴)."""
    return step_schedule(**SCHEDULES[dataset])


def allocation_key(method: str, sparsity: float) -> str:
    """Clé d'une précision de la partie (a) : ``"ERK 90 %"``."""
    return f"{method} {pct(sparsity, 0)}"


def within_key(method: str) -> str:
    """Clé de la plus grande sparsité de la grille restée à moins de 0,5 point du dense."""
    return f"{method} : sparsité max. à 0,5 point"


def allocations(model: nn.Module, scan: SensitivityScan, sparsity: float) -> dict[str, dict[str, float]]:
    """Les quatre répartitions de ``sparsity`` entre les couches de ``model``, ``{méthode: {couche: s_ℓ}}``."""
    sizes = layer_sizes(model)
    return {UNIFORM: uniform_allocation(sizes, sparsity), GLOBAL: global_allocation(model, sparsity),
            ERK: erk_allocation(model, sparsity), SENSITIVITY: sensitivity_allocation(scan, sparsity, TOLERANCE)}


def _retrained(model: nn.Module, masks, data, start: int, stop: int, seed: int, lr=None) -> float:
    """Copie masquée de ``model``, entraînée des époques ``start`` à ``stop`` ; précision de test."""
    pruned = apply_masks(copy.deepcopy(model), masks)
    sched = schedule(data.name) if lr is None else (lambda _e: lr)
    train_with_schedule(pruned, data.train, sched, start, stop, seed=seed)
    return evaluate(pruned, data.test)


@dataclass(frozen=True)
class SeedRun:
    """Une graine du protocole : les précisions (``values``), le balayage et les répartitions à 90 %."""

    values: dict[str, float]
    scan: SensitivityScan
    shapes: dict[str, tuple[int, ...]]
    global_allocations: dict[float, dict[str, float]]


def _dense_and_scan(seed: int, data):
    """Étapes 1 et 2 : le réseau dense entraîné, sa copie initiale, θ_{T−t}, sa précision de test et son balayage."""
    model = build_model(data, seed=seed)
    init = copy.deepcopy(model)
    rewind_point = {}

    def keep(epoch, m):
        if epoch == EPOCHS - RETRAIN:
            rewind_point["weights"] = weights_snapshot(m)

    train_with_schedule(model, data.train, schedule(data.name), 0, EPOCHS, seed=seed, on_epoch_end=keep)
    return model, init, rewind_point["weights"], evaluate(model, data.test), sensitivity_scan(model, data.val)


def _allocation_part(model: nn.Module, scan: SensitivityScan, data, seed: int, out: dict[str, float]) -> None:
    """(a) où : les quatre répartitions à chaque sparsité, même fine-tuning ; remplit ``out``."""
    last_lr = schedule(data.name)(EPOCHS - 1)
    for s in ALLOCATION_SPARSITIES:
        for method, alloc in allocations(model, scan, s).items():
            out[allocation_key(method, s)] = _retrained(model, allocation_masks(model, alloc), data, EPOCHS,
                                                        EPOCHS + ALLOCATION_FINE_TUNE, seed + 1, lr=last_lr)
    for method in ALLOCATIONS:
        ok = [s for s in ALLOCATION_SPARSITIES if out[allocation_key(method, s)] >= out["dense"] - WITHIN]
        out[within_key(method)] = max(ok, default=0.0)


def _seed_run(out: dict[str, float], scan: SensitivityScan, init: nn.Module, model: nn.Module) -> SeedRun:
    """Le ``SeedRun`` d'une graine : formes prises au réseau initial, répartitions globales au réseau entraîné."""
    shapes = {n: tuple(w.shape) for n, w in get_weights(init).items()}
    return SeedRun(out, scan, shapes, {s: global_allocation(model, s) for s in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)})


def allocation_run(seed: int, data) -> SeedRun:
    """Une graine des seules étapes 1, 2 et (a) (voir la description du module), sur ``data``."""
    model, init, _, dense, scan = _dense_and_scan(seed, data)
    out = {"dense": dense}
    _allocation_part(model, scan, data, seed, out)
    return _seed_run(out, scan, init, model)


def where_when_run(seed: int, data) -> SeedRun:
    """Une graine du protocole du module (voir sa description) ; ``data`` : *digits*."""
    model, init, theta_rewind, dense, scan = _dense_and_scan(seed, data)
    out = {"dense": dense}
    last_lr = schedule(data.name)(EPOCHS - 1)
    _allocation_part(model, scan, data, seed, out)

    # (b) quand, après : même masque global, t époques chacune
    masks = allocation_masks(model, global_allocation(model, REWIND_SPARSITY))
    start = EPOCHS - RETRAIN
    out[FINE_TUNING] = _retrained(model, masks, data, start, EPOCHS, seed + 1, lr=last_lr)
    out[LR_REWIND] = _retrained(model, masks, data, start, EPOCHS, seed + 1)
    rewound = rewind_weights(apply_masks(copy.deepcopy(model), masks), theta_rewind)
    out[WEIGHT_REWIND] = _retrained(rewound, {}, data, start, EPOCHS, seed + 1)
    reinit = random_reinit(apply_masks(copy.deepcopy(model), masks), seed)
    out[REINIT] = _retrained(reinit, {}, data, start, EPOCHS, seed + 1)

    # (c) à l'initialisation : SNIP (un lot), hasard, SNIP mélangé ; T époques chacun
    batch = next(iter(data.train))
    snip = snip_masks(init, batch, INIT_SPARSITY)
    for name, m in ((SNIP, snip), (RANDOM, random_masks(init, INIT_SPARSITY, seed)),
                    (SHUFFLED, shuffle_within_layers(snip, seed))):
        out[name] = _retrained(init, m, data, 0, EPOCHS, seed)

    return _seed_run(out, scan, init, model)


# Époques d'une graine : tout le protocole, ou les seules étapes 1, 2 et (a).
ALLOCATION_EPOCHS = EPOCHS + len(ALLOCATION_SPARSITIES) * len(ALLOCATIONS) * ALLOCATION_FINE_TUNE
PROTOCOL_EPOCHS = ALLOCATION_EPOCHS + 4 * RETRAIN + 3 * EPOCHS
DATASET_NAMES = {"digits": "*digits*", "mnist": "MNIST-5k"}


@dataclass(frozen=True)
class WhereWhenResults:
    """Le protocole sur toutes les graines : ``results`` (``SeedResults``), un balayage par graine."""

    results: SeedResults
    scans: dict[int, SensitivityScan]
    shapes: dict[str, tuple[int, ...]]
    global_allocations: dict[int, dict[float, dict[str, float]]]
    dataset: str = "digits"
    epochs_per_seed: int = PROTOCOL_EPOCHS

    @property
    def epochs(self) -> int:
        """Coût du protocole, en époques de ``dataset`` (toutes graines)."""
        return self.epochs_per_seed * len(self.scans)

    @property
    def evaluations(self) -> int:
        return sum(s.evaluations for s in self.scans.values())


_MEMO: dict[str, WhereWhenResults] = {}


def _over_seeds(run, dataset: str, seeds, progress: bool, desc: str, epochs_per_seed: int) -> WhereWhenResults:
    data = load_data(dataset)
    runs = {}

    def one(seed):
        runs[seed] = run(seed, data)
        return runs[seed].values

    res = over_seeds(one, seeds, desc=desc, progress=progress)
    return WhereWhenResults(res, {s: r.scan for s, r in runs.items()}, runs[seeds[0]].shapes,
                            {s: r.global_allocations for s, r in runs.items()}, dataset, epochs_per_seed)


def _memo(name: str, compute, **key) -> WhereWhenResults:
    k = cache_key(name, **key)
    if k not in _MEMO:
        _MEMO[k] = cached(name, compute, **key)
    return _MEMO[k]


def _protocol_key(seeds, dataset: str = "digits") -> dict:
    return dict(seeds=seeds, epochs=EPOCHS, schedule=repr(SCHEDULES[dataset]), retrain=RETRAIN,
                sparsities=ALLOCATION_SPARSITIES, fine_tune=ALLOCATION_FINE_TUNE, tolerance=TOLERANCE,
                rewind=REWIND_SPARSITY, init=INIT_SPARSITY)


def where_when_results(seeds=SEEDS, progress: bool = True) -> WhereWhenResults:
    """Le protocole du module sur ``seeds`` (*digits*), calculé une fois (cache disque et mémoire du processus)."""
    seeds = tuple(int(s) for s in seeds)
    return _memo("where_when", lambda: _over_seeds(where_when_run, "digits", seeds, progress,
                                                     "où et quand élaguer", PROTOCOL_EPOCHS),
                 **_protocol_key(seeds))


def allocation_results(dataset: str = "mnist", seeds=SEEDS, progress: bool = True) -> WhereWhenResults:
    """Les seules étapes 1, 2 et (a) (répartitions) sur ``dataset`` (``"digits"`` ou ``"mnist"``),
    mêmes réglages et mêmes graines que le protocole complet ; rangées dans le cache.

    Sur MNIST-5k, une époque coûte une vingtaine de fois celle de *digits* (images 28×28, 3 500
    images d'entraînement) : c'est pourquoi le notebook 13 ne la lance qu'à la demande.
    """
    _check_dataset(dataset)
    seeds = tuple(int(s) for s in seeds)
    return _memo("where_allocation", lambda: _over_seeds(allocation_run, dataset, seeds, progress,
                                                           f"répartitions ({dataset})", ALLOCATION_EPOCHS),
                 dataset=dataset, **_protocol_key(seeds, dataset))


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASET_NAMES:
        raise ValueError(f"dataset doit valoir l'un de {tuple(DATASET_NAMES)} ; reçu {dataset!r}.")


def _results(dataset: str, seeds) -> SeedResults:
    """Les précisions des répartitions : celles du protocole complet sur *digits*, sinon celles de
    :func:`allocation_results` (mêmes étapes 1, 2 et (a), mêmes graines)."""
    if dataset == "digits":
        return where_when_results(seeds).results
    return allocation_results(dataset, seeds).results


# ============================================================================ phrases

def _setting(res: SeedResults, key: str, dataset: str = "digits") -> str:
    """« Sur 6 graines (CNN, *digits*) » : le début de chaque phrase."""
    return f"Sur {len(res[key].seeds)} graines (CNN, {DATASET_NAMES[dataset]})"


def within_table(results: WhereWhenResults) -> list[list[str]]:
    """Lignes du tableau « plus grande sparsité à 0,5 point du dense » : méthode, moyenne ± écart type, par graine.

    Une graine où aucune sparsité de la grille ne tient compte pour 0 dans la moyenne (« < 60 % »)."""
    res = results.results
    rows = []
    for m in ALLOCATIONS:
        s = res[within_key(m)]
        below = f"< {pct(ALLOCATION_SPARSITIES[0], 0)}"  # aucune sparsité de la grille (comptée 0)
        rows.append([m, pm(s.mean, s.std, 0)] + [pct(v, 0) if v > 0 else below for v in s.values])
    return rows


def _claim_suffix(dataset: str) -> str:
    _check_dataset(dataset)
    return "" if dataset == "digits" else f"-{dataset}"


def say_allocation_vs(other: str, sparsity: float = 0.9, seeds=SEEDS, dataset: str = "digits") -> Statement:
    """Répartition par sensibilité contre ``other`` (uniforme, globale ou ERK), précision à ``sparsity``,
    sur ``dataset`` (*digits* : le protocole complet ; ``"mnist"`` : :func:`allocation_results`)."""
    if other not in (UNIFORM, GLOBAL, ERK):
        raise ValueError(f"other doit valoir {UNIFORM!r}, {GLOBAL!r} ou {ERK!r} ; reçu {other!r}.")
    if sparsity not in ALLOCATION_SPARSITIES:
        raise ValueError(f"sparsity doit être l'une des sparsités mesurées {ALLOCATION_SPARSITIES} ; reçu {sparsity!r}.")
    suffix = _claim_suffix(dataset)
    res = _results(dataset, seeds)
    a, b = allocation_key(SENSITIVITY, sparsity), allocation_key(other, sparsity)
    p, setting = pct(sparsity, 0), _setting(res, a, dataset)
    return say(
        f"sensibilite-contre-{SLUG[other]}-{round(100 * sparsity)}{suffix}",
        compare(res[a], res[b]), label=f"sensibilité − {other}, {p}",
        net=(f"{setting}, à {p} de sparsité globale et après le même fine-tuning, la répartition par sensibilité "
             f"finit nettement au-dessus de la répartition {other} : donner à chaque couche la part que le "
             "balayage dit tolérable protège les couches fragiles."),
        pas_net=(f"{setting}, à {p}, on ne peut pas départager la répartition par sensibilité et la répartition "
                 f"{other} : l'écart moyen reste dans le bruit des graines."),
        inverse=(f"{setting}, à {p}, la répartition {other} finit nettement au-dessus de la répartition par "
                 "sensibilité : le balayage juge chaque couche **seule** et sans ré-entraînement ; il ne voit "
                 "ni les effets croisés entre couches, ni ce que le fine-tuning répare."),
    )


def say_within_dense(method: str = SENSITIVITY, other: str = UNIFORM, seeds=SEEDS,
                     dataset: str = "digits") -> Statement:
    """Plus grande sparsité de la grille restée à 0,5 point du dense : ``method`` contre ``other``, sur ``dataset``."""
    for name, m in (("method", method), ("other", other)):
        if m not in ALLOCATIONS:
            raise ValueError(f"{name} doit valoir l'un de {ALLOCATIONS} ; reçu {m!r}.")
    suffix = _claim_suffix(dataset)
    res = _results(dataset, seeds)
    a, b = res[within_key(method)], res[within_key(other)]
    setting = _setting(res, within_key(method), dataset)
    return say(
        f"sparsite-a-05-point-{SLUG[method]}-contre-{SLUG[other]}{suffix}",
        compare(a, b), label=f"sparsité max. {method} − {other}",
        net=(f"{setting}, la répartition « {method} » reste à 0,5 point du dense jusqu'à une sparsité nettement "
             f"plus haute que la répartition « {other} » : {a.fmt(0)} contre {b.fmt(0)}."),
        pas_net=(f"{setting}, on ne peut pas départager « {method} » ({a.fmt(0)}) et « {other} » ({b.fmt(0)}) "
                 "sur la sparsité atteinte à 0,5 point du dense : la grille est grossière et 0,5 point ne "
                 "représente que quelques images de test."),
        inverse=(f"{setting}, la répartition « {other} » reste à 0,5 point du dense jusqu'à une sparsité "
                 f"nettement plus haute que « {method} » : {b.fmt(0)} contre {a.fmt(0)}."),
    )


# Chiffres des articles, cités dans les phrases (source et emplacement dans chaque commentaire).
# Renda et al. (2020) : données publiées avec l'article (dépôt lottery-ticket/rewinding-iclr20-public,
# vision/plot/pruned_dataframe.pkl), ResNet-50, élagage en une fois à la densité 0,1074, 45 époques de
# ré-entraînement, médianes de 3 essais.
RENDA = ("Renda et al. (2020) concluent que les deux rembobinages font mieux que le fine-tuning ; dans leurs "
         "données, un ResNet-50 élagué en une fois à 89\u202f% puis ré-entraîné 45 époques finit sur ImageNet à "
         "70,6\u202f% avec le fine-tuning, 73,7\u202f% avec le rembobinage des poids et 74,0\u202f% avec celui du taux")


def say_lr_rewinding_vs_fine_tuning(seeds=SEEDS) -> Statement:
    """Rembobinage du taux contre fine-tuning, même masque, même nombre d'époques (Renda et al., 2020)."""
    res = where_when_results(seeds).results
    p, setting = pct(REWIND_SPARSITY, 0), _setting(res, LR_REWIND)
    return say(
        "rembobinage-taux-contre-fine-tuning", compare(res[LR_REWIND], res[FINE_TUNING]),
        label=f"rembobinage du taux − fine-tuning, {p}",
        net=(f"{setting}, à {p}, rejouer la fin du calendrier (grand taux puis petit) bat nettement le "
             f"fine-tuning au petit taux, à budget égal de {RETRAIN} époques. {RENDA} : **tenu** à notre échelle."),
        pas_net=(f"{setting}, à {p}, on ne peut pas départager le rembobinage du taux et le fine-tuning à budget "
                 f"égal. {RENDA} : **pas confirmé** à notre échelle (ni contredit)."),
        inverse=(f"{setting}, à {p}, le fine-tuning au petit taux bat nettement le rembobinage du taux. {RENDA} : "
                 "**contredit** à notre échelle ; le grand taux rejoué éloigne ici le réseau de son minimum "
                 "plus qu'il ne l'aide."),
    )


def say_weight_rewinding_vs_fine_tuning(seeds=SEEDS) -> Statement:
    """Rembobinage des poids (à l'époque T − t) contre fine-tuning, même masque, même budget."""
    res = where_when_results(seeds).results
    p, setting = pct(REWIND_SPARSITY, 0), _setting(res, WEIGHT_REWIND)
    return say(
        "rembobinage-poids-contre-fine-tuning", compare(res[WEIGHT_REWIND], res[FINE_TUNING]),
        label=f"rembobinage des poids − fine-tuning, {p}",
        net=(f"{setting}, à {p}, repartir des poids de l'époque {EPOCHS - RETRAIN} avec leur calendrier bat "
             f"nettement le fine-tuning à budget égal. {RENDA} : **tenu** à notre échelle."),
        pas_net=(f"{setting}, à {p}, on ne peut pas départager le rembobinage des poids et le fine-tuning à "
                 f"budget égal. {RENDA} : **pas confirmé** à notre échelle."),
        inverse=(f"{setting}, à {p}, le fine-tuning bat nettement le rembobinage des poids à budget égal. "
                 f"{RENDA} : **contredit** à notre échelle ; en {RETRAIN} époques, les poids rembobinés n'ont "
                 "pas le temps de rattraper les poids finaux."),
    )


def say_rewinding_vs_reinit(seeds=SEEDS) -> Statement:
    """Rembobinage des poids contre le témoin réinitialisé (mêmes masques, même calendrier)."""
    res = where_when_results(seeds).results
    p, setting = pct(REWIND_SPARSITY, 0), _setting(res, REINIT)
    # Frankle & Carbin (2019, v5, §2, fig. 4a : LeNet-300-100 sur MNIST, élagage itératif).
    frankle = ("Frankle & Carbin (2019) : réinitialisé au hasard, un ticket gagnant apprend moins vite et finit "
               "moins haut ; sur MNIST, leur réseau réinitialisé perd en précision dès qu'il ne garde plus que "
               "21,1\u202f% de ses poids, le ticket gagnant seulement sous 2,9\u202f%")
    return say(
        "rembobinage-contre-reinitialisation", compare(res[WEIGHT_REWIND], res[REINIT]),
        label=f"rembobinage des poids − réinitialisation, {p}",
        net=(f"{setting}, à {p}, les mêmes masques avec des poids tirés à nouveau finissent nettement plus bas "
             f"que les poids rembobinés : le masque seul ne suffit pas, les valeurs comptent. {frankle} : "
             "**tenu**."),
        pas_net=(f"{setting}, à {p}, on ne peut pas départager les poids rembobinés et des poids tirés à "
                 f"nouveau. {frankle} : **pas confirmé** à notre échelle."),
        inverse=(f"{setting}, à {p}, des poids tirés à nouveau finissent nettement au-dessus des poids "
                 f"rembobinés. {frankle} : **contredit** à notre échelle."),
    )


FRANKLE_2021 = ("Frankle et al. (2021) trouvent que ces méthodes battent l'élagage au hasard, mais restent "
                "sous la magnitude appliquée après l'entraînement")


def say_snip_vs_random(seeds=SEEDS) -> Statement:
    """SNIP contre des masques tirés au hasard, à l'initialisation, même entraînement ensuite."""
    res = where_when_results(seeds).results
    p, setting = pct(INIT_SPARSITY, 0), _setting(res, SNIP)
    return say(
        "snip-contre-hasard", compare(res[SNIP], res[RANDOM]), label=f"SNIP − hasard, {p}",
        net=(f"{setting}, à {p} dès l'initialisation, SNIP finit nettement au-dessus d'un masque tiré au "
             f"hasard. {FRANKLE_2021} : la première moitié est **tenue** ici."),
        pas_net=(f"{setting}, à {p} dès l'initialisation, on ne peut pas départager SNIP et un masque au hasard. "
                 f"{FRANKLE_2021} : la première moitié n'est **pas confirmée** ici."),
        inverse=(f"{setting}, à {p} dès l'initialisation, un masque au hasard finit nettement au-dessus de SNIP. "
                 f"{FRANKLE_2021} : la première moitié est **contredite** ici."),
    )


def say_magnitude_after_training_vs_snip(seeds=SEEDS) -> Statement:
    """Magnitude après entraînement (masque global, puis rembobinage du taux) contre SNIP à
    l'initialisation, même sparsité ; la magnitude a eu ``EPOCHS`` + ``RETRAIN`` époques, SNIP ``EPOCHS``."""
    if REWIND_SPARSITY != INIT_SPARSITY:
        raise ValueError("la comparaison demande REWIND_SPARSITY == INIT_SPARSITY.")
    res = where_when_results(seeds).results
    p, setting = pct(INIT_SPARSITY, 0), _setting(res, SNIP)
    after = (f"la magnitude **après** l'entraînement, suivie du rembobinage du taux ({EPOCHS} + {RETRAIN} "
             f"époques contre {EPOCHS})")
    return say(
        "magnitude-apres-contre-snip", compare(res[LR_REWIND], res[SNIP]),
        label=f"magnitude après entraînement − SNIP, {p}",
        net=(f"{setting}, à {p}, {after}, finit nettement au-dessus de SNIP à l'initialisation. "
             f"{FRANKLE_2021} : la seconde moitié est **tenue**."),
        pas_net=(f"{setting}, à {p}, on ne peut pas départager SNIP à l'initialisation et {after}. "
                 f"{FRANKLE_2021} : la seconde moitié n'est **pas confirmée** ici."),
        inverse=(f"{setting}, à {p}, SNIP à l'initialisation finit nettement au-dessus de {after}. "
                 f"{FRANKLE_2021} : la seconde moitié est **contredite** ici."),
    )


def say_snip_shuffle(seeds=SEEDS) -> Statement:
    """Le test de Frankle et al. (2021) : SNIP contre SNIP mélangé dans chaque couche (mêmes comptes)."""
    res = where_when_results(seeds).results
    p, setting = pct(INIT_SPARSITY, 0), _setting(res, SNIP)
    claim = ("Frankle et al. (2021) trouvent une précision égale ou meilleure quand on mélange, dans chaque "
             "couche, les poids que ces méthodes retirent")
    return say(
        "snip-contre-snip-melange", compare(res[SNIP], res[SHUFFLED]), label=f"SNIP − SNIP mélangé, {p}",
        net=(f"{setting}, à {p}, mélanger les positions de SNIP dans chaque couche fait nettement baisser la "
             f"précision : ici, SNIP choisit **quels** poids garder, pas seulement combien par couche. {claim} : "
             "**pas tenu** à notre échelle."),
        pas_net=(f"{setting}, à {p}, on ne peut pas départager SNIP et SNIP mélangé dans chaque couche : on ne "
                 f"détecte pas d'effet du choix des poids à l'intérieur d'une couche. {claim} : **compatible** "
                 "avec nos mesures (sans le démontrer : « pas net » n'est pas « égal »)."),
        inverse=(f"{setting}, à {p}, SNIP mélangé dans chaque couche finit nettement au-dessus de SNIP. {claim} : "
                 "**tenu** (et même dépassé) à notre échelle : ce qui compte est la part gardée par couche."),
    )


def results_stats(results: WhereWhenResults, keys) -> SeedResults:
    """Sous-tableau de ``results.results`` restreint à ``keys`` (pour l'afficher)."""
    return SeedResults({k: results.results[k] for k in keys})

