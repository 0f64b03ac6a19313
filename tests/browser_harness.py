"""Outils du test navigateur (JupyterLab + Chromium sans écran, Playwright), partagés par
``test_browser.py`` et ``test_browser_late.py`` ; les fixtures ``lab`` et ``browser`` sont
dans ``conftest.py`` (une instance par fichier de test : les deux fichiers tournent en
parallèle sous pytest-xdist).

Test dans un vrai navigateur : JupyterLab + Chromium sans écran (Playwright).

Pour chaque notebook de section (``notebooks/NN_*.ipynb``) : ouverture dans JupyterLab,
menu Run > Run All Cells, attente de la fin, puis
  (a) aucune cellule n'affiche d'erreur, sauf celles étiquetées ``raises-exception`` ;
  (b) les widgets sont rendus (``.jupyter-widgets`` visible, aucun « Error displaying widget ») ;
  (c) chaque contrôle principal (classe CSS ``course-control``) change le contenu de sa sortie
      (classe ``course-output``) quand on le bouge.
  (d) mise en page, à 1280×800 puis à 900×800 (le même notebook exécuté, fenêtre rétrécie) :
      aucun libellé de widget coupé (libellé, valeur affichée, bouton, liste déroulante : texte
      plus large que sa boîte), aucun mot coupé en deux par un retour à la ligne dans le texte
      des widgets (« élag uées ») ;
  (e) typographie du rendu : aucun nombre « 97.2% » / « 97% » dans les sorties, aucune valeur
      de curseur à point décimal (« 0.90 ») ;
  (f) pas de fenêtre « Would you like to get notified about official Jupyter news? » : le
      serveur prend ``jupyter_config/`` comme ``make lab``, sans autre réglage qui la cacherait.
Les exercices élèves (``notebooks/exercices/``) passent les mêmes contrôles, sauf (b) et (c) :
ils n'ont pas de widget.
Deux captures d'écran par notebook (``NOM-1280.png``, ``NOM-900.png``) vont dans
``tests/artifacts/screenshots/`` (ignoré par git).

Isolation : le serveur tourne sur 127.0.0.1 (port libre, jeton aléatoire) sur une COPIE de
``notebooks/`` dans un dossier temporaire, avec des réglages temporaires (pas de fenêtre
« news », pas de vérification de mise à jour, pas de sauvegarde automatique) : rien n'est
écrit dans le dépôt hormis les captures. Serveur et navigateur sont fermés même en cas d'échec.

Hors CI, sans Chromium ou Playwright, le test est sauté avec la commande d'installation ;
avec ``CI=true`` il échoue à la place.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, section_notebooks

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
SECTIONS = [p.name for p in section_notebooks()]
EXERCISES = sorted(p.name for p in (ROOT / "notebooks" / "exercices").glob("*.ipynb"))
WIDTHS = (1280, 900)      # écran de portable, puis fenêtre étroite (JupyterLab à moitié d'écran)
HEIGHT = 800
NEWS_TEXT = ("official Jupyter news", "get notified about", "nouvelles officielles de Jupyter")
RUN_TIMEOUT_S = 420       # un notebook met au plus ~60 s ; large marge sur une machine chargée
CHANGE_TIMEOUT_S = 45     # un rappel répond en < 0,5 s ; marge pour un noyau occupé
LAB_SETTINGS = {
    # Rien ici sur la fenêtre « news » : c'est jupyter_config/ (comme make lab) qui doit l'éviter.
    # jamais d'écriture des notebooks exécutés (ce sont des copies, mais restons propres)
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # toutes les cellules dans le DOM : l'index d'une cellule du DOM est celui du fichier
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_browser() -> None:
    """Saute (hors CI) ou échoue (CI) si Chromium ou Playwright manquent."""
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"Chromium absent ({CHROMIUM}) : sudo apt-get install chromium (Debian), ou "
                       "COURSE_CHROMIUM=/chemin/vers/chromium (README, « Chromium »)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright absent : pip install -e .[dev]")
    if missing:
        msg = "Test navigateur impossible — " + " ; ".join(missing)
        if _in_ci():
            pytest.fail(msg + " (CI=true : ce test doit tourner ; .ci/run installe Chromium)")
        pytest.skip(msg)


# --- serveur JupyterLab ----------------------------------------------------------------------

@dataclass
class Lab:
    base: str
    token: str
    root: Path
    log: Path

    def api(self, method: str, path: str):
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=15) as r:  # noqa: S310 (127.0.0.1)
            body = r.read()
        return json.loads(body) if body else None

    def kernel_state(self, path: str) -> str | None:
        for s in self.api("GET", "/api/sessions"):
            if s.get("path") == path and s.get("kernel"):
                return s["kernel"].get("execution_state")
        return None

    def shutdown_sessions(self) -> None:
        for s in self.api("GET", "/api/sessions"):
            try:
                self.api("DELETE", f"/api/sessions/{s['id']}")
            except urllib.error.HTTPError:
                pass

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-n:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        pkg, name = plugin.rsplit("/", 1)
        path = settings_dir / pkg / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


# --- piloter un notebook -----------------------------------------------------------------------

@dataclass
class Report:
    path: str
    errors: list[str] = field(default_factory=list)          # erreurs non attendues
    expected_errors: list[int] = field(default_factory=list)  # cellules raises-exception en erreur
    widgets_visible: int = 0
    widget_errors: list[str] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)        # un par course-control
    seconds: float = 0.0
    screenshot: Path | None = None
    layout: dict[int, list[str]] = field(default_factory=dict)   # largeur -> libellés coupés, mots coupés
    typography: list[str] = field(default_factory=list)         # « 97.2% » dans le rendu
    news_popup: bool = False


# Une erreur du noyau (sortie de type « error ») est rendue par JupyterLab avec le type MIME
# application/vnd.jupyter.stderr, comme un simple texte sur stderr (avertissements, tqdm) : on la
# reconnaît à son traceback. De plus, Run All s'arrête à la première erreur non étiquetée : une
# cellule de code non vide restée sans numéro d'exécution est aussi comptée comme un échec.
_CELL_STATE_JS = """
() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell'))
  .map((cell, i) => ({
    i,
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).innerText || '',
    error: Array.from(cell.querySelectorAll('.jp-OutputArea-output'))
        .filter(o => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.error'
                  || (o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr'
                      && /Traceback \\(most recent call last\\)/.test(o.innerText)))
        .map(o => o.innerText.trim().split('\\n').slice(-3).join(' | ').slice(0, 400)),
  }))
"""


def _collect_errors(cells: list[dict], node, tolerated: set[int], report: Report) -> None:
    for c in cells:
        if c["error"]:
            if c["i"] in tolerated:
                if c["i"] not in report.expected_errors:
                    report.expected_errors.append(c["i"])
            else:
                msg = f"cellule {c['i']} : {c['error'][0]}"
                if msg not in report.errors:
                    report.errors.append(msg)
    skipped = [c["i"] for c in cells if c["code"] and node.cells[c["i"]].source.strip()
               and not re.search(r"\[\d+\]", c["prompt"])]
    msg = f"cellules non exécutées (Run All interrompu ?) : {skipped}"
    if skipped and msg not in report.errors:
        report.errors.append(msg)


_SNAPSHOT_JS = """
(ctrl) => {
  let box = ctrl.parentElement;
  while (box && !box.querySelector('.course-output')) box = box.parentElement;
  if (!box) return null;
  const out = box.querySelector('.course-output');
  const imgs = Array.from(out.querySelectorAll('img')).map(i => i.src.slice(-2000)).join('|');
  const svgs = Array.from(out.querySelectorAll('svg')).map(s => s.innerHTML.length).join('|');
  return out.innerText + '\\u0000' + imgs + '\\u0000' + svgs;
}
"""


# Libellés coupés : un texte plus large que sa boîte (débordement masqué, points de suspension).
# Liste déroulante : le texte de l'option choisie, mesuré avec la police de l'élément, doit tenir
# dans la boîte moins la flèche. Mots coupés : dans le texte des widgets (sorties des démos,
# titres HTML), on cherche les retours à la ligne automatiques (un caractère plus bas que le
# précédent sans « \n » entre eux) tombés entre deux lettres.
_LAYOUT_JS = r"""
() => {
  const visible = e => e.offsetParent !== null && e.getClientRects().length > 0;
  const cut = [], split = [];
  const roots = Array.from(document.querySelectorAll('.jp-OutputArea-output .jupyter-widgets'));
  const seen = new Set();
  const label = e => (e.innerText || e.value || '').trim().slice(0, 60);
  for (const root of roots) {
    for (const e of root.querySelectorAll(
        '.widget-label, .widget-readout, .widget-label-basic, button, .widget-toggle-button, ' +
        '.widget-html-content, .widget-inline-hbox label')) {
      if (seen.has(e) || !visible(e) || !(e.innerText || '').trim()) continue;
      seen.add(e);
      if (e.scrollWidth > e.clientWidth + 1) cut.push(label(e) + ' [' + e.className.split(' ')[0] + ']');
    }
    for (const sel of root.querySelectorAll('select')) {
      if (seen.has(sel) || !visible(sel) || sel.selectedIndex < 0 || sel.multiple) continue;
      seen.add(sel);
      const st = getComputedStyle(sel);
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = st.font || (st.fontSize + ' ' + st.fontFamily);
      const text = sel.options[sel.selectedIndex].text;
      const room = sel.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
      if (ctx.measureText(text).width > room) cut.push(text.slice(0, 60) + ' [liste]');
    }
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent;
      if (text.trim().length < 2 || !node.parentElement || !visible(node.parentElement)) continue;
      if (node.parentElement.closest('svg, select, option, .jp-RenderedImage')) continue;
      let prevTop = null;
      for (let i = 0; i < text.length && i < 5000; i++) {
        if (text[i] === '\n') { prevTop = null; continue; }
        range.setStart(node, i); range.setEnd(node, i + 1);
        const r = range.getClientRects()[0];
        if (!r) continue;
        if (prevTop !== null && r.top > prevTop + 2 && /\p{L}/u.test(text[i]) && i > 0
            && /\p{L}/u.test(text[i - 1])) {
          split.push(text.slice(Math.max(0, i - 20), i) + '|' + text.slice(i, i + 20));
        }
        prevTop = r.top;
      }
    }
  }
  return {cut, split};
}
"""

BAD_PERCENT = re.compile(r"\d\.\d+\s*%|\d%")
BAD_READOUT = re.compile(r"\d\.\d")

_TEXT_JS = r"""
() => ({
  outputs: Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .filter(o => o.getAttribute('data-mime-type') !== 'application/vnd.jupyter.stderr'
              && o.getAttribute('data-mime-type') !== 'application/vnd.jupyter.error'
              // barre de progression tqdm : « 100% » est le texte de la bibliothèque, pas du cours
              && !o.querySelector('.widget-hprogress'))
    .map(o => o.innerText),
  readouts: Array.from(document.querySelectorAll('.jp-OutputArea-output .widget-readout'))
    .map(e => e.innerText || e.value || ''),
  page: document.body.innerText,
})
"""


def typography_problems(texts: dict) -> list[str]:
    """Nombres à l'anglaise dans le rendu (voir le docstring du module, point (e))."""
    found = []
    for text in texts["outputs"]:
        for m in BAD_PERCENT.finditer(text):
            found.append(f"sortie : « {text[max(0, m.start() - 30): m.end() + 10].strip()} »")
    for text in texts["readouts"]:
        if BAD_READOUT.search(text):
            found.append(f"valeur de curseur « {text.strip()} » (attendu une virgule décimale)")
    return sorted(set(found))


def has_news_popup(page_text: str) -> bool:
    return any(t in page_text for t in NEWS_TEXT)


def check_layout(page, report: Report, stem: str) -> None:
    """Capture et mise en page à chaque largeur de ``WIDTHS`` (fenêtre redimensionnée, pas de ré-exécution)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.wait_for_timeout(700)  # JupyterLab recalcule sa mise en page
        found = page.evaluate(_LAYOUT_JS)
        report.layout[width] = ([f"libellé coupé : {c}" for c in found["cut"]]
                                + [f"mot coupé : « {w} »" for w in found["split"]])
        shot = SCREENSHOTS / f"{stem}-{width}.png"
        page.screenshot(path=str(shot))
        report.screenshot = report.screenshot or shot
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})


def _run_all(page, lab: Lab, rel: str) -> None:
    """Menu Run > Run All Cells, une fois le noyau prêt."""
    deadline = time.monotonic() + 120
    while lab.kernel_state(rel) != "idle":
        if time.monotonic() > deadline:
            raise AssertionError(f"{rel} : le noyau n'a pas démarré ({lab.kernel_state(rel)})")
        time.sleep(0.3)
    # JupyterLab est en français (jupyter_config/) : le menu s'appelle « Exécution » (ou « Run » si le
    # pack de langue manque) ; l'entrée est choisie par sa commande, pas par son libellé.
    page.locator("#jp-MainMenu .lm-MenuBar-item", has_text=re.compile(r"^(Run|Ex[ée]cution|Ex[ée]cuter)$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]:visible').first.click()


def _wait_finished(page, lab: Lab, rel: str, timeout: float) -> list[dict]:
    """Attend qu'aucune cellule ne soit en attente ([*]) et que le noyau soit inactif."""
    deadline = time.monotonic() + timeout
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.jp-InputArea-prompt'))"
        ".some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))", timeout=60_000)
    calm = 0
    while True:
        cells = page.evaluate(_CELL_STATE_JS)
        busy = any("*" in c["prompt"] for c in cells)
        calm = calm + 1 if not busy and lab.kernel_state(rel) == "idle" else 0
        if calm >= 3:  # trois constats calmes à 0,5 s d'intervalle
            return cells
        if time.monotonic() > deadline:
            raise AssertionError(f"{rel} : exécution non terminée après {timeout:.0f} s")
        time.sleep(0.5)


def _move_control(page, ctrl) -> str:
    """Bouge le contrôle : curseur (flèche), liste déroulante, boutons, case à cocher."""
    classes = ctrl.get_attribute("class") or ""
    if "widget-slider" in classes:
        handle = ctrl.locator(".noUi-handle").first
        now = float(handle.get_attribute("aria-valuenow") or 0)
        top = float(handle.get_attribute("aria-valuemax") or 0)
        handle.focus()
        key = "ArrowLeft" if now >= top else "ArrowRight"
        page.keyboard.press(key)
        return f"curseur, touche {key}"
    select = ctrl.locator("select")
    if select.count():
        options = select.first.locator("option")
        current = select.first.evaluate("s => s.selectedIndex")
        target = 1 if current == 0 else 0
        assert options.count() > 1, "liste déroulante à une seule option"
        select.first.select_option(index=target)
        return f"liste, option {target}"
    buttons = ctrl.locator("button:not(.mod-active)")
    if "widget-toggle-buttons" in classes and buttons.count():
        buttons.first.click()
        return "boutons, autre choix"
    radios = ctrl.locator("input[type=radio]:not(:checked)")
    if radios.count():
        radios.first.click()
        return "boutons radio, autre choix"
    box = ctrl.locator("input[type=checkbox]")
    if box.count():
        box.first.click()
        return "case à cocher"
    if ctrl.evaluate("e => e.tagName") == "BUTTON":  # ToggleButton
        ctrl.click()
        return "bouton bascule"
    raise AssertionError(f"type de contrôle non géré par le test : classes {classes!r}")


def run_notebook(context, lab: Lab, rel: str, change_timeout: float = CHANGE_TIMEOUT_S,
                 widgets_expected: bool = True) -> Report:
    """Exécute ``rel`` dans la page et relève ce qu'un élève verrait ; ``widgets_expected=False`` :
    n'attend pas qu'un widget apparaisse (un notebook sans widget n'en affichera jamais)."""
    node = nbformat.read(lab.root / rel, as_version=4)
    tolerated = {i for i, c in enumerate(node.cells) if "raises-exception" in c.metadata.get("tags", [])}
    report = Report(rel)
    start = time.monotonic()
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{lab.base}/lab/tree/{rel}?reset&token={lab.token}", wait_until="domcontentloaded")
        page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(state="attached",
                                                                                timeout=120_000)
        _run_all(page, lab, rel)
        cells = _wait_finished(page, lab, rel, RUN_TIMEOUT_S)
        assert len(cells) == len(node.cells), (
            f"{rel} : {len(cells)} cellules dans la page, {len(node.cells)} dans le fichier")
        _collect_errors(cells, node, tolerated, report)
        widgets = page.locator(".jp-OutputArea-output .jupyter-widgets")
        if widgets_expected:
            try:
                widgets.first.wait_for(state="visible", timeout=30_000)
            except Exception:  # noqa: BLE001 (délai dépassé : compté plus bas)
                pass
        report.widgets_visible = sum(widgets.nth(k).is_visible() for k in range(widgets.count()))
        report.widget_errors = [t[:200] for t in page.locator(".jp-OutputArea-output").all_inner_texts()
                                if "Error displaying widget" in t or "Error rendering" in t]
        controls = page.locator(".jp-OutputArea-output .course-control")
        for k in range(controls.count()):
            ctrl = controls.nth(k)
            ctrl.scroll_into_view_if_needed()
            before = ctrl.evaluate(_SNAPSHOT_JS)
            entry = {"index": k, "has_output": before is not None, "changed": False}
            if before is not None:
                entry["action"] = _move_control(page, ctrl)
                try:
                    page.wait_for_function(f"(b) => ({_SNAPSHOT_JS})(b.el) !== b.before",
                                           arg={"el": ctrl.element_handle(), "before": before},
                                           timeout=change_timeout * 1000)
                    entry["changed"] = True
                except Exception:  # noqa: BLE001 (aucun changement dans le délai)
                    entry["changed"] = False
            report.controls.append(entry)
        # une erreur dans un rappel s'affiche dans la sortie du widget : on relit les cellules
        _collect_errors(page.evaluate(_CELL_STATE_JS), node, tolerated, report)
        idle_by = time.monotonic() + 15  # capture plus lisible une fois le dernier rappel fini
        while lab.kernel_state(rel) != "idle" and time.monotonic() < idle_by:
            time.sleep(0.3)
        texts = page.evaluate(_TEXT_JS)
        report.typography = typography_problems(texts)
        report.news_popup = has_news_popup(texts["page"])
        check_layout(page, report, Path(rel).stem)
        report.news_popup = report.news_popup or has_news_popup(page.evaluate("() => document.body.innerText"))
    finally:
        report.seconds = time.monotonic() - start
        page.close()
        lab.shutdown_sessions()
    return report


def assert_report_ok(report: Report, lab: Lab, widgets_expected: bool = True) -> None:
    where = f"{report.path} (capture : {report.screenshot})"
    assert not report.errors, f"{where} : erreurs affichées :\n" + "\n".join(report.errors)
    assert not report.news_popup, f"{where} : la fenêtre « Jupyter news » s'affiche (voir jupyter_config/)"
    layout = [f"{w} px : {p}" for w, problems in report.layout.items() for p in problems]
    assert not layout, f"{where} : mise en page des widgets :\n" + "\n".join(layout)
    assert not report.typography, f"{where} : nombres à l'anglaise :\n" + "\n".join(report.typography)
    assert set(report.layout) == set(WIDTHS), f"{where} : largeurs vérifiées {sorted(report.layout)}"
    if not widgets_expected:
        assert not report.widget_errors, f"{where} : widgets en erreur {report.widget_errors}"
        return
    assert report.widgets_visible > 0, f"{where} : aucun widget rendu"
    assert not report.widget_errors, f"{where} : widgets en erreur {report.widget_errors}"
    assert report.controls, f"{where} : aucun contrôle principal (classe course-control)"
    for c in report.controls:
        assert c["has_output"], f"{where} : contrôle {c['index']} sans sortie course-output"
        assert c["changed"], f"{where} : contrôle {c['index']} ({c['action']}) n'a rien changé"


# --- le test sait échouer : deux notebooks factices -------------------------------------------

_DEMO = """import ipywidgets as widgets
from course_lib.widgets import Demo

def render(value):
    print({body})
    return value

Demo(widgets.IntSlider(value={start}, min=0, max=10, description="n"), render, title="Démo")"""


def _write_fixtures(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ks = {"name": "python3", "display_name": "Python 3", "language": "python"}
    good = nbformat.v4.new_notebook(metadata={"kernelspec": ks})
    tagged = nbformat.v4.new_code_cell("raise ValueError('erreur attendue')",
                                       metadata={"tags": ["raises-exception"]})
    good.cells = [nbformat.v4.new_markdown_cell("# Démo qui marche"),
                  nbformat.v4.new_code_cell("import sys\nprint('sur stderr', file=sys.stderr)"),
                  nbformat.v4.new_code_cell(_DEMO.format(body="f'carré : {value ** 2}'", start=10)),
                  tagged,
                  nbformat.v4.new_code_cell("print('la suite a tourné')")]
    bad = nbformat.v4.new_notebook(metadata={"kernelspec": ks})
    broken = _DEMO.replace("    print(", "    if value != 4:\n        raise ValueError('rappel cassé')\n    print(")
    bad.cells = [nbformat.v4.new_code_cell(_DEMO.format(body="'toujours pareil'", start=3)),
                 nbformat.v4.new_code_cell(broken.format(body="value", start=4)),
                 nbformat.v4.new_code_cell("1 / 0"),
                 nbformat.v4.new_code_cell("print('jamais exécutée')")]
    # mise en page : un libellé trop long pour sa boîte, un texte monospace coupé au milieu des
    # mots, une précision à l'anglaise ; rien n'y lève d'erreur
    ugly = nbformat.v4.new_notebook(metadata={"kernelspec": ks})
    ugly.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as widgets\n"
        "from IPython.display import display\n"
        "out = widgets.Output(layout=widgets.Layout(width='300px'))\n"
        "with out:\n"
        "    print('les connexions élaguées ' * 12)\n"
        "    print(f'précision {0.972:.1%}')\n"
        "display(widgets.VBox([widgets.IntSlider(description='canaux retirés du réseau', value=3), out]))")]
    nbformat.write(ugly, folder / "ugly.ipynb")
    nbformat.write(good, folder / "good.ipynb")
    nbformat.write(bad, folder / "bad.ipynb")


# Notebook 12 est un compte rendu d'expériences (plusieurs secondes chacune, sur 3 graines) : il
# n'a pas de contrôle interactif ; tout le reste (erreurs, mise en page, nombres) y est vérifié.
WITHOUT_WIDGETS = {"12_reproduire_les_articles.ipynb"}


def check_section(name: str, lab: Lab, browser) -> None:
    """Un notebook de section : exécuté dans la page, puis tous les contrôles de ``assert_report_ok``."""
    expected = name not in WITHOUT_WIDGETS
    report = run_notebook(browser, lab, f"notebooks/{name}", widgets_expected=expected)
    print(f"{name} : {report.seconds:.1f} s, {len(report.controls)} contrôle(s)")
    assert_report_ok(report, lab, widgets_expected=expected)


def check_exercise(name: str, lab: Lab, browser) -> None:
    """Un exercice élève : mêmes contrôles, sans widget attendu."""
    report = run_notebook(browser, lab, f"notebooks/exercices/{name}", widgets_expected=False)
    print(f"{name} : {report.seconds:.1f} s")
    assert_report_ok(report, lab, widgets_expected=False)
