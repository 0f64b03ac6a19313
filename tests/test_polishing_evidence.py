"""Notebook 06 : la précision finale des deux polishings sur plusieurs graines, et la phrase de son verdict."""

import pytest

from course_lib.evidence import Statement
from course_lib.experiments import trajectories as T
from course_lib.seeds import SeedResults, SeedStats


@pytest.fixture(scope="module")
def small(setup):
    """Deux graines, une époque : le réseau de la graine 0 est celui de ``setup`` (non ré-entraîné)."""
    data, model = setup
    return T.polishing_accuracies(data, (0, 1), n_epochs=1, models={0: model}, progress=False)


def test_one_seed_of_the_verdict_is_the_trajectories_protocol(setup, small):
    data, model = setup
    assert isinstance(small, SeedResults) and list(small) == ["masques tenus", "naïf"]
    assert small["masques tenus"].seeds == small["naïf"].seeds == (0, 1)
    traj = T.polishing_trajectories(model, data, sparsity=0.9, n_epochs=1, seed=0)
    assert small["masques tenus"].values[0] == traj["final"]["held"]
    assert small["naïf"].values[0] == traj["final"]["naive"]


def test_results_are_computed_once_per_process(setup, small, monkeypatch):
    data, model = setup
    monkeypatch.setattr(T, "polishing_final_accuracies", lambda *a, **k: pytest.fail("recalculé"))
    again = T.polishing_accuracies(data, (0, 1), n_epochs=1, models={0: model}, progress=False)
    assert again is small
    stmt = T.say_polishing_accuracy(data, (0, 1), n_epochs=1, models={0: model})
    assert isinstance(stmt, Statement) and stmt.claim_id == "06-held-vs-naive-accuracy"


def _fake(held, naive):
    seeds = tuple(range(len(held)))
    return SeedResults({"masques tenus": SeedStats(tuple(held), seeds), "naïf": SeedStats(tuple(naive), seeds)})


@pytest.mark.parametrize("held, naive, label, words", [
    ([0.96, 0.97, 0.96, 0.97, 0.96], [0.93, 0.94, 0.93, 0.95, 0.94], "net", "nettement plus précis"),
    ([0.96, 0.94, 0.96, 0.94, 0.95], [0.95, 0.95, 0.95, 0.95, 0.95], "pas net", "ne départage pas"),
    ([0.93, 0.94, 0.93, 0.95, 0.94], [0.96, 0.97, 0.96, 0.97, 0.96], "inversé", "ne la rend pas correcte"),
])
def test_each_verdict_has_its_sentence(monkeypatch, held, naive, label, words):
    monkeypatch.setattr(T, "polishing_accuracies", lambda *a, **k: _fake(held, naive))
    stmt = T.say_polishing_accuracy(None, tuple(range(len(held))))
    assert stmt.verdicts["masques tenus − naïf"].label == label
    assert words in stmt.text and f"Sur {len(held)} réseaux" in stmt.text
    assert "verdict" in stmt._repr_markdown_()


@pytest.mark.parametrize("kwargs, error, words", [
    ({"seeds": (0,)}, ValueError, "au moins 2"),
    ({"seeds": (0, 1), "sparsity": 1.5}, ValueError, "sparsity"),
    ({"seeds": (0, 1), "n_epochs": 0}, ValueError, "n_epochs"),
    ({"seeds": (0, 1), "lr": -1.0}, ValueError, "lr"),
    ({"seeds": (0, 1), "models": {0: "réseau"}}, TypeError, "nn.Module"),
])
def test_bad_inputs_are_refused_in_french(setup, kwargs, error, words):
    data, _ = setup
    with pytest.raises(error, match=words):
        T.polishing_accuracies(data, progress=False, **kwargs)
