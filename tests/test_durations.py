"""Une seule source pour les durées : l'en-tête du notebook ; le README en est généré (issue 14).

``scripts/readme_plan.py`` régénère le tableau « Plan du cours » ; ce test échoue si le README
diffère de ce qu'il produit (comme ``make exercises`` pour les notebooks élèves).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import ROOT

_spec = importlib.util.spec_from_file_location("readme_plan", ROOT / "scripts" / "readme_plan.py")
readme_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_plan)

NOTEBOOKS = readme_plan.sections(ROOT) + readme_plan.exercises(ROOT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_header_states_its_duration(path):
    minutes, _title = readme_plan.header(path)
    assert 5 <= minutes <= 60, f"{path.name} : durée estimée {minutes} min (attendu entre 5 et 60)"


def test_readme_plan_matches_notebook_headers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = readme_plan.render(readme)
    assert readme == expected, (
        "Le plan du cours du README ne suit pas les en-têtes des notebooks ; lancez "
        "`python scripts/readme_plan.py` (différence : `python scripts/readme_plan.py --check`)")


# --- le générateur sait échouer --------------------------------------------------------------

def _nb(path, first_cell: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": first_cell}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")


README = """# Cours

## Plan du cours

| Notebook | Durée | Ce qu'on y apprend |
|---|---|---|
| [00_intro](notebooks/00_intro.ipynb) | 15 min | L'idée |
| [exercices/](notebooks/exercices/) | 2 h | 8.5.1 premier (30 min), 8.5.2 second (30 min) |

## Démarrer
"""


def test_render_follows_headers_and_adds_missing_rows(tmp_path):
    _nb(tmp_path / "notebooks" / "00_intro.ipynb", "# 00 — Intro\n\n**Durée estimée :** 20 minutes.")
    _nb(tmp_path / "notebooks" / "01_suite.ipynb", "# 01 — La suite\n\n**Durée estimée** : 25 minutes.")
    _nb(tmp_path / "notebooks" / "exercices" / "ex_8_5_1_a.ipynb", "# Ex\n\n**Durée estimée** : 30 minutes.")
    _nb(tmp_path / "notebooks" / "exercices" / "ex_8_5_2_b.ipynb", "# Ex\n\n**Durée estimée** : 35 minutes.")
    out = readme_plan.render(README, tmp_path)
    assert "| [00_intro](notebooks/00_intro.ipynb) | 20 min | L'idée |" in out            # 15 -> 20
    assert "| [01_suite](notebooks/01_suite.ipynb) | 25 min | La suite |" in out          # ligne ajoutée
    assert "| 1 h 05 | 8.5.1 premier (30 min), 8.5.2 second (35 min) |" in out          # somme
    assert out.index("01_suite") < out.index("exercices/")
    assert out.endswith("## Démarrer\n") and readme_plan.render(out, tmp_path) == out   # stable


def test_header_without_duration_is_a_clear_error(tmp_path):
    _nb(tmp_path / "notebooks" / "00_intro.ipynb", "# 00 — Intro\n\nSans durée.")
    with pytest.raises(ValueError, match="Durée estimée"):
        readme_plan.render(README, tmp_path)


@pytest.mark.parametrize("minutes, text", [(15, "15 min"), (60, "1 h"), (85, "1 h 25"), (125, "2 h 05")])
def test_duration_format(minutes, text):
    assert readme_plan.fmt(minutes) == text
