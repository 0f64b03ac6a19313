"""Outils des enseignants : exercices 8.5.1 à 8.5.3 au format nbgrader, et notation.

- ``generate`` : ``course-build-exercises`` fabrique les notebooks élèves
  (``notebooks/exercices/``) à partir des sources enseignant (``solutions/``) avec les
  préprocesseurs de nbgrader (ClearSolutions, ClearHiddenTests, LockCells, ComputeChecksums...).
- ``student_copy`` : ``course-student-copy DOSSIER`` copie le cours sans ``solutions/``.
- ``cli`` : ``course-grade SOUMISSIONS --out notes.csv`` note un dossier de soumissions
  (tests cachés remis en place, noyau neuf par soumission, limites de temps et de mémoire).

nbgrader, nbclient et nbformat viennent de l'extra ``instructor`` (ou ``dev``) :
``pip install -e .[instructor]``.
"""
