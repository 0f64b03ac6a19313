"""Comparaisons de critères sur graines (notebooks 00 à 03) : hasard indépendant du modèle,
mesures agrégées, tableaux échappés, et une phrase juste pour chacun des trois verdicts."""

import re

import pytest
import torch

from course_lib import build_model, load_data
from course_lib.evidence import NET, NOT_CLEAR, REVERSED, Statement
from course_lib.experiments import criteria_comparison as cc
from course_lib.masks import create_masks_from_importance, get_weights
from course_lib.seeds import SeedResults, SeedStats

SEEDS = (0, 1, 2, 3, 4, 5)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_scores_do_not_replay_the_initial_weights(seed):
    model = build_model(None, seed=seed)
    initial = get_weights(model)
    scores = cc.random_scores(model, seed)
    for n, w in initial.items():
        bound = 5 / w.numel() ** 0.5  # 5 écarts types d'une corrélation entre tirages indépendants
        assert abs(_corr(scores[n], w)) < bound, n
    # le piège évité : la même graine que build_model rejoue l'initialisation de la première couche
    first = next(iter(initial))
    same_stream = torch.rand(initial[first].shape, generator=torch.Generator().manual_seed(seed))
    assert _corr(same_stream, initial[first]) > 0.999


def test_random_arm_keeps_as_many_positive_as_negative_weights():
    model = build_model(None, seed=0)
    weights = get_weights(model)
    masks = create_masks_from_importance(cc.random_scores(model, 0), 0.5, scope="layer")
    name = "classifier.1.weight"  # 32 768 poids : la proportion est précise à 1 % près
    kept = weights[name][masks[name].bool()]
    assert float((kept > 0).float().mean()) == pytest.approx(0.5, abs=0.02)


def test_random_scores_are_reproducible_and_differ_between_seeds():
    model = build_model(None, seed=0)
    a, b, c = cc.random_scores(model, 3), cc.random_scores(model, 3), cc.random_scores(model, 4)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not any(torch.equal(a[n], c[n]) for n in a)


# ----------------------------------------------------------------------------- une comparaison écrite à la main

def _fake(acc: dict, scopes=("global",), sparsities=(0.5, 0.9), seeds=SEEDS, baseline=0.96) -> cc.SeedComparison:
    """Une ``SeedComparison`` sans entraînement : ``acc[scope][critère]`` = une liste de valeurs par sparsité."""
    comp = object.__new__(cc.SeedComparison)
    comp.names = list(next(iter(acc.values())))
    comp.sparsities, comp.seeds, comp.scopes = list(sparsities), tuple(seeds), list(scopes)
    comp.dataset, comp.epochs, comp.models, comp.scores = "digits", 15, {}, {}
    comp.baseline = {s: baseline for s in seeds}
    comp.acc = {sc: {c: [SeedStats(tuple(v), tuple(seeds)) for v in per_sp] for c, per_sp in crit.items()}
                for sc, crit in acc.items()}
    return comp


def _const(x, jitter=0.0):
    return [x + jitter * ((-1) ** i) * (i % 3) for i in range(len(SEEDS))]


def test_mean_over_averages_each_seed_over_the_sparsities():
    comp = _fake({"global": {cc.TAYLOR: [_const(0.9), _const(0.5)], cc.TAYLOR_MEAN: [_const(0.8), _const(0.3)]}})
    m = comp.mean_over(cc.TAYLOR, (0.5, 0.9))
    assert m.values == pytest.approx(tuple(0.7 for _ in SEEDS)) and m.seeds == SEEDS
    with pytest.raises(ValueError, match="mesurée"):
        comp.mean_over(cc.TAYLOR, (0.7,))
    with pytest.raises(ValueError, match="non mesuré"):
        comp.at(cc.MAGNITUDE, 0.5)
    with pytest.raises(ValueError, match="portée"):
        comp.at(cc.TAYLOR, 0.5, "layer")


def _cells(line: str) -> list[str]:
    """Les cellules d'une ligne de tableau Markdown (un ``\\|`` échappé n'en sépare pas deux)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_verdict_table_escapes_names_and_keeps_its_columns():
    comp = _fake({"global": {cc.CHAPTER: [_const(0.95, 0.01), _const(0.7, 0.02)],
                             cc.TAYLOR_MEAN: [_const(0.95, 0.01), _const(0.4, 0.02)]}})
    lines = comp.verdict_table(cc.CHAPTER, cc.TAYLOR_MEAN).splitlines()
    widths = {len(_cells(line)) for line in lines if not line.startswith("|---")}
    assert widths == {6}
    assert _cells(lines[0])[1] == r"chapitre \|w\|·moy\|g\_b\|"
    last = _cells(lines[-1])
    assert last[0] == "90\u202f%" and last[-1] == NET and last[-2] == "6 sur 6"
    assert _cells(lines[2])[-1] == NOT_CLEAR  # 50 % : aucun écart


@pytest.mark.parametrize("gap, label", [(0.2, NET), (0.0, NOT_CLEAR), (-0.2, REVERSED)])
def test_each_say_function_has_a_sentence_for_each_verdict(gap, label):
    hi = [_const(0.9, 0.01), _const(0.6, 0.02), _const(0.5, 0.02), _const(0.4, 0.02)]
    lo = [[v - gap for v in row] for row in hi]
    sp = (0.7, 0.8, 0.9, 0.95)
    comp = _fake({"global": {cc.MAGNITUDE: hi, cc.TAYLOR: lo, cc.TAYLOR_MEAN: hi, cc.RANDOM: lo},
                  "layer": {cc.MAGNITUDE: lo, cc.RANDOM: lo}}, scopes=("global", "layer"), sparsities=sp)
    statements = [
        cc.say_magnitude_beats_random(comp, 0.8, "global"),
        cc.say_global_beats_layer(comp, 0.9),
        cc.say_magnitude_vs_taylor(comp, sp),
        cc.say_criteria_beat_random(comp, [cc.MAGNITUDE, cc.TAYLOR_MEAN]),
    ]
    # Taylor, gradient de chaque exemple (lo) contre |w·ḡ| (hi) : le sens est inversé
    flipped = cc.say_per_example_beats_mean_gradient(comp, sp)
    expected = {NET: REVERSED, REVERSED: NET, NOT_CLEAR: NOT_CLEAR}[label]
    assert next(iter(flipped.verdicts.values())).label == expected
    texts = set()
    for st in [*statements, flipped]:
        assert isinstance(st, Statement)
        text = st._repr_markdown_()
        assert "verdict" in text and "graines" in text
        texts.add(st.text)
    assert len(texts) == 5
    for st in statements:
        assert next(iter(st.verdicts.values())).label == label


def test_criteria_beat_random_follows_the_weakest_case():
    good = [_const(0.9, 0.01), _const(0.8, 0.01)]
    weak = [_const(0.9, 0.01), [0.11, 0.09, 0.12, 0.08, 0.10, 0.10]]
    rnd = [_const(0.3, 0.01), _const(0.1)]
    comp = _fake({"global": {cc.MAGNITUDE: good, cc.TAYLOR_MEAN: weak, cc.RANDOM: rnd}})
    st = cc.say_criteria_beat_random(comp)
    assert next(iter(st.verdicts.values())).label == NOT_CLEAR
    assert r"Taylor \|w·ḡ\| à 90" in st.text and "3 cas sur 4" in st.text


def test_loss_aware_verdict_reads_rank_correlations():
    def stats(x):
        return SeedStats(tuple(x + 0.01 * (i % 2) for i in range(6)), SEEDS, percent=False)

    rho = SeedResults({cc.MAGNITUDE: stats(0.5), cc.TAYLOR_MEAN: stats(0.95), cc.TAYLOR: stats(0.96),
                       cc.OBD: stats(0.96)})
    st = cc.say_loss_aware_beat_magnitude(rho)
    assert next(iter(st.verdicts.values())).label == NET and "0,955" in st.text
    with pytest.raises(ValueError, match="OBD"):
        cc.say_loss_aware_beat_magnitude(SeedResults({cc.MAGNITUDE: stats(0.5)}))


# ----------------------------------------------------------------------------- modèles de référence

def test_data_fingerprint_tells_splits_apart():
    assert cc.data_fingerprint(load_data("digits", seed=0)) == cc.data_fingerprint(load_data("digits", seed=0))
    assert cc.data_fingerprint(load_data("digits", seed=0)) != cc.data_fingerprint(load_data("digits", seed=1))


def test_trained_baselines_train_once_and_hand_out_copies(monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", "off")
    calls = []
    real = cc.train_baseline

    def counting(data, seed, epochs, progress):
        calls.append(seed)
        return real(data, seed=seed, epochs=epochs, progress=progress)

    monkeypatch.setattr(cc, "train_baseline", counting)
    monkeypatch.setattr(cc, "_TRAINED", {})
    data = load_data("digits", seed=0)
    first = cc.trained_baselines(data, (0, 1), epochs=1, progress=False)
    with torch.no_grad():
        first[0].classifier[3].weight.zero_()
    again = cc.trained_baselines(data, (1, 0), epochs=1, progress=False)
    assert calls == [0, 1]
    assert again[0].classifier[3].weight.abs().sum() > 0  # la copie modifiée n'a rien changé
