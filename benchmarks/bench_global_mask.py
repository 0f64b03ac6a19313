"""Masque global par magnitude : ``course_lib`` contre ``torch.nn.utils.prune.global_unstructured``.

Mêmes tenseurs des deux côtés : les formes des convolutions et de la couche finale de ResNet-18
(11,7 M poids) et 25 matrices 2000×1000 (50 M poids), tirées avec une graine fixe. Deux mesures :

- **de bout en bout** (modèle dense -> modèle élagué) : ``apply_masks(m, create_masks(m, s))``
  contre ``global_unstructured(..., L1Unstructured, amount=s)`` ; les deux posent
  ``weight_orig``/``weight_mask`` par ``torch.nn.utils.prune``. Objectif : ratio <= 0,5 à 90 %.
- **sélection seule** (scores -> masques) : ``create_masks_from_importance`` contre
  ``L1Unstructured.compute_mask`` sur les scores concaténés (le ``topk`` que fait
  ``global_unstructured``).

On vérifie que les deux élaguent le même nombre de poids, k = round(s·n). CPU, threads par
défaut, médiane de ``REPEATS`` mesures alternées.

    .venv/bin/python -m benchmarks.bench_global_mask
"""

from __future__ import annotations

import gc
import statistics
import time

import torch
from torch import nn
from torch.nn.utils import prune

from course_lib.masks import apply_masks, create_masks, create_masks_from_importance

SPARSITIES = (0.5, 0.9)
REPEATS = 3
GOAL = 0.5


def resnet18_shapes() -> list[tuple[int, ...]]:
    """Formes des poids élagables de ResNet-18 (ImageNet) : 11 678 912 poids."""
    shapes = [(64, 3, 7, 7)] + [(64, 64, 3, 3)] * 4
    for c_in, c in ((64, 128), (128, 256), (256, 512)):
        shapes += [(c, c_in, 3, 3), (c, c, 3, 3), (c, c_in, 1, 1), (c, c, 3, 3), (c, c, 3, 3)]
    return shapes + [(1000, 512)]


SIZES = {"11,7 M (formes de ResNet-18)": resnet18_shapes(), "50 M (25 × 2000×1000)": [(2000, 1000)] * 25}


def make_model(shapes, seed: int = 0) -> nn.Module:
    """Un conteneur de couches Conv/Linear sans biais, poids ~ N(0, 1) (mêmes valeurs pour une graine)."""
    g = torch.Generator().manual_seed(seed)
    layers = nn.ModuleList()
    for s in shapes:
        layer = (torch.nn.utils.skip_init(nn.Linear, s[1], s[0], bias=False) if len(s) == 2 else
                 torch.nn.utils.skip_init(nn.Conv2d, s[1], s[0], s[2], bias=False))
        with torch.no_grad():
            layer.weight.copy_(torch.randn(s, generator=g))
        layers.append(layer)
    return layers


def ours(model: nn.Module, s: float) -> None:
    apply_masks(model, create_masks(model, s))


def torch_global(model: nn.Module, s: float) -> None:
    prune.global_unstructured([(m, "weight") for m in model], pruning_method=prune.L1Unstructured, amount=s)


def ours_select(scores: dict, s: float):
    return create_masks_from_importance(scores, s, warn_collapse=False)


def torch_select(scores: dict, s: float):
    flat = torch.cat([t.flatten() for t in scores.values()])
    return prune.L1Unstructured(amount=s).compute_mask(flat, torch.ones_like(flat))


def n_zeros(model: nn.Module) -> int:
    return sum(int((m.weight_mask == 0).sum()) for m in model)


def _timed(fn, *args) -> float:
    gc.collect()
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def measure(shapes, s: float) -> dict:
    n = sum(torch.Size(sh).numel() for sh in shapes)
    k = round(s * n)
    end_to_end = {"ours": [], "torch": []}
    counts = {}
    for r in range(REPEATS):
        for name in (("ours", "torch") if r % 2 == 0 else ("torch", "ours")):
            model = make_model(shapes)
            end_to_end[name].append(_timed(ours if name == "ours" else torch_global, model, s))
            counts[name] = n_zeros(model)
            del model
    scores = {f"{i}.weight": m.weight.detach().abs() for i, m in enumerate(make_model(shapes))}
    select = {"ours": [], "torch": []}
    for r in range(REPEATS):
        for name in (("ours", "torch") if r % 2 == 0 else ("torch", "ours")):
            select[name].append(_timed(ours_select if name == "ours" else torch_select, scores, s))
    out = {f"e2e_{k_}": statistics.median(v) for k_, v in end_to_end.items()}
    out.update({f"sel_{k_}": statistics.median(v) for k_, v in select.items()})
    out["e2e_ratio"] = statistics.median(a / b for a, b in zip(end_to_end["ours"], end_to_end["torch"], strict=True))
    out["sel_ratio"] = statistics.median(a / b for a, b in zip(select["ours"], select["torch"], strict=True))
    out.update(n=n, k=k, count_ours=counts["ours"], count_torch=counts["torch"])
    return out


def run() -> list[dict]:
    rows = []
    threads = torch.get_num_threads()
    for label, shapes in SIZES.items():
        for s in SPARSITIES:
            m = measure(shapes, s)
            same = m["count_ours"] == m["count_torch"] == m["k"]
            where = f"{label}, sparsité {s:.0%}, CPU {threads} threads, médiane de {REPEATS}"
            goal = ""
            if s == 0.9:
                goal = f" ; objectif <= {GOAL} : {'atteint' if m['e2e_ratio'] <= GOAL else 'NON atteint'}"
            rows += [
                {"name": f"masque global {label}, {s:.0%} : course_lib", "value": round(m["e2e_ours"], 2),
                 "unit": "s", "detail": f"{where} ; create_masks + apply_masks"},
                {"name": f"masque global {label}, {s:.0%} : torch global_unstructured",
                 "value": round(m["e2e_torch"], 2), "unit": "s", "detail": where},
                {"name": f"masque global {label}, {s:.0%} : ratio course_lib / torch", "value": round(m["e2e_ratio"], 2),
                 "unit": "x", "detail": f"de bout en bout{goal} ; poids élagués : {m['count_ours']} "
                 f"(course_lib) et {m['count_torch']} (torch), k = round(s·n) = {m['k']} : "
                 f"{'identiques' if same else 'DIFFÉRENTS'}"},
                {"name": f"sélection seule {label}, {s:.0%} : ratio course_lib / torch",
                 "value": round(m["sel_ratio"], 2), "unit": "x",
                 "detail": f"create_masks_from_importance {m['sel_ours']:.2f} s contre "
                 f"L1Unstructured.compute_mask (topk) {m['sel_torch']:.2f} s"},
            ]
            gc.collect()
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
