"""8.5.2 : réponses d'élèves à la classe ``AdaptiveScheduler`` (cellule-réponse ``scheduler``)."""

from __future__ import annotations

import ast
import inspect

from conftest import CHAPTER_SCHEDULER

from course_lib.scheduling import adaptive

from . import Answer, replace

EX = "8.5.2"
CELL = "scheduler"

# Une réponse juste, écrite comme un élève l'écrirait (pas le texte de la solution).
BASE = '''
class AdaptiveScheduler:
    def __init__(self, initial_sparsity=0.0, target_sparsity=0.9, max_accuracy_drop=0.02, slowdown=0.5):
        if not 0 <= initial_sparsity <= target_sparsity < 1:
            raise ValueError("Il faut 0 <= initial_sparsity <= target_sparsity < 1.")
        if not 0 < slowdown < 1:
            raise ValueError("slowdown doit être strictement entre 0 et 1.")
        self.current_sparsity = float(initial_sparsity)
        self.target_sparsity = float(target_sparsity)
        self.max_accuracy_drop = max_accuracy_drop
        self.slowdown = slowdown
        self.increment = (target_sparsity - initial_sparsity) / 10
        self.baseline_accuracy = None

    def should_prune_more(self, current_accuracy):
        if self.baseline_accuracy is None:
            self.baseline_accuracy = current_accuracy
            return True
        return self.baseline_accuracy - current_accuracy <= self.max_accuracy_drop + 1e-12

    def get_next_sparsity(self, current_accuracy):
        if not self.should_prune_more(current_accuracy):
            self.increment = self.increment * self.slowdown
        nxt = self.current_sparsity + self.increment
        if nxt >= self.target_sparsity - 1e-9:
            nxt = self.target_sparsity
        self.current_sparsity = nxt
        return self.current_sparsity
'''


def _mut(old: str, new: str) -> dict[str, str]:
    return {CELL: replace(BASE, old, new)}


_STEP = '''        if not self.should_prune_more(current_accuracy):
            self.increment = self.increment * self.slowdown
        nxt = self.current_sparsity + self.increment'''
_BUDGET = "return self.baseline_accuracy - current_accuracy <= self.max_accuracy_drop + 1e-12"
_CAP = '''        if nxt >= self.target_sparsity - 1e-9:
            nxt = self.target_sparsity
'''

# Le code de course_lib, identifiants renommés comme le ferait un élève qui recopie.
_RENAMES = {"AdaptivePruningScheduler": "AdaptiveScheduler", "increment": "pas", "base_increment": "pas_initial",
            "current_sparsity": "current_sparsity", "refused_sparsity": "plafond", "last_good_sparsity": "dernier_bon",
            "violations": "depassements", "needs_rollback": "a_restaurer", "finished": "fini", "history": "journal",
            "good_masks": "bons_masques", "ok": "dans_le_budget", "nxt": "suivante", "gap": "ecart",
            "acc": "precision", "refused": "refusee", "step": "get_next_sparsity"}


class _Rename(ast.NodeTransformer):
    def __init__(self, names):
        self.names = names

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        node.attr = self.names.get(node.attr, node.attr)
        return node

    def visit_arg(self, node):
        node.arg = self.names.get(node.arg, node.arg)
        return node

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        node.name = self.names.get(node.name, node.name)
        return node

    def visit_ClassDef(self, node):
        self.generic_visit(node)
        node.name = self.names.get(node.name, node.name)
        return node


def renamed_source(obj, names: dict[str, str]) -> str:
    """Le code de ``obj`` (une classe ou une fonction de course_lib), docstrings retirées et
    identifiants renommés : ce que rend un élève qui recopie la bibliothèque en la maquillant."""
    tree = ast.parse(inspect.getsource(obj))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(_Rename(names).visit(tree))


_COPY_IMPORTS = '''from course_lib._validation import (check_accuracy, check_bool, check_criterion, check_fraction,
                                   check_model, check_positive_int, check_real, check_scope)
from course_lib.fr import num, pct
from course_lib.masks import get_masks, set_masks
from course_lib.scheduling.base import EPS, BaseScheduler, make_criterion, masked_sparsity, prune_to

'''

_LYING_FLOAT = '''
class Sparsity(float):
    def __lt__(self, other):
        return True

    __le__ = __gt__ = __ge__ = __eq__ = __lt__

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__

    def __sub__(self, other):
        return Sparsity(float(self) - float(other))

    def __rsub__(self, other):
        return Sparsity(float(other) - float(self))

    def __abs__(self):
        return Sparsity(abs(float(self)))

'''

ANSWERS = [
    Answer(EX, "base", "juste", {CELL: BASE}, "la règle de l'énoncé, écrite par un élève"),
    Answer(EX, "min-sans-tolerance", "juste", _mut(_CAP, "        nxt = min(nxt, self.target_sparsity)\n"),
           "plafonne avec min() sans tolérance : la cible arrive un appel plus tard, exactement"),
    Answer(EX, "compteur-de-ralentissements", "juste", _mut(_STEP, '''        if not self.should_prune_more(current_accuracy):
            self.slowdowns = getattr(self, "slowdowns", 0) + 1
        pas = (self.target_sparsity - float(self.first)) / 10 * self.slowdown ** getattr(self, "slowdowns", 0)
        nxt = self.current_sparsity + pas''') | {CELL: replace(replace(BASE, _STEP, '''        if not self.should_prune_more(current_accuracy):
            self.slowdowns += 1
        pas = (self.target_sparsity - self.first) / 10 * self.slowdown ** self.slowdowns
        nxt = self.current_sparsity + pas'''), "self.baseline_accuracy = None\n", "self.baseline_accuracy = None\n"
        "        self.first = float(initial_sparsity)\n        self.slowdowns = 0\n")},
           "garde le nombre de ralentissements et recalcule le pas δ₀·ρⁿ"),
    Answer(EX, "budget-en-if", "juste", _mut(_BUDGET, '''drop = self.baseline_accuracy - current_accuracy
        if drop > self.max_accuracy_drop + 1e-12:
            return False
        return True'''), "le budget écrit avec un if et deux return"),
    Answer(EX, "regle-du-chapitre", "faux", {CELL: CHAPTER_SCHEDULER},
           "le code du chapitre : pas (cible − s)/10, puis la moitié du chemin restant après une chute",
           "test_interface", ("ne l'atteint jamais", "il faut ralentir", "c'est accélérer")),
    Answer(EX, "pas-double", "faux", _mut("self.increment * self.slowdown", "self.increment * 2"),
           "double le pas après une chute", "test_interface", ("il faut ralentir",)),
    Answer(EX, "pas-proportionnel", "faux", _mut("nxt = self.current_sparsity + self.increment",
                                                   "nxt = self.current_sparsity + (self.target_sparsity - "
                                                   "self.current_sparsity) / 10"),
           "pas proportionnel à la distance restante", "test_interface", ("ne l'atteint jamais",)),
    Answer(EX, "depasse-la-cible", "faux", _mut(_CAP, ""),
           "ne plafonne pas : le dernier pas dépasse la cible", "test_interface", ("au-delà de la cible",)),
    Answer(EX, "ralentit-un-appel", "faux", _mut(_STEP, '''        pas = self.increment
        if not self.should_prune_more(current_accuracy):
            pas = self.increment * self.slowdown
        nxt = self.current_sparsity + pas'''),
           "ne réduit le pas que pour l'appel du dépassement", "test_interface", ("ne dure qu'un appel",)),
    Answer(EX, "budget-relatif", "faux", _mut(_BUDGET, "return (self.baseline_accuracy - current_accuracy) / "
                                                 "self.baseline_accuracy <= self.max_accuracy_drop"),
           "budget relatif (a₀ − a)/a₀ au lieu de points absolus", "test_interface", ("baisse relative",)),
    Answer(EX, "budget-strict", "faux", _mut(_BUDGET, "return self.baseline_accuracy - current_accuracy < "
                                                 "self.max_accuracy_drop"),
           "« < » au lieu de « ≤ » (le code du chapitre)", "test_interface", ("égalité comprise",)),
    Answer(EX, "reference-glissante", "faux", _mut(_BUDGET, '''ok = self.baseline_accuracy - current_accuracy <= self.max_accuracy_drop + 1e-12
        self.baseline_accuracy = current_accuracy
        return ok'''), "compare à la mesure précédente au lieu du premier appel", "test_interface",
           ("PREMIER appel",)),
    Answer(EX, "pas-sans-initiale", "faux", _mut("(target_sparsity - initial_sparsity) / 10",
                                                 "target_sparsity / 10"),
           "pas initial cible/10, sans retirer la sparsité initiale", "test_interface", ("sparsité initiale",)),
    Answer(EX, "premier-appel-immobile", "faux", _mut('''    def get_next_sparsity(self, current_accuracy):
''', '''    def get_next_sparsity(self, current_accuracy):
        if self.baseline_accuracy is None:
            self.should_prune_more(current_accuracy)
            return self.current_sparsity
'''), "le premier appel renvoie la sparsité initiale sans avancer", "test_interface",
           ("premier appel avance",)),
    Answer(EX, "recule-apres-chute", "faux", _mut(_STEP, '''        if not self.should_prune_more(current_accuracy):
            self.current_sparsity -= self.increment
            self.increment = self.increment * self.slowdown
        nxt = self.current_sparsity + self.increment'''),
           "recule d'un pas après une chute, puis repart avec un pas réduit", "test_interface", ("DIMINUE",)),
    Answer(EX, "slowdown-fixe", "faux", _mut("self.increment * self.slowdown", "self.increment * 0.5"),
           "ralentit toujours d'un facteur 0,5, sans lire slowdown", "test_interface",
           ("reçu par le constructeur",)),
    Answer(EX, "pourcentages", "faux", _mut("        return self.current_sparsity\n",
                                            "        return self.current_sparsity * 100\n"),
           "renvoie la sparsité en pourcentage", "test_interface", ("pas un pourcentage",)),
    Answer(EX, "sans-verifications", "faux", _mut('''        if not 0 <= initial_sparsity <= target_sparsity < 1:
            raise ValueError("Il faut 0 <= initial_sparsity <= target_sparsity < 1.")
        if not 0 < slowdown < 1:
            raise ValueError("slowdown doit être strictement entre 0 et 1.")
''', ""), "accepte une cible sous la sparsité initiale, ou slowdown = 1,5", "test_interface",
           ("ValueError",)),
    Answer(EX, "sous-classe", "copie", {CELL: '''from course_lib import AdaptivePruningScheduler


class AdaptiveScheduler(AdaptivePruningScheduler):
    pass
'''}, "hérite de la classe de course_lib"),
    Answer(EX, "enveloppe", "copie", {CELL: '''import course_lib


class AdaptiveScheduler:
    def __init__(self, initial_sparsity=0.0, target_sparsity=0.9, max_accuracy_drop=0.02, slowdown=0.5):
        self.inner = getattr(course_lib, "Adaptive" + "PruningScheduler")(
            initial_sparsity, target_sparsity, max_accuracy_drop, slowdown=slowdown, min_increment=0)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def should_prune_more(self, current_accuracy):
        return self.inner.should_prune_more(current_accuracy)

    def get_next_sparsity(self, current_accuracy):
        return self.inner.step(current_accuracy)
'''}, "enveloppe la classe de course_lib, obtenue par un nom calculé"),
    Answer(EX, "copie-renommee", "copie",
           {CELL: _COPY_IMPORTS + renamed_source(adaptive.AdaptivePruningScheduler, _RENAMES)},
           "le code d'AdaptivePruningScheduler recopié, docstrings retirées, identifiants renommés"),
    Answer(EX, "float-menteur", "attaque", {CELL: _LYING_FLOAT + replace(
        CHAPTER_SCHEDULER, "        return self.current_sparsity\n", "        return Sparsity(self.current_sparsity)\n")},
           "la règle du chapitre, qui renvoie un float dont les comparaisons sont toujours vraies"),
]
