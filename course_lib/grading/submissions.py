"""Règle de nommage des soumissions, et leur inventaire (dossiers de classe tels qu'ils arrivent).

Dispositions acceptées, mélangeables dans un même dossier ``SOUMISSIONS`` :

- un fichier par élève et par exercice : ``<élève>_<exercice>.ipynb``
  (``alice_8.5.2.ipynb``, ``Élodie Martin_ex_8_5_2.ipynb``, ``alice_8.5.2 (1).ipynb``) ;
- un dossier par élève : ``<élève>/<exercice>.ipynb`` (``alice/ex_8_5_2.ipynb``,
  ``Jean Dupont/ex_8_5_2_scheduler_adaptatif.ipynb``) ;
- le téléchargement « Tous les travaux » d'un devoir Moodle : un dossier par rendu,
  ``<Nom Prénom>_<n°>_assignsubmission_file_/<fichier>.ipynb`` (ou, dans les anciennes versions,
  le fichier ``<Nom Prénom>_<n°>_assignsubmission_file_<fichier>.ipynb``) ; le fichier garde le
  nom que l'élève lui a donné, qui doit contenir l'exercice.

``<exercice>`` s'écrit ``8.5.2``, ``8_5_2`` ou ``ex_8_5_2``, éventuellement suivi de ``_<sujet>`` ;
un suffixe de copie `` (1)``, ``(2)``... (navigateur) est ignoré. ``<élève>`` : lettres (accents
compris), chiffres, espaces, ``.``, ``'``, ``-`` et ``_`` ; le nom est normalisé (Unicode NFC,
espaces réduits). Pour un rendu Moodle, l'élève est ``<Nom Prénom> (<n°>)`` : deux homonymes
(même nom, numéros différents) restent deux élèves, avec deux retours.

Aucun fichier n'est ignoré en silence, sauf les fichiers et dossiers cachés (``.ipynb_checkpoints``,
``.DS_Store``...) : un ``.ipynb`` (extension en majuscules ou minuscules) est noté ou apparaît dans
le CSV avec le statut ``nom_invalide`` ; tout autre fichier (``.ipynb.txt``, ``.zip``, ``.py``,
texte en ligne Moodle...) apparaît avec le statut ``rejete`` et sa raison en français
(``rejection``). Une archive ``.zip`` n'est pas ouverte (taille et contenu inconnus) : à
décompresser par l'enseignant.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

_EX = r"(?:ex_?)?(?P<a>\d+)[._](?P<b>\d+)[._](?P<c>\d+)(?:_[\w-]+)?"
_COPY = r"(?:\s*\((?P<copy>\d+)\))?"
_NAME = r"[^\W_][\w .'’-]*?"
FLAT = re.compile(rf"^(?P<student>{_NAME})_{_EX}{_COPY}\.ipynb$")
IN_FOLDER = re.compile(rf"^(?:.*?[_ -])?{_EX}{_COPY}\.ipynb$")
STUDENT = re.compile(rf"^{_NAME}$")
MOODLE = re.compile(r"^(?P<student>.+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_(?P<rest>.*)$")


@dataclass(frozen=True)
class Submission:
    """Une soumission : élève, identifiant d'exercice (``"8.5.2"``) et fichier (ou un problème)."""

    path: Path
    student: str
    exercise: str
    problem: str = ""  # "" si le nom est valide
    relpath: str = ""  # chemin relatif au dossier des soumissions (pour le CSV)
    copy: int = 0      # n de « (n) » dans le nom : copie téléchargée plus tard
    rejected: str = ""  # raison, si ce n'est pas un notebook (voir ``rejection``)


def _clean(name: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", name)).strip()


def rejection(path: Path) -> str:
    """Pourquoi ce fichier n'est pas noté (``""`` si c'est un notebook ``.ipynb``, quelle que soit
    la casse de l'extension)."""
    name = path.name.lower()
    if name.endswith(".ipynb"):
        return ""
    if ".ipynb." in name:
        return (f"{path.name} : notebook dont le nom a reçu une extension de plus "
                f"({path.suffix}, ajoutée par le navigateur ou le système) ; renommez-le en .ipynb "
                "et relancez la notation")
    if name.endswith(".zip"):
        return (f"{path.name} : archive .zip, non ouverte par la notation ; décompressez-la dans "
                "le dossier des soumissions (un notebook par élève et par exercice) et relancez")
    if "onlinetext" in path.as_posix().lower():
        return f"{path.name} : texte en ligne Moodle, pas un notebook"
    return (f"{path.name} : pas un notebook (extension {path.suffix or 'absente'}) ; seuls les "
            "fichiers .ipynb sont notés")


def parse_name(path: Path, root: Path) -> Submission:
    """Élève et exercice d'après le chemin relatif à ``root`` (voir la règle du module)."""
    rel = path.relative_to(root)
    parts = [_clean(p) for p in rel.parts]
    if parts and parts[-1].lower().endswith(".ipynb"):  # .IPYNB, .Ipynb...
        parts[-1] = parts[-1][:-6] + ".ipynb"
    ok = None
    if len(parts) == 1:
        moodle = MOODLE.match(parts[0])
        if moodle and (m := IN_FOLDER.match(moodle["rest"])):
            ok = (f"{moodle['student']} ({moodle['id']})", m)
        elif m := FLAT.match(parts[0]):
            ok = (m["student"], m)
    elif len(parts) == 2:
        moodle = MOODLE.match(parts[0])
        student = moodle["student"] if moodle else parts[0]
        if STUDENT.match(student) and (m := IN_FOLDER.match(parts[1])):
            ok = (f"{student} ({moodle['id']})" if moodle else student, m)
    if ok:
        student, m = ok
        return Submission(path, _clean(student), f"{int(m['a'])}.{int(m['b'])}.{int(m['c'])}", "",
                          rel.as_posix(), int(m["copy"] or 0))
    return Submission(path, "", "", problem=(
        f"nom invalide : {rel.as_posix()} (attendu <élève>_<exercice>.ipynb, "
        "<élève>/<exercice>.ipynb ou le dossier d'un rendu Moodle ; exercice écrit 8.5.2, 8_5_2 "
        "ou ex_8_5_2)"), relpath=rel.as_posix())


def find_submissions(root: str | Path) -> list[Submission]:
    """Tous les fichiers sous ``root`` (triés), sauf les cachés : notebooks (mal nommés compris)
    et fichiers rejetés (``Submission.rejected`` : la raison)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Dossier de soumissions introuvable : {root}.")
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.startswith(".") for p in rel.parts) or not path.is_file():
            continue
        reason = rejection(path)
        found.append(Submission(path, "", "", relpath=rel.as_posix(), rejected=reason) if reason
                     else parse_name(path, root))
    return found


def newest_first(subs: list[Submission]) -> list[Submission]:
    """Rendus d'un même élève pour un même exercice, du plus récent au plus ancien : date de
    modification, puis numéro de copie « (n) », puis nom."""
    return sorted(subs, key=lambda s: (s.path.stat().st_mtime_ns, s.copy, s.relpath), reverse=True)
