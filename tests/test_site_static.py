"""La vue figée d'une démonstration (``Demo``) : une page du site se lit sans noyau, sans doublon
pour l'élève.

L'affichage d'un ``Demo`` est un seul paquet MIME : le widget vivant
(``application/vnd.jupyter.widget-view+json``) et ``text/html``, le réglage de départ figé (titre,
réglage, texte imprimé, tableaux, figure PNG). Le site (myst-nb, ``site/_config.yml``) choisit le
HTML ; JupyterLab choisit le widget : vérifié ici dans un vrai noyau (nbclient) et dans JupyterLab
(Chromium), où la cellule n'a qu'une sortie, le widget, et aucune vue figée affichée.
"""

from __future__ import annotations

import base64
import re

import ipywidgets as widgets
import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_lib.widgets import Demo  # noqa: E402
from course_lib.widgets._base import STATIC_CLASS, DemoGroup, _markdown_html  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _demo(start: int = 2) -> Demo:
    def render(value, scope):
        print(f"carré de {value} : {value ** 2}")
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, value])
        return value

    slider = widgets.SelectionSlider(options=[("1 %", 1), ("2 %", 2), ("3 %", 3)], value=start,
                                     description="sparsité")
    scope = widgets.ToggleButtons(options=[("globale", "global"), ("par couche", "layer")], description="portée")
    return Demo(slider, render, [scope], names=["value", "scope"], title="Démo figée")


def _pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in PNG.findall(html)]


def test_bundle_carries_live_widget_and_static_default_state():
    demo = _demo()
    bundle = demo.widget._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "text/plain" in bundle
    html = bundle["text/html"]
    assert f'class="{STATIC_CLASS}"' in html and "<b>Démo figée</b>" in html
    assert "Réglage de départ : sparsité 2 %, portée globale" in html
    assert "<pre>carré de 2 : 4</pre>" in html
    pngs = _pngs(html)
    assert len(pngs) == 1 and pngs[0].startswith(b"\x89PNG\r\n\x1a\n")


def test_static_view_keeps_the_default_state_after_a_move():
    demo = _demo()
    before = demo.static_html()
    demo.control.value = 3
    assert demo.renders == 2 and demo.last_result == 3
    after = demo.static_html()
    assert "carré de 2 : 4" in after and "carré de 3" not in after
    assert _pngs(after) == _pngs(before)


def test_question_without_answer_lists_its_choices_and_group_joins_views():
    question = Demo(widgets.RadioButtons(options=["oui", "non <b>"], value=None), lambda choice: None,
                    names=["choice"], title="1. Élague-t-on ?")
    html = question.static_html()
    assert "<ul><li>oui</li><li>non &lt;b&gt;</li></ul>" in html and "<img" not in html
    group = DemoGroup([question.widget, _demo().widget])
    bundle = group._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle["text/html"].count(f'class="{STATIC_CLASS}"') == 2
    plain = widgets.VBox([widgets.IntSlider()])._repr_mimebundle_()
    assert "text/html" not in plain  # un widget quelconque ne change pas


def test_markdown_table_of_md_table_becomes_html():
    from course_lib.fr import md_table

    html = _markdown_html(md_table(["critère", "a|b"], [["magnitude |w|", "97,5 %"], ["x_y", "<i>"]]))
    assert html.startswith("<table><thead><tr><th>critère</th><th>a|b</th></tr></thead>")
    assert "<td>magnitude |w|</td><td>97,5 %</td>" in html and "<td>x_y</td><td>&lt;i&gt;</td>" in html
    assert _markdown_html("du **texte**") == "<p>du **texte**</p>"


_KERNEL_CELL = """
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from course_lib.fr import md_table
from course_lib.widgets import Demo

def render(value):
    print(f"valeur {value}")
    display(Markdown(md_table(["critère", "précision"], [["magnitude", "97,5 %"]])))
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, value])
    return value

Demo(widgets.IntSlider(value=4, min=0, max=9, description="n"), render, names=["value"], title="Démo")
"""


@pytest.mark.slow
def test_in_a_kernel_one_output_with_widget_and_static_table(tmp_path):
    """Dans un noyau : une seule sortie (pas de doublon), le widget et la vue figée avec le texte
    imprimé, le tableau Markdown devenu <table> et la figure ; le widget garde sa sortie vivante."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(_KERNEL_CELL)]
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert [o["output_type"] for o in outputs] == ["display_data"], outputs
    data = outputs[0]["data"]
    assert WIDGET_VIEW in data
    html = data["text/html"]
    assert "<pre>valeur 4</pre>" in html
    assert "<th>critère</th><th>précision</th>" in html and "<td>magnitude</td><td>97,5 %</td>" in html
    assert len(_pngs(html)) == 1
    # la sortie vivante du widget (capturée par nbclient) a toujours le texte, le tableau et la figure
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    captured = [o for m in state.values() if m["model_name"] == "OutputModel" for o in m["state"]["outputs"]]
    kinds = {o.get("name") for o in captured} | {k for o in captured for k in o.get("data", {})}
    assert {"stdout", "text/markdown", "image/png"} <= kinds, kinds


@pytest.mark.browser
def test_jupyterlab_shows_the_live_widget_only(lab, browser):
    """JupyterLab choisit un seul type MIME par sortie : le widget ; la vue figée n'apparaît pas."""
    from browser_harness import _run_all, _wait_finished

    rel = "fixtures/static_view.ipynb"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(_KERNEL_CELL)]
    nbformat.write(nb, lab.root / rel)
    page = browser.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{lab.base}/lab/tree/{rel}?reset&token={lab.token}", wait_until="domcontentloaded")
        page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(state="attached", timeout=120_000)
        _run_all(page, lab, rel)
        _wait_finished(page, lab, rel, 300)
        cell = page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell").first
        cell.locator(".course-output img").first.wait_for(state="visible", timeout=60_000)
        # une seule sortie, rendue par le gestionnaire de widgets (pas de HTML rendu à côté)
        outputs = cell.evaluate("c => Array.from(c.querySelectorAll('.jp-Cell-outputArea > .jp-OutputArea-child "
                                "> .jp-OutputArea-output')).map(o => ({classes: o.className, "
                                "widget: o.querySelector('.jupyter-widgets') !== null}))")
        assert len(outputs) == 1 and outputs[0]["widget"], outputs
        assert "jp-RenderedHTMLCommon" not in outputs[0]["classes"], outputs
        assert cell.locator(f".{STATIC_CLASS}").count() == 0
        assert cell.locator("img").count() == 1  # la figure du widget, une seule fois
        assert cell.locator(".course-output table").count() == 1
    finally:
        page.close()
        lab.shutdown_sessions()
