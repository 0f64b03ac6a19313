"""Test navigateur, 2e moitié : les notebooks de section 07 et suivants, et les exercices élèves
(sans widget). Voir ``browser_harness.py`` et ``test_browser.py`` (1re moitié)."""

from __future__ import annotations

import pytest
from browser_harness import EXERCISES, SECTIONS, check_exercise, check_section

pytestmark = pytest.mark.browser
LATE = [s for s in SECTIONS if s >= "07"]


@pytest.mark.parametrize("name", LATE)
def test_section_notebook_in_browser(name, lab, browser):
    check_section(name, lab, browser)


@pytest.mark.parametrize("name", EXERCISES)
def test_exercise_notebook_in_browser(name, lab, browser):
    check_exercise(name, lab, browser)


def test_the_two_halves_cover_every_section():
    from test_browser import EARLY

    assert sorted(EARLY + LATE) == sorted(SECTIONS) and not set(EARLY) & set(LATE)
    assert EARLY and LATE
