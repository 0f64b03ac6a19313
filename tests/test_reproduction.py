"""course_lib.reproduction : les expériences du notebook 12, en très petit (quelques époques).

Le notebook lui-même (3 graines, vrais réglages, verdicts vérifiés) tourne sous nbval ; ici on
vérifie le contrat de chaque fonction : clés, précisions dans [0, 1], réseau dense intact,
déterminisme, hasard reproductible.
"""

from __future__ import annotations

import pytest
import torch

from course_lib import load_data
from course_lib import reproduction as R
from course_lib.masks import is_pruned, prunable_modules
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
    _accuracies(out, ["sans ré-entraînement", "élagué et ré-entraîné"])
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


def test_gradual_vs_one_shot_keys(digits):
    out = R.gradual_vs_one_shot(digits, 0, sparsities=(0.5,), hidden=(16,), dense_epochs=1, ramp_epochs=2,
                                recovery_epochs=1)
    _accuracies(out, ["graduel 50\u202f%", "one-shot 50\u202f%"])


def test_sparse_training_keys_and_determinism(digits):
    kw = dict(sparsity=0.8, hidden=(16,), epochs=2)
    a, b = R.sparse_training(digits, 0, **kw), R.sparse_training(digits, 0, **kw)
    _accuracies(a, ["statique", "SET", "RigL"])
    assert a == b


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
