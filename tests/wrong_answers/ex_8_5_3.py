"""8.5.3 : réponses d'élèves au critère combiné (cellule-réponse ``combinaison``)."""

from __future__ import annotations

import inspect

from course_lib import masks

from . import Answer, replace

EX = "8.5.3"
CELL = "combinaison"

BASE = '''
def normalize_scores(scores):
    peak = max(float(s.max()) for s in scores.values())
    if peak == 0:
        return {k: torch.zeros_like(v) for k, v in scores.items()}
    return {k: v / peak for k, v in scores.items()}


def combined_criterion(magnitude, gradient, alpha=0.5):
    if alpha < 0 or alpha > 1:
        raise ValueError(f"alpha doit être entre 0 et 1 ; reçu {alpha}")
    if magnitude.keys() != gradient.keys():
        raise ValueError("les deux critères n'ont pas les mêmes couches")
    for k in magnitude:
        if magnitude[k].shape != gradient[k].shape:
            raise ValueError(f"formes différentes pour {k}")
    m, g = normalize_scores(magnitude), normalize_scores(gradient)
    return {k: alpha * m[k] + (1 - alpha) * g[k] for k in magnitude}


def combined_masks(model, loss_fn, loader, sparsity, alpha=0.5, n_batches=4):
    weights = get_weights(model)
    magnitude = {k: w.abs() for k, w in weights.items()}
    gradient = compute_gradient_salience(model, loss_fn, loader, n_batches=n_batches)
    return create_masks_from_importance(combined_criterion(magnitude, gradient, alpha), sparsity)
'''


def _mut(old: str, new: str, source: str | None = None) -> dict[str, str]:
    source = BASE if source is None else source
    return {CELL: replace(source, old, new)}


_NORMALIZE = '''    peak = max(float(s.max()) for s in scores.values())
    if peak == 0:
        return {k: torch.zeros_like(v) for k, v in scores.items()}
    return {k: v / peak for k, v in scores.items()}'''
_MASKS = "return create_masks_from_importance(combined_criterion(magnitude, gradient, alpha), sparsity)"
_QUANTILE = '''scores = combined_criterion(magnitude, gradient, alpha)
    threshold = torch.quantile(torch.cat([t.flatten() for t in scores.values()]), sparsity)
    return {k: (t > threshold).float() for k, t in scores.items()}'''
_OWN_SELECTION = '''scores = combined_criterion(magnitude, gradient, alpha)
    names = list(scores)
    flat = torch.cat([scores[k].flatten() for k in names])
    k_remove = round(sparsity * flat.numel())
    order = torch.argsort(flat, stable=True)
    keep = torch.ones_like(flat)
    keep[order[:k_remove]] = 0.0
    result, start = {}, 0
    for k in names:
        size = scores[k].numel()
        result[k] = keep[start:start + size].reshape(scores[k].shape)
        start += size
    return result'''

_LYING_TENSOR = '''
class Scores(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

'''

ANSWERS = [
    Answer(EX, "base", "juste", {CELL: BASE}, "maximum global, |w|, create_masks_from_importance"),
    Answer(EX, "somme-globale", "juste", _mut(_NORMALIZE, '''    total = sum(float(s.sum()) for s in scores.values())
    return {k: (v / total if total > 0 else v * 0) for k, v in scores.items()}'''),
           "normalise par la somme de tous les scores (une autre statistique globale)"),
    Answer(EX, "moyenne-globale-boucles", "juste", _mut(_NORMALIZE, '''    values = torch.cat([s.flatten() for s in scores.values()])
    mean = values.mean()
    out = {}
    for name in scores:
        if mean > 0:
            out[name] = scores[name] / mean
        else:
            out[name] = scores[name].clone()
    return out'''), "normalise par la moyenne globale, avec une boucle"),
    Answer(EX, "selection-maison", "juste", _mut(_MASKS, _OWN_SELECTION),
           "choisit elle-même les k plus petits scores (argsort stable), sans create_masks_from_importance"),
    Answer(EX, "sans-abs", "faux", _mut("magnitude = {k: w.abs() for k, w in weights.items()}",
                                        "magnitude = weights"),
           "oublie abs() : les poids signés servent de magnitude", "test_formes", ("ne dépend pas de son signe",)),
    Answer(EX, "sans-normalisation", "faux", _mut("m, g = normalize_scores(magnitude), normalize_scores(gradient)",
                                                  "m, g = magnitude, gradient"),
           "additionne les deux critères sans les normaliser", "test_formes", ("Échelle", "écrase l'autre")),
    Answer(EX, "maximum-par-couche", "faux", _mut(_NORMALIZE, "    return {k: v / v.max() for k, v in scores.items()}"),
           "normalise chaque couche par son propre maximum", "test_formes",
           ("couche par couche", "statistique globale")),
    Answer(EX, "seuil-quantile", "faux", _mut(_MASKS, _QUANTILE),
           "seuil torch.quantile (le code du chapitre) : faux quand des scores sont égaux", "test_formes",
           ("au lieu de 9", "torch.quantile")),
    Answer(EX, "selection-par-couche", "faux", _mut("alpha), sparsity)", 'alpha), sparsity, scope="layer")'),
           "retire la même part de chaque couche", "test_formes", ("couche par couche au lieu d'un seul classement",)),
    Answer(EX, "alpha-inverse", "faux", _mut("alpha * m[k] + (1 - alpha) * g[k]", "alpha * g[k] + (1 - alpha) * m[k]"),
           "α pondère le gradient au lieu de la magnitude", "test_formes", ("inversés",)),
    Answer(EX, "garde-les-plus-petits", "faux", _mut(_MASKS, '''masks = create_masks_from_importance(combined_criterion(magnitude, gradient, alpha), sparsity)
    return {k: 1 - m for k, m in masks.items()}'''),
           "inverse les masques : retire les poids les plus importants", "test_formes", ("PLUS GRANDE magnitude",)),
    Answer(EX, "pourcentage", "faux", _mut("alpha), sparsity)", "alpha), sparsity * 100)"),
           "passe la sparsité en pourcentage", "test_formes", ("sparsity", "[0, 1)")),
    Answer(EX, "alpha-non-verifie", "faux", _mut('''    if alpha < 0 or alpha > 1:
        raise ValueError(f"alpha doit être entre 0 et 1 ; reçu {alpha}")
''', ""), "accepte α = 1,5", "test_formes", ("ValueError",)),
    Answer(EX, "division-en-place", "faux", _mut(_NORMALIZE, '''    peak = max(float(s.max()) for s in scores.values())
    for v in scores.values():
        v /= peak
    return scores'''), "normalise en place : les tenseurs de l'appelant sont modifiés", "test_formes",
           ("en place",)),
    Answer(EX, "gradient-brut", "faux", _mut("gradient = compute_gradient_salience(model, loss_fn, loader, n_batches=n_batches)",
                                             "gradient = {k: g.abs() for k, g in compute_gradients(model, loss_fn, loader, "
                                             "n_batches=n_batches).items()}",
                                             "from course_lib import compute_gradients\n" + BASE),
           "prend |gradient moyen| au lieu de la saillance de Taylor", "test_formes", ("compute_gradient_salience",)),
    Answer(EX, "selection-recopiee", "copie", _mut(_MASKS, "return choose(combined_criterion(magnitude, gradient, "
                                                           "alpha), sparsity)",
                                                   "import warnings\nfrom collections.abc import Mapping\n\nfrom course_lib._validation import "
                                                   "check_fraction, check_importance\n\n"
                                                   + inspect.getsource(masks._smallest_k_mask).replace(
                                                       "_smallest_k_mask", "smallest")
                                                   + "\n\n" + inspect.getsource(masks.create_masks_from_importance)
                                                   .replace("create_masks_from_importance", "choose")
                                                   .replace("_smallest_k_mask", "smallest") + "\n\n" + BASE),
           "recopie create_masks_from_importance de course_lib sous un autre nom"),
    Answer(EX, "tenseur-menteur", "attaque", _mut("return {k: alpha * m[k] + (1 - alpha) * g[k] for k in magnitude}",
                                                  "return {k: (alpha * magnitude[k] + (1 - alpha) * gradient[k])"
                                                  ".as_subclass(Scores) for k in magnitude}",
                                                  _LYING_TENSOR + BASE),
           "sans normalisation, renvoie des tenseurs dont allclose et equal répondent toujours vrai"),
]
