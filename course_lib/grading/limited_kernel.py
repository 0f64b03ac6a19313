"""Lanceur du noyau de notation : pose les limites, puis démarre ipykernel.

Noyau ``course-grade-python3`` déclaré par ``worker`` (kernel.json dans le dossier du travail) :
``python .../limited_kernel.py -f {connection_file}`` : lancé par son chemin, sans importer
``course_lib`` (qui importerait PyTorch AVANT la pose de la limite). ``RLIMIT_AS`` (espace
d'adressage, en Mo dans ``COURSE_GRADE_MEMORY_MB``) ne touche que ce processus et ses enfants.
"""

from __future__ import annotations

import os
import resource


def set_limits() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    mb = os.environ.get("COURSE_GRADE_MEMORY_MB")
    if mb:
        limit = int(mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


if __name__ == "__main__":
    set_limits()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
