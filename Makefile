# Les deux commandes du README : `make lab` et `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Every notebook of the repository must live under one of these folders:
# tests/test_hygiene.py fails if a notebook exists that nbval does not run.
NOTEBOOK_DIRS := notebooks solutions
FIRST_NOTEBOOK := notebooks/00_introduction.ipynb
PORT ?= 8888
# Dans un conteneur (root), Jupyter refuse de démarrer sans --allow-root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test lint unit notebooks check bench venv venv-dev exercises clean

venv:
	@PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/ensure_venv.sh

venv-dev:
	@PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/ensure_venv.sh dev

## make lab : crée .venv, installe le cours, ouvre JupyterLab sur le premier notebook.
# jupyter_config/ (JUPYTER_CONFIG_PATH) coupe l'interface de nbgrader (extensions serveur et
# JupyterLab) que `make test` installe dans le même .venv : les élèves ne la voient pas.
lab: venv
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter_config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	$(BIN)/jupyter lab --port=$(PORT) $(ALLOW_ROOT) $(LAB_ARGS) $(FIRST_NOTEBOOK)

## make test : tout — lint, puis en une seule passe pytest les tests (unitaires, hygiène, notation,
## navigateur) et nbval sur chaque notebook.
test: venv-dev lint check

lint:
	$(BIN)/ruff check --output-format=concise course_lib tests benchmarks scripts notebooks/[0-9]*.ipynb

# Deux processus pytest à la fois (pytest-xdist), un fichier par processus : les fichiers sont
# indépendants. Un seul fil de calcul par processus (OMP_NUM_THREADS=1) : sur 2 cœurs, deux
# processus à 2 fils chacun se disputent les cœurs et tout va plusieurs fois plus lentement.
JOBS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n $(JOBS) --dist loadfile

unit:
	$(PYTEST) tests

# nbval : toutes les cellules d'un notebook partagent un noyau, donc un notebook par processus.
notebooks:
	$(PYTEST) --nbval-lax $(NOTEBOOK_DIRS)

# tests et notebooks dans la même passe : les deux processus restent occupés jusqu'au bout
# (en deux passes, chacune finit avec un processus qui attend l'autre).
check:
	$(PYTEST) --nbval-lax tests $(NOTEBOOK_DIRS)

## make bench : mesure les coûts et écrit benchmarks/RESULTS.md
bench: venv-dev
	$(BIN)/python -m benchmarks.run_all

## make exercises : régénère les notebooks élèves depuis solutions/
exercises: venv-dev
	$(BIN)/course-build-exercises

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/artifacts
