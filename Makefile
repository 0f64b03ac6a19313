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

.PHONY: lab git-filter test lint unit notebooks notebooks-settings check bench bench-compare venv venv-dev exercises clean

venv:
	@PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/ensure_venv.sh

venv-dev:
	@PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/ensure_venv.sh dev

## make lab : crée .venv, installe le cours, ouvre JupyterLab sur le premier notebook.
# jupyter_config/ (JUPYTER_CONFIG_PATH) met JupyterLab en français (labconfig/
# default_setting_overrides.json) et coupe l'interface de nbgrader (extensions serveur et
# JupyterLab) que `make test` installe dans le même .venv : les élèves ne la voient pas.
# Quelle que soit l'adresse ouverte, le cours s'ouvre sur le notebook 00, dans un espace de travail
# à lui (WORKSPACES_DIR, ignoré par git : jamais celui qu'un autre JupyterLab a laissé dans
# ~/.jupyter) : l'adresse affichée et celle du navigateur ouvert d'office (default_url, espace
# nommé WORKSPACE), la racine du serveur (redirigée vers default_url) et /lab (espace par défaut du
# cours, amorcé depuis jupyter_config/workspace.json avec le notebook 00 ouvert).
WORKSPACE := elagage-8-5
WORKSPACES_DIR ?= $(CURDIR)/.jupyter/lab/workspaces
LAB_ENV = JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter_config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	JUPYTERLAB_WORKSPACES_DIR="$(WORKSPACES_DIR)"
LAB_ROOT := $(dir $(FIRST_NOTEBOOK))
LAB_URL := /lab/workspaces/$(WORKSPACE)/tree/$(notdir $(FIRST_NOTEBOOK))
lab: venv git-filter
	@ls "$(WORKSPACES_DIR)"/default-*.jupyterlab-workspace >/dev/null 2>&1 || \
	$(LAB_ENV) $(BIN)/jupyter lab workspaces import jupyter_config/workspace.json >/dev/null 2>&1 || \
	echo ">> espace de travail par défaut non amorcé : /lab s'ouvrira sur le lanceur"
	$(LAB_ENV) $(BIN)/jupyter lab --port=$(PORT) $(ALLOW_ROOT) --ServerApp.root_dir=$(LAB_ROOT) \
	--LabApp.workspaces_dir="$(WORKSPACES_DIR)" --LabApp.default_url=$(LAB_URL) $(LAB_ARGS)

# Le filtre git nbstripout (.gitattributes, commité) : git lit tout notebook sans ses sorties, un
# commit n'en contient donc jamais. Avec jupyter_config/jupyter_server_config.py (un notebook est
# enregistré tel qu'il est commité), un notebook exécuté n'est pas une modification : `git pull`
# met le cours à jour. Réglage local au dépôt (.git/config) ; hors d'un dépôt git, rien n'est fait.
git-filter:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    $(BIN)/python -m nbstripout --install --attributes .gitattributes; fi

## make test : tout — lint, puis en une seule passe pytest les tests (unitaires, hygiène, notation,
## navigateur) et nbval sur chaque notebook, puis les notebooks sous deux autres réglages de calcul.
test: venv-dev lint check notebooks-settings

lint:
	$(BIN)/ruff check --output-format=concise course_lib tests benchmarks scripts site notebooks/[0-9]*.ipynb

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

## make bench-compare : refait les mesures et dit si RESULTS.md tient encore (à 20 % près), sans rien écrire
bench-compare: venv-dev
	$(BIN)/python -m benchmarks.run_all --compare $(BENCH)

## make exercises : régénère les notebooks élèves depuis solutions/
exercises: venv-dev
	$(BIN)/course-build-exercises

## make site : le site statique du cours exécuté ($(SITE_OUT)/_build/html/index.html), construit hors
## ligne par Jupyter Book 1 (configuration et raisons du choix : site/_config.yml), puis vérifié :
## liens internes, ancres, images, aucune ressource d'un autre hôte, aucun corrigé (site/check_site.py).
## Chaque notebook est exécuté une fois (--all : rien de périmé n'est repris d'une construction
## précédente) ; les expériences partagées entre notebooks sont rangées dans $(SITE_OUT)/course-lib-cache
## et relues d'une construction à l'autre tant que le code de course_lib n'a pas changé.
## make site-test : ouvre deux pages du site construit dans Chromium (tests/test_site.py).
.PHONY: site site-test
SITE_OUT ?= build/site
SITE_TOC ?= site/_toc.yml
site: venv-dev
	rm -rf $(SITE_OUT)/_build
	COURSE_LIB_CACHE="$${COURSE_LIB_CACHE:-$(CURDIR)/$(SITE_OUT)/course-lib-cache}" \
	$(BIN)/jupyter-book build . --all --config site/_config.yml --toc $(SITE_TOC) --path-output $(SITE_OUT) \
	    --warningiserror --keep-going
	$(BIN)/python site/check_site.py $(SITE_OUT)/_build/html

site-test: venv-dev
	COURSE_SITE_HTML="$(CURDIR)/$(SITE_OUT)/_build/html" COURSE_SITE_REQUIRED=1 OMP_NUM_THREADS=1 \
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_site.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/artifacts
