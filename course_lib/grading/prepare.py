"""Préparer une soumission pour l'exécution, comme ``nbgrader autograde`` (OverwriteCells).

- Les cellules de test et les cellules verrouillées reprennent le texte de la source enseignant
  (tests cachés compris) ; une modification par l'élève est détectée avec les sommes de contrôle de
  nbgrader (``nbgrader.utils.compute_checksum``) comparées à celles du notebook élève de référence,
  fabriqué par ``generate`` : on ne fait jamais confiance aux métadonnées de la soumission.
- Les cellules-réponses gardent le texte de l'élève ; métadonnées nbgrader reprises de la référence.
- Un ``grade_id`` présent deux fois : seule la première cellule compte (``DeduplicateIds``).
- Une cellule de test absente n'est pas remise (comme nbgrader par défaut) : 0 point. Elle peut
  avoir été supprimée, ou être là sans ses métadonnées nbgrader (cellules copiées dans un autre
  notebook, éditeur qui ne les garde pas) : ``Prepared.unmarked`` distingue ce second cas.
- Chaque cellule reçoit ``metadata["course_grade"]["role"]`` : ``test`` (cellule de test, texte de
  la source), ``verrouillee`` (autre cellule verrouillée), ``reponse`` (cellule-réponse) ou
  ``eleve`` (toute autre cellule, modifiable par l'élève) ; ``worker`` exécute les tests à part,
  ``scan`` et le retour à l'élève regardent les cellules de l'élève.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat
from nbgrader.utils import compute_checksum, is_grade, is_locked, is_solution

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
ROLE_TEST, ROLE_ANSWER, ROLE_LOCKED, ROLE_STUDENT = "test", "reponse", "verrouillee", "eleve"


@dataclass
class Prepared:
    """Le notebook à exécuter et ce que la préparation a remarqué."""

    nb: object
    edited: list[str] = field(default_factory=list)    # cellules verrouillées modifiées (remplacées)
    missing: list[str] = field(default_factory=list)   # cellules notées absentes de la soumission
    unmarked: list[str] = field(default_factory=list)  # ... dont le texte est là, sans métadonnées
    duplicates: list[str] = field(default_factory=list)


def read_submission(data: bytes):
    """Notebook lu depuis les octets d'une soumission ; lève ``ValueError`` (message en français)."""
    try:
        text = data.decode("utf-8")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # JSON invalide, pas un notebook, encodage...
        last = (str(exc).strip().splitlines() or [""])[-1][:200]
        raise ValueError(f"notebook illisible ({type(exc).__name__}: {last})") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("notebook illisible (pas de liste de cellules)")
    return nb


def _grade_id(cell) -> str | None:
    nbg = cell.get("metadata", {}).get("nbgrader")
    if isinstance(nbg, dict) and isinstance(nbg.get("grade_id"), str):
        return nbg["grade_id"]
    return None


def _edited(submitted, reference) -> bool:
    try:
        return compute_checksum(submitted) != reference.metadata.nbgrader["checksum"]
    except Exception:  # métadonnées nbgrader abîmées : c'est une modification
        return True


def merge(submitted, source, release) -> Prepared:
    """Notebook à exécuter : la soumission, tests (cachés compris) remis depuis ``source``.

    Args:
        submitted: le notebook de l'élève (non modifié : on travaille sur une copie).
        source: la source enseignant (solutions et tests cachés).
        release: la version élève de référence (``generate.make_student_notebook(source)``).
    """
    src_cells = {g: c for c in source.cells if (g := _grade_id(c))}
    rel_cells = {g: c for c in release.cells if (g := _grade_id(c))}
    out = Prepared(nb=nbformat.v4.new_notebook(metadata={"kernelspec": dict(KERNELSPEC)}))
    seen = set()
    for cell in copy.deepcopy(submitted.cells):
        gid = _grade_id(cell)
        if gid in seen:
            out.duplicates.append(gid)
        if gid is None or gid not in src_cells or gid in seen:
            cell.get("metadata", {}).pop("nbgrader", None)
            cell.get("metadata", {}).pop("course_grade", None)
            out.nb.cells.append(_role(_clean(cell), ROLE_STUDENT))
            continue
        seen.add(gid)
        src, rel = src_cells[gid], rel_cells[gid]
        if is_locked(rel) or (is_grade(rel) and not is_solution(rel)):
            if _edited(cell, rel):
                out.edited.append(gid)
            new = copy.deepcopy(src)  # tests cachés compris
            kind = ROLE_TEST if is_grade(rel) and not is_solution(rel) else ROLE_LOCKED
        else:
            kind = ROLE_ANSWER
            new = _clean(cell)
            if new.cell_type != src.cell_type:  # réponse changée de type : on garde le texte
                new = copy.deepcopy(src)
                new.source = cell.get("source", "")
        new.metadata["nbgrader"] = copy.deepcopy(rel.metadata.nbgrader)
        out.nb.cells.append(_role(_clean(new), kind))
    out.missing = [g for g, c in src_cells.items() if is_grade(c) and g not in seen]
    texts = {"".join(c.get("source", "")).strip() for c in submitted.cells if _grade_id(c) is None}
    out.unmarked = [g for g in out.missing if rel_cells[g].source.strip() in texts]
    for i, cell in enumerate(out.nb.cells):
        cell["id"] = f"cell-{i}"
    return out


def _role(cell, role: str):
    cell.metadata["course_grade"] = {"role": role}
    return cell


def role(cell) -> str:
    """Rôle d'une cellule du notebook fusionné (voir le module)."""
    return cell.get("metadata", {}).get("course_grade", {}).get("role", ROLE_STUDENT)


def _clean(cell):
    """Cellule sans sortie ni numéro d'exécution, au format nbformat 4 valide."""
    kind = cell.get("cell_type")
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    meta = copy.deepcopy(cell.get("metadata", {}))
    if kind == "code":
        new = nbformat.v4.new_code_cell(source, metadata=meta)
    elif kind == "markdown":
        new = nbformat.v4.new_markdown_cell(source, metadata=meta)
    else:
        new = nbformat.v4.new_raw_cell(source, metadata=meta)
    return new
