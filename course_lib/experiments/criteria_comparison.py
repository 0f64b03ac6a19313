"""Notebooks 00 à 04 : les comparaisons de critères sur plusieurs graines (moyenne ± écart type).

Une graine = un modèle de référence entraîné avec cette graine (``train_baseline``), les scores
de chaque critère calculés une fois sur ``data.train``, puis la précision de validation du
réseau masqué (sans ré-entraînement) à chaque sparsité. Les notebooks affichent ces résultats,
les widgets les relisent, et les affirmations du texte y sont vérifiées (``assert``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..chapter import chapter_gradient_salience
from ..criteria import compute_gradient_salience
from ..masks import create_masks_from_importance, get_weights
from ..seeds import SeedStats
from ..training import train_baseline
from .sensitivity import MaskedEvaluator

# Les noms que lit l'élève (légendes, tableaux) ; l'ordre est celui des tableaux.
MAGNITUDE = "magnitude |w|"
RANDOM = "hasard"
TAYLOR = "Taylor par exemple"
TAYLOR_MEAN = "Taylor |w·ḡ|"
TAYLOR_SQUARED = "Taylor (w·g)²"
CHAPTER = "chapitre |w|·moy|g_b|"


def random_scores(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Scores tirés au hasard (uniformes), un par poids élagable : la référence « sans critère »."""
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.rand(w.shape, generator=gen) for n, w in get_weights(model).items()}


def criteria_scores(model: nn.Module, loader, names: Sequence[str] = (MAGNITUDE, TAYLOR, TAYLOR_MEAN, CHAPTER),
                    loss_fn=None, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Les scores I_j des critères ``names`` (dans cet ordre), calculés une fois sur ``loader``.

    - ``TAYLOR`` : Molchanov et al. 2017, éq. 8, I_j = (1/N) Σ_m |w_j g_j^(m)| (par exemple),
      puis normalisation ℓ2 par couche (§2.3) pour un classement global ;
    - ``TAYLOR_MEAN`` : la variante |w_j ḡ_j| (gradient moyen : les signes se compensent) ;
    - ``TAYLOR_SQUARED`` : (w_j g_j)² moyenné par lot (Molchanov et al., 2019) ;
    - ``CHAPTER`` : la version du chapitre, |w_j| · moyenne des |g_j| lot par lot ;
    - ``RANDOM`` : tirage uniforme (graine ``seed``).
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    batches = [(b[0], b[1]) for b in loader]  # mêmes lots pour tous les critères
    makers: dict[str, Callable[[], dict[str, torch.Tensor]]] = {
        MAGNITUDE: lambda: {n: w.abs() for n, w in get_weights(model).items()},
        RANDOM: lambda: random_scores(model, seed),
        TAYLOR: lambda: compute_gradient_salience(model, loss_fn, batches, normalize=True),
        TAYLOR_MEAN: lambda: compute_gradient_salience(model, loss_fn, batches, variant="mean_gradient"),
        TAYLOR_SQUARED: lambda: compute_gradient_salience(model, loss_fn, batches, variant="squared"),
        CHAPTER: lambda: chapter_gradient_salience(model, loss_fn, batches),
    }
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise ValueError(f"Critère(s) inconnu(s) : {unknown} ; critères possibles : {list(makers)}.")
    return {n: makers[n]() for n in names}


def pruned_accuracies(model: nn.Module, val_loader, scores: Mapping[str, Mapping[str, torch.Tensor]],
                      sparsities: Sequence[float], scope: str = "global") -> dict[str, list[float]]:
    """Précision de validation du modèle masqué (sans ré-entraînement), par critère et par sparsité."""
    evaluator = MaskedEvaluator(model, val_loader)
    return {c: [evaluator.accuracy(create_masks_from_importance(s, sp, scope=scope)) for sp in sparsities]
            for c, s in scores.items()}


class SeedComparison:
    """Précisions après élagage (sans ré-entraînement) de plusieurs critères sur plusieurs graines.

    ``acc[scope][critère][i]`` est un ``SeedStats`` (une valeur par graine) à ``sparsities[i]``.
    ``models[seed]`` et ``scores[seed]`` sont gardés : les notebooks et les widgets les réutilisent.
    """

    def __init__(self, data, names: Sequence[str], sparsities: Sequence[float], seeds: Sequence[int] = (0, 1, 2),
                 scopes: Sequence[str] = ("global",), epochs: int = 15, progress: bool = True):
        from tqdm.auto import tqdm

        if len(seeds) < 3:
            raise ValueError(f"Une comparaison du cours porte sur au moins 3 graines ; reçu {list(seeds)}.")
        self.names, self.sparsities, self.seeds = list(names), [float(s) for s in sparsities], tuple(seeds)
        self.scopes = list(scopes)
        self.models, self.scores, self.baseline = {}, {}, {}
        raw = {scope: {c: [] for c in self.names} for scope in self.scopes}  # raw[scope][c][graine] = liste
        for seed in tqdm(self.seeds, desc="graines (entraînement + scores)", disable=not progress):
            model = train_baseline(data, seed=seed, epochs=epochs, progress=False)
            self.models[seed] = model
            self.scores[seed] = criteria_scores(model, data.train, self.names, seed=seed)
            self.baseline[seed] = MaskedEvaluator(model, data.val).accuracy()
            for scope in self.scopes:
                accs = pruned_accuracies(model, data.val, self.scores[seed], self.sparsities, scope)
                for c in self.names:
                    raw[scope][c].append(accs[c])
        self.acc = {
            scope: {c: [SeedStats(tuple(run[i] for run in raw[scope][c]), self.seeds) for i in range(len(sparsities))]
                    for c in self.names}
            for scope in self.scopes
        }

    def at(self, criterion: str, sparsity: float, scope: str = "global") -> SeedStats:
        """Le ``SeedStats`` de ``criterion`` à ``sparsity`` (une des sparsités mesurées)."""
        if float(sparsity) not in self.sparsities:
            raise ValueError(f"sparsity={sparsity} n'a pas été mesurée ; sparsités mesurées : {self.sparsities}.")
        return self.acc[scope][criterion][self.sparsities.index(float(sparsity))]

    def table(self, scope: str = "global", digits: int = 1) -> str:
        """Tableau Markdown : une ligne par critère, une colonne par sparsité, « moyenne ± écart type »."""
        from ..fr import md_table, pct

        head = ["critère"] + [f"s = {pct(s, 0)}" for s in self.sparsities]
        return md_table(head, [[c] + [s.fmt(digits) for s in self.acc[scope][c]] for c in self.names])


def last_layer_rank_correlations(model: nn.Module, loader, loss_fn=None) -> dict[str, float]:
    """Notebook 03 : ρ de Spearman entre chaque critère et l'effet réel |ΔL| (force brute), dernière couche.

    L'effet réel de la suppression de chaque poids de la dernière couche linéaire vient de
    ``true_loss_increase`` ; la diagonale de la hessienne est estimée par la Fisher empirique
    par exemple (``approximate_hessian_diag``). Critères : magnitude |w_j|, Taylor |w_j ḡ_j|,
    Taylor par exemple (1/N) Σ_m |w_j g_j^(m)| (Molchanov et al., 2017, éq. 8), OBD ½ F_jj w_j²
    (LeCun et al., 1990) et la formule inversée du chapitre w_j² / (2 F_jj).
    """
    from ..chapter import inverted_hessian_criterion
    from ..criteria import approximate_hessian_diag, compute_gradients, hessian_criterion
    from .sensitivity import last_layer_name, spearman_rho, true_loss_increase

    loss_fn = loss_fn or nn.CrossEntropyLoss()
    batches = [(b[0], b[1]) for b in loader]
    name = last_layer_name(model)
    w = get_weights(model)[name]
    true = true_loss_increase(model, batches, loss_fn).abs()
    fisher = approximate_hessian_diag(model, loss_fn, batches)[name]
    g = compute_gradients(model, loss_fn, batches)[name]
    per_example = compute_gradient_salience(model, loss_fn, batches)[name]
    candidates = {
        MAGNITUDE: w.abs(),
        TAYLOR_MEAN: (w * g).abs(),
        TAYLOR: per_example,
        "OBD ½·F·w²": hessian_criterion(w, fisher),
        "OBD inversé w²/(2F)": inverted_hessian_criterion(w, fisher),
    }
    return {c: spearman_rho(s, true) for c, s in candidates.items()}


APOZ_HIGH = "APoZ le plus élevé (après ReLU)"
APOZ_LOW = "APoZ le plus faible (après ReLU)"
APOZ_BEFORE = "mesure avant la ReLU (chapitre)"


def apoz_channel_removal(model: nn.Module, data, relu: str, fraction: float = 0.5) -> dict[str, float]:
    """Notebook 04 : précision de validation après retrait de ``fraction`` des canaux de la couche
    qui précède ``relu`` (poids **et** biais), choisis par APoZ (Hu et al., 2016) élevé, faible,
    ou mesuré avant la ReLU comme le chapitre ; ``"sans retrait"`` : la référence.
    """
    from ..criteria import compute_apoz
    from .sensitivity import channel_masks, highest_apoz_channels, relu_to_layer

    mapping = relu_to_layer(model)
    if relu not in mapping:
        raise ValueError(f"relu={relu!r} : choisissez une ReLU qui suit une couche élagable parmi {list(mapping)}.")
    layer = mapping[relu]
    after = compute_apoz(model, data.train)[relu]
    before = compute_apoz(model, data.train, layer_types=(nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))[layer]
    evaluator = MaskedEvaluator(model, data.val)
    choices = {
        APOZ_HIGH: highest_apoz_channels(after, fraction),
        APOZ_LOW: highest_apoz_channels(-after, fraction),
        APOZ_BEFORE: highest_apoz_channels(before, fraction),
    }
    out = {"sans retrait": evaluator.accuracy()}
    out.update({label: evaluator.accuracy(channel_masks(evaluator.model, layer, ch)) for label, ch in choices.items()})
    return out
