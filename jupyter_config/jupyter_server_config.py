"""Réglages du serveur Jupyter du cours (`make lab` : JUPYTER_CONFIG_PATH=jupyter_config).

Un notebook est enregistré tel qu'il est commité : sans sorties ni numéros d'exécution (mêmes
règles que le filtre git nbstripout de .gitattributes), avec les métadonnées de noyau que le
fichier avait déjà (JupyterLab y écrit sinon « Python 3 (ipykernel) » et la version exacte de
Python de l'élève). Un notebook seulement exécuté reste donc identique, octet pour octet, au
fichier commité : `git status` ne le voit pas modifié et `git pull` met le cours à jour. Le filtre
seul n'y suffit pas : git juge modifié, sans le filtrer, un fichier dont la taille a changé.
Les sorties restent à l'écran jusqu'à la fermeture de l'onglet ; un notebook rouvert se
ré-exécute (moins d'une minute).
"""

import json
import warnings

# Les clés que nbstripout retire par défaut (filtre git de .gitattributes) : même résultat.
STRIPPED_KEYS = [
    "metadata.signature", "metadata.widgets", "cell.metadata.collapsed", "cell.metadata.ExecuteTime",
    "cell.metadata.execution", "cell.metadata.heading_collapsed", "cell.metadata.hidden",
    "cell.metadata.scrolled",
]
# Ce que le noyau de l'élève réécrit dans les métadonnées : on garde la version du fichier.
KERNEL_METADATA = ("kernelspec", "language_info")


def save_as_committed(model, path, contents_manager, **kwargs):
    """Crochet ``pre_save_hook`` : le notebook enregistré est celui que le filtre git commiterait."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    try:
        import nbformat
        from nbstripout import strip_output
    except ImportError:  # sans nbstripout, le notebook est enregistré tel quel
        return
    nb = nbformat.from_dict(model["content"])
    strip_output(nb, keep_output=False, keep_count=False, keep_id=False, extra_keys=STRIPPED_KEYS)
    try:
        with open(contents_manager._get_os_path(path), encoding="utf-8") as fh:
            before = json.load(fh).get("metadata", {})
    except Exception:  # noqa: BLE001 (fichier neuf ou illisible : métadonnées du noyau gardées)
        before = None
    for key in KERNEL_METADATA if isinstance(before, dict) else ():
        if key in before:
            nb.metadata[key] = before[key]
        else:
            nb.metadata.pop(key, None)
    model["content"] = nb


# jupyter_server applique deux fois sa configuration au gestionnaire de fichiers et avertit (en
# anglais, dans le terminal de l'élève) qu'il remplace le crochet... par lui-même.
warnings.filterwarnings("ignore", message="Overriding existing pre_save_hook", category=UserWarning)
c = get_config()  # noqa: F821 (fourni par Jupyter à la lecture de ce fichier)
c.ContentsManager.pre_save_hook = save_as_committed
