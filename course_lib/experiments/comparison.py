"""Comparer des critères d'élagage à conditions égales (notebook 08, exercice 8.5.1).

``compare_pruning_criteria`` part, pour chaque critère, d'une copie du MÊME modèle de référence,
avec la même graine, le même ordre des lots et le même budget ; ``jaccard_overlap`` mesure le
recouvrement des poids élagués ; ``comparison_table`` répète la comparaison à plusieurs sparsités ;
``criterion_timings`` mesure le coût du critère **seul** (sans fine-tuning), sur plusieurs répétitions.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .._validation import (
    check_fraction,
    check_loader,
    check_model,
    check_named_criteria,
    check_positive_int,
    check_scope,
)
from ..fr import md_table, num, pct
from ..masks import create_masks, get_masks
from ..scheduling.base import make_criterion, masked_sparsity, prune_to
from ..training import evaluate, fine_tune, reseed_loader, set_seed

# Ce que l'élève lit pour chaque nom de critère (les noms restent ceux du chapitre dans le code).
# « gradient » : la moyenne des |w·g| calculés exemple par exemple (pas « Taylor, par exemple »).
CRITERION_LABELS = {"magnitude": "magnitude |w|", "gradient": "Taylor (gradient de chaque exemple)", "hessian": "OBD (Fisher)",
                    "apoz": "APoZ", "random": "aléatoire"}


def criterion_label(name: str) -> str:
    """Le nom qu'un élève lit pour un critère (notation du glossaire)."""
    return CRITERION_LABELS.get(name, name)


@dataclass
class ComparisonResult:
    """Résultat de ``compare_pruning_criteria``.

    Attributes:
        table: une ligne par critère : ``criterion``, ``accuracy`` (validation, après fine-tuning),
            ``accuracy_pruned`` (juste après l'élagage), ``sparsity`` (atteinte, d'après les masques),
            ``seconds`` (calcul de l'importance + élagage + fine-tuning : ce n'est **pas** le coût du
            critère seul, que mesure ``criterion_timings``).
        overlap: ``{(a, b): J}`` dans les deux sens, J = |P_a ∩ P_b| / |P_a ∪ P_b| (Jaccard des
            ensembles de poids élagués).
        masks: ``{critère: {nom: masque}}``.
    """

    table: list[dict]
    overlap: dict[tuple[str, str], float]
    masks: dict[str, dict[str, torch.Tensor]] = field(repr=False)

    def row(self, criterion: str) -> dict:
        for r in self.table:
            if r["criterion"] == criterion:
                return r
        raise KeyError(f"Critère absent de la comparaison : {criterion!r}.")

    def markdown(self) -> str:
        """Tableau Markdown (``fr.md_table``) : une ligne par critère, puis les recouvrements."""
        head = ["critère", "précision juste après l'élagage", "précision après fine-tuning", "sparsité atteinte",
                "temps total (s) : critère, élagage et fine-tuning"]
        rows = [[criterion_label(r["criterion"]), pct(r["accuracy_pruned"], 2), pct(r["accuracy"], 2),
                 pct(r["sparsity"], 2), num(r["seconds"], 2)] for r in self.table]
        names = [r["criterion"] for r in self.table]
        pairs = [[f"{criterion_label(a)} / {criterion_label(b)}", num(self.overlap[(a, b)], 3)]
                 for a, b in itertools.combinations(names, 2)]
        text = md_table(head, rows)
        if pairs:
            text += "\n\n" + md_table(["recouvrement des poids élagués", "indice de Jaccard J"], pairs)
        return text

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return self.markdown()


@dataclass
class CriterionTimings:
    """Résultat de ``criterion_timings`` : ``seconds[critère]``, une durée par répétition."""

    seconds: dict[str, list[float]]

    def median(self, criterion: str) -> float:
        return float(torch.tensor(self.seconds[criterion], dtype=torch.float64).median())

    def table(self) -> str:
        """Tableau Markdown : médiane et écart interquartile, en millisecondes."""
        rows = []
        for name, times in self.seconds.items():
            t = torch.tensor(times, dtype=torch.float64) * 1e3
            q1, q3 = (float(v) for v in t.quantile(torch.tensor([0.25, 0.75], dtype=torch.float64)))
            rows.append([criterion_label(name), num(float(t.median()), 1), num(q3 - q1, 1), str(len(times))])
        return md_table(["critère", "critère et sélection des poids, médiane (ms)", "écart interquartile (ms)",
                         "répétitions"], rows)

    def _repr_markdown_(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return self.table()


def jaccard_overlap(masks_a: Mapping[str, torch.Tensor], masks_b: Mapping[str, torch.Tensor]) -> float:
    """|P_a ∩ P_b| / |P_a ∪ P_b| où P = ensemble des poids élagués (masque nul), toutes couches."""
    inter = union = 0
    for n in masks_a:
        pa, pb = masks_a[n] == 0, masks_b[n] == 0
        inter += int((pa & pb).sum())
        union += int((pa | pb).sum())
    return inter / union if union else 1.0


def compare_pruning_criteria(model: nn.Module, train_loader, val_loader,
                             criteria: Sequence[str | Callable] | Mapping[str, Callable] = ("magnitude", "gradient", "hessian"),
                             sparsity: float = 0.9, fine_tune_epochs: int = 2, seed: int = 0,
                             loss_fn: Callable | None = None, progress: bool = False, *, scope: str = "global",
                             lr: float = 1e-3, n_batches: int | None = None, max_steps: int | None = None
                             ) -> ComparisonResult:
    """Compare des critères d'élagage à conditions égales.

    Pour chaque critère : une copie (``deepcopy``) du MÊME modèle de référence, la même graine,
    le même ordre des lots (le loader est ré-amorcé avant le calcul d'importance et avant le
    fine-tuning), le même budget de fine-tuning ; précision mesurée sur ``val_loader``.
    Le modèle passé n'est jamais modifié, et l'ordre des critères ne change aucun chiffre
    (hors ``seconds``).

    Args:
        criteria: noms (``"magnitude"``, ``"gradient"``, ``"hessian"``, ``"apoz"``), fonctions
            ``model -> {nom: importance}`` (nommées par ``__name__``), ou ``{nom: fonction}``.
        n_batches: lots de ``train_loader`` utilisés pour calculer les importances (``None`` = tous).
        max_steps: plafond de pas de fine-tuning (budget identique pour tous).
    """
    check_model(model)
    check_loader(train_loader, "train_loader")
    check_loader(val_loader, "val_loader")
    sparsity = check_fraction(sparsity, "sparsity")
    fine_tune_epochs = check_positive_int(fine_tune_epochs, "fine_tune_epochs", minimum=0)
    check_scope(scope)
    named = check_named_criteria(criteria)

    table, all_masks = [], {}
    for name, crit in tqdm(named.items(), desc="critères", disable=not progress, leave=False):
        work = copy.deepcopy(model)
        start = time.perf_counter()
        set_seed(seed)
        reseed_loader(train_loader, seed)
        prune_to(work, sparsity, make_criterion(crit, loss_fn, train_loader, n_batches), scope)
        acc_pruned = evaluate(work, val_loader)
        if fine_tune_epochs > 0:
            fine_tune(work, train_loader, epochs=fine_tune_epochs, lr=lr, seed=seed, loss_fn=loss_fn,
                      progress=progress, max_steps=max_steps, desc=f"fine-tuning {name}")
        seconds = time.perf_counter() - start
        all_masks[name] = get_masks(work)
        table.append({"criterion": name, "accuracy": evaluate(work, val_loader), "accuracy_pruned": acc_pruned,
                      "sparsity": masked_sparsity(work), "seconds": seconds})
    overlap = {}
    for a, b in itertools.combinations(named, 2):
        overlap[(a, b)] = overlap[(b, a)] = jaccard_overlap(all_masks[a], all_masks[b])
    return ComparisonResult(table=table, overlap=overlap, masks=all_masks)


def criterion_timings(model: nn.Module, train_loader,
                      criteria: Sequence[str | Callable] | Mapping[str, Callable] = ("magnitude", "gradient", "hessian"),
                      sparsity: float = 0.9, repeats: int = 5, *, scope: str = "global", n_batches: int | None = None,
                      loss_fn: Callable | None = None) -> CriterionTimings:
    """Coût du critère **seul** : calcul de l'importance et choix des poids à retirer (``create_masks``),
    sans fine-tuning ni évaluation, ``repeats`` fois ; les critères alternent à chaque répétition
    (une variation de charge de la machine touche tous les critères). Chaque mesure part d'une copie
    du modèle, faite hors du chronomètre. ``n_batches`` : comme ``compare_pruning_criteria``.
    """
    check_model(model)
    check_loader(train_loader, "train_loader")
    sparsity = check_fraction(sparsity, "sparsity")
    repeats = check_positive_int(repeats, "repeats")
    check_scope(scope)
    named = check_named_criteria(criteria)
    seconds: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(repeats):
        for name, crit in named.items():
            work = copy.deepcopy(model)
            importance = make_criterion(crit, loss_fn, train_loader, n_batches)
            start = time.perf_counter()
            create_masks(work, sparsity, importance, scope=scope, keep_pruned=True)
            seconds[name].append(time.perf_counter() - start)
    return CriterionTimings(seconds)


def comparison_table(model: nn.Module, data, sparsities: Sequence[float] = (0.5, 0.8, 0.9, 0.95),
                     criteria: Sequence[str] = ("magnitude", "gradient", "hessian"), fine_tune_epochs: int = 1,
                     seed: int = 0, n_batches: int | None = 4) -> dict:
    """``compare_pruning_criteria`` à plusieurs sparsités : ``{sparsité: ComparisonResult}``."""
    return {float(s): compare_pruning_criteria(model, data.train, data.val, criteria, sparsity=s,
                                               fine_tune_epochs=fine_tune_epochs, seed=seed, n_batches=n_batches)
            for s in sparsities}
