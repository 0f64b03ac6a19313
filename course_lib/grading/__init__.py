"""Outils des enseignants : exercices 8.5.1 à 8.5.3 au format nbgrader, et notation.

- ``generate`` : ``course-build-exercises`` fabrique les notebooks élèves
  (``notebooks/exercices/``) à partir des sources enseignant (``solutions/``) avec les
  préprocesseurs de nbgrader (ClearSolutions, ClearHiddenTests, LockCells, ComputeChecksums...).
- ``student_copy`` : ``course-student-copy DOSSIER`` copie le cours sans ``solutions/``.
- ``cli`` : ``course-grade SOUMISSIONS --out notes.csv`` note un dossier de soumissions
  (``submissions`` : inventaire ; ``prepare`` : tests cachés remis en place ; ``scan`` : analyse
  statique ; ``grader`` : notation, CSV, retours ; ``worker`` : exécution cellule par cellule ;
  ``sandbox`` + ``kernel_launcher`` : le noyau de l'élève dans bubblewrap, avec ses limites et la
  remise en état d'IPython avant chaque test).

nbgrader, nbclient et nbformat viennent de l'extra ``instructor`` (ou ``dev``) :
``pip install -e .[instructor]``.
"""
