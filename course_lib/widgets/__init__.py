"""Les contrôles interactifs des notebooks (ipywidgets).

Chaque démonstration est construite par une fonction qui renvoie un ``Demo`` :
le calcul lourd est fait une fois dans la fonction, le rappel (*callback*) du
contrôle ne fait que relire, recalculer un peu et redessiner. Les tests
unitaires pilotent ``demo.control.value`` sans navigateur ; le test navigateur
cherche la classe CSS ``course-control`` (le contrôle principal) et
``course-output`` (la sortie qu'il pilote).
"""

from ._base import Demo

__all__ = ["Demo"]
