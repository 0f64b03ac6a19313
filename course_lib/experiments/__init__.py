"""Les expériences du cours : ce qui entraîne, mesure et enregistre, séparé des widgets qui l'affichent.

- ``comparison`` (notebook 08) : critères comparés à conditions égales, recouvrement de Jaccard ;
- ``trajectories`` (06, 07, 09) : polishing et repousse enregistrés pas à pas, table de précisions,
  ordonnanceur adaptatif rejoué ;
- ``sensitivity`` (00 à 04) : modèle masqué évalué sans être modifié, corrélation de rangs.
"""

from .comparison import (
    ComparisonResult,
    compare_pruning_criteria,
    comparison_table,
    jaccard_overlap,
)

__all__ = ["ComparisonResult", "compare_pruning_criteria", "comparison_table", "jaccard_overlap"]
