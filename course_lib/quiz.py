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

from ._validation import check_fraction, check_positive_int
from .fr import pct

PARTS = ("critères", "scheduling")

CRITERIA_QUESTIONS: list[dict] = [
    {
        "id": "obd",
        "part": "critères",
        "notebook": "03_second_ordre",
        "question": "Pour OBD (LeCun et al., 1990), l'importance du poids w_j vaut…",
        "options": [
            {"text": "w_j² / (2 H_jj)", "correct": False,
             "why": "C'est l'erreur du chapitre : diviser par H_jj rend importants les poids des directions "
                    "plates, où la perte ne bouge presque pas."},
            {"text": "½ H_jj w_j²", "correct": True,
             "why": "La hausse de la perte quand w_j passe à 0 vaut, au second ordre et au minimum, "
                    "½ H_jj w_j² : une forte courbure rend le poids important."},
            {"text": "|w_j| · |g_j|", "correct": False,
             "why": "C'est un critère du premier ordre (Taylor) ; au minimum de la perte le gradient est "
                    "presque nul, d'où l'intérêt du second ordre."},
            {"text": "H_jj seul", "correct": False,
             "why": "Sans w_j², un poids déjà presque nul paraîtrait important : le retirer ne change "
                    "pourtant presque rien."},
        ],
    },
    {
        "id": "taylor-per-example",
        "part": "critères",
        "notebook": "02_gradient",
        "question": "Molchanov et al. (2017) calculent le critère de Taylor |w·g|…",
        "options": [
            {"text": "avec le gradient moyen du lot", "correct": False,
             "why": "En moyenne sur un lot, des gradients de signes opposés s'annulent : un poids utile "
                    "à certains exemples paraît inutile."},
            {"text": "pour chaque exemple, puis en moyennent la valeur absolue", "correct": True,
             "why": "C'est leur éq. 8 : |w·g| par exemple, moyenné ensuite ; ils normalisent aussi "
                    "chaque couche (norme ℓ2) avant de classer."},
            {"text": "sur un seul exemple tiré au hasard", "correct": False,
             "why": "Un exemple ne représente pas les données : le classement changerait à chaque tirage."},
            {"text": "sur les poids seuls, sans données", "correct": False,
             "why": "C'est la magnitude ; le critère de Taylor a besoin du gradient, donc de données."},
        ],
    },
    {
        "id": "exact-count",
        "part": "critères",
        "notebook": "01_magnitude",
        "question": "Pour retirer exactement k = round(s·n) poids, même quand des scores sont égaux, on…",
        "options": [
            {"text": "retire les scores sous le quantile s", "correct": False,
             "why": "Avec des égalités (beaucoup de poids déjà nuls, par exemple), tous les scores égaux "
                    "au seuil partent ou restent ensemble : le compte n'est plus k."},
            {"text": "trie les scores et retire les k plus petits", "correct": True,
             "why": "Un tri (topk) choisit exactement k positions, égalités comprises : la sparsité "
                    "obtenue est celle demandée."},
            {"text": "retire les poids dont le score est nul", "correct": False,
             "why": "Leur nombre n'a aucune raison de valoir k : on obtiendrait une sparsité quelconque."},
        ],
    },
    {
        "id": "apoz",
        "part": "critères",
        "notebook": "04_apoz",
        "question": "APoZ (pourcentage moyen de zéros d'un neurone) se mesure…",
        "options": [
            {"text": "sur les sorties, avant la ReLU", "correct": False,
             "why": "Avant la ReLU, une sortie n'est presque jamais exactement nulle : APoZ vaudrait 0 "
                    "partout (l'erreur du chapitre)."},
            {"text": "sur les poids de la couche", "correct": False,
             "why": "APoZ regarde les activations produites par les données, pas les poids."},
            {"text": "sur les sorties, après la ReLU", "correct": True,
             "why": "Hu et al. (2016) comptent les zéros après la ReLU : un neurone presque toujours "
                    "éteint ne transmet rien."},
        ],
    },
    {
        "id": "global-collapse",
        "part": "critères",
        "notebook": "01_magnitude",
        "question": "Un classement global (tout le réseau à la fois) à forte sparsité risque surtout…",
        "options": [
            {"text": "de vider une couche entière", "correct": True,
             "why": "Les couches aux petits poids perdent tout : plus aucun signal ne passe (effondrement "
                    "de couche). Un plafond par couche ou la normalisation l'évite."},
            {"text": "de ne pas atteindre la sparsité visée", "correct": False,
             "why": "Le compte est exact sur tout le réseau : c'est la répartition entre couches qui pose "
                    "problème, pas le total."},
            {"text": "de coûter beaucoup plus cher que par couche", "correct": False,
             "why": "Un seul tri au lieu d'un par couche : le coût est du même ordre."},
        ],
    },
]

SCHEDULING_QUESTIONS: list[dict] = [
    {
        "id": "momentum",
        "part": "scheduling",
        "notebook": "06_polishing",
        "question": "SGD + momentum, optimiseur créé avant l'élagage, masques posés avec torch.nn.utils.prune. "
                    "Pendant le ré-entraînement, aux positions élaguées…",
        "options": [
            {"text": "gradient et momentum de w_orig sont nuls", "correct": False,
             "why": "Le gradient de w_orig y est nul, mais le tampon de momentum garde la vitesse acquise "
                    "avant l'élagage (voir l'exemple à quatre poids du notebook 06) : w_orig bouge."},
            {"text": "le poids effectif w_orig ⊙ m reste nul", "correct": True,
             "why": "Le masque est dans le calcul : quoi que fasse w_orig, le réseau utilise w_orig ⊙ m, "
                    "nul aux positions élaguées."},
            {"text": "le poids revient, il faut remultiplier", "correct": False,
             "why": "C'est ce qui arrive avec la multiplication à la main (w ← w ⊙ m par époque), pas "
                    "avec torch.nn.utils.prune."},
        ],
    },
    {
        "id": "adaptive-slowdown",
        "part": "scheduling",
        "notebook": "09_scheduling_adaptatif",
        "question": "Un ordonnanceur adaptatif vient de dépasser le budget de précision. Le pas suivant doit être…",
        "options": [
            {"text": "plus grand, pour rattraper le retard", "correct": False,
             "why": "C'est la règle du chapitre : elle accélère au moment où le réseau montre qu'il "
                    "encaisse mal."},
            {"text": "identique", "correct": False,
             "why": "Le même pas refera probablement le même dépassement."},
            {"text": "plus petit", "correct": True,
             "why": "Après un dépassement on réduit l'incrément (et l'on peut revenir aux derniers "
                    "masques qui tenaient)."},
        ],
    },
    {
        "id": "fair-comparison",
        "part": "scheduling",
        "notebook": "08_comparaison_criteres",
        "question": "Pour comparer deux critères d'élagage équitablement, chacun part…",
        "options": [
            {"text": "du modèle laissé par le critère précédent", "correct": False,
             "why": "Le second critère élaguerait un réseau déjà élagué et ré-entraîné : il hérite du "
                    "masque du premier (Jaccard = 1 dans le notebook 08)."},
            {"text": "d'une copie du même modèle, même graine", "correct": True,
             "why": "Une seule chose change, le critère : même départ, même ordre des lots, même budget "
                    "de ré-entraînement fin."},
            {"text": "d'un modèle entraîné avec une autre graine", "correct": False,
             "why": "L'écart mesuré mélangerait l'effet du critère et celui de la graine."},
        ],
    },
    {
        "id": "rigl-growth",
        "part": "scheduling",
        "notebook": "07_regrowth",
        "question": "Quelle méthode de repousse réactive les poids inactifs de plus grand |∂L/∂w| ?",
        "options": [
            {"text": "SET (Mocanu et al., 2018)", "correct": False,
             "why": "SET réactive des poids tirés au hasard."},
            {"text": "RigL (Evci et al., 2020)", "correct": True,
             "why": "RigL calcule le gradient dense, qui existe aussi aux positions inactives, et "
                    "réactive les plus grands."},
            {"text": "Les deux", "correct": False,
             "why": "Elles retirent les mêmes poids (plus petit |w|) mais ne font pas repousser les mêmes."},
        ],
    },
    {
        "id": "validation-not-test",
        "part": "scheduling",
        "notebook": "09_scheduling_adaptatif",
        "question": "Sur quel jeu l'ordonnanceur adaptatif mesure-t-il la précision qui le guide ?",
        "options": [
            {"text": "le jeu de test", "correct": False,
             "why": "Décider sur le test le rend optimiste : il ne mesure plus la généralisation."},
            {"text": "le jeu de validation", "correct": True,
             "why": "La validation sert aux décisions ; le test ne sert qu'une fois, pour le chiffre final."},
            {"text": "le jeu d'entraînement", "correct": False,
             "why": "La précision d'entraînement reste haute même quand le réseau généralise moins bien."},
        ],
    },
]


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
        "question": f"Chaque tour retire {p} des poids qui RESTENT. Après {n_rounds} tours, quelle part "
                    "du réseau entier est élaguée ?",
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
    """Toutes les questions du quiz, dans l'ordre : critères, puis scheduling."""
    return [*CRITERIA_QUESTIONS, compounding_question(n_rounds, per_round), *SCHEDULING_QUESTIONS]


def correct_option(question: dict) -> dict:
    """L'option juste d'une question (il y en a exactement une)."""
    right = [o for o in question["options"] if o["correct"]]
    if len(right) != 1:
        raise ValueError(f"La question {question.get('id')!r} doit avoir exactement une option juste ; "
                         f"reçu {len(right)}.")
    return right[0]
