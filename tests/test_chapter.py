"""Les versions erronées du chapitre (course_lib.chapter) : chacune se trompe là où sa docstring le dit."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from course_lib import chapter
from course_lib.criteria import hessian_criterion
from course_lib.masks import apply_masks, create_masks_from_importance, get_weights
from course_lib.training import make_optimizer


def test_quantile_threshold_miscounts_with_ties_the_exact_count_does_not():
    scores = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0])  # quatre poids déjà nuls
    wrong = chapter.quantile_threshold_mask(scores, 0.25)
    right = create_masks_from_importance({"w": scores}, 0.25)["w"]
    assert int((right == 0).sum()) == 2  # k = round(0,25 × 8)
    assert int((wrong == 0).sum()) == 0  # seuil = 0 et « >= 0 » garde tout : rien n'est retiré


def test_inverted_obd_reverses_the_ranking_of_the_correct_formula():
    w, h = torch.tensor([1.0, 1.0]), torch.tensor([4.0, 1.0])
    assert hessian_criterion(w, h)[0] > hessian_criterion(w, h)[1]
    assert chapter.inverted_hessian_criterion(w, h)[0] < chapter.inverted_hessian_criterion(w, h)[1]


def test_multiplying_masks_by_hand_lets_momentum_revive_pruned_weights():
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    results = {}
    for how in ("à la main", "prune"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 3))
        masks = {"0.weight": (torch.arange(12).view(3, 4) % 2).float()}
        if how == "prune":
            apply_masks(model, masks)
        else:
            chapter.multiply_masks_in_place(model, masks)
        opt = make_optimizer(model, "sgd", 0.1)
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        w = get_weights(model)["0.weight"]
        results[how] = int((w[masks["0.weight"] == 0] != 0).sum())
    assert results["prune"] == 0 and results["à la main"] > 0


def test_chapter_adaptive_rule_speeds_up_after_a_violation():
    normal = chapter.chapter_adaptive_rule(0.5, 0.9, violated=False) - 0.5
    after_violation = chapter.chapter_adaptive_rule(0.5, 0.9, violated=True) - 0.5
    assert after_violation > normal


@pytest.mark.parametrize("name", [n for n, f in vars(chapter).items()
                                  if inspect.isfunction(f) and f.__module__ == chapter.__name__])
def test_each_chapter_version_names_its_correction(name):
    doc = inspect.getdoc(getattr(chapter, name))
    assert "chapitre" in doc.lower() or "CHAPITRE" in doc
    assert "Correction" in doc
