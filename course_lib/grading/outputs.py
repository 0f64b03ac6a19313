"""Lire un notebook exécuté : la dernière ligne d'une erreur, la première erreur de l'élève."""

from __future__ import annotations

import re

from .prepare import ROLE_ANSWER, ROLE_STUDENT, role

STUDENT_ROLES = (ROLE_ANSWER, ROLE_STUDENT)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_WHERE = re.compile(r"In\s*\[(\d+)\],\s*line (\d+)")


def short(text: str, limit: int = 200) -> str:
    """Au plus ``limit`` caractères (texte venu du code de l'élève : message d'exception...)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def code_number(nb, index: int) -> int:
    """N° de la cellule ``index`` parmi les cellules de CODE, compté à partir de 1 (ce que
    l'élève voit dans son notebook, cellules de texte non comptées)."""
    return 1 + sum(c.cell_type == "code" for c in nb.cells[:index])


def last_line(text: str) -> str:
    lines = [s for s in str(text).strip().splitlines() if s.strip()]
    return lines[-1].strip() if lines else ""


def error_output(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out
    return None


def error_line(cell) -> str:
    """Pourquoi une cellule de test a échoué : la dernière ligne de l'erreur (ou de stderr)."""
    out = error_output(cell)
    if out is not None:
        ename, evalue = out.get("ename", "Erreur"), last_line(out.get("evalue", ""))
        if ename == "NotImplementedError" and not evalue:
            return "NotImplementedError : réponse pas encore écrite"
        return short(f"{ename}: {evalue}" if evalue else ename, 4000)  # ``Context.limit`` suit
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return f"sortie d'erreur (stderr) : {short(last_line(out.get('text', '')))}"
    return ""


def first_student_error(nb, cell_timeout: float) -> str:
    """Première erreur levée par une cellule de l'élève : type, message (``short``), cellule de
    code (n° à partir de 1) et ligne."""
    counts = {c.get("execution_count"): i for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or role(cell) not in STUDENT_ROLES:
            continue
        out = error_output(cell)
        if out is None:
            continue
        ename, evalue = out.get("ename", "Erreur"), last_line(out.get("evalue", ""))
        if ename == "NotImplementedError" and not evalue:
            continue  # amorce « VOTRE CODE ICI » : signalée par le statut vide et par les tests
        if ename == "KeyboardInterrupt":
            return (f"cellule de code n° {code_number(nb, index)} interrompue après {cell_timeout:g} s "
                    "(délai par cellule dépassé : boucle infinie ?)")
        where = _WHERE.findall(_ANSI.sub("", "\n".join(out.get("traceback", []))))
        if where:
            count, line = where[-1]
            index = counts.get(int(count), index)
            place = f"cellule de code n° {code_number(nb, index)}, ligne {line}"
        else:
            place = f"cellule de code n° {code_number(nb, index)}"
        return f"{short(ename, 60)}: {short(evalue)} ({place})" if evalue else f"{short(ename, 60)} ({place})"
    return ""
