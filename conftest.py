"""Greffon pytest du dépôt : le texte que les notebooks affichent, vérifié pendant que nbval les exécute.

Après chaque cellule d'un notebook de ``notebooks/`` exécutée par nbval, le texte rendu (sorties,
figures, widgets, et ce qu'affiche chaque démonstration quand on bouge ses contrôles) est relevé
dans le noyau et passé aux règles de ``tests/rendered_text.py`` ; la cellule échoue s'il en
enfreint une. ``COURSE_TEXT_AUDIT=0`` coupe ce relevé (mesures de durée, par exemple) ;
``COURSE_TEXT_AUDIT=all`` l'étend à tout notebook (le test du relevé lui-même).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
AUDITED = (ROOT / "notebooks",)
MODULE = "_course_rendered_text"


def _rules():
    if MODULE not in sys.modules:
        spec = importlib.util.spec_from_file_location(MODULE, ROOT / "tests" / "rendered_text.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[MODULE]


def _audited(item) -> bool:
    """Une cellule d'un notebook de ``notebooks/`` (``COURSE_TEXT_AUDIT=all`` : de tout notebook)."""
    setting = os.environ.get("COURSE_TEXT_AUDIT", "1")
    return (type(item).__name__ == "IPyNbCell" and setting != "0"
            and (setting == "all" or any(Path(str(item.fspath)).is_relative_to(d) for d in AUDITED)))


def _run_in_kernel(item, code: str) -> None:
    kernel = item.parent.kernel
    msg_id = kernel.execute_cell_input(code, allow_stdin=False)
    kernel.await_reply(msg_id, timeout=item.config.option.nbval_cell_timeout)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    result = yield
    if _audited(item) and not getattr(item.parent, "_text_audit", None):
        path = Path(tempfile.mkdtemp(prefix="course-text-")) / "records.json"
        item.parent._text_audit = path
        _run_in_kernel(item, (
            "def _course_audit_install():\n"
            "    import importlib.util, sys\n"
            f"    spec = importlib.util.spec_from_file_location({MODULE!r}, {str(ROOT / 'tests' / 'rendered_text.py')!r})\n"
            "    module = importlib.util.module_from_spec(spec)\n"
            f"    sys.modules[{MODULE!r}] = module\n"
            "    spec.loader.exec_module(module)\n"
            f"    module.install({str(path)!r})\n"
            "_course_audit_install()\n"
            "del _course_audit_install\n"))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    if _audited(item) and getattr(item.parent, "_text_audit", None):
        _check(item)
    return result


def _check(item) -> None:
    rules = _rules()
    path = item.parent._text_audit
    path.unlink(missing_ok=True)
    _run_in_kernel(item, f"__import__('sys').modules[{MODULE!r}].after_cell()")
    report = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"error": "aucun relevé écrit"}
    if report.get("error"):
        raise AssertionError(f"relevé du texte affiché impossible :\n{report['error']}")
    shown = [(what, rules.remove_code(text, report["code"])) for what, text in rules.output_texts(item.test_outputs)]
    shown += [(f"{r['where']}, {r['kind']}", r["text"]) for r in report["records"]]
    found = []
    for what, text in shown:
        for problem in rules.stderr_problems(what, text) or rules.problems(text):
            excerpt = " ".join(text.split())[:160]
            found.append(f"  {what} : {problem}\n      dans « {excerpt} »")
    if found:
        from nbval.plugin import NbCellError

        found = list(dict.fromkeys(found))
        raise NbCellError(item.cell_num, f"texte affiché à corriger ({len(found)}) :\n" + "\n".join(found),
                          item.cell.source)
