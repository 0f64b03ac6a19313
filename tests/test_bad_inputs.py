"""Entrées invalides : une erreur claire, en français, qui cite la valeur reçue, levée AVANT toute
modification. On vérifie que le modèle reste identique bit à bit (tenseurs, gradients, hooks, mode)."""

from __future__ import annotations

import pytest
import torch
from conftest import LOADER_CALLS, LOSS
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_lib.criteria import (
    apoz_importance,
    approximate_hessian_diag,
    compute_apoz,
    compute_gradient_salience,
    compute_gradients,
)
from course_lib.masks import (
    apply_masks,
    create_masks,
    create_masks_from_importance,
    get_masks,
    load_pruned_state_dict,
    remove_masks,
    sparsity_report,
)
from course_lib.models import SmallCNN

FRENCH = ("doit", "reçu", "attendu", "aucun", "vide", "forme", "contient")


def make_model(pruned: bool) -> nn.Module:
    torch.manual_seed(0)
    model = SmallCNN(width=4, hidden=16)
    if pruned:
        apply_masks(model, create_masks(model, 0.5))
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    LOSS(model(x), y).backward()
    model.train()
    model.classifier.eval()
    return model


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "params": {n: p.detach().clone() for n, p in model.named_parameters()},
        "grads": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "hooks": {n: (list(m._forward_hooks), list(m._forward_pre_hooks), list(m._backward_hooks))
                  for n, m in model.named_modules()},
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    for key in ("state", "params", "grads"):
        assert before[key].keys() == after[key].keys(), key
        for k, v in before[key].items():
            w = after[key][k]
            assert (v is None and w is None) or torch.equal(v, w), (key, k)
    assert before["modes"] == after["modes"]
    assert before["hooks"] == after["hooks"]


def check_error(call, model, exc, *fragments):
    """``call`` lève ``exc`` ; le message est en français et contient chaque fragment ; modèle intact."""
    before = snapshot(model)
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    assert any(word in message for word in FRENCH), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert_unchanged(model, before)


# ----------------------------------------------------------------------------- sparsité

BAD_SPARSITIES = [
    (1.5, ValueError, "1.5"),
    (-0.1, ValueError, "-0.1"),
    (1.0, ValueError, "1.0"),
    (float("nan"), ValueError, "NaN"),
    ("0.5", TypeError, "'0.5'"),
    (True, TypeError, "True"),
]


@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
@pytest.mark.parametrize("value, exc, shown", BAD_SPARSITIES, ids=[str(v[0]) for v in BAD_SPARSITIES])
def test_bad_sparsity(value, exc, shown, pruned):
    model = make_model(pruned)
    check_error(lambda: create_masks(model, value), model, exc, "sparsity", shown, "[0, 1)")
    check_error(lambda: create_masks(model, value, scope="layer"), model, exc, shown)
    imp = {"features.0.weight": torch.rand(4, 1, 3, 3)}
    check_error(lambda: create_masks_from_importance(imp, value), model, exc, "sparsity", shown)


def test_bad_scope_criterion_and_cap():
    model = make_model(True)
    check_error(lambda: create_masks(model, 0.5, scope="couche"), model, ValueError, "'couche'", "global")
    check_error(lambda: create_masks(model, 0.5, criterion="taille"), model, ValueError, "'taille'")
    check_error(lambda: create_masks(model, 0.5, max_layer_sparsity=2.0), model, ValueError,
                "max_layer_sparsity", "2.0")


# ----------------------------------------------------------------------------- loaders vides

def _empty_generator():
    return iter(())


EMPTY_LOADERS = {
    "list": lambda: [],
    "dataloader": lambda: DataLoader(TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long)),
                                     batch_size=4),
    "generator": _empty_generator,
}


@pytest.mark.parametrize("loader", list(EMPTY_LOADERS))
@pytest.mark.parametrize("call", list(LOADER_CALLS))
def test_empty_loader(call, loader):
    model = make_model(pruned=True)
    check_error(lambda: LOADER_CALLS[call](model, EMPTY_LOADERS[loader]()), model, ValueError, "lot")


@pytest.mark.parametrize("call", ["compute_gradients", "fisher", "apoz"])
def test_bad_n_batches(call):
    model = make_model(pruned=True)
    batch = [(torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,)))]
    fn = {"compute_gradients": lambda: compute_gradients(model, LOSS, batch, n_batches=0),
          "fisher": lambda: approximate_hessian_diag(model, LOSS, batch, n_batches=0),
          "apoz": lambda: compute_apoz(model, batch, n_batches=0)}[call]
    check_error(fn, model, ValueError, "n_batches", "0")


def test_bad_method_and_variant():
    model = make_model(pruned=True)
    batch = [(torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,)))]
    check_error(lambda: approximate_hessian_diag(model, LOSS, batch, method="hutchinson"), model, ValueError,
                "'hutchinson'", "fisher")
    check_error(lambda: compute_gradient_salience(model, LOSS, batch, variant="cube"), model, ValueError,
                "'cube'")


# ----------------------------------------------------------------------------- aucune couche élagable

class NoPrunable(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.norm(x))


@pytest.mark.parametrize("call", [
    lambda m: create_masks(m, 0.5),
    lambda m: apply_masks(m, {}),
    lambda m: sparsity_report(m),
    lambda m: get_masks(m),
    lambda m: remove_masks(m),
    lambda m: compute_gradients(m, LOSS, [(torch.rand(3, 4), torch.randint(0, 4, (3,)))]),
    lambda m: approximate_hessian_diag(m, LOSS, [(torch.rand(3, 4), torch.randint(0, 4, (3,)))]),
], ids=["create_masks", "apply_masks", "sparsity_report", "get_masks", "remove_masks",
        "compute_gradients", "fisher"])
def test_model_without_prunable_layer(call):
    model = NoPrunable()
    check_error(lambda: call(model), model, ValueError, "NoPrunable", "aucune couche élagable", "Linear")


# ----------------------------------------------------------------------------- dictionnaires d'importance

def _with_shape(model, name, shape):
    imp = {n: torch.rand_like(m) for n, m in get_masks(model).items()}
    imp[name] = torch.rand(shape)
    return imp


@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
def test_importance_with_wrong_names(pruned):
    model = make_model(pruned)
    imp = {n: torch.rand_like(m) for n, m in get_masks(model).items()}
    imp["features.0.weight_orig"] = imp.pop("features.0.weight")
    check_error(lambda: create_masks(model, 0.5, criterion=lambda _m: imp), model, KeyError,
                "features.0.weight_orig", "features.0.weight")
    masks = {n: torch.ones_like(t) for n, t in imp.items()}
    check_error(lambda: apply_masks(model, masks), model, KeyError, "features.0.weight_orig")


@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
def test_importance_with_wrong_shapes(pruned):
    model = make_model(pruned)
    imp = _with_shape(model, "classifier.3.weight", (16, 10))
    check_error(lambda: create_masks(model, 0.5, criterion=lambda _m: imp), model, ValueError,
                "classifier.3.weight", "(16, 10)", "(10, 16)")
    # les premières couches sont valides : rien ne doit pourtant être appliqué
    masks = {n: torch.zeros_like(t) for n, t in imp.items()}
    check_error(lambda: apply_masks(model, masks), model, ValueError, "(16, 10)")


def test_importance_with_bad_values():
    model = make_model(True)
    imp = {n: torch.rand_like(m) for n, m in get_masks(model).items()}
    imp["features.2.weight"][0, 0, 0, 0] = float("nan")
    check_error(lambda: create_masks(model, 0.5, criterion=lambda _m: imp), model, ValueError, "NaN")
    check_error(lambda: create_masks_from_importance({}, 0.5), model, TypeError, "vide")
    check_error(lambda: create_masks(model, 0.5, criterion=lambda _m: [1, 2]), model, TypeError, "list")
    not_tensor = {"features.0.weight": [[0.5]]}
    check_error(lambda: apply_masks(model, not_tensor), model, TypeError, "list")
    halves = {n: torch.full_like(m, 0.5) for n, m in get_masks(model).items()}
    check_error(lambda: apply_masks(model, halves), model, ValueError, "0.5", "0 et des 1")


def test_bad_state_dict_leaves_model_intact():
    source = make_model(True)
    target = make_model(False)
    sd = dict(source.state_dict())
    sd["classifier.3.bias"] = torch.zeros(7)  # forme fausse
    check_error(lambda: load_pruned_state_dict(target, sd), target, ValueError, "SmallCNN")
    sd = dict(source.state_dict())
    sd["nope.weight_mask"] = torch.ones(3)
    check_error(lambda: load_pruned_state_dict(target, sd), target, KeyError, "nope.weight")


# ----------------------------------------------------------------------------- APoZ sans ReLU

class FunctionalRelu(nn.Module):
    """ReLU appelée comme fonction : aucun module à observer."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


@pytest.mark.parametrize("call", [compute_apoz, apoz_importance])
def test_apoz_without_relu(call):
    torch.manual_seed(0)
    model = FunctionalRelu()
    batch = [(torch.rand(5, 4), torch.randint(0, 3, (5,)))]
    check_error(lambda: call(model, batch), model, ValueError, "FunctionalRelu", "ReLU", "aucun module")
