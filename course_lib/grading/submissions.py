"""Règle de nommage des soumissions, et leur inventaire.

Deux dispositions, mélangeables dans un même dossier ``SOUMISSIONS`` :

- un fichier par élève et par exercice : ``<élève>_<exercice>.ipynb``
  (``alice_8.5.2.ipynb``, ``alice_ex_8_5_2.ipynb``, ``alice_ex_8_5_2_scheduler_adaptatif.ipynb``) ;
- un dossier par élève : ``<élève>/<exercice>.ipynb``
  (``alice/ex_8_5_2.ipynb``, ``alice/8.5.2.ipynb``, ``alice/ex_8_5_2_scheduler_adaptatif.ipynb``).

``<exercice>`` s'écrit ``8.5.2``, ``8_5_2`` ou ``ex_8_5_2``, éventuellement suivi de ``_<sujet>``.
``<élève>`` : lettres, chiffres, ``.``, ``-`` et ``_`` (commence par une lettre ou un chiffre).
Les fichiers cachés et les dossiers ``.ipynb_checkpoints`` sont ignorés ; tout autre fichier
``.ipynb`` mal nommé apparaît dans le CSV avec le statut ``nom_invalide``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_EX = r"(?:ex_)?(?P<a>\d+)[._](?P<b>\d+)[._](?P<c>\d+)(?:_[\w-]+)?"
FLAT = re.compile(rf"^(?P<student>[A-Za-z0-9][\w.-]*?)_{_EX}\.ipynb$")
IN_FOLDER = re.compile(rf"^{_EX}\.ipynb$")
STUDENT = re.compile(r"^[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class Submission:
    """Une soumission : élève, identifiant d'exercice (``"8.5.2"``) et fichier (ou un problème)."""

    path: Path
    student: str
    exercise: str
    problem: str = ""  # "" si le nom est valide
    relpath: str = ""  # chemin relatif au dossier des soumissions (pour le CSV)


def parse_name(path: Path, root: Path) -> Submission:
    """Élève et exercice d'après le chemin relatif à ``root`` (voir la règle du module)."""
    rel = path.relative_to(root)
    if len(rel.parts) == 1:
        m = FLAT.match(rel.name)
        if m:
            return Submission(path, m["student"], f"{m['a']}.{m['b']}.{m['c']}", "", rel.as_posix())
    elif len(rel.parts) == 2 and STUDENT.match(rel.parts[0]):
        m = IN_FOLDER.match(rel.name)
        if m:
            return Submission(path, rel.parts[0], f"{m['a']}.{m['b']}.{m['c']}", "", rel.as_posix())
    return Submission(path, "", "", problem=(
        f"nom invalide : {rel.as_posix()} (attendu <élève>_<exercice>.ipynb ou "
        "<élève>/<exercice>.ipynb, exercice écrit 8.5.2, 8_5_2 ou ex_8_5_2)"), relpath=rel.as_posix())


def find_submissions(root: str | Path) -> list[Submission]:
    """Toutes les soumissions ``.ipynb`` sous ``root`` (triées), mal nommées comprises."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Dossier de soumissions introuvable : {root}.")
    found = []
    for path in sorted(root.rglob("*.ipynb")):
        rel = path.relative_to(root)
        if any(p.startswith(".") for p in rel.parts):
            continue
        found.append(parse_name(path, root))
    return found
