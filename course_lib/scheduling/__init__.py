"""Quand élaguer : des ordonnanceurs pilotés depuis une boucle d'entraînement ordinaire.

Un module par section du chapitre, un seul protocole (``base.BaseScheduler``, comme
``torch.optim.lr_scheduler``) : ``step()``, ``sparsity_at(t)``, ``state_dict()``/``load_state_dict()``.

- ``iterative`` (notebook 05) : ``PruningScheduler`` et ses usages ``one_shot``, ``iterative``, ``gradual`` ;
- ``polishing`` (06) : ``polish_pruning``, fine-tuning à masques tenus ;
- ``regrowth`` (07) : ``RegrowthPruning``, retirer puis faire repousser (SET, RigL) ;
- ``adaptive`` (09) : ``AdaptivePruningScheduler`` et la boucle ``adaptive_pruning``.

Les calendriers eux-mêmes sont des fonctions pures (``course_lib.schedules``, réexportées ici) ;
la comparaison de critères (08) est une expérience (``course_lib.experiments.comparison``),
réexportée ici pour les notebooks. Toute sparsité est une fraction de la couche ENTIÈRE (ou du
réseau entier en global) : un poids élagué le reste et compte dans la sparsité.
"""

from ..experiments.comparison import ComparisonResult, compare_pruning_criteria, jaccard_overlap
from ..schedules import (
    SCHEDULES,
    check_schedule,
    check_step,
    cubic_schedule,
    linear_schedule,
    one_shot_schedule,
    rigl_drop_fraction,
    schedule_value,
)
from ..training import EpochTrainer
from .adaptive import AdaptivePruningScheduler, adaptive_pruning
from .base import BaseScheduler, make_criterion
from .iterative import PruningScheduler
from .polishing import polish_pruning
from .regrowth import RegrowthPruning

__all__ = [
    "SCHEDULES",
    "AdaptivePruningScheduler",
    "BaseScheduler",
    "ComparisonResult",
    "EpochTrainer",
    "PruningScheduler",
    "RegrowthPruning",
    "adaptive_pruning",
    "check_schedule",
    "check_step",
    "compare_pruning_criteria",
    "cubic_schedule",
    "jaccard_overlap",
    "linear_schedule",
    "make_criterion",
    "one_shot_schedule",
    "polish_pruning",
    "rigl_drop_fraction",
    "schedule_value",
]
