"""Un seul protocole pour tous les ordonnanceurs (issue 16), comme ``torch.optim.lr_scheduler`` :
``step()``, ``sparsity_at(t)``, ``state_dict()`` / ``load_state_dict()``, et une reprise après
sauvegarde qui donne exactement les mêmes masques que la course ininterrompue."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from course_lib.masks import get_masks, load_pruned_state_dict
from course_lib.scheduling import (
    AdaptivePruningScheduler,
    BaseScheduler,
    PruningScheduler,
    RegrowthPruning,
)

torch.manual_seed(0)
X, Y = torch.randn(64, 8), torch.randint(0, 3, (64,))
LOADER = [(X[i:i + 16], Y[i:i + 16]) for i in range(0, 64, 16)]
ACCURACIES = [0.95, 0.95, 0.94, 0.90, 0.95, 0.95, 0.80, 0.95, 0.95, 0.95, 0.95, 0.95]
N_BEFORE, N_AFTER = 4, 6


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def quarter_root(t):
    return min(0.8, 0.1 * t) ** 0.5 * 0.8


# nom -> (construction de l'ordonnanceur sur un modèle, arguments de step() au pas i)
SCHEDULERS = {
    "cubique": (lambda m: PruningScheduler(m, 0.8, "cubic", start_step=1, n_steps=5, frequency=2), None),
    "linéaire critère gradient": (lambda m: PruningScheduler(m, 0.7, "linear", n_steps=8, criterion="gradient",
                                                             data_loader=LOADER, scope="layer"), None),
    "calendrier fonction": (lambda m: PruningScheduler(m, 0.8, quarter_root), None),
    "graduel (époques)": (lambda m: PruningScheduler.gradual(m, 0.75, start_epoch=2, end_epoch=8,
                                                             frequency=2), None),
    "repousse RigL": (lambda m: RegrowthPruning(m, 0.6, 0.3, "rigl", end_step=8, data_loader=LOADER), None),
    "repousse SET": (lambda m: RegrowthPruning(m, 0.6, 0.3, "set", seed=3), None),
    "adaptatif": (lambda m: AdaptivePruningScheduler(0.0, 0.9, 0.02, rollback=True, model=m),
                  lambda i: (ACCURACIES[i],)),
}


def train_step(model: nn.Module, i: int) -> None:
    """Un pas de SGD sans état (même résultat dans la course d'origine et dans la reprise)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = LOADER[i % len(LOADER)]
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def advance(scheduler, model, args, i) -> dict[str, torch.Tensor]:
    train_step(model, i)
    scheduler.step(*(args(i) if args else ()))
    return get_masks(model)


def saved(obj):
    """Aller-retour par ``torch.save`` : l'état doit être sérialisable, comme celui d'un lr_scheduler."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_scheduler_follows_the_protocol(name):
    build, args = SCHEDULERS[name]
    model = make_model(0)
    sched = build(model)
    assert isinstance(sched, BaseScheduler)
    assert 0.0 <= sched.sparsity_at(0) < 1.0

    for i in range(N_BEFORE):
        advance(sched, model, args, i)
    model_state, sched_state = saved(copy.deepcopy(model.state_dict())), saved(sched.state_dict())

    # state_dict est une copie, et l'aller-retour sur soi-même ne change rien
    sched.state_dict()[next(iter(sched_state))] = "modifié"
    sched.load_state_dict(saved(sched.state_dict()))
    assert repr(sched.state_dict()) == repr(sched_state)

    straight = [advance(sched, model, args, i) for i in range(N_BEFORE, N_BEFORE + N_AFTER)]

    other = make_model(1)  # d'autres poids : tout doit venir des sauvegardes
    load_pruned_state_dict(other, model_state)
    resumed_sched = build(other)
    resumed_sched.load_state_dict(sched_state)
    resumed = [advance(resumed_sched, other, args, i) for i in range(N_BEFORE, N_BEFORE + N_AFTER)]

    for a, b in zip(straight, resumed, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    assert repr(resumed_sched.state_dict()) == repr(sched.state_dict())
    assert any(not torch.equal(straight[0][n], torch.ones_like(straight[0][n])) for n in straight[0]), \
        "l'ordonnanceur n'a rien élagué : le test ne prouverait rien"


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_a_bad_state_changes_nothing(name):
    build, args = SCHEDULERS[name]
    model = make_model(0)
    sched = build(model)
    advance(sched, model, args, 0)
    before = repr(sched.state_dict())
    with pytest.raises(KeyError, match="il manque"):
        sched.load_state_dict({})
    with pytest.raises(TypeError, match="dictionnaire"):
        sched.load_state_dict([("last_step", 3)])
    assert repr(sched.state_dict()) == before


def test_a_schedule_can_be_a_function_and_is_capped_by_the_final_sparsity():
    sched = PruningScheduler(make_model(0), 0.5, lambda t: 0.1 * t)
    assert [sched.sparsity_at(t) for t in (0, 2, 9)] == pytest.approx([0.0, 0.2, 0.5])
    assert sched.end_step is None
    with pytest.raises(ValueError, match=r"schedule\(t\)"):
        PruningScheduler(make_model(0), 0.5, lambda t: 1.5)


def test_old_method_names_are_aliases_of_step():
    assert RegrowthPruning.prune_and_regrow_step is RegrowthPruning.step
    assert AdaptivePruningScheduler.get_next_sparsity is AdaptivePruningScheduler.step
