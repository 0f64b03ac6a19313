"""Élagage structuré : retrait physique = masque, MAC contre compteurs indépendants, critères de canal."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from course_lib import PruningScheduler, build_model, evaluate
from course_lib.cost import count_macs, count_params, measure_latency
from course_lib.masks import (
    apply_masks,
    create_masks,
    get_masks,
    load_pruned_state_dict,
    remove_masks,
)
from course_lib.models import CifarCNN
from course_lib.structured import (
    channel_groups,
    channel_importance,
    channel_masks,
    remove_channels,
    select_channels,
)
from tests.conftest import param_snapshot

METHODS = ("l1", "l2", "apoz", "taylor")


def _cifar(seed: int = 0, width: int = 8) -> CifarCNN:
    """Petit CNN de forme CIFAR dont les BatchNorm ont des statistiques non triviales."""
    torch.manual_seed(seed)
    model = CifarCNN(width)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def _outputs(model, x):
    with torch.no_grad():
        return model.eval()(x)


# ----------------------------------------------------------------------------- retrait = masque

@pytest.mark.parametrize("method", METHODS)
def test_removed_model_equals_masked_model_on_real_data(setup, method):
    data, model = setup
    x = torch.cat([b[0] for b in data.test])
    keep = select_channels(channel_importance(model, method, data.train), 0.5)
    small = remove_channels(model, keep, check_input=x[:2])
    masked = apply_masks(copy.deepcopy(model), channel_masks(model, keep))
    assert count_params(small) < count_params(model) / 2
    out_small, out_masked, out_full = _outputs(small, x), _outputs(masked, x), _outputs(model, x)
    assert torch.allclose(out_small, out_masked, atol=1e-5), (out_small - out_masked).abs().max()
    assert not torch.allclose(out_small, out_full, atol=1e-3)  # on a bien retiré quelque chose


def test_batch_norm_statistics_are_carried():
    model = _cifar()
    keep = select_channels(channel_importance(model, "l2"), 0.5)
    small = remove_channels(model, keep)
    masked = apply_masks(copy.deepcopy(model), channel_masks(model, keep))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(_outputs(small, x), _outputs(masked, x), atol=1e-5)
    bn = small.features[1]
    assert torch.equal(bn.running_var, model.features[1].running_var[keep["features.0"]])
    # masquer la convolution seule ne suffit pas : la BatchNorm rallume le canal (β − γ·μ/σ)
    conv_only = {k: v for k, v in channel_masks(model, keep).items() if k.startswith("features.0.")}
    relu = apply_masks(copy.deepcopy(model), conv_only).features[:3]
    removed = sorted(set(range(model.features[0].out_channels)) - set(keep["features.0"].tolist()))
    assert relu(x)[:, removed].abs().sum() > 0


def _bn_everywhere(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("order", ["bn-relu", "relu-bn", "relu-pool-bn"])
def test_batch_norm_before_or_after_relu_is_cut_with_its_channels(order):
    torch.manual_seed(0)
    block = {"bn-relu": [nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2)],
             "relu-bn": [nn.ReLU(), nn.BatchNorm2d(6), nn.MaxPool2d(2)],
             "relu-pool-bn": [nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(6)]}[order]
    model = _bn_everywhere(nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), *block, nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(8),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 10), nn.ReLU(), nn.BatchNorm1d(10), nn.Linear(10, 4)))
    x = torch.randn(5, 3, 8, 8)
    keep = {"0": [0, 2, 5], "4": [1, 2, 6, 7], "8": [0, 3, 4, 9]}
    small = remove_channels(model, keep, check_input=x[:2])
    masked = apply_masks(copy.deepcopy(model), channel_masks(model, keep))
    assert torch.allclose(_outputs(small, x), _outputs(masked, x), atol=1e-5)
    norms = [m for m in small.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert [m.num_features for m in norms] == [3, 4, 4]


def test_batch_norm_over_flattened_features_is_refused_before_any_change():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(4 * 8 * 8),
                          nn.Linear(4 * 8 * 8, 3))
    before = param_snapshot(model)
    for call in (lambda: remove_channels(model, {"0": [0, 1]}), lambda: channel_masks(model, {"0": [0, 1]}),
                 lambda: channel_importance(model, "l1")):
        with pytest.raises(ValueError, match="BatchNorm '3' normalise 256 entrées après un Flatten"):
            call()
    after = param_snapshot(model)
    assert all(torch.equal(before[n], after[n]) for n in before)


def test_mlp_neurons_are_removed():
    model = build_model(kind="mlp", seed=0).eval()
    keep = {"net.1": torch.arange(0, 128, 2), "net.3": torch.tensor([0, 5, 7])}
    small = remove_channels(model, keep)
    assert small.net[1].out_features == 64 and small.net[3].in_features == 64 and small.net[5].in_features == 3
    masked = apply_masks(copy.deepcopy(model), channel_masks(model, keep))
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(_outputs(small, x), _outputs(masked, x), atol=1e-5)


def test_a_masked_model_is_pruned_from_its_effective_weights(setup):
    data, model = setup
    masked = apply_masks(copy.deepcopy(model), create_masks(model, 0.5))
    keep = select_channels(channel_importance(masked, "l1"), 0.25)
    x = torch.cat([b[0] for b in data.val])
    small = remove_channels(masked, keep)
    ref = apply_masks(copy.deepcopy(masked), channel_masks(masked, keep))
    assert torch.allclose(_outputs(small, x), _outputs(ref, x), atol=1e-5)
    assert not any(n.endswith("_orig") for n, _ in small.named_parameters())


# ----------------------------------------------------------------------------- biais du canal APoZ

def test_apoz_criterion_masks_the_bias_of_removed_channels(setup):
    data, model = setup
    model = copy.deepcopy(model)
    PruningScheduler(model, 0.3, schedule="one_shot", criterion="apoz", data_loader=data.train)
    x = torch.cat([b[0] for b in data.val])
    modules, outputs, removed = dict(model.named_modules()), {}, 0
    for name, group in channel_groups(model).items():
        layer = modules[name]
        dead = layer.weight_mask.flatten(1).sum(dim=1) == 0
        if dead.any():
            assert torch.equal(layer.bias_mask, (~dead).float())
            modules[group.relu].register_forward_hook(lambda _m, _i, out, n=name: outputs.__setitem__(n, out))
            removed += int(dead.sum())
        else:
            assert not hasattr(layer, "bias_mask")
    assert removed > 0
    _outputs(model, x)
    for name, out in outputs.items():
        dead = modules[name].weight_mask.flatten(1).sum(dim=1) == 0
        assert out[:, dead].abs().max() == 0  # sans le biais, le canal émettrait ReLU(b) > 0
    # ces masques de biais survivent à la copie, au state_dict et au retrait des masques
    fresh = load_pruned_state_dict(build_model(data, seed=1), copy.deepcopy(model).state_dict())
    assert torch.allclose(_outputs(fresh, x), _outputs(model, x))
    assert torch.allclose(_outputs(remove_masks(copy.deepcopy(model)), x), _outputs(model, x), atol=1e-6)
    assert "features.0.bias" not in get_masks(model)  # la sparsité se compte toujours sur les poids


def test_magnitude_masks_never_touch_biases(setup):
    _, model = setup
    masks = create_masks(model, 0.95)
    assert all(k.endswith(".weight") for k in masks)


# ----------------------------------------------------------------------------- critères

def test_filter_norms_and_apoz_match_their_formulas(setup):
    data, model = setup
    w = model.features[2].weight.detach()
    assert torch.allclose(channel_importance(model, "l1")["features.2"], w.abs().sum(dim=(1, 2, 3)))
    assert torch.allclose(channel_importance(model, "l2")["features.2"], w.pow(2).sum(dim=(1, 2, 3)).sqrt())
    from course_lib import compute_apoz

    apoz = compute_apoz(model, data.train)
    assert torch.allclose(channel_importance(model, "apoz", data.train)["classifier.1"], 1 - apoz["classifier.2"])
    assert set(channel_groups(model)) == {"features.0", "features.2", "classifier.1"}  # pas la sortie


def test_taylor_matches_a_direct_computation(setup):
    data, model = setup
    x, y = next(iter(data.train))
    scores = channel_importance(model, "taylor", [(x, y)])["features.2"]
    dense = copy.deepcopy(model).eval()
    a = dense.features[:4](x)
    loss = nn.functional.cross_entropy(dense.classifier(dense.features[4](a)), y)
    (g,) = torch.autograd.grad(loss, a)
    theta = (a * g).mean(dim=(2, 3)).abs().mean(dim=0).detach()
    assert torch.allclose(scores, theta / theta.norm(), atol=1e-5)


def test_select_channels_exact_count_ties_and_at_least_one():
    keep = select_channels({"a": torch.tensor([3.0, 1.0, 1.0, 1.0, 2.0])}, 0.4)
    assert keep["a"].tolist() == [0, 3, 4]  # deux retirés ; à égalité, le plus petit indice part d'abord
    assert select_channels({"a": torch.ones(3)}, 0.99)["a"].tolist() == [2]


# ----------------------------------------------------------------------------- MAC et paramètres

def _flop_counter_macs(model, shape):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    return counter.get_total_flops() / 2


def test_count_macs_by_hand_on_the_course_cnn():
    model = build_model(seed=0)  # digits : 1×8×8, largeurs 16 et 32, 64 neurones cachés
    by_hand = 8 * 8 * 16 * 1 * 9 + 8 * 8 * 32 * 16 * 9 + (32 * 4 * 4) * 64 + 64 * 10
    assert count_macs(model, (1, 8, 8)) == by_hand
    assert count_params(model) == 16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * 64 + 64 + 64 * 10 + 10


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.75])
def test_count_macs_agrees_with_torch_flop_counter(fraction):
    nets = {(1, 8, 8): build_model(seed=0), (3, 32, 32): _cifar(width=16)}
    for shape, model in nets.items():
        if fraction:
            model = remove_channels(model, select_channels(channel_importance(model, "l1"), fraction))
        assert count_macs(model, shape) == _flop_counter_macs(model, shape)


def test_count_macs_and_params_agree_with_torch_pruning():
    tp = pytest.importorskip("torch_pruning")
    model = build_model(seed=0)
    small = remove_channels(model, select_channels(channel_importance(model, "l1"), 0.5))
    for net, shape in ((model, (1, 8, 8)), (small, (1, 8, 8)), (_cifar(width=16), (3, 32, 32))):
        ops, params = tp.utils.count_ops_and_params(net, torch.zeros(1, *shape))
        assert params == count_params(net)
        if not any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):
            # Torch-Pruning compte aussi biais, ReLU et pooling (1 opération par élément) : on les retire
            extra = _elementwise_ops(net, shape)
            assert ops - extra == count_macs(net, shape)


def _elementwise_ops(model, shape):
    """Ce que Torch-Pruning compte en plus des MAC : l'addition du biais, la ReLU et le max-pooling (par élément)."""
    total = 0

    def hook(module, inputs, out):
        nonlocal total
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            total += out.numel() if module.bias is not None else 0
        else:
            total += out.numel() if isinstance(module, nn.ReLU) else inputs[0].numel()

    kinds = (nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return total


def test_masked_model_costs_the_same_macs(setup):
    _, model = setup
    masked = apply_masks(copy.deepcopy(model), create_masks(model, 0.9))
    assert count_macs(masked, (1, 8, 8)) == count_macs(model, (1, 8, 8))
    assert count_params(masked) == count_params(model)


def test_measure_latency_returns_median_and_iqr_and_restores_threads():
    model = build_model(seed=0).train()
    threads = torch.get_num_threads()
    lat = measure_latency(model, (1, 8, 8), batch_size=2, threads=1, min_run_time=0.01, min_blocks=4)
    assert lat.median > 0 and lat.iqr >= 0 and lat.per_example == lat.median / 2
    assert torch.get_num_threads() == threads and model.training


# ----------------------------------------------------------------------------- mauvaises entrées

@pytest.mark.parametrize("keep, error", [
    ({"classifier.3": [0]}, ValueError),            # la couche de sortie
    ({"features.9": [0]}, ValueError),              # couche inconnue
    ({"features.0": []}, ValueError),               # plus aucun canal
    ({"features.0": [0, 16]}, ValueError),          # hors limites
    ({"features.0": [1, 1]}, ValueError),           # doublon
    ({"features.0": [0.5]}, ValueError),            # pas des entiers
    ([0, 1], TypeError),
])
def test_bad_keep_raises_and_changes_nothing(setup, keep, error):
    _, model = setup
    before = param_snapshot(model)
    with pytest.raises(error, match="keep"):
        remove_channels(model, keep)
    with pytest.raises(error, match="keep"):
        channel_masks(model, keep)
    after = param_snapshot(model)
    assert all(torch.equal(before[n], after[n]) for n in before)


def test_unsupported_models_are_refused_clearly():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.relu, self.b = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(self.relu(self.a(x)) + x)  # connexion résiduelle : pas une chaîne

    with pytest.raises(ValueError, match="chaîne"):
        remove_channels(Skip(), {"a": [0, 1]}, check_input=torch.ones(1, 4))
    with pytest.raises(ValueError, match="LSTM"):
        channel_importance(nn.Sequential(nn.LSTM(4, 4)), "l1")
    with pytest.raises(ValueError, match="method"):
        channel_importance(build_model(seed=0), "random")
    with pytest.raises(ValueError, match="données"):
        channel_importance(build_model(seed=0), "taylor")
    with pytest.raises(ValueError, match="fraction"):
        select_channels({"a": torch.ones(3)}, 1.0)
    with pytest.raises(ValueError, match="input_shape"):
        count_macs(build_model(seed=0), (0, 8, 8))
    with pytest.raises(KeyError, match="features.7.bias"):
        apply_masks(build_model(seed=0), {"features.7.bias": torch.ones(3)})


# ----------------------------------------------------------------------------- démonstration du notebook 11

def test_structured_demo_picks_precomputed_results(setup):
    from course_lib.widgets.structured import structured_demo

    data, model = setup
    small_cifar = _cifar(width=8)
    demo = structured_demo(model, data, fractions=(0.0, 0.5), value=0.5, latency_model=small_cifar, epochs=1,
                           batch_sizes=(1,), min_run_time=0.001, min_blocks=2)
    half = demo.last_result
    reduced = remove_channels(model, select_channels(channel_importance(model, "l1"), 0.5))
    assert half["macs"] == count_macs(reduced, (1, 8, 8)) and half["params"] == count_params(reduced)
    assert half["accuracy_before"] == evaluate(reduced, data.test)  # précision de rapport : le test
    cifar_half = remove_channels(small_cifar, select_channels(channel_importance(small_cifar, "l1"), 0.5))
    assert half["gains"]["MAC"] == count_macs(small_cifar, (3, 32, 32)) / count_macs(cifar_half, (3, 32, 32))
    demo.control.value = 0.0
    assert demo.last_result["gains"]["MAC"] == 1 and demo.last_result["macs"] == count_macs(model, (1, 8, 8))
    assert demo.renders == 2
    with pytest.raises(ValueError, match="value"):
        structured_demo(model, data, fractions=(0.0, 0.5), value=0.3)
