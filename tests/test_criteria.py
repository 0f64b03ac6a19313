"""Critères : oracle par force brute (OBD contre la formule inversée du chapitre), Fisher par
exemple contre une boucle, saillance de gradient, APoZ, et absence d'effets de bord."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import LOADER_CALLS, LOSS
from scipy.stats import spearmanr
from torch import nn

from course_lib.criteria import (
    apoz_criterion,
    apoz_importance,
    approximate_hessian_diag,
    compute_apoz,
    compute_gradient_salience,
    compute_gradients,
    compute_obd_saliency,
    hessian_criterion,
    inverted_hessian_criterion,
    magnitude_criterion,
    normalize_per_layer,
    per_example_taylor_salience,
)
from course_lib.data import load_data
from course_lib.masks import apply_masks, create_masks, prunable_modules, remove_masks
from course_lib.models import SmallCNN


@pytest.fixture(scope="module")
def digits():
    data = load_data("digits", batch_size=64)
    x = torch.cat([b[0] for b in data.train])
    y = torch.cat([b[1] for b in data.train])
    return x, y


def cnn(seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return SmallCNN(**kw)


def batches(x, y, sizes):
    out, start = [], 0
    for s in sizes:
        out.append((x[start:start + s], y[start:start + s]))
        start += s
    return out


# ----------------------------------------------------------------------------- oracle

def _tiny_model_at_minimum():
    """Petit réseau (5-8-3) entraîné par L-BFGS sur tout le jeu jusqu'à ‖g‖ ≈ 0."""
    torch.manual_seed(0)
    x = torch.randn(300, 5)
    teacher = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        y = torch.distributions.Categorical(logits=3 * teacher(x)).sample()
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=500, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = LOSS(model(x), y)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    model.zero_grad(set_to_none=True)
    return model, x, y


def test_obd_ranks_like_brute_force_oracle_better_than_inverted_formula():
    model, x, y = _tiny_model_at_minimum()
    grads = compute_gradients(model, LOSS, [(x, y)])
    assert max(float(g.abs().max()) for g in grads.values()) < 0.05  # proche d'un minimum
    # vérité : hausse de la perte quand on met CHAQUE poids à zéro, un par un
    truth = []
    with torch.no_grad():
        base = float(LOSS(model(x), y))
        for module in prunable_modules(model).values():
            flat = module.weight.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = 0.0
                truth.append(float(LOSS(model(x), y)) - base)
                flat[i] = old
    fisher = approximate_hessian_diag(model, LOSS, [(x, y)])
    w = {n: m.weight.detach() for n, m in prunable_modules(model).items()}
    obd = torch.cat([hessian_criterion(w[n], fisher[n]).flatten() for n in w])
    inverted = torch.cat([inverted_hessian_criterion(w[n], fisher[n]).flatten() for n in w])
    rho_obd = spearmanr(obd.numpy(), truth)[0]
    rho_inv = spearmanr(inverted.numpy(), truth)[0]
    assert rho_obd > 0.8
    assert rho_obd > rho_inv + 0.2
    # même conclusion avec la fonction de haut niveau
    obd2 = compute_obd_saliency(model, LOSS, [(x, y)])
    assert torch.allclose(torch.cat([obd2[n].flatten() for n in w]), obd)


def test_obd_formula_multiplies_by_curvature():
    w = torch.tensor([1.0, 1.0])
    h = torch.tensor([1.0, 4.0])
    assert torch.equal(hessian_criterion(w, h), torch.tensor([0.5, 2.0]))
    assert inverted_hessian_criterion(w, h)[0] > inverted_hessian_criterion(w, h)[1]  # classement inversé


# ----------------------------------------------------------------------------- Fisher

def _per_example_mean(model, loader, term):
    """(1/N) Σ_n term(w, ∂ℓ_n/∂w), un exemple à la fois avec autograd (référence des tests)."""
    dense = remove_masks(copy.deepcopy(model)).eval()
    mods = prunable_modules(dense)
    acc = {n: torch.zeros_like(m.weight) for n, m in mods.items()}
    count = 0
    for x, y in loader:
        for i in range(len(y)):
            dense.zero_grad()
            LOSS(dense(x[i:i + 1]), y[i:i + 1]).backward()
            for n, m in mods.items():
                acc[n] += term(m.weight.detach(), m.weight.grad)
            count += 1
    return {n: a / count for n, a in acc.items()}


def _fisher_loop(model, loader):
    """Diagonale de Fisher empirique : (1/N) Σ_n (∂ℓ_n/∂w)²."""
    return _per_example_mean(model, loader, lambda w, g: g ** 2)


@pytest.mark.parametrize("pruned", [False, True])
def test_fisher_equals_per_sample_loop(digits, pruned):
    x, y = digits
    model = cnn()
    if pruned:
        apply_masks(model, create_masks(model, 0.5))
    loader = batches(x, y, [64, 36])
    fisher = approximate_hessian_diag(model, LOSS, loader, method="fisher", chunk_size=24)
    expected = _fisher_loop(model, loader)
    assert fisher.keys() == expected.keys()
    for n in fisher:
        assert torch.allclose(fisher[n], expected[n], rtol=0, atol=1e-6), n
        assert float(expected[n].abs().max()) > 1e-5  # la comparaison n'est pas vide


def test_squared_batch_mean_is_not_the_fisher_it_underestimates(digits):
    x, y = digits
    model = cnn()
    loader = batches(x, y, [64] * 8)
    fisher = approximate_hessian_diag(model, LOSS, loader, method="fisher")
    chapter = approximate_hessian_diag(model, LOSS, loader, method="squared_batch_mean")
    total_f = sum(float(f.sum()) for f in fisher.values())
    total_c = sum(float(c.sum()) for c in chapter.values())
    for n in fisher:  # (moyenne de g)² <= moyenne de g² (Jensen), lot par lot
        assert torch.all(chapter[n] <= fisher[n] * (1 + 1e-4) + 1e-12), n
    assert total_c < 0.5 * total_f


# ----------------------------------------------------------------------------- gradient

def _taylor_loop(model, loader):
    """(1/N) Σ_n |w · ∂ℓ_n/∂w| (Taylor, gradient de chaque exemple)."""
    return _per_example_mean(model, loader, lambda w, g: (w * g).abs())


@pytest.mark.parametrize("pruned", [False, True])
def test_per_example_taylor_equals_explicit_per_sample_loop(digits, pruned):
    x, y = digits
    model = cnn(width=4, hidden=16)
    if pruned:
        apply_masks(model, create_masks(model, 0.5))
    loader = batches(x, y, [20, 12])  # lots inégaux, découpés en paquets de 8 (dernier incomplet)
    expected = _taylor_loop(model, loader)
    for sal in (per_example_taylor_salience(model, LOSS, loader, chunk_size=8),
                compute_gradient_salience(model, LOSS, loader)):  # le défaut est la version de l'article
        assert sal.keys() == expected.keys()
        for n in sal:
            assert torch.allclose(sal[n], expected[n], rtol=1e-4, atol=1e-8), n
            assert float(expected[n].max()) > 1e-5  # la comparaison n'est pas vide


def test_per_example_is_at_least_mean_gradient_and_differs(digits):
    """Inégalité triangulaire : (1/N) Σ |w g_n| >= |w ḡ|, et l'écart n'est pas négligeable."""
    x, y = digits
    model = cnn(width=4, hidden=16)
    loader = batches(x, y, [64, 36])
    per_ex = compute_gradient_salience(model, LOSS, loader, variant="per_example")
    mean_g = compute_gradient_salience(model, LOSS, loader, variant="mean_gradient")
    for n in per_ex:
        assert bool((per_ex[n] >= mean_g[n] - 1e-7).all()), n
        assert float(per_ex[n].sum()) > 1.5 * float(mean_g[n].sum()), n


def test_gradient_salience_mean_gradient_is_abs_w_times_abs_mean_gradient(digits):
    x, y = digits
    x, y = x[:100], y[:100]
    model = cnn(width=4, hidden=16)
    loader = batches(x, y, [64, 36])  # lots inégaux : moyenne pondérée par la taille
    sal = compute_gradient_salience(model, LOSS, loader, variant="mean_gradient")
    model.zero_grad()
    LOSS(model(x), y).backward()
    chapter = {n: torch.zeros_like(m.weight) for n, m in prunable_modules(model).items()}
    for xb, yb in loader:
        g = compute_gradients(model, LOSS, [(xb, yb)])
        for n in chapter:
            chapter[n] += g[n].abs() / len(loader)
    for n, m in prunable_modules(model).items():
        expected = m.weight.detach().abs() * m.weight.grad.abs()
        assert torch.allclose(sal[n], expected, rtol=1e-4, atol=1e-7), n
        # la moyenne des |g_b| du chapitre n'est pas la même chose
        assert not torch.allclose(sal[n], m.weight.detach().abs() * chapter[n], rtol=1e-3)
    first = compute_gradient_salience(model, LOSS, loader, n_batches=1, variant="mean_gradient")
    assert not torch.allclose(first["features.0.weight"], sal["features.0.weight"])


@pytest.mark.parametrize("variant", ["per_example", "mean_gradient", "squared"])
def test_layerwise_l2_normalization_gives_unit_norm_per_layer(digits, variant):
    x, y = digits
    model = cnn(width=4, hidden=16)
    loader = batches(x, y, [40, 40])
    raw = compute_gradient_salience(model, LOSS, loader, variant=variant)
    normed = compute_gradient_salience(model, LOSS, loader, variant=variant, normalize=True)
    norms = [float(raw[n].norm()) for n in raw]
    assert max(norms) / min(norms) > 2  # sans normalisation, les échelles diffèrent d'une couche à l'autre
    for n in raw:
        assert float(normed[n].norm()) == pytest.approx(1.0, rel=1e-5), n
        assert torch.allclose(normed[n] * raw[n].norm(), raw[n], rtol=1e-5, atol=1e-12), n


def test_normalize_per_layer_keeps_zero_layers_and_input():
    scores = {"a": torch.tensor([3.0, 4.0]), "b": torch.zeros(3)}
    out = normalize_per_layer(scores)
    assert torch.equal(out["a"], torch.tensor([0.6, 0.8])) and torch.equal(out["b"], torch.zeros(3))
    assert torch.equal(scores["a"], torch.tensor([3.0, 4.0]))  # l'entrée n'est pas modifiée
    with pytest.raises(TypeError, match="dict .* reçu list"):
        normalize_per_layer([torch.ones(2)])


def test_gradient_salience_bad_inputs_change_nothing(digits):
    x, y = digits
    model = cnn(width=4, hidden=16)
    before = _snapshot(model)
    loader = batches(x, y, [8])
    with pytest.raises(ValueError, match="'per_example', 'mean_gradient', 'squared' ; reçu 'abs'"):
        compute_gradient_salience(model, LOSS, loader, variant="abs")
    with pytest.raises(TypeError, match="normalize doit être un booléen .* reçu 'oui'"):
        compute_gradient_salience(model, LOSS, loader, normalize="oui")
    with pytest.raises(ValueError, match="chunk_size doit être un entier >= 1 ; reçu 0"):
        per_example_taylor_salience(model, LOSS, loader, chunk_size=0)
    with pytest.raises(ValueError, match="vide"):
        per_example_taylor_salience(model, LOSS, [])
    _assert_same(before, _snapshot(model))


def test_gradient_salience_squared_variant(digits):
    x, y = digits
    model = cnn(width=4, hidden=16)
    loader = batches(x, y, [40, 40])
    sal = compute_gradient_salience(model, LOSS, loader, variant="squared")
    gs = [compute_gradients(model, LOSS, [b]) for b in loader]
    for n, m in prunable_modules(model).items():
        expected = sum((m.weight.detach() * g[n]) ** 2 for g in gs) / 2
        assert torch.allclose(sal[n], expected, rtol=1e-5, atol=1e-12), n


def test_magnitude_criterion():
    assert torch.equal(magnitude_criterion(torch.tensor([-2.0, 0.5])), torch.tensor([2.0, 0.5]))


# ----------------------------------------------------------------------------- APoZ

def test_apoz_criterion_on_fixed_tensors():
    conv = torch.zeros(2, 3, 2, 2)
    conv[:, 1] = 1.0
    conv[0, 2, 0, 0] = 1.0
    assert torch.equal(apoz_criterion(conv), torch.tensor([1.0, 0.0, 7 / 8]))
    lin = torch.tensor([[0.0, 1.0], [0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    assert torch.equal(apoz_criterion(lin), torch.tensor([0.75, 0.5]))
    with pytest.raises(ValueError, match="forme"):
        apoz_criterion(torch.zeros(2, 3, 4))


def _expected_apoz(model, x):
    with torch.no_grad():
        a1 = model.features[:2](x)
        a2 = model.features[:4](x)
        a3 = model.classifier[:3](model.features(x))
    return {"features.1": (a1 == 0).float().mean(dim=(0, 2, 3)),
            "features.3": (a2 == 0).float().mean(dim=(0, 2, 3)),
            "classifier.2": (a3 == 0).float().mean(dim=0)}


def test_apoz_after_relu_over_whole_loader_conv_and_linear(digits):
    x, y = digits
    x, y = x[:300], y[:300]
    model = cnn()
    loader = batches(x, y, [100, 100, 100])
    apoz = compute_apoz(model, loader)
    expected = _expected_apoz(model, x)
    assert apoz.keys() == expected.keys()
    for n in expected:
        assert apoz[n].shape == expected[n].shape
        assert torch.allclose(apoz[n], expected[n], atol=1e-6), n
    first = compute_apoz(model, loader, n_batches=1)
    first_expected = _expected_apoz(model, x[:100])
    assert torch.allclose(first["features.3"], first_expected["features.3"], atol=1e-6)
    assert not torch.allclose(first["features.3"], apoz["features.3"])  # un seul lot ≠ tout le loader
    assert float(torch.cat(list(apoz.values())).mean()) > 0.2


def test_apoz_before_relu_is_about_zero(digits):
    """La leçon : mesurée sur la sortie des Conv/Linear (avant ReLU), APoZ ne voit presque aucun zéro."""
    x, y = digits
    model = cnn()
    before = compute_apoz(model, [(x, y)], layer_types=(nn.Conv2d, nn.Linear))
    after = compute_apoz(model, [(x, y)])
    assert set(before) == {"features.0", "features.2", "classifier.1", "classifier.3"}
    assert max(float(v.max()) for v in before.values()) < 0.01
    assert max(float(v.max()) for v in after.values()) > 0.5


def test_apoz_eval_mode_no_grad_and_mode_restored(digits):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 36, 10))
    model.train()
    model[0].eval()  # un sous-module déjà en eval : son mode doit être conservé tel quel
    seen = []
    handle = model[3].register_forward_pre_hook(
        lambda m, _inp: seen.append((m.training, model[2].training, torch.is_grad_enabled())))
    running = model[1].running_mean.clone()
    apoz = compute_apoz(model, [(x[:50], y[:50]), (x[50:100], y[50:100])])
    handle.remove()
    assert seen == [(False, False, False)] * 2
    assert torch.equal(model[1].running_mean, running)  # pas de mise à jour de BatchNorm
    assert [m.training for m in model] == [False, True, True, True, True, True]
    # sans Dropout actif, APoZ = celui calculé en eval à la main
    model.eval()
    with torch.no_grad():
        manual = (model[:4](x[:100]) == 0).float().mean(dim=(0, 2, 3))
    assert torch.allclose(apoz["3"], manual, atol=1e-6)


def test_apoz_hooks_removed_when_forward_raises(digits):
    x, y = digits
    model = cnn()
    model.train()
    bad_loader = [(x[:10], y[:10]), (torch.rand(3, 2, 8, 8), y[:3])]  # 2 canaux au lieu de 1
    with pytest.raises(RuntimeError):
        compute_apoz(model, bad_loader)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(m.training for m in model.modules())


def test_apoz_importance_maps_channels_to_preceding_layer(digits):
    x, y = digits
    model = cnn()
    apoz = compute_apoz(model, [(x, y)])
    imp = apoz_importance(model, [(x, y)])
    w = prunable_modules(model)
    assert imp.keys() == w.keys()
    for layer, relu in [("features.0.weight", "features.1"), ("features.2.weight", "features.3"),
                        ("classifier.1.weight", "classifier.2")]:
        assert imp[layer].shape == w[layer].weight.shape
        assert torch.allclose(imp[layer][:, 0].flatten()[: len(apoz[relu])] if imp[layer].dim() == 2
                              else imp[layer][:, 0, 0, 0], 1 - apoz[relu])
    assert torch.all(torch.isinf(imp["classifier.3.weight"]))


# ----------------------------------------------------------------------------- pas d'effets de bord

def _snapshot(model):
    return {
        "params": {n: p.detach().clone() for n, p in model.named_parameters()},
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "hooks": {n: (list(m._forward_hooks.items()), list(m._forward_pre_hooks.items()),
                      list(m._backward_hooks.items())) for n, m in model.named_modules()},
    }


def _assert_same(before, after):
    for key in ("params", "state", "grads"):
        assert before[key].keys() == after[key].keys(), key
        for n, v in before[key].items():
            w = after[key][n]
            assert (v is None and w is None) or torch.equal(v, w), (key, n)
    for key in ("requires_grad", "modes", "hooks"):
        assert before[key] == after[key], key


COMPUTES = {**LOADER_CALLS, "create_masks": lambda m, ld: create_masks(m, 0.7)}


@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
@pytest.mark.parametrize("name", list(COMPUTES))
def test_compute_functions_leave_model_unchanged(digits, name, pruned):
    x, y = digits
    model = cnn(width=4, hidden=16)
    if pruned:
        apply_masks(model, create_masks(model, 0.5))
    model.train()
    model.classifier.eval()
    LOSS(model(x[:20]), y[:20]).backward()  # des gradients existent déjà : ils doivent rester
    model.features[0].register_forward_hook(lambda *_: None)  # un hook de l'utilisateur
    before = _snapshot(model)
    COMPUTES[name](model, batches(x, y, [30, 30]))
    _assert_same(before, _snapshot(model))
