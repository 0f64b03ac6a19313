"""Le texte RENDU qu'un élève lit : règles de ``tests/rendered_text.py`` et relevé branché sur nbval.

Le relevé tourne pendant que nbval exécute les notebooks (greffon ``conftest.py`` à la racine) ;
ici, on montre que chaque règle échoue sur un mauvais exemple et accepte le bon, que le relevé
voit le texte des figures (graduations comprises), des widgets et des démonstrations qu'on bouge,
et, de bout en bout, qu'un notebook fautif fait échouer nbval.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
import rendered_text as R  # noqa: E402
from conftest import ROOT  # noqa: E402

from course_lib import plots  # noqa: E402
from course_lib.fr import NNBSP, num, pct  # noqa: E402
from course_lib.widgets import Demo  # noqa: E402

# --- chaque règle sait échouer ----------------------------------------------------------------

BAD = {
    "point décimal": ["précision 0.91", "seuil : 0.0024", "budget 0.300"],
    "avant %": ["80 % des poids", "80\u00a0% des poids", "80% des poids"],
    "entre le nombre et l'unité": ["en 29 s", "pic à 1071 Mo"],
    "absente du glossaire": ["précision après FT", "un XYZ de plus"],
    "nom interne de couche": ["poids de classifier.3", "features.0 : 50 %", "fc.weight"],
    "identifiant interne": ["méthode squared_batch_mean"],
    "mot anglais": ["la hessian", "sparsity 50", "SET vs RigL"],
    "mot répété": ["couche couche cachée 1", "critère OBD, Fisher Fisher (gradient de chaque exemple)"],
    "pluriel entre parenthèses": ["2 lot(s) = 128 exemples", "couche(s) vidée(s)", "3 canal(aux)"],
    "singulier après 0 ou 1": ["0 tours hors budget", "1 lots"],
    "représentation Python": ["DataBundle('digits', train=1079, val=359)",
                              "PruningScheduler(schedule='cubic', pas=85)"],
    "constante Python": ["fini=True", "terminé : False"],
    "liste Python": ["moyenne des |g| : ['1,00', '0,50']", "['LayerCollapseWarning']"],
    "sans séparateur de milliers": ["38282 paramètres", "réseau de 21374 poids"],
    "gradient de chaque exemple": ["Taylor par exemple", "la Fisher par exemple", "le critère de Taylor **par exemple**"],
    "portée globale": ["portée global"],
}
GOOD = [f"précision 0,91 ; 80{NNBSP}% des poids ; en 29{NNBSP}s", "exercice 8.5.2, chapitre 8.5",
        "OBD, APoZ, RigL, SET, MAC, ReLU", "LeCun et al. avec PyTorch sur ResNet",
        "la couche cachée 1, la couche de sortie", "$w_j = 0.5$ et `x = 0.5`", "voir 05_one_shot.ipynb",
        "https://example.org/v1.2", "course_lib.fr.pct", "<style>.a { width: 0.5em }</style>texte",
        "le *weight decay*", "g_b, s_t", "le cours MIT 6.5940",
        "nous nous arrêtons ; de $\\log|w|$ de chaque couche", "2 lots, 0 tour, 1 pas, 1 fois, 0,5 point, dont 1 hors budget",
        f"38{NNBSP}282 paramètres, 1{NNBSP}500 poids, en 2021", "fini : oui", "paramètres : ['bias', 'weight_orig']",
        "Taylor (gradient de chaque exemple), portée globale", "par exemple, la magnitude"]


@pytest.mark.parametrize(("rule", "text"), [(r, t) for r, ts in BAD.items() for t in ts])
def test_each_rule_flags_a_bad_example(rule, text):
    found = R.problems(text)
    assert any(rule in p for p in found), (text, found)


@pytest.mark.parametrize("text", GOOD)
def test_french_text_passes(text):
    assert R.problems(text) == []


def test_glossary_lists_the_abbreviations():
    allowed = R.glossary_abbreviations()
    assert {"OBD", "OBS", "APoZ", "MAC", "RigL", "SET", "ReLU"} <= allowed
    assert "FT" not in allowed


def test_printed_object_reprs_with_keywords_are_text_to_translate():
    """Un module PyTorch sur plusieurs lignes reste du code ; une ligne « Nom(clé=valeur) » d'un objet
    du cours, imprimée, est du texte que l'élève lit (et qui doit être dit en français)."""
    printed = "DataBundle('digits', train=1079, val=359)\nSmallCNN(\n  (fc): Linear(in_features=4, out_features=2)\n)\n"
    found = R.problems(R.remove_code(printed, []))
    assert any("représentation Python « DataBundle" in p for p in found), found
    assert not any("in_features" in p for p in found), found


def test_printed_reprs_and_shown_source_are_code():
    source = "def f(x):\n    return x * 0.5  # some_name\n"
    text = f"précision 0,5\n{source}Sequential(\n  (0): Linear(in_features=4, out_features=2)\n)\ntensor(0.5)\n"
    assert R.problems(R.remove_code(text, [source])) == []
    assert R.problems(R.remove_code("précision 0.5", [source]))


def test_returned_python_values_are_code_but_markdown_is_text():
    outputs = [{"output_type": "execute_result", "data": {"text/plain": "0.972"}},
               {"output_type": "execute_result", "data": {"text/plain": "tensor([0.5000])"}},
               {"output_type": "display_data", "data": {"text/plain": "<IPython.core.display.Markdown object>",
                                                         "text/markdown": "précision 0.97"}},
               {"output_type": "stream", "name": "stdout", "text": "seuil 0.5\n"}]
    shown = R.output_texts(outputs)
    assert [t for _, t in shown] == ["précision 0.97", "seuil 0.5\n"]
    warning = [{"output_type": "stream", "name": "stderr", "text": "W1206 No CUDA runtime is found\n"}]
    assert [p for what, t in R.output_texts(warning) for p in R.stderr_problems(what, t)]


def test_measuring_latency_prints_no_cuda_warning():
    """``torch.utils.benchmark`` importe ``cpp_extension``, qui écrit « No CUDA runtime is found » quand
    un dossier CUDA existe sans carte : ``measure_latency`` le tait (et lui seul)."""
    code = ("from torch import nn\nfrom course_lib.cost import measure_latency\n"
            "measure_latency(nn.Linear(4, 4), (4,), min_run_time=0.01, min_blocks=1)\n"
            "import logging\nlogging.getLogger('torch.utils.cpp_extension').warning('autre message')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert "No CUDA runtime" not in run.stderr and "autre message" in run.stderr


# --- le relevé voit le texte des figures -------------------------------------------------------

def test_figure_texts_include_ticks_titles_legends_and_annotations():
    fig, ax = plt.subplots()
    ax.plot([0, 0.5, 1], [0, 0.25, 1], label="courbe 0.5")
    ax.set_title("titre 0.91")
    ax.set_xlabel("axe")
    ax.text(0.1, 0.1, "note 0.3")
    ax.legend()
    fig.canvas.draw()
    texts = R.figure_texts(fig)
    plt.close(fig)
    assert {"titre 0.91", "axe", "note 0.3", "courbe 0.5"} <= set(texts)
    ticks = [t for t in texts if any(c.isdigit() for c in t) and t not in ("titre 0.91", "note 0.3", "courbe 0.5")]
    assert ticks and all("." not in t for t in ticks), ticks  # graduations à la française


def test_course_ticks_use_a_decimal_comma_without_the_helper_it_fails():
    fig, ax = plt.subplots()
    ax.plot([0, 0.5], [0, 1])
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    plt.close(fig)
    assert any("," in t for t in labels) and not any(R.problems(t) for t in labels), labels
    from matplotlib.ticker import ScalarFormatter

    fig, ax = plt.subplots()
    ax.plot([0, 0.5], [0, 1])
    ax.xaxis.set_major_formatter(ScalarFormatter())  # le formateur d'origine : le relevé le voit
    fig.canvas.draw()
    english = [t.get_text() for t in ax.get_xticklabels()]
    plt.close(fig)
    assert any(R.problems(t) for t in english), english


def test_layer_labels_are_human_names():
    import torch

    from course_lib.masks import get_weights, sparsity_report
    from course_lib.models import SmallCNN

    labels = plots.layer_labels(get_weights(SmallCNN()))
    assert [labels[f"{n}.weight"] for n in ("features.0", "features.2", "classifier.1", "classifier.3")] == [
        "convolution 1", "convolution 2", "couche cachée 1", "couche de sortie"]
    assert all(R.problems(v) == [] for v in labels.values())
    assert plots.layer_labels({"a.weight": torch.zeros(2, 2)})["a.weight"] == "couche de sortie"
    by_module = plots.layer_labels(SmallCNN())  # un modèle : les ReLU prennent le nom de la couche qu'elles suivent
    assert by_module["features.1"] == "convolution 1" and by_module["classifier.2"] == "couche cachée 1"
    assert "classifier.3" not in repr(sparsity_report(SmallCNN()))


# --- le relevé voit les widgets et ce qu'affiche une démonstration qu'on bouge ----------------

def test_widget_texts_include_descriptions_options_html_and_slider_readout():
    w = widgets.FloatSlider(value=0.3, min=0, max=1, description="seuil")
    texts = dict(R.widget_texts(w))
    assert texts["FloatSlider.description"] == "seuil"
    assert any(R.problems(t) for what, t in R.widget_texts(w) if "affichage" in what)  # « 0.30 »
    options = [t for _, t in R.widget_texts(widgets.Dropdown(options=[("couche features.0", 0), ("b", 1)]))]
    assert any(R.problems(t) for t in options)
    assert R.problems(dict(R.widget_texts(widgets.HTML("<b>précision 0.91</b>")))["HTML.value"])


def _demo(text_for):
    slider = widgets.SelectionSlider(options=[(pct(v), v) for v in (0.1, 0.5, 0.9)], value=0.1, description="cible")
    toggle = widgets.Checkbox(value=False, description="option")

    def render(value, flag):
        fig, ax = plt.subplots()
        ax.set_title(text_for(value, flag))
        print("sortie", text_for(value, flag))
        return {"value": value, "flag": flag}

    return Demo(slider, render, [toggle], names=["value", "flag"])


def test_sweep_moves_each_control_records_what_is_shown_and_restores_the_state():
    demo = _demo(lambda v, f: f"valeur {v:.2f}" if v > 0.4 else f"valeur {num(v, 2)}")
    R._RECORDS.clear()
    R.sweep(demo)
    texts = [r["text"] for r in R._RECORDS]
    R._RECORDS.clear()
    assert any("0.50" in t for t in texts) and any("0.90" in t for t in texts)  # vus en bougeant le curseur
    assert demo.control.value == 0.1 and demo.last_result == {"value": 0.1, "flag": False}  # état remis
    assert any(R.problems(t) for t in texts)


def test_sweep_of_a_french_demo_records_nothing_wrong():
    demo = _demo(lambda v, f: f"valeur {num(v, 2)}{' avec option' if f else ''}")
    R._RECORDS.clear()
    R.sweep(demo)
    records = list(R._RECORDS)
    R._RECORDS.clear()
    assert any("avec option" in r["text"] for r in records)  # la case a été cochée
    assert [p for r in records for p in R.problems(r["text"])] == []


# --- de bout en bout : nbval sur un notebook fautif ----------------------------------------------

def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.mark.slow
def test_nbval_fails_a_cell_whose_rendered_text_is_wrong(tmp_path):
    """Un notebook (dossier temporaire) : une figure à graduation anglaise, un widget,
    une démonstration dont le texte ne devient faux qu'au mouvement du curseur. nbval échoue sur
    chacune de ces cellules, et passe sur la cellule correcte."""
    path = tmp_path / "bad.ipynb"
    nbformat.write(_notebook([
        "print('tout va bien : 97,2\u202f%')",
        """
        import matplotlib.pyplot as plt
        from matplotlib.ticker import ScalarFormatter
        fig, ax = plt.subplots(); ax.plot([0, 0.5], [0, 1]); ax.xaxis.set_major_formatter(ScalarFormatter())
        plt.show()
        """,
        "import ipywidgets as w; w.Dropdown(options=['classifier.3', 'b'], description='couche')",
        """
        import ipywidgets as w
        from course_lib.widgets import Demo
        d = Demo(w.IntSlider(value=0, min=0, max=2, description='pas'),
                 lambda value: print('précision', 0.5 if value else '0,5'))
        d
        """,
    ]), path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_TEXT_AUDIT": "all"}
    # le greffon de la racine du dépôt (-p conftest), le notebook hors du dépôt
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                          "--rootdir", str(tmp_path), "--nbval-lax", "-rf", str(path)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    out = run.stdout + run.stderr
    assert "3 failed, 1 passed" in out, out[-3000:]
    assert "figure" in out and "classifier.3" in out and "démonstration « pas » = " in out, out[-3000:]
