"""course_lib.seeds : une expérience sur plusieurs graines, moyenne ± écart type, conclusions nettes."""

from __future__ import annotations

import statistics

import matplotlib
import pytest

from course_lib.fr import NBSP, NNBSP
from course_lib.seeds import (
    SeedResults,
    SeedStats,
    clearly_greater,
    greater_on_every_seed,
    over_seeds,
    plot_seed_bars,
    plot_seed_curve,
)

matplotlib.use("Agg")


def test_over_seeds_single_number_statistics():
    calls = []

    def run(seed):
        calls.append(seed)
        return [0.90, 0.93, 0.99][seed]

    s = over_seeds(run, seeds=(0, 1, 2), progress=False)
    assert calls == [0, 1, 2]
    assert isinstance(s, SeedStats) and s.seeds == (0, 1, 2)
    assert s.values == (0.90, 0.93, 0.99)
    assert s.mean == pytest.approx(statistics.mean(s.values))
    assert s.std == pytest.approx(statistics.stdev(s.values))  # n − 1
    assert (s.min, s.max) == (0.90, 0.99)
    assert str(s) == f"94,0{NBSP}±{NBSP}4,6{NNBSP}%"


def test_over_seeds_dict_gives_table_in_french():
    res = over_seeds(lambda seed: {"global": 0.9 + seed / 100, "par couche": 0.5 + seed / 10},
                     seeds=(3, 4), progress=False)
    assert isinstance(res, SeedResults) and list(res) == ["global", "par couche"]
    assert res["global"].values == pytest.approx((0.93, 0.94))
    table = res.table()
    assert "graine 3" in table and "graine 4" in table
    assert f"93,5{NBSP}±{NBSP}0,7{NNBSP}%" in table and f"90,0{NNBSP}%" in table
    assert "." not in table.replace("---", "")
    assert res._repr_markdown_() == table


def test_non_percent_values():
    s = over_seeds(lambda seed: float(seed), seeds=(0, 2), progress=False, percent=False)
    assert str(s) == f"1,0{NBSP}±{NBSP}1,4"


def test_clearly_greater_uses_sum_of_stds():
    seeds = (0, 1, 2)
    a = SeedStats((0.96, 0.95, 0.97), seeds)  # 0,96 ± 0,01
    b = SeedStats((0.90, 0.91, 0.89), seeds)  # 0,90 ± 0,01
    assert clearly_greater(a, b) and not clearly_greater(b, a)
    close = SeedStats((0.955, 0.945, 0.965), seeds)  # écart 0,005 < 0,02
    assert not clearly_greater(a, close) and greater_on_every_seed(a, close)
    noisy = SeedStats((0.99, 0.80, 0.99), seeds)  # moyenne plus haute, mais dispersée
    assert noisy.mean > b.mean and not clearly_greater(noisy, b) and not greater_on_every_seed(noisy, b)


def test_comparisons_need_same_seeds_and_seedstats():
    a = SeedStats((1.0, 2.0), (0, 1))
    with pytest.raises(ValueError, match="mêmes graines"):
        clearly_greater(a, SeedStats((1.0, 2.0), (1, 2)))
    with pytest.raises(TypeError, match="SeedStats"):
        greater_on_every_seed(a, 1.0)


@pytest.mark.parametrize("seeds", [(0,), (1, 1), (0, 1.5), (True, False)])
def test_bad_seeds_value_error(seeds):
    with pytest.raises(ValueError, match=r"au moins 2 entiers distincts .* ; reçu"):
        over_seeds(lambda s: 1.0, seeds=seeds, progress=False)


@pytest.mark.parametrize("seeds", [3, "012", None])
def test_seeds_not_a_sequence_type_error(seeds):
    with pytest.raises(TypeError, match="suite d'entiers"):
        over_seeds(lambda s: 1.0, seeds=seeds, progress=False)


def test_bad_run_results():
    with pytest.raises(TypeError, match="fonction run"):
        over_seeds("pas une fonction", progress=False)
    with pytest.raises(TypeError, match=r"run\(0\) doit renvoyer un nombre fini"):
        over_seeds(lambda s: "0,9", progress=False)
    with pytest.raises(TypeError, match="clé 'b'"):
        over_seeds(lambda s: {"b": float("nan")}, progress=False)
    with pytest.raises(ValueError, match="mêmes clés"):
        over_seeds(lambda s: {"a": 1.0} if s == 0 else {"b": 1.0}, progress=False)


def test_plots_draw_means_and_error_bars():
    import matplotlib.pyplot as plt

    seeds = (0, 1, 2)
    stats = {"A": SeedStats((0.9, 0.92, 0.94), seeds), "B": SeedStats((0.5, 0.6, 0.7), seeds)}
    fig, (ax1, ax2) = plt.subplots(1, 2)
    plot_seed_bars(stats, ax=ax1)
    heights = [p.get_height() for p in ax1.patches]
    assert heights == pytest.approx([0.92, 0.6])
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["A", "B"]
    plot_seed_curve([0.5, 0.9], list(stats.values()), ax=ax2, label="courbe")
    line = ax2.lines[0]
    assert list(line.get_ydata()) == pytest.approx([0.92, 0.6])
    assert ax2.yaxis.get_major_formatter()(0.5, 0) == f"50{NNBSP}%"
    with pytest.raises(ValueError, match="même longueur"):
        plot_seed_curve([0.5], list(stats.values()), ax=ax2)
    plt.close(fig)
