"""Test navigateur, 1re moitié : les notebooks de section 00 à 06, et le harnais lui-même (il
sait échouer : notebooks factices). Outils et contrôles : ``browser_harness.py`` ; la 2e moitié
(sections 07 et suivantes, exercices) est dans ``test_browser_late.py``, pour que pytest-xdist
fasse tourner les deux moitiés en même temps."""

from __future__ import annotations

import json

import pytest
from browser_harness import (
    EXERCISES,
    SCREENSHOTS,
    SECTIONS,
    WIDTHS,
    assert_report_ok,
    check_section,
    has_news_popup,
    run_notebook,
    typography_problems,
)

pytestmark = pytest.mark.browser
EARLY = [s for s in SECTIONS if s < "07"]


@pytest.mark.parametrize("name", EARLY)
def test_section_notebook_in_browser(name, lab, browser):
    check_section(name, lab, browser)


def test_there_are_section_notebooks():
    assert SECTIONS, "aucun notebook de section (notebooks/NN_*.ipynb)"
    assert EXERCISES, "aucun exercice élève (notebooks/exercices/*.ipynb)"


def test_no_news_popup_and_config_says_why(lab, browser):
    """La fenêtre « news » n'apparaît pas, et c'est jupyter_config/ qui la désactive."""
    page = browser.new_page()
    try:
        page.goto(f"{lab.base}/lab?reset&token={lab.token}", wait_until="domcontentloaded")
        page.locator("#jp-MainMenu").wait_for(state="visible", timeout=120_000)
        page.wait_for_timeout(5000)  # la fenêtre arrive quelques secondes après le chargement
        config = json.loads(page.locator("#jupyter-config-data").text_content())
        assert "@jupyterlab/apputils-extension:announcements" in config.get("disabledExtensions", []), config.get(
            "disabledExtensions")
        assert not has_news_popup(page.evaluate("() => document.body.innerText"))
    finally:
        page.close()


def test_text_checks_can_fail():
    assert has_news_popup("Would you like to get notified about official Jupyter news?")
    bad = typography_problems({"outputs": ["précision 97.2%", "sparsité 90%"], "readouts": ["0.90"]})
    assert len(bad) == 3, bad
    assert typography_problems({"outputs": ["précision 97,2\u202f%"], "readouts": ["0,90", "12"]}) == []


def test_harness_accepts_a_working_notebook(lab, browser):
    report = run_notebook(browser, lab, "fixtures/good.ipynb")
    assert_report_ok(report, lab)
    assert report.expected_errors == [3]  # l'erreur étiquetée raises-exception est vue, tolérée
    assert report.controls[0]["action"] == "curseur, touche ArrowLeft"  # curseur au maximum


def test_harness_detects_errors_and_dead_controls(lab, browser):
    report = run_notebook(browser, lab, "fixtures/bad.ipynb", change_timeout=5)
    assert report.errors[0].startswith("cellule 2 ") and "ZeroDivisionError" in report.errors[0]
    assert report.errors[1] == "cellules non exécutées (Run All interrompu ?) : [3]"
    # l'erreur levée par un rappel, affichée dans la sortie du widget après le mouvement
    assert report.errors[2].startswith("cellule 1 ") and "rappel cassé" in report.errors[2]
    assert len(report.errors) == 3
    assert report.widgets_visible > 0
    assert [c["changed"] for c in report.controls] == [False, True]
    with pytest.raises(AssertionError):
        assert_report_ok(report, lab)


def test_harness_detects_cut_labels_split_words_and_english_numbers(lab, browser):
    report = run_notebook(browser, lab, "fixtures/ugly.ipynb")
    assert not report.errors
    for width in WIDTHS:
        problems = "\n".join(report.layout[width])
        assert "libellé coupé : canaux retirés" in problems, problems
        assert "mot coupé" in problems, problems
    assert any("97.2%" in t for t in report.typography), report.typography
    assert all((SCREENSHOTS / f"ugly-{w}.png").is_file() for w in WIDTHS)
    with pytest.raises(AssertionError, match="mise en page"):
        assert_report_ok(report, lab, widgets_expected=False)
