"""Où et quand élaguer (notebook 13) : répartitions exactes, balayage, rembobinage, SNIP et son mélange,
chacun contre un calcul à la main sur de petits tenseurs ; phrases choisies par les verdicts."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.allocation import (
    SensitivityScan,
    allocation_masks,
    erk_densities,
    exact_counts,
    global_allocation,
    global_sparsity,
    layer_sizes,
    sensitivity_allocation,
    sensitivity_scan,
    tolerated_sparsities,
    uniform_allocation,
)
from course_lib.criteria import snip_saliency
from course_lib.data import load_data
from course_lib.experiments import where_when as ww
from course_lib.masks import apply_masks, create_masks, get_masks, get_weights
from course_lib.models import SmallCNN
from course_lib.pruning_at_init import random_masks, shuffle_within_layers, snip_masks
from course_lib.rewinding import (
    random_reinit,
    rewind_weights,
    step_schedule,
    train_with_schedule,
    weights_snapshot,
)
from course_lib.seeds import SeedResults, SeedStats
from course_lib.training import evaluate


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return SmallCNN(width=4, hidden=16)


def tiny_loader(n: int = 40, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------------- comptes exacts

def test_exact_counts_by_hand():
    sizes = {"a": 10, "b": 3}
    # 0,5 × 13 = 6,5 → round = 6 ; ⌊5,5⌋ + ⌊1,5⌋ = 6 : rien à ajouter
    assert exact_counts(sizes, {"a": 0.55, "b": 0.5}, 0.5) == {"a": 5, "b": 1}
    # 0,6 × 13 = 7,8 → 8 ; ⌊6⌋ + ⌊1,8⌋ = 7 : le poids manquant va au plus fort reste (b, 0,8)
    assert exact_counts(sizes, {"a": 0.6, "b": 0.6}, 0.6) == {"a": 6, "b": 2}
    assert uniform_allocation(sizes, 0.6) == {"a": 0.6, "b": 2 / 3}


def test_exact_counts_never_empties_a_layer():
    counts = exact_counts({"a": 4, "b": 100}, {"a": 1.0, "b": 0.5}, 0.5)
    assert counts["a"] == 3 and sum(counts.values()) == 52


def test_erk_by_hand():
    # A : 10×10, rapport (10+10)/100 = 0,2 ; B : 2×10, rapport 12/20 = 0,6. Densité 0,5 : budget 60 poids.
    # ε = 60 / (0,2·100 + 0,6·20) = 1,875 → d_B = 1,125 > 1 : B devient dense ;
    # puis ε = (60 − 20) / (0,2·100) = 2 → d_A = 0,4. Vérification : 0,4·100 + 20 = 60.
    d = erk_densities({"A": (10, 10), "B": (2, 10)}, 0.5)
    assert d["B"] == 1.0 and d["A"] == pytest.approx(0.4)
    # sans plafond : rapport d'une convolution (n_out + n_in + k_h + k_w)/(produit)
    d = erk_densities({"c": (4, 2, 3, 3), "f": (10, 40)}, 0.2)
    ratio = (12 / 72) / (50 / 400)
    assert d["c"] / d["f"] == pytest.approx(ratio)
    assert d["c"] * 72 + d["f"] * 400 == pytest.approx(0.2 * 472)


def hand_scan() -> SensitivityScan:
    return SensitivityScan((0.5, 0.9), 1.0, {"a": (1.0, 0.95), "b": (0.98, 0.9)}, {"a": 100, "b": 100})


def test_sensitivity_allocation_by_hand():
    scan = hand_scan()
    # tolérance 1 point : a tient 50 % (perte 0) mais pas 90 % (5 points) ; b ne tient rien (2 points à 50 %)
    assert tolerated_sparsities(scan, 0.01) == {"a": 0.5, "b": 0.0}
    # densités nécessaires 0,5 et 1 ; cible 50 % : 100 poids gardés = c·(50 + 100) → c = 2/3
    # d_a = 1/3, d_b = 2/3 → 66,7 et 33,3 poids retirés → 67 et 33 (plus fort reste), total 100
    alloc = sensitivity_allocation(scan, 0.5, 0.01)
    assert alloc == {"a": 0.67, "b": 0.33}
    assert scan.evaluations == 1 + 2 * 2
    assert scan.drop("b") == pytest.approx((0.02, 0.1))


@pytest.mark.filterwarnings("ignore::course_lib.masks.LayerCollapseWarning")  # le global vide une couche à 95 %
@pytest.mark.parametrize("target", [0.3, 0.8, 0.95])
def test_every_rule_hits_the_target_exactly(target):
    model = small_cnn()
    sizes = layer_sizes(model)
    n = sum(sizes.values())
    scan = sensitivity_scan(model, tiny_loader(), (0.5, 0.9))
    rules = {"uniforme": uniform_allocation(sizes, target), "globale": global_allocation(model, target),
             "ERK": ww.erk_allocation(model, target), "sensibilité": sensitivity_allocation(scan, target, 0.05)}
    for name, alloc in rules.items():
        masks = allocation_masks(model, alloc)
        pruned = {k: int((m == 0).sum()) for k, m in masks.items()}
        assert sum(pruned.values()) == round(target * n), name
        for k in masks:
            assert pruned[k] == round(alloc[k] * sizes[k]), (name, k)
        assert global_sparsity(sizes, alloc) == pytest.approx(round(target * n) / n)


def test_global_allocation_is_the_global_mask():
    model = small_cnn()
    masks = create_masks(model, 0.7, scope="global")
    alloc = global_allocation(model, 0.7)
    for k, m in masks.items():
        assert alloc[k] == pytest.approx(float((m == 0).sum()) / m.numel())


def test_allocation_masks_keep_largest_weights_per_layer():
    model = small_cnn()
    alloc = uniform_allocation(layer_sizes(model), 0.6)
    masks = allocation_masks(model, alloc)
    for k, w in get_weights(model).items():
        kept, gone = w.abs()[masks[k] == 1], w.abs()[masks[k] == 0]
        assert gone.max() <= kept.min()


def test_sensitivity_scan_matches_direct_evaluation_and_leaves_model_intact():
    model, loader = small_cnn(1), tiny_loader()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scan = sensitivity_scan(model, loader, (0.3, 0.8))
    assert scan.evaluations == 1 + 4 * 2
    assert scan.dense == evaluate(model, loader)
    w = get_weights(model)["classifier.1.weight"]
    keep = torch.ones(w.numel())
    keep[w.abs().flatten().argsort()[: round(0.8 * w.numel())]] = 0
    direct = evaluate(apply_masks(copy.deepcopy(model), {"classifier.1.weight": keep.view_as(w)}), loader)
    assert scan.accuracy["classifier.1.weight"][1] == direct
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ----------------------------------------------------------------------------- rembobinage

def test_step_schedule_by_hand():
    lr = step_schedule(1.0, (2, 4), 0.1)
    assert [lr(e) for e in range(5)] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_train_with_schedule_uses_the_rate_of_each_epoch():
    model, loader = small_cnn(), tiny_loader()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sched = lambda e: 0.0 if e == 0 else 1e-2  # noqa: E731
    losses = train_with_schedule(model, loader, sched, 0, 1)
    assert len(losses) == 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # taux nul : rien ne bouge
    seen = []
    train_with_schedule(model, loader, sched, 1, 3, on_epoch_end=lambda e, _m: seen.append(e))
    assert seen == [2, 3]
    assert not torch.equal(before["classifier.1.weight"], model.state_dict()["classifier.1.weight"])


def test_rewind_weights_restores_snapshot_under_the_mask():
    model = small_cnn()
    snap = weights_snapshot(model)
    train_with_schedule(model, tiny_loader(), lambda e: 1e-2, 0, 2)
    masks = create_masks(model, 0.8, scope="global")
    apply_masks(model, masks)
    rewind_weights(model, snap)
    for k, w in get_weights(model).items():
        assert torch.equal(w, snap[k] * masks[k])
    assert torch.equal(model.classifier[1].bias, snap["classifier.1.bias"])
    assert all(torch.equal(get_masks(model)[k], masks[k]) for k in masks)


def test_random_reinit_keeps_masks_and_draws_from_its_own_stream():
    model = small_cnn(3)
    masks = create_masks(model, 0.5, scope="global")
    a = random_reinit(apply_masks(copy.deepcopy(model), masks), seed=3)
    b = random_reinit(apply_masks(copy.deepcopy(model), masks), seed=3)
    wa, wb, w0 = get_weights(a), get_weights(b), get_weights(model)
    for k in masks:
        assert torch.equal(wa[k], wb[k])                       # même graine, mêmes poids
        assert torch.equal((wa[k] != 0).float(), masks[k])     # masques intacts
        assert not torch.equal(wa[k], w0[k] * masks[k])        # pas les poids d'origine


def test_rewind_refuses_a_foreign_snapshot():
    model = small_cnn()
    with pytest.raises(KeyError, match="snapshot n'a pas d'entrée"):
        rewind_weights(model, {"x": torch.zeros(1)})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = weights_snapshot(model)
    bad["classifier.3.weight"] = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="forme"):
        rewind_weights(model, bad)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ----------------------------------------------------------------------------- SNIP et mélange

class TwoWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, -2.0]]))

    def forward(self, x):
        return self.fc(x)


def test_snip_saliency_by_hand():
    # L = somme des sorties ; ∂L/∂w = x = (1, 1) ; |w ⊙ g| = (1, 2) ; normalisé : (1/3, 2/3)  (éq. 6)
    s = snip_saliency(TwoWeights(), lambda out, _y: out.sum(), (torch.ones(1, 2), torch.zeros(1)))
    assert s["fc.weight"] == pytest.approx(torch.tensor([[1 / 3, 2 / 3]]))


def test_snip_masks_prune_lowest_saliency_exactly():
    model = small_cnn()
    batch = next(iter(tiny_loader()))
    masks = snip_masks(model, batch, 0.9)
    scores = snip_saliency(model, nn.CrossEntropyLoss(), batch)
    n = sum(m.numel() for m in masks.values())
    assert sum(int((m == 0).sum()) for m in masks.values()) == round(0.9 * n)
    gone = torch.cat([scores[k][masks[k] == 0] for k in masks])
    kept = torch.cat([scores[k][masks[k] == 1] for k in masks])
    assert gone.max() <= kept.min()


def test_shuffle_keeps_per_layer_counts_and_moves_positions():
    model = small_cnn()
    masks = snip_masks(model, next(iter(tiny_loader())), 0.8)
    shuffled = shuffle_within_layers(masks, seed=0)
    for k in masks:
        assert int(shuffled[k].sum()) == int(masks[k].sum())
    assert not torch.equal(shuffled["classifier.1.weight"], masks["classifier.1.weight"])
    again = shuffle_within_layers(masks, seed=0)
    assert all(torch.equal(again[k], shuffled[k]) for k in masks)


def test_random_masks_are_independent_of_the_init_stream():
    model = small_cnn(0)
    a, b = random_masks(model, 0.5, seed=0), random_masks(model, 0.5, seed=1)
    assert not torch.equal(a["classifier.1.weight"], b["classifier.1.weight"])
    n = sum(m.numel() for m in a.values())
    assert sum(int((m == 0).sum()) for m in a.values()) == round(0.5 * n)


# ----------------------------------------------------------------------------- mauvaises entrées

@pytest.mark.parametrize("call, error, words", [
    (lambda: sensitivity_scan(small_cnn(), tiny_loader(), (0.8, 0.4)), ValueError, "strictement croissante"),
    (lambda: sensitivity_scan(small_cnn(), tiny_loader(), "0.5"), TypeError, "liste non vide"),
    (lambda: exact_counts({"a": 3}, {"b": 0.5}, 0.5), KeyError, "mêmes couches"),
    (lambda: exact_counts({"a": 0}, {"a": 0.5}, 0.5), ValueError, "entier >= 1"),
    (lambda: erk_densities({"a": (2, 2)}, 0.0), ValueError, "density"),
    (lambda: tolerated_sparsities({"a": 1}, 0.01), TypeError, "SensitivityScan"),
    (lambda: sensitivity_allocation(hand_scan(), 1.0), ValueError, "target"),
    (lambda: allocation_masks(small_cnn(), {"x": 0.5}), KeyError, "une entrée par couche"),
    (lambda: step_schedule(1.0, (2,), gamma=2.0), ValueError, "gamma"),
    (lambda: step_schedule(1.0, 2), TypeError, "milestones"),
    (lambda: train_with_schedule(small_cnn(), tiny_loader(), 0.1, 0, 1), TypeError, "schedule"),
    (lambda: random_reinit(small_cnn(), "a"), TypeError, "seed"),
    (lambda: snip_saliency(small_cnn(), nn.CrossEntropyLoss(), torch.zeros(2)), TypeError, "lot"),
    (lambda: shuffle_within_layers({"a": torch.tensor([0.5])}, 0), ValueError, "0 et des 1"),
    (lambda: ww.say_allocation_vs("hasard"), ValueError, "other"),
])
def test_bad_inputs_raise_french_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ----------------------------------------------------------------------------- phrases

def fake_results(monkeypatch, better: str, worse: str):
    seeds = tuple(range(6))
    high, low = (0.97, 0.98, 0.96, 0.97, 0.98, 0.97), (0.90, 0.91, 0.92, 0.90, 0.91, 0.90)
    stats = {better: SeedStats(high, seeds), worse: SeedStats(low, seeds)}
    fake = ww.WhereWhenResults(SeedResults(stats), {}, {}, {})
    monkeypatch.setattr(ww, "where_when_results", lambda seeds=ww.SEEDS, progress=True: fake)


def test_sentence_follows_the_verdict(monkeypatch):
    fake_results(monkeypatch, ww.LR_REWIND, ww.FINE_TUNING)
    s = ww.say_lr_rewinding_vs_fine_tuning()
    assert s.verdicts[next(iter(s.verdicts))].label == "net" and "**tenu**" in s.text
    fake_results(monkeypatch, ww.FINE_TUNING, ww.LR_REWIND)
    s = ww.say_lr_rewinding_vs_fine_tuning()
    assert "**contredit**" in s.text
    fake_results(monkeypatch, ww.SHUFFLED, ww.SNIP)
    s = ww.say_snip_shuffle()
    assert "**tenu** (et même dépassé)" in s.text


def test_allocation_protocol_is_the_first_part_of_the_full_one(monkeypatch):
    """``allocation_run`` (les répartitions seules, utilisées sur MNIST-5k) refait exactement les
    étapes 1, 2 et (a) du protocole complet : mêmes nombres, graine par graine (ici sur *digits*,
    grille réduite pour aller vite)."""
    monkeypatch.setattr(ww, "EPOCHS", 2)
    monkeypatch.setattr(ww, "RETRAIN", 1)
    monkeypatch.setattr(ww, "ALLOCATION_SPARSITIES", (0.9,))
    data = load_data("digits")
    part = ww.allocation_run(3, data)
    full = ww.where_when_run(3, data)
    assert part.values == {k: full.values[k] for k in part.values}
    assert set(part.values) == {"dense", *(ww.allocation_key(m, 0.9) for m in ww.ALLOCATIONS),
                                *(ww.within_key(m) for m in ww.ALLOCATIONS)}
    assert part.scan == full.scan and part.shapes == full.shapes


def test_allocation_run_learns_on_mnist_with_its_rate(monkeypatch):
    """Sur MNIST-5k, avec son taux (``SCHEDULES["mnist"]``), la graine qui divergeait à 10⁻² apprend :
    le réseau dense est loin du hasard (10 %), et chaque répartition a sa précision (grille réduite)."""
    monkeypatch.setattr(ww, "EPOCHS", 2)
    monkeypatch.setattr(ww, "RETRAIN", 1)
    monkeypatch.setattr(ww, "ALLOCATION_SPARSITIES", (0.9,))
    run = ww.allocation_run(4, load_data("mnist"))
    assert run.values["dense"] > 0.9, run.values
    assert all(0 <= run.values[ww.allocation_key(m, 0.9)] <= 1 for m in ww.ALLOCATIONS)
    assert ww.schedule("mnist")(0) == 3e-3 and ww.schedule("mnist")(4) == pytest.approx(3e-4)


def test_mnist_sentences_name_their_dataset_and_claim(monkeypatch):
    seeds = tuple(range(6))
    high, low = (0.97, 0.98, 0.96, 0.97, 0.98, 0.97), (0.90, 0.91, 0.92, 0.90, 0.91, 0.90)
    stats = {ww.allocation_key(ww.SENSITIVITY, 0.9): SeedStats(high, seeds),
             ww.allocation_key(ww.UNIFORM, 0.9): SeedStats(low, seeds)}
    asked = []

    def fake(dataset="mnist", seeds=ww.SEEDS, progress=True):
        asked.append(dataset)
        return ww.WhereWhenResults(SeedResults(stats), {}, {}, {}, dataset, ww.ALLOCATION_EPOCHS)

    with pytest.raises(ValueError, match="dataset doit valoir"):
        ww.allocation_results("cifar")
    monkeypatch.setattr(ww, "allocation_results", fake)
    s = ww.say_allocation_vs(ww.UNIFORM, dataset="mnist")
    assert asked == ["mnist"] and "(CNN, MNIST-5k)" in s.text and "nettement au-dessus" in s.text
    assert s.claim_id == "sensibilite-contre-uniforme-90-mnist"
    with pytest.raises(ValueError, match="dataset doit valoir"):
        ww.say_allocation_vs(ww.UNIFORM, dataset="cifar")


# ----------------------------------------------------------------------------- démonstration

@pytest.mark.filterwarnings("ignore::course_lib.masks.LayerCollapseWarning")
def test_allocation_demo_reads_precomputed_allocations():
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.widgets.allocation import TARGETS, allocation_demo

    model = small_cnn(2)
    scan = sensitivity_scan(model, tiny_loader(), (0.4, 0.6, 0.8))
    shapes = {n: tuple(w.shape) for n, w in get_weights(model).items()}
    results = ww.WhereWhenResults(SeedResults({}), {0: scan}, shapes,
                                  {0: {t: global_allocation(model, t) for t in TARGETS}})
    demo = allocation_demo(results, seed=0, tolerance=0.01, target=0.9)
    first = demo.last_result
    assert first["tolerated"] == tolerated_sparsities(scan, 0.01)
    assert first["allocations"]["sensibilité"] == sensitivity_allocation(scan, 0.9, 0.01)
    demo.control.value = 0.1
    assert demo.last_result["tolerated"] == tolerated_sparsities(scan, 0.1)
    demo.controls[1].value = 0.5
    sizes = scan.sizes
    for rule, alloc in demo.last_result["allocations"].items():
        assert round(sum(alloc[n] * sizes[n] for n in sizes)) == round(0.5 * sum(sizes.values())), rule
    with pytest.raises(ValueError, match="seed"):
        allocation_demo(results, seed=7)
