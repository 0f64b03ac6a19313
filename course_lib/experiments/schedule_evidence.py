"""Les comparaisons « quand élaguer » du cours, une expérience par résultat (notebooks 05, 07, 10, 12).

Deux protocoles, chacun calculé par UNE fonction et cité avec les MÊMES arguments par tous les
notebooks qui en parlent (résultat rangé par ``course_lib.cache.cached`` : le second notebook relit
le premier au lieu de tout refaire) :

- ``say_gradual_vs_one_shot(sparsity)`` (05, 10, 12) : élaguer d'un coup puis ré-entraîner, ou
  élaguer pendant l'entraînement avec le calendrier cubique (Zhu & Gupta, 2017, éq. 1), **même
  nombre de pas d'Adam après le début de l'élagage** ; MLP 64-128-64-10 sur *digits*, 8 graines,
  90 % et 95 % ;
- ``say_rigl_vs_static()``, ``say_set_vs_static()``, ``say_rigl_vs_set()`` (07, 10, 12) :
  entraînement creux depuis l'initialisation, masque fixe (statique), SET (variante d'Evci et al.,
  2020) ou RigL (Evci et al., 2020) ; même MLP, 95 % des poids de chaque couche, 8 graines.

Chaque graine fixe l'initialisation, l'ordre des lots et les tirages ; toutes les méthodes d'une
même graine partent du même réseau : les comparaisons sont **appariées** (``course_lib.evidence``).
Les précisions sont celles de la validation de *digits* (359 images).
"""

from __future__ import annotations

import copy

from torch import nn

from .._validation import check_fraction, check_positive_int
from ..cache import cache_key, cached
from ..data import load_data
from ..evidence import Statement, compare, say
from ..fr import pct
from ..models import build_model
from ..scheduling.iterative import PruningScheduler
from ..scheduling.regrowth import RegrowthPruning
from ..seeds import SeedResults, over_seeds
from ..training import evaluate, make_optimizer, reseed_loader, set_seed, train, train_one_epoch

GRADUAL_SEEDS = tuple(range(8))
GRADUAL_SPARSITIES = (0.9, 0.95)
SPARSE_SEEDS = tuple(range(8))
SPARSE_SPARSITY = 0.95
SPARSE_EPOCHS = 15


_MEMO: dict[str, SeedResults] = {}


def _shared(name: str, compute, **key) -> SeedResults:
    """``cached`` plus un souvenir dans le processus : avec le cache disque désactivé
    (``COURSE_LIB_CACHE=off``), deux phrases tirées de la même expérience ne la refont pas."""
    k = cache_key(name, **key)
    if k not in _MEMO:
        _MEMO[k] = cached(name, compute, **key)
    return _MEMO[k]


def _train_steps(model: nn.Module, loader, n_steps: int, lr: float, seed: int, callback=None) -> None:
    """``n_steps`` pas d'Adam sur ``loader`` (époques enchaînées), graine et ordre des lots fixés."""
    set_seed(seed)
    reseed_loader(loader, seed)
    opt = make_optimizer(model, "adam", lr)
    done = 0
    while done < n_steps:
        def count(step, loss):
            nonlocal done
            done += 1
            if callback is not None:
                callback(done, loss)
        train_one_epoch(model, loader, opt, callback=count, max_steps=n_steps - done)


def _one_shot_vs_gradual_from(model: nn.Module, seed: int, data, sparsity: float, epochs: int, lr: float,
                              end_fraction: float) -> dict[str, float]:
    n_steps = epochs * len(data.train)
    out = {}
    one_shot = PruningScheduler.one_shot(copy.deepcopy(model), sparsity)
    out["one-shot, avant"] = evaluate(one_shot, data.val)
    _train_steps(one_shot, data.train, n_steps, lr, seed + 1)
    out["one-shot"] = evaluate(one_shot, data.val)
    gradual = copy.deepcopy(model)
    prune_steps = max(int(end_fraction * n_steps), 1)
    scheduler = PruningScheduler(gradual, sparsity, "cubic", start_step=0, n_steps=prune_steps, frequency=1)
    _train_steps(gradual, data.train, n_steps, lr, seed + 1, callback=lambda step, _loss: scheduler.step(step))
    out["graduel"] = evaluate(gradual, data.val)
    return out


def one_shot_vs_gradual(seed: int, data, sparsity: float = 0.95, epochs: int = 6, baseline_epochs: int = 15,
                        kind: str = "mlp", lr: float = 3e-3, end_fraction: float = 0.75) -> dict[str, float]:
    """One-shot (+ ré-entraînement) contre graduel cubique, même réseau de départ, même nombre de pas.

    Le réseau de référence est entraîné ``baseline_epochs`` époques avec ``seed`` ; puis, sur deux copies :

    - ``"one-shot"`` : élagage par magnitude (global) à ``sparsity``, puis ``epochs`` époques d'Adam ;
    - ``"graduel"`` : les mêmes ``epochs`` époques d'Adam, avec un ``PruningScheduler`` cubique
      (Zhu & Gupta, 2017, éq. 1 : s_t = s_f (1 − (1 − (t − t₀)/(NΔt)))³) qui élague à chaque pas
      jusqu'à ``sparsity``, atteinte à ``end_fraction`` des pas (le reste sert à récupérer).

    Renvoie aussi ``"one-shot, avant"`` (juste après l'élagage, sans ré-entraînement).
    """
    check_fraction(sparsity, "sparsity")
    check_positive_int(epochs, "epochs")
    check_fraction(end_fraction, "end_fraction")
    model = build_model(data, kind=kind, seed=seed)
    train(model, data.train, epochs=baseline_epochs, seed=seed, progress=False)
    return _one_shot_vs_gradual_from(model, seed, data, sparsity, epochs, lr, end_fraction)


def _gradual_run(seed: int, data) -> dict[str, float]:
    """Une graine du protocole partagé : une référence entraînée, puis 90 % et 95 %."""
    model = build_model(data, kind="mlp", seed=seed)
    train(model, data.train, epochs=15, seed=seed, progress=False)
    out = {}
    for s in GRADUAL_SPARSITIES:
        res = _one_shot_vs_gradual_from(model, seed, data, s, epochs=6, lr=3e-3, end_fraction=0.75)
        out.update({f"{k} {pct(s, 0)}": v for k, v in res.items()})
    return out


def gradual_vs_one_shot_results(seeds=GRADUAL_SEEDS, progress: bool = True) -> SeedResults:
    """Le protocole partagé de 05, 10 et 12, rangé dans le cache : ``SeedResults`` sur ``seeds``.

    *digits* (découpage de la graine 0), MLP 64-128-64-10 entraîné 15 époques (référence), puis
    pour s ∈ {90 %, 95 %} : one-shot (élagage par magnitude globale, puis 6 époques d'Adam,
    lr = 3·10⁻³) contre graduel (les mêmes 6 époques, sparsité cubique à chaque pas, s atteinte aux
    trois quarts). Clés : ``"one-shot, avant 95 %"``, ``"one-shot 95 %"``, ``"graduel 95 %"``...
    """
    seeds = tuple(seeds)

    def compute():
        data = load_data("digits")
        return over_seeds(lambda s: _gradual_run(s, data), seeds, desc="graduel contre one-shot",
                          progress=progress)

    return _shared("gradual_vs_one_shot", compute, seeds=seeds, sparsities=GRADUAL_SPARSITIES)


def _check_gradual_sparsity(sparsity) -> float:
    if sparsity not in GRADUAL_SPARSITIES:
        raise ValueError(f"sparsity doit valoir l'une des sparsités mesurées {GRADUAL_SPARSITIES} ; "
                         f"reçu {sparsity!r}.")
    return float(sparsity)


def say_gradual_vs_one_shot(sparsity: float = 0.95, seeds=GRADUAL_SEEDS) -> Statement:
    """Le verdict « graduel contre one-shot » à ``sparsity`` (0,9 ou 0,95), même phrase partout.

    Comparaison appariée (``course_lib.evidence.compare``) des précisions de validation finales.
    """
    sparsity = _check_gradual_sparsity(sparsity)
    res = gradual_vs_one_shot_results(seeds)
    p = pct(sparsity, 0)
    verdict = compare(res[f"graduel {p}"], res[f"one-shot {p}"])
    setting = f"(MLP sur *digits*, {len(res[f'graduel {p}'].seeds)} graines, même nombre de pas après le début de l'élagage)"
    return say(
        f"graduel-contre-one-shot-{round(100 * sparsity)}", verdict, label=f"graduel − one-shot, {p}",
        net=(f"À {p}, le graduel finit nettement au-dessus du one-shot {setting} : en élaguant peu à peu, "
             "le réseau se réorganise pendant qu'on retire ses poids ; le choc d'un coup ne se rattrape "
             "pas entièrement dans le même budget."),
        pas_net=(f"À {p}, on ne peut pas départager le graduel et le one-shot {setting} : l'écart reste "
                 "dans le bruit des graines."),
        inverse=(f"À {p}, le one-shot finit nettement au-dessus du graduel {setting} : le ré-entraînement "
                 "rattrape le choc, et le graduel, qui élague jusqu'aux trois quarts du budget, a moins "
                 "de pas pour récupérer à la sparsité finale."),
    )


def say_one_shot_recovers(sparsity: float = 0.95, seeds=GRADUAL_SEEDS) -> Statement:
    """Le ré-entraînement après un élagage d'un coup : précision après contre juste après l'élagage."""
    sparsity = _check_gradual_sparsity(sparsity)
    res = gradual_vs_one_shot_results(seeds)
    p = pct(sparsity, 0)
    verdict = compare(res[f"one-shot {p}"], res[f"one-shot, avant {p}"])
    return say(
        f"one-shot-reentrainement-{round(100 * sparsity)}", verdict, label=f"one-shot après − avant, {p}",
        net=(f"Juste après l'élagage d'un coup à {p}, la précision s'effondre (ligne « one-shot, avant ») ; "
             "le ré-entraînement en rattrape nettement une grande partie : c'est lui qui fait le one-shot."),
        pas_net=(f"À {p}, le ré-entraînement ne relève pas nettement la précision du one-shot : "
                 "le choc de l'élagage d'un coup ne se rattrape pas dans ce budget."),
        inverse=(f"À {p}, le ré-entraînement fait nettement baisser la précision du one-shot : "
                 "le pas d'apprentissage est trop grand pour ce réseau élagué."),
    )


# ============================================================================ entraînement creux

def sparse_training_run(seed: int, data, method: str, sparsity: float = SPARSE_SPARSITY,
                        epochs: int = SPARSE_EPOCHS, regrow_fraction: float = 0.3, update_every: int = 5,
                        end_fraction: float = 0.75, lr: float = 3e-3, kind: str = "mlp") -> float:
    """Entraînement creux depuis l'initialisation ; renvoie la précision de validation finale.

    Masque initial : magnitude des poids initiaux, ``sparsity`` dans chaque couche (uniforme, comme
    Evci et al., 2020, §4). Puis ``epochs`` époques d'Adam ; tous les ``update_every`` pas jusqu'à
    ``end_fraction`` de l'entraînement, ``"set"`` ou ``"rigl"`` échange une fraction des poids actifs
    (α = ``regrow_fraction``, décroissance cosinus, Evci et al., 2020, éq. 1) ; ``"statique"`` garde
    son masque. ``"set"`` est la variante de SET d'Evci et al. (retrait par |w|, repousse au hasard
    et à zéro), pas l'algorithme d'origine de Mocanu et al. (2018) : voir ``RegrowthPruning``.
    """
    if method not in ("statique", "set", "rigl"):
        raise ValueError(f"method doit valoir 'statique', 'set' ou 'rigl' ; reçu {method!r}.")
    check_fraction(sparsity, "sparsity")
    check_positive_int(epochs, "epochs")
    check_positive_int(update_every, "update_every")
    model = build_model(data, kind=kind, seed=seed)
    n_steps = epochs * len(data.train)
    n_updates = max(int(end_fraction * n_steps) // update_every, 1)
    rp = RegrowthPruning(model, sparsity, regrow_fraction, growth="set" if method == "set" else "rigl",
                         seed=seed, end_step=n_updates, scope="layer", data_loader=data.train, n_batches=1)

    def update(step, _loss):
        if method != "statique" and step % update_every == 0 and rp.step_count < n_updates:
            rp.step()

    _train_steps(model, data.train, n_steps, lr, seed, callback=update)
    return evaluate(model, data.val)


def sparse_training_comparison(seed: int, data, methods=("statique", "set", "rigl"), **kwargs) -> dict[str, float]:
    """``sparse_training_run`` pour chaque méthode, même graine : ``{méthode: précision}``."""
    return {m: sparse_training_run(seed, data, m, **kwargs) for m in methods}


SPARSE_LABELS = {"statique": "statique", "set": "SET", "rigl": "RigL"}


def sparse_training_results(seeds=SPARSE_SEEDS, progress: bool = True) -> SeedResults:
    """Le protocole partagé de 07, 10 et 12, rangé dans le cache : ``SeedResults`` (statique, SET, RigL).

    *digits*, MLP 64-128-64-10, 95 % des poids de chaque couche inactifs dès l'initialisation
    (magnitude des poids initiaux), 15 époques d'Adam (lr = 3·10⁻³) ; SET et RigL échangent une
    fraction des poids actifs tous les 5 pas, α = 0,3 en cosinus jusqu'aux trois quarts des pas.
    """
    seeds = tuple(seeds)

    def compute():
        data = load_data("digits")
        res = over_seeds(lambda s: sparse_training_comparison(s, data), seeds, desc="entraînement creux",
                         progress=progress)
        return SeedResults({SPARSE_LABELS[k]: v for k, v in res.items()})

    return _shared("sparse_training", compute, seeds=seeds, sparsity=SPARSE_SPARSITY, epochs=SPARSE_EPOCHS)


_SPARSE_SETTING = "(MLP sur *digits* creux à 95 % dès l'initialisation, {n} graines)"


def say_rigl_vs_static(seeds=SPARSE_SEEDS) -> Statement:
    """Le verdict « RigL contre masque statique », entraînement creux depuis l'initialisation."""
    res = sparse_training_results(seeds)
    setting = _SPARSE_SETTING.format(n=len(res["RigL"].seeds))
    return say(
        "rigl-contre-statique", compare(res["RigL"], res["statique"]), label="RigL − statique",
        net=(f"RigL finit nettement au-dessus du masque statique {setting} : déplacer les connexions "
             "vers les positions de grand gradient corrige un masque choisi à l'aveugle à l'initialisation."),
        pas_net=(f"On ne peut pas départager RigL et le masque statique {setting} : à cette échelle, "
                 "faire évoluer le masque ne donne pas d'écart qui dépasse le bruit des graines."),
        inverse=(f"Le masque statique finit nettement au-dessus de RigL {setting} : chaque échange "
                 "repart de poids nuls et coûte des pas d'entraînement que ce petit budget ne rend pas."),
    )


def say_set_vs_static(seeds=SPARSE_SEEDS) -> Statement:
    """Le verdict « SET (variante d'Evci et al.) contre masque statique »."""
    res = sparse_training_results(seeds)
    setting = _SPARSE_SETTING.format(n=len(res["SET"].seeds))
    return say(
        "set-contre-statique", compare(res["SET"], res["statique"]), label="SET − statique",
        net=(f"Même au hasard, faire repousser aide : SET finit nettement au-dessus du masque statique "
             f"{setting}. Retirer les plus petits poids et en essayer d'autres suffit déjà à sortir "
             "des connexions inutiles du départ."),
        pas_net=(f"On ne peut pas départager SET et le masque statique {setting} : une repousse au "
                 "hasard ne fait pas mieux, de façon nette, que garder le masque du départ."),
        inverse=(f"Le masque statique finit nettement au-dessus de SET {setting} : des connexions "
                 "tirées au hasard, reparties de zéro, coûtent plus qu'elles n'apportent ici."),
    )


def say_rigl_vs_set(seeds=SPARSE_SEEDS) -> Statement:
    """Le verdict « RigL (gradient) contre SET (hasard) » : ce qu'apporte le gradient pour choisir."""
    res = sparse_training_results(seeds)
    setting = _SPARSE_SETTING.format(n=len(res["RigL"].seeds))
    return say(
        "rigl-contre-set", compare(res["RigL"], res["SET"]), label="RigL − SET",
        net=(f"Choisir par le gradient paie : RigL finit nettement au-dessus de SET {setting}."),
        pas_net=(f"On ne peut pas départager RigL et SET {setting} : à cette échelle, choisir les poids qui "
                 "repoussent par le gradient plutôt qu'au hasard ne fait pas d'écart net."),
        inverse=(f"SET finit nettement au-dessus de RigL {setting} : le gradient d'un seul lot, bruité, "
                 "choisit moins bien que le hasard sur ce petit problème."),
    )


__all__ = [
    "GRADUAL_SEEDS",
    "SPARSE_SEEDS",
    "gradual_vs_one_shot_results",
    "one_shot_vs_gradual",
    "say_gradual_vs_one_shot",
    "say_one_shot_recovers",
    "say_rigl_vs_set",
    "say_rigl_vs_static",
    "say_set_vs_static",
    "sparse_training_comparison",
    "sparse_training_results",
    "sparse_training_run",
]
