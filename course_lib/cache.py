"""Une expérience calculée une fois, relue par chaque notebook qui la cite.

Quand deux notebooks citent le même résultat (05 et 10, 07 et 12...), ils appellent la même
fonction avec les mêmes arguments ; ``cached`` range son résultat dans le dossier de cache de
l'utilisateur, jamais dans le dépôt. La clé contient tout ce qui peut changer les nombres :
le nom de la fonction, ses arguments, le code source de ``course_lib`` (une empreinte de ses
fichiers : modifier une expérience invalide ses résultats rangés), la version de PyTorch, le jeu
d'instructions des noyaux de calcul (``torch.backends.cpu.get_cpu_capability()``) et le nombre
de fils. Un résultat calculé avec d'autres arrondis n'est donc jamais relu.

Dossier : ``$COURSE_LIB_CACHE`` s'il est défini, sinon ``$XDG_CACHE_HOME/course_lib`` ou
``~/.cache/course_lib``. ``COURSE_LIB_CACHE=off`` désactive le cache (tout est recalculé).
L'écriture passe par un fichier temporaire renommé d'un coup (``os.replace``) : deux noyaux qui
écrivent la même clé à la fois ne laissent jamais un fichier à moitié écrit.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

FORMAT = 1  # à incrémenter si la forme des résultats rangés change


def cache_dir() -> Path | None:
    """Le dossier du cache, ou ``None`` s'il est désactivé (``COURSE_LIB_CACHE=off``)."""
    env = os.environ.get("COURSE_LIB_CACHE")
    if env is not None and env.strip().lower() in {"off", "0", "non", "no", ""}:
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "course_lib"


@functools.cache
def source_fingerprint() -> str:
    """Empreinte des fichiers ``.py`` de ``course_lib`` : le code qui produit les résultats."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def machine_key() -> dict[str, Any]:
    """Ce qui change les nombres : code du cours, versions, noyaux de calcul, nombre de fils."""
    return {"source": source_fingerprint(), "torch": torch.__version__, "format": FORMAT,
            "cpu": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


def cache_key(name: str, **kwargs) -> str:
    """Empreinte SHA-256 de (nom, arguments, machine) ; les arguments doivent avoir un ``repr`` stable."""
    text = repr((name, sorted(kwargs.items()), sorted(machine_key().items())))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached(name: str, compute: Callable[[], Any], **kwargs) -> Any:
    """``compute()`` une seule fois par (``name``, ``kwargs``, machine) ; relu ensuite du disque.

    ``kwargs`` ne sert qu'à la clé : passez-y tout ce dont dépend le résultat (graines, sparsités,
    jeu de données...). Un fichier illisible (version différente, disque plein) est recalculé.
    """
    if not callable(compute):
        raise TypeError(f"compute doit être une fonction sans argument ; reçu {compute!r}.")
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{name}-{cache_key(name, **kwargs)}.pkl"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        pass
    result = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pkl")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # cache en lecture seule ou disque plein : le résultat reste bon
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
    return result
