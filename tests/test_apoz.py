"""APoZ mesuré sur la validation (Hu et al., 2016, éq. (1)) et les expériences des notebooks 04, 08 et 11."""

from __future__ import annotations

import copy

import pytest
import torch

from course_lib import compute_apoz
from course_lib.criteria import apoz_importance, apoz_loader
from course_lib.experiments import structured as ex
from course_lib.experiments.comparison import compare_pruning_criteria, criterion_timings
from course_lib.experiments.sensitivity import MaskedEvaluator, channel_masks, highest_apoz_channels
from course_lib.training import evaluate
from tests.conftest import param_snapshot


def test_a_data_bundle_is_measured_on_its_validation_split(setup):
    data, model = setup
    assert apoz_loader(data) is data.val and apoz_loader(data.train) is data.train
    on_bundle, on_val, on_train = (compute_apoz(model, d) for d in (data, data.val, data.train))
    assert all(torch.equal(on_bundle[n], on_val[n]) for n in on_val)
    assert any(not torch.equal(on_val[n], on_train[n]) for n in on_val)  # les deux jeux diffèrent bien
    imp_bundle, imp_val = apoz_importance(model, data), apoz_importance(model, data.val)
    assert all(torch.equal(imp_bundle[n], imp_val[n]) for n in imp_val)


def test_apoz_measures_decide_on_validation_and_report_on_test(setup):
    data, model = setup
    before = param_snapshot(model)
    out = ex.apoz_measures(model, data, ("classifier.2",), 0.5)
    after = compute_apoz(model, data.val)["classifier.2"]
    evaluator = MaskedEvaluator(model, data.test)
    expected = evaluator.accuracy(channel_masks(evaluator.model, "classifier.1", highest_apoz_channels(after, 0.5)))
    assert out[f"classifier.2 : {ex.APOZ_HIGH}"] == expected
    assert out[ex.REFERENCE] == pytest.approx(evaluate(model, data.test))
    assert out[f"classifier.2 : {ex.DEAD}"] == float((after == 1).float().mean())
    one = compute_apoz(model, data.val, n_batches=1)["classifier.2"]
    assert out[f"classifier.2 : {ex.ONE_BATCH_GAP}"] == pytest.approx(float((one - after).abs().max()))
    assert all(torch.equal(before[n], p) for n, p in param_snapshot(model).items())
    with pytest.raises(ValueError, match="relus"):
        ex.apoz_measures(model, data, ("features.0",))


def test_removal_measures_reports_every_criterion_on_test(setup):
    data, model = setup
    out = ex.removal_measures(copy.deepcopy(model), data, 0.5, methods=("l1", "apoz"), epochs=1)
    assert list(out) == [ex.REFERENCE, "norme L1 du filtre", "1 − APoZ", ex.FINE_TUNED]
    assert all(0 <= v <= 1 for v in out.values())
    assert out[ex.REFERENCE] == pytest.approx(evaluate(model, data.test))


def test_latency_measures_are_positive_milliseconds():
    out = ex.latency_measures(0, width=8, min_run_time=0.001, min_blocks=2)
    assert set(out) == {ex.DENSE, ex.MASKED, ex.SMALL} and all(0 < v < 1e4 for v in out.values())


def test_comparison_tables_escape_criterion_names_and_time_the_criterion_alone(setup):
    data, model = setup
    res = compare_pruning_criteria(model, data.train, data.val, ("magnitude",), sparsity=0.5, fine_tune_epochs=0)
    text = res.markdown()
    assert "magnitude \\|w\\|" in text and all(line.count("|") - line.count("\\|") == 6
                                               for line in text.splitlines() if line.startswith("|"))
    timings = criterion_timings(model, data.train, ("magnitude", "gradient"), sparsity=0.5, repeats=2, n_batches=1)
    assert [len(v) for v in timings.seconds.values()] == [2, 2]
    assert all(t > 0 for v in timings.seconds.values() for t in v)
    assert "Taylor (gradient de chaque exemple)" in timings.table() and "magnitude \\|w\\|" in timings.table()
    with pytest.raises(ValueError, match="repeats"):
        criterion_timings(model, data.train, repeats=0)
