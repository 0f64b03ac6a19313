"""Le quiz d'auto-évaluation du notebook 10, sous forme de données.

Chaque question est un dictionnaire : ``kind`` (``"numeric"`` ou ``"choice"``), ``question``,
``answer``, ``explanation`` ; une question à choix a ses ``options``, une question numérique sa
``tolerance``. Les widgets (``course_lib.widgets.scheduling.quiz``) ne font que les afficher.
"""

from __future__ import annotations

from ._validation import check_fraction, check_positive_int

CHOICE_QUESTIONS: list[dict] = [
    {
        "kind": "choice",
        "question": "2. Pendant le fine-tuning avec SGD + momentum, comment garder les poids élagués à zéro ?",
        "options": ["Multiplier les poids par le masque après chaque époque",
                    "Poser les masques avec torch.nn.utils.prune (w = w_orig ⊙ m à chaque passe)",
                    "Baisser le taux d'apprentissage"],
        "answer": "Poser les masques avec torch.nn.utils.prune (w = w_orig ⊙ m à chaque passe)",
        "explanation": "Le masque est dans le calcul : le gradient de w_orig est nul aux positions "
                       "élaguées, le momentum n'y accumule rien (notebook 06).",
    },
    {
        "kind": "choice",
        "question": "3. Un ordonnanceur adaptatif vient de dépasser le budget de précision. Le pas suivant doit être…",
        "options": ["plus grand (on rattrape le retard)", "plus petit (on ralentit)", "identique"],
        "answer": "plus petit (on ralentit)",
        "explanation": "Après un dépassement on réduit l'incrément (et on peut revenir aux derniers masques "
                       "qui tenaient) ; la règle du chapitre fait l'inverse (notebook 09).",
    },
    {
        "kind": "choice",
        "question": "4. Pour comparer deux critères d'élagage équitablement, chacun doit partir…",
        "options": ["du modèle laissé par le critère précédent",
                    "d'une copie du même modèle de référence, même graine, même budget",
                    "d'un modèle ré-entraîné de zéro avec une autre graine"],
        "answer": "d'une copie du même modèle de référence, même graine, même budget",
        "explanation": "Sinon le deuxième critère élague un réseau déjà élagué et fine-tuné (notebook 08).",
    },
    {
        "kind": "choice",
        "question": "5. Quelle méthode de repousse réactive les poids de plus grand |∂L/∂w| ?",
        "options": ["SET (Mocanu et al., 2018)", "RigL (Evci et al., 2020)", "Aucune : on réactive au hasard"],
        "answer": "RigL (Evci et al., 2020)",
        "explanation": "RigL utilise le gradient dense (qui existe aussi aux positions inactives) ; "
                       "SET tire au hasard (notebook 07).",
    },
]


def compounding_question(n_rounds: int = 3, per_round: float = 0.3) -> dict:
    """Question 1 : un élagage qui retire ``per_round`` de ce qui RESTE, ``n_rounds`` fois, atteint 1 − (1 − p)^n."""
    n_rounds = check_positive_int(n_rounds, "n_rounds")
    per_round = check_fraction(per_round, "per_round")
    compounded = 1 - (1 - per_round) ** n_rounds
    pct = f"{100 * per_round:.0f}\u00a0%".replace(".", ",")
    return {
        "kind": "numeric",
        "question": f"1. Chaque tour retire {pct} des poids qui RESTENT. Après {n_rounds} tours, "
                    "quelle part de la couche entière est élaguée ?",
        "answer": compounded,
        "tolerance": 0.015,
        "explanation": f"1 − (1 − {per_round:g})^{n_rounds} = {100 * compounded:.1f}\u00a0%".replace(".", ",")
                       + f" : c'est moins que {n_rounds} × {pct}. Une cible doit se dire en fraction de la "
                         "couche entière.",
    }


def questions(n_rounds: int = 3, per_round: float = 0.3) -> list[dict]:
    """Toutes les questions du quiz, dans l'ordre."""
    return [compounding_question(n_rounds, per_round), *CHOICE_QUESTIONS]
