"""Widgets des notebooks 00 à 04 : chaque contrôle change vraiment le résultat."""

import copy
import dataclasses

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

matplotlib.use("Agg")

from conftest import param_snapshot  # noqa: E402

from course_lib import (  # noqa: E402
    apply_masks,
    compute_apoz,
    compute_gradient_salience,
    create_masks_from_importance,
    evaluate,
)
from course_lib.widgets import criteria as W  # noqa: E402


def test_masked_evaluator_matches_apply_masks_and_leaves_model_alone(setup):
    data, model = setup
    before = param_snapshot(model)
    ev = W.MaskedEvaluator(model, data.val)
    assert ev.accuracy() == pytest.approx(evaluate(model, data.val))
    masks = {"classifier.1.weight": (torch.rand(64, 512, generator=torch.Generator().manual_seed(1)) > 0.7).float()}
    pruned = apply_masks(copy.deepcopy(model), masks)
    assert ev.accuracy(masks) == pytest.approx(evaluate(pruned, data.val))
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])
    with pytest.raises(KeyError, match="paramètre"):
        ev.accuracy({"nope.weight": torch.ones(1)})


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    a = torch.tensor([1.0, 2.0, 2.0, 3.0, 0.0, 5.0, 5.0])
    b = torch.tensor([0.5, 0.1, 0.7, 0.9, 0.0, 1.0, 0.3])
    assert W.spearman_rho(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert W.spearman_rho(a, -a) == pytest.approx(-1.0)


def test_mask_demo_slider_and_method(setup, record_property):
    data, model = setup
    demo = W.mask_demo(model, data, value=0.5)
    first = demo.last_result
    assert first["kept"] == 320  # 640 poids, la moitié gardée
    demo.control.value = 0.8
    assert demo.last_result["kept"] == 128
    assert not torch.equal(first["mask"], demo.last_result["mask"])
    magnitude_mask = demo.last_result["mask"]
    demo.controls[1].value = "aléatoire"
    assert demo.last_result["kept"] == 128
    assert not torch.equal(magnitude_mask, demo.last_result["mask"])
    demo.control.value = 0.0
    assert demo.last_result["accuracy"] == pytest.approx(evaluate(model, data.val))
    record_property("latency_s", demo.last_latency)


def test_mask_demo_random_arm_is_the_comparison_random_arm(setup):
    from course_lib.experiments import criteria_comparison as cc

    data, model = setup
    demo = W.mask_demo(model, data, value=0.5, seed=0)
    demo.controls[1].value = "aléatoire"
    expected = create_masks_from_importance(cc.random_scores(model, 0), 0.5, scope="layer")["classifier.3.weight"]
    assert torch.equal(demo.last_result["mask"], expected)  # tiré loin du flux qui a initialisé le modèle


def test_magnitude_demo_scope_and_collapse(setup, record_property):
    data, model = setup
    demo = W.magnitude_demo(model, data, value=0.8)
    glob = demo.last_result
    per_layer = list(glob["layer_sparsity"].values())
    assert max(per_layer) - min(per_layer) > 0.2  # le seuil global n'élague pas chaque couche pareil
    # le seuil est le plus grand |w| élagué : tout poids gardé est au-dessus
    weights = {n: p.detach().abs() for n, p in model.named_parameters() if n in glob["layer_sparsity"]}
    kept_min = min(float(w[w > glob["thresholds"]].min()) for w in weights.values())
    assert kept_min > glob["thresholds"]
    demo.controls[1].value = "layer"
    for s in demo.last_result["layer_sparsity"].values():
        assert s == pytest.approx(0.8, abs=0.01)
    demo.control.value = 0.998
    demo.controls[1].value = "global"
    assert demo.last_result["collapsed"], "à 99,8 % le seuil global vide au moins une couche"
    assert demo.last_result["accuracy"] < glob["accuracy"]
    record_property("latency_s", demo.last_latency)


def test_gradient_demo(setup, record_property):
    data, model = setup
    demo = W.gradient_demo(model, data, value=0.0)
    base = evaluate(model, data.val)
    assert all(a == pytest.approx(base) for a in demo.last_result["accuracies"].values())
    demo.control.value = 0.9
    res = demo.last_result
    assert res["overlap"]["magnitude |w|"] == 1.0
    assert all(0 < o < 1 for c, o in res["overlap"].items() if c != "magnitude |w|")
    assert len(set(res["accuracies"].values())) > 1
    demo.controls[1].value = "layer"
    assert demo.last_result["accuracies"] != res["accuracies"]
    record_property("latency_s", demo.last_latency)


def test_gradient_demo_shows_the_accuracy_of_each_pruned_model(setup):
    data, model = setup
    ordered = dataclasses.replace(data, train=DataLoader(data.train.dataset, batch_size=64))  # mêmes lots
    demo = W.gradient_demo(model, ordered, value=0.9)
    demo.controls[1].value = "layer"
    scores = W.gradient_scores(model, ordered.train)
    for criterion, acc in demo.last_result["accuracies"].items():
        pruned = copy.deepcopy(model)
        apply_masks(pruned, create_masks_from_importance(scores[criterion], 0.9, scope="layer"))
        assert acc == pytest.approx(evaluate(pruned, data.val), abs=1e-6), criterion


def test_chapter_gradient_salience_differs_from_mean_gradient(setup):
    data, model = setup
    loss_fn = nn.CrossEntropyLoss()
    # 16 lots pleins de 64 : la moyenne pondérée par lot est alors la moyenne simple
    # (liste figée : le loader d'entraînement mélange à chaque passage)
    batches = [(x, y) for x, y in data.train][:16]
    chapter = W.chapter_gradient_salience(model, loss_fn, batches)
    taylor = compute_gradient_salience(model, loss_fn, batches, variant="mean_gradient")
    # moyenne des |g_b| >= |moyenne des g_b| (inégalité triangulaire), strictement quelque part
    for n in chapter:
        assert torch.all(chapter[n] >= taylor[n] - 1e-6)
    assert any(torch.any(chapter[n] > taylor[n] * 1.5) for n in chapter)


def test_true_loss_increase_is_brute_force(setup):
    data, model = setup
    true = W.true_loss_increase(model, data.train)
    assert true.shape == model.classifier[3].weight.shape
    loss_fn = nn.CrossEntropyLoss()
    x, y = W.loader_tensors(data.train)
    with torch.no_grad():
        base = loss_fn(model(x), y)
        for idx in [(0, 0), (3, 17), (9, 63)]:
            m = copy.deepcopy(model)
            m.classifier[3].weight[idx] = 0.0
            assert float(true[idx]) == pytest.approx(float(loss_fn(m(x), y) - base), abs=1e-6)


def test_second_order_demo(setup, record_property):
    data, model = setup
    demo = W.second_order_demo(model, data, value=1)
    rho = demo.last_result["rho"]
    assert rho["OBD inversé w²/(2H)"] < 0 < rho["OBD ½·H·w²"]
    assert rho["OBD ½·H·w²"] > rho["magnitude |w|"]
    demo.control.value = 2
    assert demo.last_result["rho"]["OBD ½·H·w²"] != rho["OBD ½·H·w²"]
    fisher = demo.last_result
    demo.controls[2].value = "squared_batch_mean"
    assert demo.last_result["rho"]["OBD ½·H·w²"] != fisher["rho"]["OBD ½·H·w²"]
    assert fisher["scale_ratio"] < 0.5  # carré de la moyenne du lot << moyenne des carrés
    demo.controls[1].value = "magnitude |w|"
    assert demo.last_result["selected_rho"] == pytest.approx(rho["magnitude |w|"])
    with pytest.raises(ValueError, match="lots"):
        W.second_order_demo(model, data, value=1000)
    record_property("latency_s", demo.last_latency)


def test_highest_apoz_channels_and_channel_masks(setup):
    _, model = setup
    apoz = torch.tensor([0.5, 0.9, 0.5, 0.1, 0.9])
    assert W.highest_apoz_channels(apoz, 0.4) == [1, 4]
    assert W.highest_apoz_channels(apoz, 0.6) == [0, 1, 4]  # égalité 0.5 : le plus petit indice
    with pytest.raises(ValueError):
        W.highest_apoz_channels(apoz, 1.5)
    masks = W.channel_masks(model, "features.0", [2, 5])
    assert masks["features.0.bias"].tolist().count(0.0) == 2
    assert masks["features.0.weight"][2].sum() == 0 and masks["features.0.weight"][3].sum() == 9


def test_apoz_demo(setup, record_property):
    data, model = setup
    demo = W.apoz_demo(model, data, value=0.0, layer="features.1")
    assert demo.last_result["removed"] == []
    assert demo.last_result["accuracy"] == pytest.approx(evaluate(model, data.test))  # la validation choisit, le test rend compte
    demo.control.value = 0.25
    res = demo.last_result
    assert len(res["removed"]) == 4
    kept = [c for c in range(16) if c not in res["removed"]]
    assert min(res["apoz"][c] for c in res["removed"]) >= max(res["apoz"][c] for c in kept)
    demo.controls[2].value = "avant"
    assert float(demo.last_result["apoz"].max()) < 0.01  # avant la ReLU : presque jamais nul
    assert demo.last_result["removed"] != res["removed"]
    demo.controls[1].value = "features.3"
    assert len(demo.last_result["apoz"]) == 32
    # l'APoZ affiché est celui de la validation (Hu et al., 2016), pas de l'entraînement
    demo.controls[2].value = "après"
    assert torch.equal(demo.last_result["apoz"], compute_apoz(model, data.val)["features.3"])
    with pytest.raises(ValueError, match="ReLU"):
        W.apoz_demo(model, data, layer="features.0")
    record_property("latency_s", demo.last_latency)


# ----------------------------------------------------------------------------- expériences sur graines

def test_criteria_scores_per_example_taylor_is_normalised_and_dominates_mean_gradient(setup):
    from course_lib.experiments import criteria_comparison as cc

    data, model = setup
    batches = [(x, y) for x, y in data.train if len(y) == data.train.batch_size][:4]
    scores = cc.criteria_scores(model, batches, (cc.TAYLOR, cc.TAYLOR_MEAN, cc.RANDOM), seed=3)
    for n, s in scores[cc.TAYLOR].items():  # normalisation ℓ2 par couche (Molchanov 2017, §2.3)
        assert float(s.norm()) == pytest.approx(1.0, abs=1e-5), n
    raw = compute_gradient_salience(model, nn.CrossEntropyLoss(), batches)
    for n in raw:  # |w·ḡ| ≤ moyenne des |w·g^(m)| (inégalité triangulaire)
        assert torch.all(scores[cc.TAYLOR_MEAN][n] <= raw[n] * (1 + 1e-4) + 1e-12)
    again = cc.criteria_scores(model, batches, (cc.RANDOM,), seed=3)[cc.RANDOM]
    assert all(torch.equal(again[n], scores[cc.RANDOM][n]) for n in again)  # hasard reproductible


def test_criteria_comparison_bad_inputs_are_french_errors(setup):
    from course_lib.experiments import criteria_comparison as cc

    data, model = setup
    before = param_snapshot(model)
    with pytest.raises(ValueError, match="inconnu"):
        cc.criteria_scores(model, data.train, ("Taylor au doigt mouillé",))
    with pytest.raises(ValueError, match="au moins 3 graines"):
        cc.SeedComparison(data, [cc.MAGNITUDE], (0.5,), seeds=(0, 1))
    with pytest.raises(ValueError, match="ReLU"):
        cc.apoz_channel_removal(model, data, "features.0")
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])


def test_apoz_channel_removal_matches_masked_evaluation(setup):
    from course_lib.experiments import criteria_comparison as cc

    data, model = setup
    res = cc.apoz_channel_removal(model, data, "classifier.2", 0.5)
    assert res["sans retrait"] == pytest.approx(evaluate(model, data.val))
    after = W.compute_apoz(model, data.train)["classifier.2"]
    removed = W.highest_apoz_channels(after, 0.5)
    ev = W.MaskedEvaluator(model, data.val)
    assert res[cc.APOZ_HIGH] == pytest.approx(ev.accuracy(W.channel_masks(ev.model, "classifier.1", removed)))
    assert len({res[cc.APOZ_HIGH], res[cc.APOZ_LOW]}) == 2


def test_widget_text_is_french(setup, capsys):
    data, model = setup
    demo = W.gradient_demo(model, data, value=0.8)
    capsys.readouterr()
    demo.controls[1].value = "layer"
    text = capsys.readouterr().out
    assert "par couche" in text and "layer" not in text  # la portée en français, pas son identifiant
    assert "," in text and "\u202f%" in text and "." not in text.replace("·", "")  # « 93,1 % »
    assert all(c.style.description_width == "initial" for c in demo.controls)
    assert "80\u202f%" in [label for label, _ in demo.control.options]


def test_decades_are_plain_text_labels():
    """Les décades d'un axe log s'écrivent « 10⁻⁵ » en texte simple (pas de mathtext, pas de
    « 1e-05 ») ; un nuage sur 20 décades n'en étiquette pas plus de 8, sans graduations mineures."""
    import matplotlib.pyplot as plt

    from course_lib.plots import power_of_ten, saliency_scatter

    assert [power_of_ten(x) for x in (1e-5, 1.0, 1000.0, -1e-3, 0.0)] == ["10⁻⁵", "10⁰", "10³", "−10⁻³", "0"]
    fig, ax = plt.subplots()
    saliency_scatter(ax, torch.logspace(-22, -2, 300), torch.rand(300), "test")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(t.startswith("10") and "$" not in t for t in labels), labels
    assert len(ax.xaxis.get_majorticklocs()) <= 10 and len(ax.xaxis.get_minorticklocs()) == 0
    assert ax.get_ylim()[0] == 0  # |ΔL| >= 0 : pas de décades négatives
    plt.close(fig)
