#!/usr/bin/env bash
# Crée (ou met à jour) .venv et y installe le paquet avec les extras demandés.
# Usage : scripts/ensure_venv.sh [EXTRAS]   ex. : scripts/ensure_venv.sh dev,instructor
# Une seconde exécution ne réinstalle rien si pyproject.toml et les extras n'ont pas changé.
# TORCH_CPU=1 (make lab TORCH_CPU=1) : PyTorch sans CUDA, pris sur l'index CPU de PyTorch aux
# versions que plafonne pyproject.toml (tests/test_makefile.py vérifie qu'elles coïncident) ;
# pip garde ensuite ce PyTorch (2.14.1+cpu satisfait torch<=2.14.1) et n'installe aucune
# bibliothèque CUDA (~4 Go de moins sur le disque).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
EXTRAS="${1:-}"
VENV="${VENV:-.venv}"

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "ERREUR : '$PY' est introuvable. Installez Python 3.10 ou plus récent" >&2
    echo "  (Debian/Ubuntu : sudo apt-get install python3 python3-venv ; macOS : brew install python)," >&2
    echo "  ou indiquez l'interpréteur : make PYTHON=/chemin/vers/python3.11 ..." >&2
    exit 2
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "ERREUR : $PY est la version $("$PY" -c 'import platform; print(platform.python_version())'), or il faut Python 3.10 ou plus récent." >&2
    echo "  Installez-le (https://www.python.org/downloads/) puis relancez : make PYTHON=python3.11 ..." >&2
    exit 2
fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "ERREUR : le module 'venv' (ou 'ensurepip') manque à $PY." >&2
    echo "  Debian/Ubuntu : sudo apt-get install python3-venv   (ou python3.X-venv pour votre version)" >&2
    exit 2
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo ">> Création de l'environnement virtuel $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

EDITABLE_QUIET="ignore:Editable installation"
TORCH_CPU_INDEX="https://download.pytorch.org/whl/cpu"
TORCH_CPU_PINS=("torch==2.14.1+cpu" "torchvision==0.29.1+cpu")
if [ "${TORCH_CPU:-0}" = 1 ]; then
    installed="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)"
    if [ "$installed" != "${TORCH_CPU_PINS[0]#torch==}" ]; then
        echo ">> PyTorch CPU (${TORCH_CPU_PINS[*]}) depuis $TORCH_CPU_INDEX"
        "$VENV/bin/python" -m pip install --quiet "${TORCH_CPU_PINS[@]}" --index-url "$TORCH_CPU_INDEX"
        # les bibliothèques CUDA d'un PyTorch installé avant ne servent plus à rien
        cuda="$("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | sed -n 's/^\(nvidia-[^=]*\|triton\)==.*/\1/p')"
        if [ -n "$cuda" ]; then "$VENV/bin/python" -m pip uninstall --quiet -y $cuda; fi
    fi
fi

# Empreinte des dépendances : pyproject.toml + extras demandés.
deps_hash() {
    printf '%s' "$(cat pyproject.toml; echo "extras=$1")" \
        | "$PY" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}
up_to_date() {  # $1 = extras ; vrai si le tampon correspondant est à jour
    local f="$VENV/.course-lib-${1:-base}.sha256"
    [ -f "$f" ] && [ "$(cat "$f")" = "$(deps_hash "$1")" ]
}
want_hash="$(deps_hash "$EXTRAS")"
stamp="$VENV/.course-lib-${EXTRAS:-base}.sha256"
fresh=false
if up_to_date "$EXTRAS"; then
    fresh=true
elif [ -z "$EXTRAS" ]; then
    # `make lab` après `make test` : une installation avec extras à jour contient déjà la base.
    for f in "$VENV"/.course-lib-*.sha256; do
        [ -f "$f" ] || continue
        e="$(basename "$f" .sha256)"; e="${e#.course-lib-}"; [ "$e" = base ] && e=""
        if up_to_date "$e"; then fresh=true; break; fi
    done
fi
if $fresh && "$VENV/bin/python" -c 'import course_lib' >/dev/null 2>&1; then
    echo ">> $VENV à jour (dépendances inchangées)"
    exit 0
fi
spec="."
[ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
echo ">> Installation de $spec dans $VENV (quelques minutes la première fois : PyTorch est gros)"
# Une installation éditable fait afficher à setuptools (pip ≥ 25) un encadré « Editable installation »
# en anglais, à titre d'information seulement (aucun dossier course_lib ne peut masquer le paquet :
# c'est lui) ; on le tait, sans toucher aux autres avertissements.
PYTHONWARNINGS="$EDITABLE_QUIET${PYTHONWARNINGS:+,$PYTHONWARNINGS}" \
    "$VENV/bin/python" -m pip install --quiet -e "$spec"
echo "$want_hash" > "$stamp"
