"""8.5.1 : réponses d'élèves (cellules-réponses ``importance`` et ``comparaison``)."""

from __future__ import annotations

from course_lib.experiments import comparison

from . import Answer, replace
from .ex_8_5_2 import renamed_source

EX = "8.5.1"

IMPORTANCE = '''
CRITERIA = ("magnitude", "gradient", "hessian")


def importance_scores(model, criterion, loader, loss_fn, n_batches=4):
    if criterion == "magnitude":
        return {name: w.abs() for name, w in get_weights(model).items()}
    elif criterion == "gradient":
        return compute_gradient_salience(model, loss_fn, loader, n_batches=n_batches)
    elif criterion == "hessian":
        return compute_obd_saliency(model, loss_fn, loader, n_batches=n_batches)
    else:
        raise ValueError(f"critère inconnu : {criterion} (attendu magnitude, gradient ou hessian)")
'''

COMPARISON = '''
def compare_criteria(baseline, data, criteria=CRITERIA, sparsity=0.9, fine_tune_epochs=1,
                     n_batches=4, seed=SEED):
    loss_fn = nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(data.train.dataset, batch_size=64, shuffle=False)
    results = {}
    for criterion in criteria:
        model = copy.deepcopy(baseline)
        set_seed(seed)
        scores = importance_scores(model, criterion, loader, loss_fn, n_batches=n_batches)
        masks = create_masks_from_importance(scores, sparsity)
        apply_masks(model, masks)
        fine_tune(model, data.train, epochs=fine_tune_epochs, seed=seed, progress=False)
        results[criterion] = {"accuracy": evaluate(model, data.val),
                              "sparsity": sparsity_report(model).global_sparsity,
                              "model": model}
    return results
'''

BASE = {"importance": IMPORTANCE, "comparaison": COMPARISON}


def _imp(old: str, new: str) -> dict[str, str]:
    return {**BASE, "importance": replace(IMPORTANCE, old, new)}


def _cmp(old: str, new: str) -> dict[str, str]:
    return {**BASE, "comparaison": replace(COMPARISON, old, new)}


_OBD = "return compute_obd_saliency(model, loss_fn, loader, n_batches=n_batches)"
_EVAL = '"accuracy": evaluate(model, data.val)'
_FT = "        fine_tune(model, data.train, epochs=fine_tune_epochs, seed=seed, progress=False)\n"

_LIBRARY_CALL = '''
def compare_criteria(baseline, data, criteria=CRITERIA, sparsity=0.9, fine_tune_epochs=1,
                     n_batches=4, seed=SEED):
    from course_lib import compare_pruning_criteria

    found = compare_pruning_criteria(baseline, data.train, data.val, criteria, sparsity=sparsity,
                                     fine_tune_epochs=fine_tune_epochs, seed=seed, n_batches=n_batches)
    return {row["criterion"]: {"accuracy": row["accuracy"], "sparsity": row["sparsity"], "model": None}
            for row in found.table}
'''

_COPY_IMPORTS = '''import itertools
import time

from tqdm.auto import tqdm

from course_lib._validation import (check_fraction, check_loader, check_model, check_named_criteria,
                                   check_positive_int, check_scope)
from course_lib.experiments.comparison import ComparisonResult, jaccard_overlap
from course_lib.scheduling.base import make_criterion, masked_sparsity, prune_to
from course_lib.training import reseed_loader

'''
_RENAMES = {"compare_pruning_criteria": "comparer", "model": "reference", "train_loader": "entrainement",
            "val_loader": "validation", "named": "nommes", "table": "lignes", "all_masks": "tous_les_masques",
            "work": "copie", "crit": "critere", "acc_pruned": "precision_elague", "overlap": "recouvrement",
            "seconds": "duree", "start": "debut", "name": "nom"}

_LYING = '''
class Accuracy(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__

'''

ANSWERS = [
    Answer(EX, "base", "juste", dict(BASE), "l'énoncé, écrit par un élève"),
    Answer(EX, "sans-set-seed", "juste", _cmp("        set_seed(seed)\n", ""),
           "ne remet pas la graine (fine_tune le fait déjà) : mêmes chiffres"),
    Answer(EX, "dictionnaire-et-fonction", "juste", {
        "importance": '''
CRITERIA = ("magnitude", "gradient", "hessian")
_SCORERS = {
    "magnitude": lambda model, loader, loss_fn, n: {k: magnitude_criterion(w) for k, w in get_weights(model).items()},
    "gradient": lambda model, loader, loss_fn, n: compute_gradient_salience(model, loss_fn, loader, n_batches=n),
    "hessian": lambda model, loader, loss_fn, n: {
        k: hessian_criterion(w, approximate_hessian_diag(model, loss_fn, loader, n_batches=n)[k])
        for k, w in get_weights(model).items()},
}


def importance_scores(model, criterion, loader, loss_fn, n_batches=4):
    if criterion not in _SCORERS:
        raise ValueError(f"Critère {criterion!r} inconnu : choisissez parmi {', '.join(_SCORERS)}.")
    return _SCORERS[criterion](model, loader, loss_fn, n_batches)
''',
        "comparaison": '''
def _one_criterion(baseline, data, criterion, sparsity, epochs, n_batches, seed):
    pruned = copy.deepcopy(baseline)
    set_seed(seed)
    apply_masks(pruned, create_masks_from_importance(
        importance_scores(pruned, criterion, fixed_loader, loss_fn, n_batches=n_batches), sparsity))
    fine_tune(pruned, data.train, epochs=epochs, seed=seed, progress=False)
    masks = get_masks(pruned)
    zeros = sum(int((m == 0).sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    return {"accuracy": float(evaluate(pruned, data.val)), "sparsity": zeros / total, "model": pruned}


def compare_criteria(baseline, data, criteria=CRITERIA, sparsity=0.9, fine_tune_epochs=1,
                     n_batches=4, seed=SEED):
    return {c: _one_criterion(baseline, data, c, sparsity, fine_tune_epochs, n_batches, seed) for c in criteria}
'''}, "critères dans un dictionnaire de fonctions, OBD écrit avec hessian_criterion, une fonction par "
          "critère, le fixed_loader du notebook, la sparsité comptée à la main"),
    Answer(EX, "obd-divise-par-h", "faux", _imp(_OBD, '''h = approximate_hessian_diag(model, loss_fn, loader, n_batches=n_batches)
        return {k: w ** 2 / (2 * h[k] + 1e-10) for k, w in get_weights(model).items()}'''),
           "OBD écrit w²/2H (le code du chapitre)", "test_importance", ("PLUS important", "divisé par H")),
    Answer(EX, "fisher-moyenne-des-lots", "faux", _imp(_OBD, '''h = approximate_hessian_diag(model, loss_fn, loader, method="squared_batch_mean",
                                     n_batches=n_batches)
        return {k: 0.5 * h[k] * w ** 2 for k, w in get_weights(model).items()}'''),
           "courbure = carré du gradient moyen de chaque lot (le code du chapitre)", "test_importance",
           ("sous-estimée", "CHAQUE exemple")),
    Answer(EX, "gradient-moyen", "faux", _imp("compute_gradient_salience(model, loss_fn, loader, n_batches=n_batches)",
                                              'compute_gradient_salience(model, loss_fn, loader, n_batches=n_batches, '
                                              'variant="mean_gradient")'),
           "saillance |w·ḡ| du gradient moyen au lieu de la moyenne par exemple", "test_importance",
           ("saillance de Taylor du cours",)),
    Answer(EX, "n-batches-ignore", "faux", _imp("compute_gradient_salience(model, loss_fn, loader, n_batches=n_batches)",
                                                "compute_gradient_salience(model, loss_fn, loader)"),
           "ne transmet pas n_batches", "test_importance", ("nombre de lots reçu en argument n'est pas transmis",)),
    Answer(EX, "magnitude-signee", "faux", _imp("{name: w.abs() for name, w in get_weights(model).items()}",
                                                "get_weights(model)"),
           "magnitude sans valeur absolue", "test_importance", ("scores négatifs",)),
    Answer(EX, "critere-inconnu-accepte", "faux", _imp('''    else:
        raise ValueError(f"critère inconnu : {criterion} (attendu magnitude, gradient ou hessian)")''',
                                                       '''    return {name: w.abs() for name, w in get_weights(model).items()}'''),
           "un nom inconnu retombe sur la magnitude au lieu de lever une erreur", "test_importance",
           ("ValueError",)),
    Answer(EX, "sans-copie", "faux", _cmp("model = copy.deepcopy(baseline)", "model = baseline"),
           "élague et réentraîne la référence elle-même (le code du chapitre)", "test_comparaison",
           ("a modifié le modèle de référence",)),
    Answer(EX, "une-seule-copie", "faux", _cmp('''    for criterion in criteria:
        model = copy.deepcopy(baseline)''', '''    model = copy.deepcopy(baseline)
    for criterion in criteria:'''),
           "une seule copie pour tous les critères : chacun élague le modèle du précédent", "test_comparaison",
           ("dépend de ceux qui le précèdent",)),
    Answer(EX, "jeu-de-test", "faux", _cmp(_EVAL, '"accuracy": evaluate(model, data.test)'),
           "mesure la précision sur le jeu de test", "test_comparaison", ("jeu de TEST",)),
    Answer(EX, "importance-sur-le-test", "faux", _cmp("DataLoader(data.train.dataset", "DataLoader(data.test.dataset"),
           "calcule les importances sur les exemples de test", "test_comparaison", ("jeu de TEST",)),
    Answer(EX, "sans-reentrainement", "faux", _cmp(_FT, ""),
           "oublie le réentraînement", "test_comparaison", ("pas réentraînés",)),
    Answer(EX, "une-epoque-fixe", "faux", _cmp("epochs=fine_tune_epochs", "epochs=1"),
           "réentraîne toujours une époque, quel que soit fine_tune_epochs", "test_comparaison",
           ("nombre d'époques",)),
    Answer(EX, "reentraine-sur-validation", "faux", _cmp("fine_tune(model, data.train", "fine_tune(model, data.val"),
           "réentraîne sur la validation", "test_comparaison", ("pas réentraînés sur l'entraînement",)),
    Answer(EX, "masques-par-couche", "faux", _cmp("create_masks_from_importance(scores, sparsity)",
                                                  'create_masks_from_importance(scores, sparsity, scope="layer")'),
           "un masque par couche au lieu d'un masque global", "test_comparaison", ("couche par couche",)),
    Answer(EX, "precision-avant-reentrainement", "faux", {**BASE, "comparaison": replace(replace(
        COMPARISON, _FT, "        accuracy = evaluate(model, data.val)\n" + _FT), _EVAL, '"accuracy": accuracy')},
           "mesure la précision juste après l'élagage, avant le réentraînement", "test_comparaison",
           ("modèle réentraîné",)),
    Answer(EX, "pourcentages", "faux", _cmp(_EVAL, '"accuracy": 100 * evaluate(model, data.val)'),
           "précision en pourcentage", "test_comparaison", ("une fraction",)),
    Answer(EX, "appelle-la-bibliotheque", "copie", {**BASE, "comparaison": _LIBRARY_CALL},
           "appelle compare_pruning_criteria de course_lib"),
    Answer(EX, "copie-renommee", "copie", {**BASE, "comparaison": _COPY_IMPORTS + renamed_source(
        comparison.compare_pruning_criteria, _RENAMES) + '''


def compare_criteria(baseline, data, criteria=CRITERIA, sparsity=0.9, fine_tune_epochs=1,
                     n_batches=4, seed=SEED):
    res = comparer(baseline, data.train, data.val, criteria, sparsity, fine_tune_epochs, seed, n_batches=n_batches)
    return {r["criterion"]: {"accuracy": r["accuracy"], "sparsity": r["sparsity"]} for r in res.table}
'''}, "le code de compare_pruning_criteria recopié, identifiants renommés"),
    Answer(EX, "float-menteur", "attaque", {**BASE, "comparaison": _LYING + replace(replace(
        COMPARISON, '''    for criterion in criteria:
        model = copy.deepcopy(baseline)''', '''    model = copy.deepcopy(baseline)
    for criterion in criteria:'''), _EVAL, '"accuracy": Accuracy(evaluate(model, data.val))')},
           "une seule copie (résultats qui dépendent de l'ordre) et des précisions toujours « égales »"),
]
