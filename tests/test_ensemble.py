"""course_lib.ensemble : les graines entraînées en un seul ensemble (vmap) donnent, graine par graine,
les poids de la boucle ordinaire aux arrondis près."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_lib.data import DataBundle, load_data
from course_lib.ensemble import train_dense_ensemble
from course_lib.models import build_model
from course_lib.reproduction import train_dense
from course_lib.training import EpochTrainer, evaluate

SEEDS = (0, 1, 2)
HIDDEN = (16,)


@pytest.fixture(scope="module")
def tiny():
    """250 images de *digits*, lots de 32 : 8 pas par époque, le dernier incomplet."""
    full = load_data("digits")
    x, y = full.train.dataset.tensors
    train = DataLoader(TensorDataset(x[:250], y[:250]), batch_size=32, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    return DataBundle("digits", train, full.val, full.test, 10, (1, 8, 8), full.classes)


def _loop(data, optimizer: str, lr: float, epochs: int) -> dict[int, torch.nn.Module]:
    if optimizer == "adam":
        return {s: train_dense(data, s, hidden=HIDDEN, epochs=epochs, lr=lr) for s in SEEDS}
    models = {}
    for s in SEEDS:
        models[s] = build_model(data, kind="mlp", seed=s, hidden=HIDDEN)
        trainer = EpochTrainer(data.train, lr=lr, optimizer="sgd", seed=s)
        for _ in range(epochs):
            trainer(models[s])
    return models


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-2), ("sgd", 0.05)])
def test_each_seed_matches_the_loop(tiny, optimizer, lr):
    loop = _loop(tiny, optimizer, lr, epochs=2)
    ens = train_dense_ensemble(tiny, SEEDS, hidden=HIDDEN, epochs=2, lr=lr, optimizer=optimizer)
    assert list(ens) == list(SEEDS)
    for s in SEEDS:
        before = build_model(tiny, kind="mlp", seed=s, hidden=HIDDEN).state_dict()
        after = ens[s].state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before), "l'ensemble n'a rien appris"
        for k, w in loop[s].state_dict().items():
            torch.testing.assert_close(after[k], w, atol=1e-5, rtol=1e-5, msg=f"graine {s}, {k}")
        assert evaluate(ens[s], tiny.test) == pytest.approx(evaluate(loop[s], tiny.test), abs=2 / len(tiny.test.dataset))


def test_zero_epochs_is_the_initialisation(tiny):
    ens = train_dense_ensemble(tiny, (3,), hidden=HIDDEN, epochs=0)
    init = build_model(tiny, kind="mlp", seed=3, hidden=HIDDEN)
    for a, b in zip(ens[3].parameters(), init.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"data": "mnist"}, TypeError, ["DataBundle", "str"]),
    ({"seeds": ()}, ValueError, ["suite non vide", "()"]),
    ({"seeds": 3}, ValueError, ["suite non vide", "3"]),
    ({"seeds": (0, 1.5)}, TypeError, ["entiers", "1.5"]),
    ({"seeds": (0, 0)}, ValueError, ["répétée"]),
    ({"hidden": (0,)}, ValueError, ["hidden", "> 0"]),
    ({"hidden": 300}, ValueError, ["hidden", "300"]),
    ({"epochs": -1}, ValueError, ["epochs", ">= 0"]),
    ({"lr": 0}, ValueError, ["lr", "réel > 0"]),
    ({"optimizer": "rmsprop"}, ValueError, ["'adam' ou 'sgd'", "rmsprop"]),
])
def test_bad_input_raises_a_french_error(tiny, kwargs, error, words):
    args = {"data": tiny, "seeds": SEEDS, "hidden": HIDDEN, "epochs": 1, **kwargs}
    with pytest.raises(error) as info:
        train_dense_ensemble(**args)
    for w in words:
        assert w in str(info.value)
