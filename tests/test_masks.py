"""Masques : compte exact, égalités, application via torch.nn.utils.prune, survie à l'entraînement,
combinaison, suppression, state_dict, deepcopy, noms visibles, effondrement de couche."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib.masks import (
    LayerCollapseWarning,
    apply_masks,
    create_masks,
    create_masks_from_importance,
    get_masks,
    get_weights,
    is_pruned,
    load_pruned_state_dict,
    prunable_modules,
    remove_masks,
    sparsity_report,
)
from course_lib.models import SmallCNN

SPARSITIES = (0.0, 0.5, 0.9, 0.99)


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return SmallCNN(width=4, hidden=16)


def n_pruned(masks: dict[str, torch.Tensor]) -> int:
    return sum(int((m == 0).sum()) for m in masks.values())


def random_importance(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"a.weight": torch.rand(37, 11, generator=g), "b.weight": torch.rand(5, 3, 3, 3, generator=g),
            "c.weight": torch.rand(101, generator=g)}


# ----------------------------------------------------------------------------- compte exact

@pytest.mark.parametrize("s", SPARSITIES)
def test_global_mask_prunes_exactly_round_s_n(s):
    imp = random_importance()
    n = sum(t.numel() for t in imp.values())
    masks = create_masks_from_importance(imp, s, scope="global", warn_collapse=False)
    assert n_pruned(masks) == round(s * n)
    # les poids retirés sont bien les moins importants (classement global)
    pruned = torch.cat([imp[k][masks[k] == 0] for k in imp])
    kept = torch.cat([imp[k][masks[k] == 1] for k in imp])
    if len(pruned) and len(kept):
        assert pruned.max() <= kept.min()


@pytest.mark.parametrize("s", SPARSITIES)
def test_layer_mask_prunes_exactly_round_s_n_per_layer(s):
    imp = random_importance(1)
    masks = create_masks_from_importance(imp, s, scope="layer")
    for k, t in imp.items():
        assert int((masks[k] == 0).sum()) == round(s * t.numel()), k
        if 0 < s:
            assert t[masks[k] == 0].max() <= t[masks[k] == 1].min()


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("s", SPARSITIES)
def test_ties_all_equal_weights_exact_count_first_indices(s, scope):
    imp = {"a.weight": torch.ones(10, 10), "b.weight": torch.ones(7, 3)}
    masks = create_masks_from_importance(imp, s, scope=scope, warn_collapse=False)
    if scope == "global":
        flat = torch.cat([m.flatten() for m in masks.values()])
        k = round(s * flat.numel())
        assert int((flat == 0).sum()) == k
        assert torch.all(flat[:k] == 0) and torch.all(flat[k:] == 1)  # égalités : plus petit indice d'abord
    else:
        for name, m in masks.items():
            assert int((m == 0).sum()) == round(s * m.numel()), name


def test_quantile_threshold_would_get_ties_wrong():
    """Le contre-exemple du chapitre : seuil par quantile + ``>=`` ne retire rien quand tout est égal."""
    w = torch.ones(100, 50)
    chapter_mask = (w >= torch.quantile(w, 0.9)).float()
    assert int((chapter_mask == 0).sum()) == 0
    ours = create_masks_from_importance({"w": w}, 0.9)["w"]
    assert int((ours == 0).sum()) == 4500


@pytest.mark.filterwarnings("ignore::course_lib.masks.LayerCollapseWarning")
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_already_pruned_weights_stay_pruned_and_count(scope):
    model = small_cnn()
    first = create_masks(model, 0.5, scope=scope)
    apply_masks(model, first)
    second = create_masks(model, 0.9, scope=scope)
    apply_masks(model, second)
    report = sparsity_report(model)
    if scope == "global":
        assert report.zeros == round(0.9 * report.total)
    else:
        for layer in report.layers:
            assert layer.zeros == round(0.9 * layer.total), layer.name
    masks = get_masks(model)
    for name, m in first.items():
        assert torch.all(masks[name][m == 0] == 0), name  # rien ne repousse


def test_magnitude_ranks_effective_weights_even_with_zero_weights():
    """Des poids déjà nuls (égalités à 0) n'empêchent pas le compte exact."""
    model = small_cnn()
    with torch.no_grad():
        model.classifier[1].weight[:, :50] = 0.0
    masks = create_masks(model, 0.5)
    n = sum(m.numel() for m in masks.values())
    assert n_pruned(masks) == round(0.5 * n)
    assert torch.all(masks["classifier.1.weight"][:, :50] == 0)


def test_global_mask_over_2_pow_24_weights_exact():
    """Plus de 2**24 scores (la limite de ``torch.quantile``), avec énormément d'égalités."""
    g = torch.Generator().manual_seed(0)
    imp = {"big.weight": torch.randint(0, 1000, (12_000_000,), generator=g).float(),
           "other.weight": torch.randint(0, 1000, (5_000_000,), generator=g).float()}
    n = 17_000_000
    assert n > 2**24
    for s in (0.5, 0.9):
        masks = create_masks_from_importance(imp, s)
        assert sum(int(m.sum()) for m in masks.values()) == n - round(s * n)
        assert all(m.dtype == torch.float32 and m.shape == imp[k].shape for k, m in masks.items())
    del masks, imp


# ----------------------------------------------------------------------------- application

def _train_steps(model, opt, steps=50):
    torch.manual_seed(0)
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
    lambda p: torch.optim.Adam(p, lr=1e-2),
], ids=["sgd-momentum-wd", "adam"])
def test_masks_survive_50_optimizer_steps(make_opt):
    model = small_cnn()
    apply_masks(model, create_masks(model, 0.8))
    masks = get_masks(model)
    before = {n: w.clone() for n, w in get_weights(model).items()}
    _train_steps(model, make_opt(model.parameters()))
    after = get_weights(model)
    for n, m in masks.items():
        assert torch.all(after[n][m == 0] == 0), n
    model(torch.rand(2, 1, 8, 8))
    for n, module in prunable_modules(model).items():
        assert torch.all(module.weight[masks[n] == 0] == 0), n  # l'attribut vu par forward aussi
    assert any(not torch.equal(before[n], after[n]) for n in masks)  # l'entraînement a bien eu lieu


def test_reapplying_combines_masks():
    model = small_cnn()
    imp_a, imp_b = ({n: torch.rand_like(w) for n, w in get_weights(model).items()} for _ in range(2))
    a = create_masks_from_importance(imp_a, 0.5, warn_collapse=False)
    b = create_masks_from_importance(imp_b, 0.5, warn_collapse=False)
    apply_masks(model, a)
    apply_masks(model, b)
    for n, m in get_masks(model).items():
        assert torch.equal(m, a[n] * b[n]), n


def test_remove_masks_makes_pruning_permanent():
    model = small_cnn()
    apply_masks(model, create_masks(model, 0.7))
    expected = {n: w.clone() for n, w in get_weights(model).items()}
    remove_masks(model)
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.endswith("_orig") for n in names)
    assert not any(k.endswith("_mask") for k in model.state_dict())
    for n, module in prunable_modules(model).items():
        assert not is_pruned(module)
        assert isinstance(module.weight, nn.Parameter)
        assert torch.equal(module.weight.detach(), expected[n])
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert sparsity_report(model).zeros == round(0.7 * sparsity_report(model).total)


def test_state_dict_round_trip_with_load_pruned_state_dict():
    model = small_cnn(0)
    apply_masks(model, create_masks(model, 0.6))
    _train_steps(model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), steps=3)
    sd = model.state_dict()
    fresh = load_pruned_state_dict(small_cnn(1), sd)
    assert sd.keys() == fresh.state_dict().keys()
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, sd[k]), k
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(model(x), fresh(x))
    for n in get_masks(model):
        assert torch.equal(get_masks(model)[n], get_masks(fresh)[n])


@pytest.mark.parametrize("when", ["fresh", "after_forward", "after_backward"])
def test_deepcopy_of_pruned_model(when):
    model = small_cnn()
    apply_masks(model, create_masks(model, 0.5))
    x = torch.rand(4, 1, 8, 8)
    if when != "fresh":
        out = model(x)
        if when == "after_backward":
            out.sum().backward()
    clone = copy.deepcopy(model)
    assert torch.equal(clone(x), model(x))
    with torch.no_grad():  # la copie est indépendante
        clone.features[0].weight_orig.add_(1.0)
    assert not torch.equal(clone(x), model(x))
    assert torch.equal(get_masks(clone)["features.0.weight"], get_masks(model)["features.0.weight"])


def test_visible_names_never_show_weight_orig():
    model = small_cnn()
    expected = {n for n, _ in model.named_parameters() if n.endswith("weight")}
    apply_masks(model, create_masks(model, 0.5))
    model(torch.rand(2, 1, 8, 8))
    for names in (get_masks(model), get_weights(model), sparsity_report(model).as_dict(),
                  create_masks(model, 0.6)):
        assert set(names) == expected
    assert "weight_orig" not in repr(sparsity_report(model))
    assert {layer.name for layer in sparsity_report(model).layers} == expected


# ----------------------------------------------------------------------------- effondrement

def test_layer_collapse_warns_and_cap_prevents_it():
    imp = {"a.weight": torch.full((10,), 0.01), "b.weight": torch.linspace(1, 2, 90)}
    with pytest.warns(LayerCollapseWarning, match="a.weight"):
        masks = create_masks_from_importance(imp, 0.2)
    assert int(masks["a.weight"].sum()) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayerCollapseWarning)
        capped = create_masks_from_importance(imp, 0.2, max_layer_sparsity=0.8)
    assert n_pruned(capped) == 20  # le compte global reste exact
    assert int((capped["a.weight"] == 0).sum()) == 8  # plafond : 80 % de la couche a
    assert int((capped["b.weight"] == 0).sum()) == 12
    assert torch.all(capped["b.weight"][:12] == 0)  # les plus faibles de b complètent


def test_impossible_cap_is_refused():
    imp = {"a.weight": torch.rand(10), "b.weight": torch.rand(10)}
    with pytest.raises(ValueError, match="max_layer_sparsity"):
        create_masks_from_importance(imp, 0.9, max_layer_sparsity=0.5)


def test_biases_and_batchnorm_never_pruned_by_default():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = create_masks(model, 0.9)
    assert set(masks) == {"0.weight", "4.weight"}
    apply_masks(model, masks)
    sd = model.state_dict()
    for k in ("0.bias", "1.weight", "1.bias", "1.running_mean", "4.bias"):
        assert torch.equal(sd[k], before[k]), k
        assert f"{k}_mask" not in sd
    assert not hasattr(model[1], "weight_mask")


# ----------------------------------------------------------------------------- propriétés

shapes = st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=3), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(shapes=shapes, s=st.floats(0.0, 0.999, allow_nan=False), scope=st.sampled_from(["global", "layer"]),
       levels=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_masks_properties(shapes, s, scope, levels, seed):
    g = torch.Generator().manual_seed(seed)
    # peu de niveaux distincts = beaucoup d'égalités ; dtype float64 en entrée
    imp = {f"l{i}.weight": torch.randint(0, levels, tuple(sh), generator=g).double()
           for i, sh in enumerate(shapes)}
    masks = create_masks_from_importance(imp, s, scope=scope, warn_collapse=False)
    assert set(masks) == set(imp)
    for k, m in masks.items():
        assert m.shape == imp[k].shape and m.dtype == torch.float32
        assert torch.all((m == 0) | (m == 1))
    if scope == "global":
        assert n_pruned(masks) == round(s * sum(t.numel() for t in imp.values()))
        pruned = torch.cat([imp[k][masks[k] == 0] for k in imp])
        kept = torch.cat([imp[k][masks[k] == 1] for k in imp])
    else:
        for k, t in imp.items():
            assert int((masks[k] == 0).sum()) == round(s * t.numel())
        pruned = kept = torch.tensor([])
    if len(pruned) and len(kept):
        assert pruned.max() <= kept.min()
