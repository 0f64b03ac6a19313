"""Analyse statique des cellules de l'élève : ce qui atteint la machinerie de notation.

Le bac à sable (``sandbox``) protège la machine ; la remise en état d'IPython avant chaque test
(``kernel_launcher``) protège la note contre les crochets connus. Ce qui resterait possible dans
le même processus (remplacer une méthode du noyau, lire les cadres d'exécution, réécrire une
fonction d'une bibliothèque utilisée par les tests...) passe par des constructions qu'un
exercice de ce cours n'emploie pas : une cellule qui en contient est signalée (statut
``a_verifier``, note conservée) pour qu'un humain la lise. Faux positifs possibles, jamais de
point retiré automatiquement.

L'analyse porte sur le code tel qu'IPython l'exécute (``TransformerManager.transform_cell`` :
``%magie`` et ``!commande`` deviennent des appels à ``get_ipython()``).
"""

from __future__ import annotations

import ast
import builtins
import threading
from dataclasses import dataclass

# Noms (variables, attributs, modules importés) et ce qu'ils permettent.
NAMES = {
    "get_ipython": "accès au shell IPython", "IPython": "accès au shell IPython",
    "ipykernel": "accès au noyau", "InteractiveShell": "accès au shell IPython",
    "input_transformers_cleanup": "transformateur d'entrée IPython",
    "input_transformers_post": "transformateur d'entrée IPython",
    "ast_transformers": "transformateur d'AST IPython", "set_custom_exc": "gestion d'erreurs IPython",
    "showtraceback": "affichage des erreurs IPython", "showsyntaxerror": "affichage des erreurs IPython",
    "CustomTB": "affichage des erreurs IPython", "excepthook": "affichage des erreurs",
    "displayhook": "affichage des résultats", "settrace": "traçage (sys.settrace)",
    "setprofile": "profilage (sys.setprofile)", "_getframe": "cadres d'exécution",
    "_current_frames": "cadres d'exécution", "f_back": "cadres d'exécution",
    "f_globals": "cadres d'exécution", "f_locals": "cadres d'exécution",
    "currentframe": "cadres d'exécution", "builtins": "fonctions intégrées",
    "__builtins__": "fonctions intégrées", "__import__": "import dynamique",
    "importlib": "import dynamique", "meta_path": "crochet d'import", "path_hooks": "crochet d'import",
    "sys.modules": "table des modules (sys.modules)", "ctypes": "ctypes (mémoire et libc)",
    "cffi": "cffi (libc)", "mmap": "mémoire partagée", "subprocess": "processus",
    "multiprocessing": "processus", "pty": "processus", "os.system": "processus",
    "os.popen": "processus", "os.fork": "processus", "os.forkpty": "processus",
    "os.posix_spawn": "processus", "os.posix_spawnp": "processus", "os.kill": "signal",
    "os.killpg": "signal", "signal": "signaux", "os.open": "fichier bas niveau (os.open)",
    "os.openpty": "processus", "dir_fd": "fichier relatif à un descripteur (dir_fd)",
    "threading": "fil d'exécution", "_thread": "fil d'exécution", "gc": "ramasse-miettes (gc)",
    "__subclasses__": "introspection", "__globals__": "introspection", "__code__": "introspection",
    "__closure__": "introspection", "__class__": "introspection", "__bases__": "introspection",
    "__mro__": "introspection", "__dict__": "introspection", "__setattr__": "introspection",
    "globals": "espace de noms global", "vars": "espace de noms", "nbformat": "lecture de notebooks",
    "nbgrader": "outil de notation", "nbclient": "outil de notation", "zmq": "messagerie du noyau",
    "socket": "réseau", "course_grade": "outil de notation", "atexit": "fin du processus",
    "exec": "exécution de texte (exec)", "eval": "exécution de texte (eval)",
    "compile": "exécution de texte (compile)", "breakpoint": "débogueur", "pdb": "débogueur",
    "chmod": "droits des fichiers (chmod)", "sys.stdout": "sortie standard", "sys.stderr": "sortie d'erreur", "inspect": "introspection",
}
# Ceux-ci ne sont signalés que comme noms nus (``model.eval()`` ou ``torch.compile`` sont permis).
NAME_ONLY = {"exec", "eval", "compile", "globals", "vars", "breakpoint", "signal", "inspect"}
# Noms de fonctions intégrées qu'un élève honnête prend pour ses variables (``next``, ``id``...) et
# dont aucun test ne se sert : les redéfinir n'est pas signalé (le noyau masque de toute façon,
# pendant un test, les variables globales de l'élève qui portent le nom d'une fonction intégrée).
HARMLESS_BUILTINS = {"next", "id", "input", "filter", "format", "iter", "hash", "dir", "help",
                     "object", "license", "credits", "copyright", "exit", "quit", "slice", "bin",
                     "oct", "hex", "open", "print", "property", "map", "type", "super", "ascii"}
_BUILTIN_NAMES = set(dir(builtins)) - {"_", "__name__", "__doc__"} - HARMLESS_BUILTINS
# ``x.__class__`` n'est signalé que s'il sert à modifier une classe ou la classe d'un objet
# (``x.__class__ = Menteur``, ``x.__class__.__eq__ = ...``) : ``self.__class__.__name__`` est permis.
READ_ONLY_OK = {"__class__"}


@dataclass(frozen=True)
class Finding:
    """Une construction signalée : cellule (n° dans le notebook), ligne, ce que c'est."""

    cell: int
    line: int
    what: str
    why: str

    def __str__(self) -> str:
        return f"cellule {self.cell}, ligne {self.line} : {self.what} ({self.why})"


# CPython 3.11 : ``ast.parse`` et ``compile`` rangent la profondeur de leur constructeur d'arbre dans
# un état partagé par tous les fils ; course-grade note plusieurs copies à la fois dans des fils, et
# deux analyses entrelacées y lèvent « SystemError: AST constructor recursion depth mismatch »
# (cpython#106905). Toute analyse de code du processus de notation passe par ce verrou.
_PARSE_LOCK = threading.Lock()


def parse(source: str) -> ast.Module:
    """``ast.parse(source)``, un fil à la fois (voir ``_PARSE_LOCK``)."""
    with _PARSE_LOCK:
        return ast.parse(source)


def transform(source: str) -> str:
    """Le code qu'IPython exécuterait pour ce texte de cellule."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


class _Visitor(ast.NodeVisitor):
    def __init__(self, cell: int):
        self.cell = cell
        self.found: list[Finding] = []
        self.modules: set[str] = set()

    def flag(self, node, what: str, why: str) -> None:
        self.found.append(Finding(self.cell, getattr(node, "lineno", 0), what, why))

    def _name(self, node, name: str, bare: bool = True) -> None:
        if name in NAMES and (bare or name not in NAME_ONLY):
            self.flag(node, name, NAMES[name])

    depth = 0  # > 0 dans une fonction ou une classe : les noms y sont locaux

    def visit_Name(self, node):
        self._name(node, node.id)
        if isinstance(node.ctx, ast.Store) and node.id in _BUILTIN_NAMES and not self.depth:
            self.flag(node, node.id, "redéfinit une fonction intégrée utilisée par les tests")

    def visit_Attribute(self, node):
        base = node.value.id if isinstance(node.value, ast.Name) else ""
        writes = isinstance(node.ctx, (ast.Store, ast.Del))
        if node.attr in READ_ONLY_OK and not writes:
            pass
        else:
            self._name(node, f"{base}.{node.attr}" if f"{base}.{node.attr}" in NAMES else node.attr,
                       bare=False)
        if writes and isinstance(node.value, ast.Attribute) and node.value.attr in READ_ONLY_OK:
            self.flag(node, f"....{node.value.attr}.{node.attr} = ...", "modifie une classe")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and base in self.modules:
            self.flag(node, f"{base}.{node.attr} = ...", "modifie une bibliothèque utilisée par les tests")
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self._name(node, alias.name.split(".")[0])
            self.modules.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node):
        root = (node.module or "").split(".")[0]
        self._name(node, root)
        for alias in node.names:
            self._name(node, f"{root}.{alias.name}" if f"{root}.{alias.name}" in NAMES else alias.name)
            self.modules.add(alias.asname or alias.name)

    def visit_FunctionDef(self, node):
        if node.name in _BUILTIN_NAMES and not self.depth:
            self.flag(node, node.name, "redéfinit une fonction intégrée utilisée par les tests")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_ClassDef(self, node):
        if node.name in _BUILTIN_NAMES and not self.depth:
            self.flag(node, node.name, "redéfinit un type intégré utilisé par les tests")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_keyword(self, node):
        if node.arg in NAMES:
            self._name(node, node.arg)
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and (".ipynb" in node.value or "solutions" in node.value):
            self.flag(node, repr(node.value[:40]), "chemin de notebook ou de solutions")

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") and node.args:
            target = node.args[0]
            if isinstance(target, ast.Name) and target.id in self.modules:
                self.flag(node, f"{node.func.id}({target.id}, ...)",
                          "modifie une bibliothèque utilisée par les tests")
            if isinstance(target, ast.Attribute) and target.attr in READ_ONLY_OK or (
                    isinstance(target, ast.Call) and isinstance(target.func, ast.Name)
                    and target.func.id == "type"):
                self.flag(node, f"{node.func.id}(type(...), ...)", "modifie une classe")
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and \
                    node.args[1].value in READ_ONLY_OK:
                self.flag(node, f"{node.func.id}(..., '__class__', ...)", "change la classe d'un objet")
        self.generic_visit(node)


def scan_source(source: str, cell: int = 0) -> list[Finding]:
    """Constructions signalées dans le texte d'une cellule (``[]`` si elle ne se compile pas :
    l'erreur de syntaxe est rapportée ailleurs)."""
    try:
        tree = parse(transform(source))
    except (SyntaxError, ValueError):
        return []
    visitor = _Visitor(cell)
    visitor.visit(tree)
    return visitor.found


def scan_cells(sources: dict[int, str]) -> list[Finding]:
    """``{n° de cellule: texte}`` -> constructions signalées, dans l'ordre, sans doublon."""
    found: list[Finding] = []
    modules: set[str] = set()
    for index, source in sources.items():
        try:
            tree = parse(transform(source))
        except (SyntaxError, ValueError):
            continue
        visitor = _Visitor(index)
        visitor.modules = modules  # un module importé dans une cellule l'est pour les suivantes
        visitor.visit(tree)
        found.extend(f for f in visitor.found if f not in found)
    return found


_SYNTAX_FR = [  # début du message de Python -> explication en français
    ("invalid syntax", "syntaxe invalide"),
    ("expected ':'", "« : » attendu (après if, for, def, class...)"),
    ("unexpected indent", "indentation inattendue"),
    ("expected an indented block", "bloc indenté attendu"),
    ("unindent does not match", "la désindentation ne correspond à aucun niveau au-dessus"),
    ("unterminated string literal", "chaîne de caractères non fermée"),
    ("unterminated triple-quoted string", "chaîne entre triples guillemets non fermée"),
    ("was never closed", "parenthèse, crochet ou accolade jamais fermé"),
    ("unmatched", "parenthèse, crochet ou accolade fermant sans ouvrant"),
    ("does not match opening parenthesis", "la fermante ne correspond pas à l'ouvrante"),
    ("invalid decimal literal", "nombre mal écrit"),
    ("cannot assign to", "affectation impossible à cette expression"),
    ("inconsistent use of tabs and spaces", "tabulations et espaces mélangés dans l'indentation"),
    ("'return' outside function", "« return » hors d'une fonction"),
    ("Perhaps you forgot a comma", "virgule oubliée ?"),
    ("invalid character", "caractère invalide"),
    ("EOL while scanning", "chaîne de caractères non fermée"),
    ("unexpected EOF", "fin de cellule inattendue (bloc ou parenthèse non terminé)"),
]


def syntax_error_fr(message: str) -> str:
    """``"SyntaxError: expected ':'"`` -> une explication en français, l'original entre
    parenthèses (tronqué : il peut citer du code de l'élève)."""
    kind, _, detail = message.partition(": ")
    for start, french in _SYNTAX_FR:
        if start in detail:
            return f"{french} ({kind} : {detail[:80]})"
    return f"erreur de syntaxe ({kind} : {detail[:80]})"


def syntax_error(source: str) -> tuple[int, str] | None:
    """``(ligne, message)`` si la cellule ne se compile pas (code tel qu'IPython l'exécute)."""
    try:
        code = transform(source)
        with _PARSE_LOCK:
            compile(code, "<cellule>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc.lineno or 0, f"{type(exc).__name__}: {exc.msg}"
    except (ValueError, TypeError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"
    return None
