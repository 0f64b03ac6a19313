"""Catalogue de réponses d'élèves aux exercices 8.5.1 à 8.5.3 : les tests des exercices, testés.

Chaque module ``ex_8_5_N`` définit ``ANSWERS``, une liste d'``Answer`` : le texte qui remplace les
cellules-réponses du notebook élève (``cells``, par ``grade_id``), et ce qu'on en attend.

- ``kind="faux"`` : une erreur d'élève (celles de l'issue, celles du chapitre, d'autres) ; elle
  doit échouer à la cellule de tests visibles ``visible`` avec un message qui contient chaque
  fragment de ``expect`` (il nomme l'idée fausse sans donner la solution), et perdre des points ;
- ``kind="juste"`` : une réponse correcte écrite autrement (autres boucles, autres formules
  équivalentes, autres noms) : tous les points, statut ``ok``, jamais signalée ;
- ``kind="copie"`` : le code de ``course_lib`` recopié ou enveloppé : statut ``a_verifier`` ;
- ``kind="attaque"`` : des valeurs qui mentent (sous-classe de ``float`` dont les comparaisons sont
  toujours vraies) : moins que tous les points.

Ce catalogue vit dans ``tests/`` : il n'est jamais copié chez les élèves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("faux", "juste", "copie", "attaque")


@dataclass(frozen=True)
class Answer:
    exercise: str                     # "8.5.1"
    name: str                         # identifiant court, sert de nom d'élève (tirets, pas de « _ »)
    kind: str                         # voir KINDS
    cells: dict[str, str]             # grade_id de la cellule-réponse -> texte de l'élève
    why: str                          # ce que l'élève a fait, en une phrase
    visible: str | None = None        # cellule de tests visibles qui doit échouer
    expect: tuple[str, ...] = field(default_factory=tuple)  # fragments du message attendu

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name} : kind {self.kind!r} inconnu ; attendu l'un de {KINDS}")
        if "_" in self.name:
            raise ValueError(f"{self.name} : pas de « _ » dans un nom (il sert de nom d'élève)")
        if self.kind == "faux" and not (self.visible and self.expect):
            raise ValueError(f"{self.name} : une erreur doit nommer son test visible et son message")


def replace(source: str, old: str, new: str, count: int = 1) -> str:
    """``source`` où ``old`` (qui doit y être) devient ``new``."""
    if old not in source:
        raise ValueError(f"fragment absent : {old!r}")
    return source.replace(old, new, count)


def all_answers() -> list[Answer]:
    from . import ex_8_5_1, ex_8_5_2, ex_8_5_3

    answers = [*ex_8_5_1.ANSWERS, *ex_8_5_2.ANSWERS, *ex_8_5_3.ANSWERS]
    names = [(a.exercise, a.name) for a in answers]
    assert len(names) == len(set(names)), "nom en double dans le catalogue"
    return answers
