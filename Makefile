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

.PHONY: lab test lint unit notebooks notebooks-settings check bench venv venv-dev exercises clean

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
## navigateur) et nbval sur chaque notebook, puis les notebooks sous deux autres réglages de calcul.
test: venv-dev lint check notebooks-settings

lint:
	$(BIN)/ruff check --output-format=concise course_lib tests benchmarks scripts notebooks/[0-9]*.ipynb

# Deux processus pytest à la fois (pytest-xdist), un fichier par processus : les fichiers sont
# indépendants. Un seul fil de calcul par processus (OMP_NUM_THREADS=1) : sur 2 cœurs, deux
# processus à 2 fils chacun se disputent les cœurs et tout va plusieurs fois plus lentement.
JOBS ?= 2
# Les expériences partagées entre notebooks (course_lib/cache.py) sont rangées dans un dossier
# neuf à chaque passe de pytest : les tests recalculent tout, et les notebooks d'une même passe
# partagent leurs résultats comme chez l'élève.
PYTEST_BASE := COURSE_LIB_CACHE="$${COURSE_LIB_CACHE:-$$(mktemp -d -t course-lib-cache.XXXXXX)}" \
	$(BIN)/python -m pytest -q -p no:cacheprovider --dist loadfile
PYTEST := OMP_NUM_THREADS=1 $(PYTEST_BASE) -n $(JOBS)

unit:
	$(PYTEST) tests

# nbval : toutes les cellules d'un notebook partagent un noyau, donc un notebook par processus.
notebooks:
	$(PYTEST) --nbval-lax $(NOTEBOOK_DIRS)

# tests et notebooks dans la même passe : les deux processus restent occupés jusqu'au bout
# (en deux passes, chacune finit avec un processus qui attend l'autre).
check:
	$(PYTEST) --nbval-lax tests $(NOTEBOOK_DIRS)

# Un élève n'a pas notre processeur : les arrondis changent avec les noyaux de calcul
# (ATEN_CPU_CAPABILITY) et le nombre de fils. Chaque notebook est donc exécuté aussi sous
# d'autres réglages (noyaux:fils) ; une cellule qui échoue sous l'un d'eux fait échouer make test.
# Deux processus à un fil, ou un processus à deux fils : jamais plus de fils que de cœurs (2).
SETTINGS ?= avx2:2 default:1
notebooks-settings:
	@set -e; for s in $(SETTINGS); do \
	    cap=$${s%%:*}; threads=$${s##*:}; jobs=$$(( $(JOBS) / threads )); [ $$jobs -ge 1 ] || jobs=1; \
	    echo ">> notebooks sous ATEN_CPU_CAPABILITY=$$cap OMP_NUM_THREADS=$$threads ($$jobs processus)"; \
	    ATEN_CPU_CAPABILITY=$$cap OMP_NUM_THREADS=$$threads $(PYTEST_BASE) -n $$jobs --nbval-lax $(NOTEBOOK_DIRS); \
	done

## make bench : mesure les coûts et écrit benchmarks/RESULTS.md
bench: venv-dev
	$(BIN)/python -m benchmarks.run_all

## make exercises : régénère les notebooks élèves depuis solutions/
exercises: venv-dev
	$(BIN)/course-build-exercises

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/artifacts
