"""Soumissions fabriquées, pour tester la notation (et pour qu'un enseignant vérifie son barème).

- ``untouched(source)`` : le notebook élève tel que distribué (doit valoir 0) ;
- ``filled(source, answers=None)`` : le notebook élève dont les cellules-réponses reçoivent le
  texte de la source enseignant (doit valoir tous les points), ou ``answers[grade_id]``.
"""

from __future__ import annotations

import copy

from .generate import make_student_notebook


def untouched(source):
    return make_student_notebook(source)


def filled(source, answers: dict[str, str] | None = None):
    release = make_student_notebook(source)
    src = {c.metadata.nbgrader["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
    out = copy.deepcopy(release)
    for cell in out.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if nbg.get("solution"):
            gid = nbg["grade_id"]
            cell.source = answers[gid] if answers and gid in answers else src[gid].source
    return out
