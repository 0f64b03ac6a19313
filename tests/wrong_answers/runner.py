"""Les tests visibles d'un notebook élève, exécutés dans ce processus avec d'autres réponses.

Les cellules du notebook distribué (``notebooks/exercices/``) sont exécutées dans l'ordre dans un
espace de noms neuf : la mise en place (une fois par exercice, puis copiée), les cellules-réponses
(remplacées par le texte de l'élève), les autres cellules et les cellules de tests, jusqu'à la
dernière cellule de tests visibles. Comme dans Jupyter, une cellule qui lève n'arrête pas les
suivantes. ``inspect.getsource`` fonctionne sur le code des cellules (``linecache``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import linecache
import warnings
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
_SETUP: dict[str, dict] = {}
_NOTEBOOKS: dict[str, object] = {}
MUTABLE = ("baseline", "reference_state")  # ce qu'une réponse fautive peut modifier


def student_notebook(ex_id: str, folder: str = "notebooks/exercices"):
    """Le notebook distribué (ou, avec ``folder="solutions"``, la source enseignant)."""
    if (ex_id, folder) not in _NOTEBOOKS:
        path = next((ROOT / folder).glob(f"ex_{ex_id.replace('.', '_')}_*.ipynb"))
        _NOTEBOOKS[ex_id, folder] = nbformat.read(path, as_version=4)
    return _NOTEBOOKS[ex_id, folder]


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def visible_tests(ex_id: str) -> list[str]:
    """Les cellules notées du notebook élève qui contiennent des tests (les autres sont cachées)."""
    return [_nbg(c)["grade_id"] for c in student_notebook(ex_id).cells
            if _nbg(c).get("grade") and not _nbg(c).get("solution") and "assert" in c.source]


def _exec(code: str, ns: dict, name: str) -> None:
    filename = f"<{name}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    exec(compile(code, filename, "exec", dont_inherit=True), ns)  # noqa: S102  (comme le noyau)


def _setup(ex_id: str) -> dict:
    if ex_id not in _SETUP:
        ns: dict = {"__name__": "__main__"}
        for i, c in enumerate(student_notebook(ex_id).cells):
            if _nbg(c).get("solution"):
                break
            if c.cell_type == "code":
                with contextlib.redirect_stdout(io.StringIO()):
                    _exec(c.source, ns, f"{ex_id} cellule {i}")
        _SETUP[ex_id] = ns
    return _SETUP[ex_id]


def run_visible(ex_id: str, cells: dict[str, str], folder: str = "notebooks/exercices") -> dict[str, str]:
    """``{cellule: message}`` des cellules qui lèvent, jusqu'à la dernière cellule de tests visibles.

    Une cellule de tests est nommée par son ``grade_id`` ; une autre par « cellule n ». Avec
    ``folder="solutions"``, les cellules de la source enseignant, tests cachés compris, jusqu'au bout
    (pour mettre au point les tests cachés sans lancer le correcteur).
    """
    ns = dict(_setup(ex_id))
    for key in MUTABLE:
        if key in ns:
            ns[key] = copy.deepcopy(ns[key])
    last = visible_tests(ex_id)[-1] if folder != "solutions" else None
    failures: dict[str, str] = {}
    started = False
    for i, c in enumerate(student_notebook(ex_id, folder).cells):
        nbg = _nbg(c)
        started = started or bool(nbg.get("solution"))
        if not started or c.cell_type != "code":
            continue
        gid = nbg.get("grade_id")
        code = cells.get(gid, c.source) if nbg.get("solution") else c.source
        label = gid if nbg.get("grade") and not nbg.get("solution") else f"cellule {i}"
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _exec(code, ns, f"{ex_id} {label}")
        except Exception as err:  # noqa: BLE001  (comme Jupyter : on note et on continue)
            failures[label] = f"{type(err).__name__}: {err}"
        if last is not None and gid == last:
            break
    return failures
