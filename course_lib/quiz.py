"""Le quiz d'auto-évaluation du notebook 10, sous forme de données.

Chaque question est un dictionnaire : ``id``, ``part`` (``"critères"`` : quels poids retirer, ou
``"scheduling"`` : quand les retirer), ``notebook`` (où l'idée est enseignée), ``question`` et
``options``, une liste de ``{"text", "correct", "why"}`` : exactement une option juste, et pour
CHAQUE option une explication (pourquoi elle est juste, ou pourquoi elle ne l'est pas), affichée
seulement après la réponse. Les questions chiffrées sont à choix, elles aussi : un curseur
« trop / pas assez » laisserait trouver la réponse par essais. Les widgets
(``course_lib.widgets.scheduling.quiz``) ne font que les afficher.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ._validation import check_fraction, check_positive_int
from .fr import pct

PARTS = ("critères", "scheduling")

# Les questions fixes sont dans ``quiz_questions.json`` (à côté de ce module) : un enseignant les
# modifie sans toucher au code. Seule la question chiffrée, qui dépend de ses paramètres, est calculée.
_DATA = json.loads((Path(__file__).with_name("quiz_questions.json")).read_text(encoding="utf-8"))
CRITERIA_QUESTIONS: list[dict] = _DATA["criteres"]
SCHEDULING_QUESTIONS: list[dict] = _DATA["scheduling"]


def compounding_question(n_rounds: int = 3, per_round: float = 0.3) -> dict:
    """Un élagage qui retire ``per_round`` de ce qui RESTE, ``n_rounds`` fois, atteint 1 − (1 − p)^n.

    Les options sont les erreurs de calcul plausibles : n·p (on additionne), p^n, 1 − p^n.
    """
    n_rounds = check_positive_int(n_rounds, "n_rounds", minimum=2)
    per_round = check_fraction(per_round, "per_round")
    if n_rounds * per_round >= 1:
        raise ValueError(f"n_rounds × per_round doit rester < 1 ; reçu {n_rounds} × {per_round}.")
    compounded = 1 - (1 - per_round) ** n_rounds
    p = pct(per_round, 0)
    return {
        "id": "compounding",
        "part": "scheduling",
        "notebook": "05_one_shot_iteratif_graduel",
        "question": f"Chaque tour retire {p} des poids qui restent encore (pas {p} du réseau de départ). "
                    f"Après {n_rounds} tours, quelle part du réseau entier est élaguée ?",
        "options": [
            {"text": pct(n_rounds * per_round), "correct": False,
             "why": f"{n_rounds} × {p} suppose que chaque tour compte en fraction du réseau entier ; "
                    "ici chaque tour ne voit que ce qui reste."},
            {"text": pct(compounded), "correct": True,
             "why": f"Il reste (1 − {p}) à chaque tour : 1 − (1 − {p})^{n_rounds} = {pct(compounded)}, "
                    f"moins que {n_rounds} × {p}. Une cible se dit en fraction du réseau entier."},
            {"text": pct(per_round**n_rounds), "correct": False,
             "why": f"{p} à la puissance {n_rounds}, c'est la part élaguée… si chaque tour ne gardait "
                    "que les poids retirés au tour d'avant."},
            {"text": pct(1 - per_round**n_rounds), "correct": False,
             "why": "Confond la part retirée et la part gardée à chaque tour."},
        ],
    }


def questions(n_rounds: int = 3, per_round: float = 0.3) -> list[dict]:
    """Toutes les questions du quiz, dans l'ordre : critères, puis scheduling, numérotées à partir de 1.

    Chaque question reçoit son numéro (``number``) et sa bonne réponse est placée à la position que
    donne :func:`answer_positions` : la place de la bonne réponse ne dit rien (ni l'ordre du fichier
    JSON, ni un cycle visible), et deux exécutions donnent le même quiz.
    """
    ordered = [*CRITERIA_QUESTIONS, compounding_question(n_rounds, per_round), *SCHEDULING_QUESTIONS]
    return [dict(place_answer(q, p), number=i + 1)
            for i, (q, p) in enumerate(zip(ordered, answer_positions(ordered), strict=True))]


def answer_positions(qs: list[dict]) -> list[int]:
    """La position (à partir de 0) de la bonne réponse de chaque question de ``qs``.

    Question après question, on prend, parmi les positions qu'elle offre, l'une des moins servies
    jusque-là : chaque position reçoit autant de bonnes réponses que possible (à une près parmi
    celles que toutes les questions offrent). À égalité, le choix suit une empreinte stable de
    l'identifiant de la question (SHA-256, pas ``hash``, qui change d'un processus à l'autre) :
    pas de cycle 1, 2, 3, 1, 2, 3… qu'un élève repérerait, et pas de hasard à l'exécution.
    """
    counts: dict[int, int] = {}
    out = []
    for q in qs:
        offered = range(len(q["options"]))
        least = min(counts.get(p, 0) for p in offered)
        ties = [p for p in offered if counts.get(p, 0) == least]
        digest = int.from_bytes(hashlib.sha256(str(q["id"]).encode("utf-8")).digest()[:8], "big")
        position = ties[digest % len(ties)]
        counts[position] = counts.get(position, 0) + 1
        out.append(position)
    return out


def place_answer(question: dict, index: int) -> dict:
    """Une copie de ``question`` dont la bonne réponse est en position ``index`` modulo le nombre d'options.

    Les options fausses gardent leur ordre.
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index doit être un entier >= 0 ; reçu {index!r}.")
    right = correct_option(question)
    wrong = [o for o in question["options"] if o is not right]
    position = index % len(question["options"])
    return {**question, "options": [*wrong[:position], right, *wrong[position:]]}


def correct_option(question: dict) -> dict:
    """L'option juste d'une question (il y en a exactement une)."""
    right = [o for o in question["options"] if o["correct"]]
    if len(right) != 1:
        raise ValueError(f"La question {question.get('id')!r} doit avoir exactement une option juste ; "
                         f"reçu {len(right)}.")
    return right[0]
