"""Test navigateur, 1re moitié : les notebooks de section 00 à 06, et le harnais lui-même (il
sait échouer : notebooks factices). Outils et contrôles : ``browser_harness.py`` ; la 2e moitié
(sections 07 et suivantes, exercices) est dans ``test_browser_late.py``, pour que pytest-xdist
fasse tourner les deux moitiés en même temps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_harness import (
    EXERCISES,
    SCREENSHOTS,
    SECTIONS,
    WIDTHS,
    _free_port,
    _write_settings,
    assert_report_ok,
    check_section,
    has_news_popup,
    run_notebook,
    typography_problems,
)
from conftest import ROOT, stop_process_group

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


# --- make lab : toute adresse ouvre le cours sur le notebook 00, en français ----------------------

FIRST = "00_introduction.ipynb"
# L'espace par défaut qu'un autre JupyterLab a laissé sur la machine (~/.jupyter/lab/workspaces).
FOREIGN_WORKSPACE = {
    "data": {"layout-restorer:data": {"main": {"dock": {"type": "tab-area", "currentIndex": 0,
                                                        "widgets": ["notebook:autre_projet/analyse.ipynb"]},
                                               "current": "notebook:autre_projet/analyse.ipynb"}},
             "notebook:autre_projet/analyse.ipynb": {"data": {"path": "autre_projet/analyse.ipynb",
                                                              "factory": "Notebook"}}},
    "metadata": {"id": "default"},
}


@pytest.fixture(scope="module")
def make_lab(tmp_path_factory, lab):
    """``make lab`` du dépôt (sans réinstaller .venv ni le filtre git), et l'adresse qu'il affiche."""
    tmp = tmp_path_factory.mktemp("make-lab")
    foreign = tmp / "espaces-d-un-autre-jupyterlab"
    foreign.mkdir()
    (foreign / "default-37a8.jupyterlab-workspace").write_text(json.dumps(FOREIGN_WORKSPACE))
    _write_settings(tmp / "settings")  # pas de sauvegarde automatique dans notebooks/ du dépôt
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(foreign)}
    env.pop("MAKEFLAGS", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    cmd = ["make", "--no-print-directory", "-o", "venv", "-o", "git-filter", "lab",
           f"BIN={Path(sys.executable).parent}", f"PORT={port}", f"WORKSPACES_DIR={tmp / 'espaces'}",
           "LAB_ARGS=--no-browser --ip=127.0.0.1"]
    log = tmp / "make-lab.log"
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        printed = token = None
        while printed is None:
            assert proc.poll() is None, f"make lab s'est arrêté :\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"make lab ne répond pas :\n{log.read_text()[-3000:]}"
            # le jeton que Jupyter a tiré au hasard, tel que l'élève le lit dans son terminal
            m = re.search(rf"{re.escape(base)}/\S*\?token=([0-9a-f]+)", log.read_text(encoding="utf-8"))
            if m:
                token = m.group(1)
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=10)  # noqa: S310
                    printed = m.group(0)
                except OSError:
                    pass
            time.sleep(0.5)
        yield {"base": base, "token": token, "printed": printed, "workspaces": tmp / "espaces",
               "foreign": foreign}
    finally:
        stop_process_group(proc)


def _current_tab(page, timeout: float = 120) -> str:
    """Le nom de l'onglet de notebook au premier plan ("" s'il n'y en a pas après ``timeout`` s)."""
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        labels = [t.strip() for t in tab.all_inner_texts() if t.strip()]
        if labels and page.locator(".jp-NotebookPanel").count():
            return labels[0]
        time.sleep(0.5)
    return ""


@pytest.mark.parametrize("which", ["printed", "root", "lab"])
def test_make_lab_opens_notebook_00_in_french_whatever_the_url(make_lab, browser, which):
    """L'adresse affichée par `make lab` (--no-browser, WSL, SSH), la racine du serveur et /lab :
    chacune ouvre le notebook 00, dans l'espace de travail du cours, menus en français."""
    base, token = make_lab["base"], make_lab["token"]
    url = {"printed": make_lab["printed"], "root": f"{base}/?token={token}",
           "lab": f"{base}/lab?token={token}"}[which]
    if which == "printed":
        assert "/lab/workspaces/" in url and f"/tree/{FIRST}" in url, url
    page = browser.new_page()
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#jp-MainMenu").wait_for(state="visible", timeout=120_000)
        assert _current_tab(page) == FIRST, page.locator(".lm-TabBar-tabLabel").all_inner_texts()
        tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel").all_inner_texts()
        assert not [t for t in tabs if "analyse" in t], tabs  # rien de l'espace d'un autre JupyterLab
        menus = page.locator("#jp-MainMenu .lm-MenuBar-item").all_inner_texts()
        assert "Fichier" in menus and "Édition" in menus, menus
    finally:
        page.close()
    assert any(make_lab["workspaces"].iterdir())  # l'espace de travail du cours est à lui
    assert [p.name for p in make_lab["foreign"].iterdir()] == ["default-37a8.jupyterlab-workspace"]


def test_current_tab_check_can_fail(lab, browser):
    """Sans la configuration de `make lab`, /lab ouvre le lanceur : aucun onglet de notebook."""
    page = browser.new_page()
    try:
        page.goto(f"{lab.base}/lab?reset&token={lab.token}", wait_until="domcontentloaded")
        page.locator("#jp-MainMenu").wait_for(state="visible", timeout=120_000)
        assert _current_tab(page, timeout=5) == ""
    finally:
        page.close()
