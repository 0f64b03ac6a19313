"""Un cours ``nbgrader`` temporaire, pour comparer ``course-grade`` à ``nbgrader autograde``.

Utilisé par le test d'accord (``tests/test_grading_exercises.py``) et par le banc de mesure
(``benchmarks/bench_grading.py``) : les mêmes étapes qu'un enseignant lancerait à la main
(``generate_assignment``, élèves dans la base, dépôt des soumissions, ``autograde``), dans un
dossier jetable, avec les amorces françaises de ``generate.nbgrader_config_text``.

nbgrader est une dépendance enseignant (``pip install -e .[instructor]``) : ce module ne
l'importe qu'à l'usage.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from .exercises import find_exercises
from .generate import nbgrader_config_text

ASSIGNMENT = "ps1"


class NbgraderCourse:
    """Un cours nbgrader dans ``root`` (créé), avec les trois exercices dans un seul devoir.

    >>> course = NbgraderCourse(tmp / "cours")
    >>> course.generate()
    >>> course.submit({("alice", "8.5.1"): nb, ...})
    >>> seconds = course.autograde()
    >>> course.scores()            # {("alice", "8.5.1"): 8.0, ...}
    """

    def __init__(self, root: Path, timeout: int = 300, command_timeout: int = 3600):
        self.root = Path(root)
        self.exercises = find_exercises()
        self.command_timeout = command_timeout
        bin_dir = Path(sys.executable).parent
        self.nbgrader = shutil.which("nbgrader", path=str(bin_dir))
        if self.nbgrader is None:
            raise RuntimeError("nbgrader est introuvable à côté de cet interpréteur : installez "
                               "les dépendances enseignant (pip install -e .[instructor]).")
        home = self.root.parent / f"{self.root.name}-home"
        self.env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter")}
        source = self.root / "source" / ASSIGNMENT
        source.mkdir(parents=True)
        for ex in self.exercises.values():
            shutil.copy(ex.source, source / ex.filename)
        self.db_url = f"sqlite:///{self.root / 'gradebook.db'}"
        (self.root / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            f"c.CourseDirectory.root = {str(self.root)!r}\n"
            "c.CourseDirectory.course_id = 'cours85'\n"
            f"c.CourseDirectory.db_url = {self.db_url!r}\n"
            f"c.ExecutePreprocessor.timeout = {int(timeout)}\n" + nbgrader_config_text(),
            encoding="utf-8")
        self.submissions: dict = {}

    def run(self, *args: str) -> None:
        """Lance ``nbgrader ARGS`` dans le cours ; une erreur de nbgrader lève RuntimeError."""
        proc = subprocess.run([self.nbgrader, *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=self.command_timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} a échoué (code {proc.returncode}) :\n"
                               + proc.stdout[-2000:] + proc.stderr[-4000:])

    def generate(self) -> None:
        """``nbgrader generate_assignment`` : les notebooks élèves, dans ``release/``."""
        self.run("generate_assignment", ASSIGNMENT, "--force")

    def released(self, ex_id: str):
        """Le notebook élève que nbgrader a produit pour l'exercice ``ex_id``."""
        return nbformat.read(self.root / "release" / ASSIGNMENT / self.exercises[ex_id].filename,
                             as_version=4)

    def submit(self, notebooks: dict) -> None:
        """Dépose ``{(élève, exercice): notebook}`` dans ``submitted/`` et inscrit les élèves."""
        for student in sorted({s for s, _ in notebooks}):
            self.run("db", "student", "add", student)
        for (student, ex_id), nb in notebooks.items():
            dest = self.root / "submitted" / student / ASSIGNMENT / self.exercises[ex_id].filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, dest)
        self.submissions.update(notebooks)

    def autograde(self) -> float:
        """``nbgrader autograde`` sur tout ce qui a été déposé ; renvoie sa durée (s)."""
        start = time.perf_counter()
        self.run("autograde", ASSIGNMENT, "--force")
        return time.perf_counter() - start

    def scores(self) -> dict:
        """Les notes de nbgrader, ``{(élève, exercice): points}``, pour chaque dépôt."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            return {(s, e): gb.find_submission_notebook(
                        self.exercises[e].filename[:-len(".ipynb")], ASSIGNMENT, s).score
                    for s, e in self.submissions}
