"""Préparer une soumission pour l'exécution, comme ``nbgrader autograde`` (OverwriteCells).

- Les cellules de test et les cellules verrouillées reprennent le texte de la source enseignant
  (tests cachés compris) ; une modification par l'élève est détectée avec les sommes de contrôle de
  nbgrader (``nbgrader.utils.compute_checksum``) comparées à celles du notebook élève de référence,
  fabriqué par ``generate`` : on ne fait jamais confiance aux métadonnées de la soumission.
- Les cellules-réponses gardent le texte de l'élève ; métadonnées nbgrader reprises de la référence.
- Un ``grade_id`` présent deux fois : seule la première cellule compte (``DeduplicateIds``).
- Une cellule de test supprimée n'est pas remise (comme nbgrader par défaut) : 0 point.
- Une cellule « préambule » (non notée) est ajoutée en tête : voir ``GUARD_SOURCE``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat
from nbgrader.utils import compute_checksum, is_grade, is_locked, is_solution

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
GUARD_ID = "course-grade-preambule"

# Exécuté dans le noyau de l'élève avant toute autre cellule. Un crochet d'audit (PEP 578) refuse
# les écritures hors du dossier de travail (le cwd du noyau), la création de processus et les
# signaux envoyés à d'autres processus (sauf les sondes de ctypes.util.find_library) ; chaque refus est noté dans un journal situé HORS de ce
# dossier (ouvert avant la pose du crochet). Limites : ctypes, les extensions C et les descripteurs
# hérités échappent aux événements d'audit ; c'est un garde-fou, pas un bac à sable.
GUARD_SOURCE = r'''
# Préambule ajouté par course-grade (non noté) : écritures limitées au dossier de travail.
def _course_grade_guard():
    import os
    import sys

    root = os.path.realpath(os.getcwd())
    log = open(os.environ["COURSE_GRADE_AUDIT_LOG"], "a", buffering=1, encoding="utf-8")
    me = os.getpid()
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    path_events = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.truncate": (0,),
                   "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,), "os.link": (0, 1),
                   "os.symlink": (1,), "os.rename": (0, 1), "shutil.rmtree": (0,),
                   "os.setxattr": (0,), "os.removexattr": (0,)}
    process_events = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
                      "os.fork", "os.forkpty", "pty.spawn"}

    def inside(path):
        if isinstance(path, int) or path is None:
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except Exception:
            return False
        return real == root or real.startswith(root + os.sep) or real == os.devnull

    def from_ctypes_util():
        # ctypes.util.find_library lance ldconfig/gcc pour chercher une bibliothèque (lecture seule)
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.endswith(os.path.join("ctypes", "util.py")):
                return True
            frame = frame.f_back
        return False

    def deny(event, what):
        log.write(f"{event}\t{what!r}\n")
        raise PermissionError(
            f"course-grade : {event} refusé hors du dossier de travail de la notation ({what!r})")

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = any(ch in mode for ch in "wax+") if isinstance(mode, str) else bool(
                (flags or 0) & write_flags)
            if writing and not inside(path):
                deny(event, path)
        elif event in path_events:
            for i in path_events[event]:
                if i < len(args) and not inside(args[i]):
                    deny(event, args[i])
        elif event in process_events and not from_ctypes_util():
            deny(event, args[0] if args else "")
        elif event in ("os.kill", "os.killpg") and args and args[0] not in (me, 0):
            deny(event, args[0])

    sys.addaudithook(hook)


_course_grade_guard()
del _course_grade_guard
'''.strip()


@dataclass
class Prepared:
    """Le notebook à exécuter et ce que la préparation a remarqué."""

    nb: object
    edited: list[str] = field(default_factory=list)    # cellules verrouillées modifiées (remplacées)
    missing: list[str] = field(default_factory=list)   # cellules notées supprimées par l'élève
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
            out.nb.cells.append(_clean(cell))
            continue
        seen.add(gid)
        src, rel = src_cells[gid], rel_cells[gid]
        if is_locked(rel) or (is_grade(rel) and not is_solution(rel)):
            if _edited(cell, rel):
                out.edited.append(gid)
            new = copy.deepcopy(src)  # tests cachés compris
        else:
            new = _clean(cell)
            if new.cell_type != src.cell_type:  # réponse changée de type : on garde le texte
                new = copy.deepcopy(src)
                new.source = cell.get("source", "")
        new.metadata["nbgrader"] = copy.deepcopy(rel.metadata.nbgrader)
        out.nb.cells.append(_clean(new))
    out.missing = [g for g, c in src_cells.items() if is_grade(c) and g not in seen]
    guard = nbformat.v4.new_code_cell(GUARD_SOURCE, id=GUARD_ID)
    out.nb.cells.insert(0, guard)
    for i, cell in enumerate(out.nb.cells):
        cell["id"] = GUARD_ID if i == 0 else f"cell-{i}"
    return out


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
