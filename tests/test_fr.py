"""course_lib.fr : nombres à la française (virgule, espace fine insécable avant %, ±)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.fr import (
    MINUS,
    NBSP,
    NNBSP,
    count,
    group_thousands,
    num,
    pct,
    percent_formatter,
    pm,
)


@pytest.mark.parametrize(("x", "digits", "expected"), [
    (0.972, 1, f"97,2{NNBSP}%"),
    (0.9999, 1, f"100,0{NNBSP}%"),
    (0.05, 0, f"5{NNBSP}%"),
    (1, 2, f"100,00{NNBSP}%"),
    (np.float32(0.5), 1, f"50,0{NNBSP}%"),
    (torch.tensor(0.25), 1, f"25,0{NNBSP}%"),
])
def test_pct(x, digits, expected):
    assert pct(x, digits) == expected


@pytest.mark.parametrize(("x", "digits", "expected"), [
    (0.25, 2, "0,25"),
    (3500, 0, f"3{NNBSP}500"),
    (1234567.891, 1, f"1{NNBSP}234{NNBSP}567,9"),
    (-1.5, 1, f"{MINUS}1,5"),
    (-0.001, 1, "0,0"),  # jamais « −0,0 »
    (np.int64(12), 0, "12"),
])
def test_num(x, digits, expected):
    assert num(x, digits) == expected


def test_pm_percent_and_plain():
    assert pm(0.961, 0.006) == f"96,1{NBSP}±{NBSP}0,6{NNBSP}%"
    assert pm(0.25, 0.01, digits=2, percent=False) == f"0,25{NBSP}±{NBSP}0,01"


def test_no_dot_and_no_breakable_space_before_percent():
    text = pct(0.123456, 3)
    assert "." not in text and " %" not in text and text.endswith(NNBSP + "%")


@pytest.mark.parametrize("bad", ["0,5", None, True, [0.5], torch.zeros(2)])
def test_non_numbers_raise_type_error_in_french(bad):
    with pytest.raises(TypeError, match="nombre réel ; reçu"):
        pct(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_raise_value_error(bad):
    with pytest.raises(ValueError, match="fini"):
        num(bad)


@pytest.mark.parametrize("digits", [-1, 1.5, True])
def test_bad_digits(digits):
    with pytest.raises(ValueError, match="digits doit être un entier >= 0 ; reçu"):
        num(1.0, digits)


def test_negative_spread_rejected():
    with pytest.raises(ValueError, match="spread.*>= 0 ; reçu -0.1"):
        pm(0.5, -0.1)


def test_percent_formatter_for_matplotlib_axes():
    assert percent_formatter()(0.9, 0) == f"90{NNBSP}%"
    assert percent_formatter(1)(0.955, 0) == f"95,5{NNBSP}%"


def test_percent_formatter_labels_each_tick_exactly():
    """Graduations tous les 2,5 points : « 82,5 % », pas « 82 % » posé à 82,5 (notebook 12)."""
    formatter = percent_formatter()
    formatter.set_locs([0.8, 0.825, 0.85])
    assert [formatter(v) for v in (0.8, 0.825, 0.85)] == [f"80,0{NNBSP}%", f"82,5{NNBSP}%", f"85,0{NNBSP}%"]
    formatter.set_locs([0.8, 0.85, 0.9])
    assert formatter(0.85) == f"85{NNBSP}%"
    exact = percent_formatter(digits=0)  # même demandé sans décimale, le libellé ne ment pas
    exact.set_locs([0.8, 0.825])
    assert exact(0.825) == f"82,5{NNBSP}%"


def test_percent_formatter_on_a_drawn_axis():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MultipleLocator

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.80, 0.925])
    ax.yaxis.set_major_locator(MultipleLocator(0.025))
    ax.yaxis.set_major_formatter(percent_formatter())
    fig.canvas.draw()
    pairs = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels() if t.get_text()]
    plt.close(fig)
    assert pairs and all(text == pct(y, 1) for y, text in pairs), pairs


@pytest.mark.parametrize(("n", "expected"), [(0, "0 tour"), (1, "1 tour"), (2, "2 tours"),
                                             (1500, f"1{NNBSP}500 tours")])
def test_count_agrees_in_number(n, expected):
    assert count(n, "tour") == expected


def test_count_irregular_plural():
    assert count(64, "canal", "canaux") == "64 canaux" and count(1, "canal", "canaux") == "1 canal"


def test_tick_labels_group_thousands():
    assert group_thousands("35000") == f"35{NNBSP}000" and group_thousands("1200,5") == f"1{NNBSP}200,5"
    assert group_thousands("0,5") == "0,5" and group_thousands("100") == "100"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import course_lib.plots  # noqa: F401  (graduations à la française)

    fig, ax = plt.subplots()
    ax.plot([0, 35000], [0, 1])
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert f"30{NNBSP}000" in labels, labels
