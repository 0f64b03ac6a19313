"""Une soumission qui recopie ``course_lib`` au lieu de répondre : repérée pour l'enseignant.

Les élèves ont la bibliothèque du cours, et certaines de ses fonctions font le travail d'un
exercice (``compare_pruning_criteria`` pour 8.5.1, ``AdaptivePruningScheduler`` pour 8.5.2). Trois
signes, cherchés dans le code des cellules de l'élève sans l'exécuter :

1. **copie** : une fonction, une méthode ou une classe de l'élève dont l'arbre syntaxique
   normalisé ressemble à celui d'une fonction ou d'une classe de ``course_lib`` (hors
   ``grading``). La normalisation efface ce qu'un recopieur change sans effort : les identifiants
   que le code définit lui-même (variables, arguments, attributs de ``self``, noms de fonctions et
   de classes) deviennent ``_``, les chaînes deviennent ``str``, les docstrings et les annotations
   de type disparaissent ; les noms venus d'ailleurs (``torch.cat``, ``evaluate``) restent.
   La ressemblance est ``difflib.SequenceMatcher.ratio`` sur les deux suites de nœuds (parcours
   en profondeur) : 2·M / (n₁ + n₂), M le nombre de nœuds appariés dans l'ordre. Seuil :
   ``THRESHOLD`` ; seules les unités d'au moins ``MIN_NODES`` nœuds sont comparées (une fonction
   de trois lignes ressemble forcément à une autre) ;
2. **enveloppe** : une classe de l'élève qui hérite d'une classe de ``course_lib``, ou un accès
   calculé à un module de ``course_lib`` (``getattr(course_lib, "Adaptive" + ...)``) ;
3. **appel** : le code de l'élève nomme une fonction ou une classe que l'exercice demande
   d'écrire (``FORBIDDEN``).

Rien n'est retiré automatiquement : la soumission reçoit le statut ``a_verifier`` et la raison, en
français, pour que l'enseignant la lise (``grader``).
"""

from __future__ import annotations

import ast
import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .scan import parse, transform

THRESHOLD = 0.85
MIN_NODES = 60

# Ce que chaque exercice demande d'écrire et que course_lib fait déjà.
FORBIDDEN = {
    "8.5.1": ("compare_pruning_criteria", "comparison_table", "criteria_comparison"),
    "8.5.2": ("AdaptivePruningScheduler", "adaptive_pruning"),
    "8.5.3": (),
}
LIBRARY = "course_lib"
SKIPPED_PACKAGES = ("course_lib.grading",)


@dataclass(frozen=True)
class Copy:
    """Un signe de copie : cellule (n° dans le notebook), ligne, ce qui est repéré."""

    cell: int
    line: int
    what: str

    def __str__(self) -> str:
        return f"cellule {self.cell}, ligne {self.line} : {self.what}"


# ----------------------------------------------------------------------------- normalisation

def _is_docstring(node) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(
        node.value.value, str)


def bound_names(node) -> set[str]:
    """Les noms que le code de ``node`` définit lui-même (arguments, variables affectées, fonctions,
    classes, imports) : ceux qu'un recopieur renomme sans rien changer d'autre."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.arg):
            names.add(n.arg)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.alias):
            names.add((n.asname or n.name).split(".")[0])
    return names


def tokens(node) -> list[str]:
    """La suite normalisée des nœuds de ``node`` (voir le module), en profondeur.

    Un nom défini dans ``node`` (``bound_names``) devient ``_``, de même qu'un attribut d'un tel
    nom (``self.pas``) ; un nom venu d'ailleurs (``torch``, ``evaluate``) et un attribut d'autre
    chose (``.kthvalue``) restent : un recopieur ne peut pas les renommer sans changer le code.
    """
    bound = bound_names(node)
    out: list[str] = []

    def walk(n) -> None:
        if isinstance(n, ast.Constant):
            out.append("str" if isinstance(n.value, str) else repr(n.value))
            return
        if isinstance(n, ast.Name):
            out.append("_" if n.id in bound else "N:" + n.id)
            return
        if isinstance(n, (ast.arg, ast.alias)):
            out.append(type(n).__name__)
            return
        if isinstance(n, ast.Attribute):
            own = isinstance(n.value, ast.Name) and n.value.id in bound
            out.append("A_" if own else "A:" + n.attr)
            walk(n.value)
            return
        out.append(type(n).__name__)
        for name, value in ast.iter_fields(n):
            if name in ("annotation", "returns", "type_comment", "ctx"):
                continue
            items = value if isinstance(value, list) else [value]
            if name == "body" and items and _is_docstring(items[0]):
                items = items[1:]
            for item in items:
                if isinstance(item, ast.AST):
                    walk(item)

    walk(node)
    return out


@dataclass(frozen=True)
class Unit:
    """Une fonction, une méthode ou une classe, et sa suite normalisée."""

    name: str       # "course_lib.masks.create_masks_from_importance" ou nom dans la cellule
    kind: str       # "classe" ou "fonction"
    line: int
    tokens: tuple[str, ...]


def units(tree: ast.AST, prefix: str = "") -> list[Unit]:
    """Les classes et les fonctions d'un module (méthodes comprises, nommées ``Classe.méthode``)."""
    found = []
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "classe" if isinstance(node, ast.ClassDef) else "fonction"
            found.append(Unit(prefix + node.name, kind, node.lineno, tuple(tokens(node))))
            if isinstance(node, ast.ClassDef):
                found += units(node, f"{prefix}{node.name}.")
    return found


@lru_cache(maxsize=1)
def library_units() -> tuple[Unit, ...]:
    """Les unités de ``course_lib`` (sauf ``grading``) d'au moins ``MIN_NODES`` nœuds."""
    package = importlib.import_module(LIBRARY)
    found: list[Unit] = []
    for info in pkgutil.walk_packages(package.__path__, LIBRARY + "."):
        if info.name.startswith(SKIPPED_PACKAGES) or info.ispkg and info.name in SKIPPED_PACKAGES:
            continue
        spec = importlib.util.find_spec(info.name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        tree = parse(Path(spec.origin).read_text(encoding="utf-8"))
        found += [u for u in units(tree, info.name + ".") if len(u.tokens) >= MIN_NODES]
    return tuple(found)


def similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """2·M / (n₁ + n₂) : 1 pour deux suites identiques (``difflib``, sans heuristique « junk »)."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < THRESHOLD or matcher.quick_ratio() < THRESHOLD:
        return matcher.real_quick_ratio() if matcher.real_quick_ratio() < THRESHOLD else matcher.quick_ratio()
    return matcher.ratio()


def closest(unit: Unit) -> tuple[float, Unit | None]:
    """L'unité de même genre de ``course_lib`` la plus ressemblante, et la ressemblance."""
    best, where = 0.0, None
    for ref in library_units():
        if ref.kind != unit.kind:
            continue
        score = similarity(unit.tokens, ref.tokens)
        if score > best:
            best, where = score, ref
    return best, where


# ----------------------------------------------------------------------------- enveloppes, appels

def _library_bindings(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(noms liés à un module de course_lib, noms liés à un objet importé de course_lib)."""
    modules, objects = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == LIBRARY:
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == LIBRARY:
            for alias in node.names:
                objects.add(alias.asname or alias.name)
    return modules, objects


def _is_library_class(name: str) -> bool:
    lib = importlib.import_module(LIBRARY)
    return isinstance(getattr(lib, name, None), type)


def wrappers(tree: ast.AST, exercise: str | None) -> list[tuple[int, str]]:
    """Héritage d'une classe de course_lib, accès calculé à course_lib, nom que l'exercice fait écrire."""
    modules, objects = _library_bindings(tree)
    forbidden = set(FORBIDDEN.get(exercise or "", ()))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                via_module = isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and (
                    base.value.id in modules)
                if (name in objects or via_module) and _is_library_class(name):
                    found.append((line, f"la classe {node.name} hérite de {name}, une classe de course_lib"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in modules:
            target = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(target, ast.Constant) and isinstance(target.value, str)
                    and target.value not in forbidden):
                found.append((line, f"accès calculé à un objet de {node.args[0].id} (getattr) : lequel ?"))
        names = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.alias):
            names = [node.name.split(".")[-1]]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        for name in names:
            if name in forbidden:
                found.append((line, f"utilise {name} de course_lib, qui fait ce que l'exercice demande d'écrire"))
    return found


# ----------------------------------------------------------------------------- point d'entrée

def _parse(source: str) -> ast.AST | None:
    try:
        return parse(transform(source))
    except (SyntaxError, ValueError):
        return None


def library_copies(sources: dict[int, str], exercise: str | None = None) -> list[Copy]:
    """``{n° de cellule: texte}`` des cellules de l'élève -> signes de copie de course_lib (en français)."""
    found: list[Copy] = []
    for index, source in sources.items():
        tree = _parse(source)
        if tree is None:
            continue
        for line, what in wrappers(tree, exercise):
            if not any(f.cell == index and f.what == what for f in found):
                found.append(Copy(index, line, what))
        for unit in units(tree):
            if len(unit.tokens) < MIN_NODES:
                continue
            score, ref = closest(unit)
            if ref is not None and score >= THRESHOLD:
                found.append(Copy(index, unit.line, (
                    f"{unit.kind} {unit.name} identique à {round(100 * score)} % au code de {ref.name} "
                    "(identifiants renommés compris) : copie de la bibliothèque du cours ?")))
    return found


def max_similarity(source: str) -> tuple[float, str]:
    """La plus forte ressemblance d'une unité de ``source`` avec course_lib (pour mesurer les faux
    positifs) : ``(ressemblance, "unité ~ unité de course_lib")``."""
    tree = _parse(source)
    best, label = 0.0, ""
    for unit in units(tree) if tree is not None else ():
        if len(unit.tokens) < MIN_NODES:
            continue
        matcher_best, ref = 0.0, None
        for cand in library_units():
            if cand.kind != unit.kind:
                continue
            score = difflib.SequenceMatcher(None, unit.tokens, cand.tokens, autojunk=False).ratio()
            if score > matcher_best:
                matcher_best, ref = score, cand
        if ref is not None and matcher_best > best:
            best, label = matcher_best, f"{unit.name} ~ {ref.name}"
    return best, label
