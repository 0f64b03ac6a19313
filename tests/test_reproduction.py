"""course_lib.reproduction : les expériences du notebook 12, en très petit (quelques époques).

Le notebook lui-même (plusieurs graines, vrais réglages, verdicts calculés) tourne sous nbval ; ici on
vérifie le contrat de chaque fonction : clés, précisions dans [0, 1], réseau dense intact,
déterminisme, hasard reproductible.
"""

from __future__ import annotations

import pytest
import torch

from course_lib import load_data
from course_lib import reproduction as R
from course_lib.masks import get_weights, is_pruned, prunable_modules
from course_lib.models import build_model
from course_lib.seeds import SeedResults, SeedStats


@pytest.fixture(scope="module")
def mnist():
    return load_data("mnist", batch_size=256)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


@pytest.fixture(scope="module")
def dense(mnist):
    return R.train_dense(mnist, seed=0, hidden=(32, 16), epochs=1)


def _params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _accuracies(out, keys):
    assert list(out) == keys
    assert all(0.0 <= v <= 1.0 for v in out.values())


def test_train_dense_is_lenet_300_100_by_default_and_deterministic(mnist):
    models = R.train_dense_models(mnist, (0,), progress=False, hidden=(8,), epochs=1)
    again = R.train_dense(mnist, 0, hidden=(8,), epochs=1)
    assert set(models) == {0}
    for (n, p), (_, q) in zip(models[0].named_parameters(), again.named_parameters(), strict=True):
        assert torch.equal(p, q), n
    lenet = R.train_dense(mnist, 0, epochs=0)
    assert sum(p.numel() for p in lenet.parameters()) == 266_610  # 784-300-100-10, comme Han et al.


def test_han_prune_retrain_keys_and_dense_untouched(mnist, dense):
    before = _params(dense)
    out = R.han_prune_retrain(dense, mnist, 0, sparsity=0.92, rounds=2, epochs_per_round=1)
    _accuracies(out, ["sans ré-entraînement", "élagué et ré-entraîné", "dense, même budget"])
    assert all(torch.equal(p, before[n]) for n, p in dense.named_parameters())
    assert not any(is_pruned(m) for m in prunable_modules(dense).values())  # pas de masque ajouté


def test_scope_and_random_keys_dense_untouched_random_reproducible(mnist, dense):
    before = _params(dense)
    out = R.scope_and_random(dense, mnist, 0, sparsity=0.9, epochs=1)
    _accuracies(out, ["magnitude globale", "magnitude par couche", "hasard"])
    assert all(torch.equal(p, before[n]) for n, p in dense.named_parameters())
    imp_a, imp_b = R._random_importance(3)(dense), R._random_importance(3)(dense)
    assert all(torch.equal(imp_a[n], imp_b[n]) for n in imp_a)  # hasard reproductible


def test_criterion_and_scope_keys(mnist, dense):
    out = R.criterion_and_scope(dense, mnist, 0, sparsity=0.9, n_batches=1)
    crits = ["magnitude", "OBD (Fisher)", "Taylor", "hasard"]
    _accuracies(out, [f"{c}, {s}" for s in ("global", "par couche") for c in crits])


def test_han_dense_reference_gets_the_same_number_of_epochs(mnist):
    # la référence dense reçoit rounds × epochs_per_round époques de plus, comme le réseau élagué
    dense = R.train_dense(mnist, 0, hidden=(8,), epochs=1)
    out = R.han_prune_retrain(dense, mnist, 0, sparsity=0.5, rounds=1, epochs_per_round=1)
    longer = R.train_dense(mnist, 0, hidden=(8,), epochs=1)
    R._epochs(R.EpochTrainer(mnist.train, lr=1e-3, optimizer="adam", seed=0), longer, 1)
    assert out["dense, même budget"] == R.evaluate(longer, mnist.test)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_scores_are_independent_of_the_initial_weights(mnist, seed):
    """Le hasard ne rejoue pas les nombres de l'initialisation (même graine que build_model)."""
    model = build_model(mnist, kind="mlp", seed=seed, hidden=(300, 100))
    weights, scores = get_weights(model), R._random_importance(seed)(model)
    for name, w in weights.items():
        r = torch.corrcoef(torch.stack([w.flatten(), scores[name].flatten()]))[0, 1]
        assert abs(float(r)) < 0.05, (name, float(r))
    # le piège évité : un générateur de même graine que build_model rejoue les poids initiaux
    same = torch.Generator().manual_seed(seed)
    first = next(iter(weights))
    replay = torch.rand(weights[first].shape, generator=same)
    r_replay = torch.corrcoef(torch.stack([weights[first].flatten(), replay.flatten()]))[0, 1]
    assert float(r_replay) > 0.99


def test_scope_vs_criterion_on_fixed_numbers():
    seeds = (0, 1)

    def stats(v):
        return SeedStats((v, v), seeds)

    res = SeedResults({
        "magnitude, global": stats(0.85), "OBD (Fisher), global": stats(0.70), "Taylor, global": stats(0.60),
        "magnitude, par couche": stats(0.45), "OBD (Fisher), par couche": stats(0.30),
        "Taylor, par couche": stats(0.20),
    })
    scope, spread = R.scope_vs_criterion(res)
    assert scope == pytest.approx(0.40) and spread == pytest.approx(0.25)
