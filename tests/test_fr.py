"""course_lib.fr : nombres à la française (virgule, espace fine insécable avant %, ±)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.fr import MINUS, NBSP, NNBSP, num, pct, percent_formatter, pm


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
