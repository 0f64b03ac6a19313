"""Bac à sable du noyau de notation : bubblewrap (``bwrap``), un par soumission.

Le noyau de l'élève (et lui seul : ``nbclient`` et le notebook fusionné, tests cachés compris,
restent dehors) est lancé par ``bwrap`` avec :

- un système en lecture seule : ``/usr``, ``/etc``, l'interpréteur Python et son environnement
  (``sys.base_prefix``, ``sys.prefix``), et le paquet ``course_lib`` installé, monté SEUL à son
  chemin de l'hôte (``PYTHONPATH`` : son dossier parent, vide à part lui ; le même chemin des deux
  côtés, pour que les modules préchargés par ``zygote`` y retrouvent leurs sources) : ni
  ``solutions/``, ni le reste du dépôt de l'enseignant, ni le dossier des notes, ni le notebook
  fusionné ne sont visibles ;
- deux zones inscriptibles de taille limitée, et elles seules (quota disque) : ``/travail`` (cwd
  et HOME) et ``/tmp`` (vide), chacune un ``tmpfs`` d'au plus ``disk_mb`` Mo (``--size``) ; un
  ``tmpfs`` vit en mémoire et disparaît avec le bac à sable : une soumission ne remplit pas le
  disque de la machine (elle peut occuper jusqu'à 2 × ``disk_mb`` Mo de mémoire) ;
- le dossier d'exécution du noyau (fichier de connexion, sockets ZMQ en transport ``ipc``) monté
  au même chemin des deux côtés : pas de réseau (``--unshare-net``), donc pas de TCP ; le lanceur
  le passe en lecture seule une fois ses sockets créées ;
- son propre espace de PID (``--unshare-pid``) et ``--die-with-parent`` : tuer ``bwrap`` tue
  tous les processus lancés par l'élève ; rien ne survit à la notation ;
- des limites (``kernel_launcher``) : mémoire (``RLIMIT_AS``), temps CPU (``RLIMIT_CPU``),
  nombre de processus (``RLIMIT_NPROC``), taille de fichier (``RLIMIT_FSIZE``). Lancé par root,
  le noyau abandonne root pour un uid sans droits propre à la soumission (``RLIMIT_NPROC`` ne
  s'applique pas à root).

Référence : bubblewrap(1), https://github.com/containers/bubblewrap (options ``--ro-bind``,
``--bind``, ``--tmpfs``, ``--size``, ``--perms``, ``--unshare-pid``, ``--unshare-net``, ``--die-with-parent``).
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import course_lib

WORK = "/travail"          # dossier de travail de l'élève, vu de l'intérieur
PACKAGE = Path(course_lib.__file__).resolve().parent  # monté seul, en lecture seule, à ce chemin
LAUNCHER = PACKAGE / "grading" / "kernel_launcher.py"


class SandboxUnavailable(RuntimeError):
    """``bwrap`` manque ou ne peut pas créer de bac à sable sur cette machine."""


def find_bwrap() -> str:
    """Chemin de ``bwrap`` ; lève ``SandboxUnavailable`` (message en français) s'il manque."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) est introuvable : sans lui, le code des élèves s'exécuterait avec "
            "vos droits (lecture de solutions/, écriture partout où vous pouvez écrire, processus "
            "qui survivent à la notation). Installez-le (Debian/Ubuntu : sudo apt-get install "
            "bubblewrap) ou, en connaissance de cause, relancez avec --sans-bac-a-sable.")
    return path


@dataclass
class Sandbox:
    """Ce qu'il faut pour lancer un noyau dans ``bwrap`` pour un travail ``job``."""

    job: Path
    uid: int | None  # uid sans droits du noyau (si la notation tourne en root), sinon None
    disk_mb: int = 256  # taille de chacune des zones inscriptibles (/travail, /tmp)

    @property
    def work(self) -> Path:
        return self.job / "work"

    @property
    def runtime(self) -> Path:
        return self.job / "runtime"


@functools.lru_cache(maxsize=None)
def quota_supported(bwrap: str | None = None) -> bool:
    """``bwrap`` connaît-il ``--size`` (bubblewrap >= 0.8) ? Sinon : pas de quota disque, le
    dossier de travail est un dossier de l'hôte (comportement des versions précédentes)."""
    import subprocess

    try:
        text = subprocess.run([bwrap or find_bwrap(), "--help"], capture_output=True, text=True,
                              timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--size" in text


def prepare(job: Path, disk_mb: int = 256) -> Sandbox:
    """Crée ``job/work`` (vide, dossier de lancement vu de dehors) et ``job/runtime`` ; en root, un
    uid propre à la soumission."""
    if isinstance(disk_mb, bool) or not isinstance(disk_mb, int) or disk_mb < 1:
        raise ValueError(f"disk_mb doit être un entier >= 1 (Mo) ; reçu {disk_mb!r}.")
    uid = 200_000 + secrets.randbelow(800_000) if os.geteuid() == 0 else None
    box = Sandbox(job, uid, disk_mb)
    for d in (box.work, box.runtime):
        d.mkdir(parents=True, exist_ok=True)
    if uid is not None and not quota_supported():  # le dossier de l'hôte sert de /travail
        os.chown(box.work, uid, uid)
    return box


def _parents(path: Path) -> list[str]:
    return [str(p) for p in reversed(path.parents) if str(p) != "/"]


def _ro(args: list[str], src: Path, dest: str | None = None, made: set | None = None) -> None:
    dest = dest or str(src)
    for parent in _parents(Path(dest)):
        if made is not None and parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    args += ["--ro-bind", str(src), dest]


def bwrap_argv(box: Sandbox, bwrap: str | None = None) -> list[str]:
    """Le début de la ligne de commande du noyau : ``bwrap ... --`` (le noyau suit)."""
    args = [bwrap or find_bwrap(), "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", "notation", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    quota = quota_supported(args[0])
    size = ["--perms", "01777", "--size", str(box.disk_mb * 2**20)] if quota else []
    args += ["--proc", "/proc", "--dev", "/dev", *size, "--tmpfs", "/tmp"]
    made: set[str] = {"/usr", "/etc", "/proc", "/dev", "/tmp"}
    prefixes = {Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    for prefix in sorted(prefixes, key=lambda p: len(p.parts)):
        if not str(prefix).startswith("/usr"):
            _ro(args, prefix, made=made)
    _ro(args, PACKAGE, made=made)
    for parent in _parents(box.runtime):
        if parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    args += ["--bind", str(box.runtime), str(box.runtime),
             *(size + ["--tmpfs", WORK] if quota else ["--bind", str(box.work), WORK]),
             "--chdir", WORK]
    if box.uid is not None:  # le lanceur abandonne root (setresuid) puis perd ces droits
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return args + ["--"]


BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg"}


def kernel_argv(box: Sandbox | None, env: dict[str, str], python: str = sys.executable) -> list[str]:
    """Commande du noyau (kernelspec) : lanceur limité, dans ``bwrap`` si ``box`` est donné.

    Dans le bac à sable, l'environnement du noyau est EXACTEMENT ``BASE_ENV`` + ``env`` (``env -i`` :
    rien de l'environnement de l'enseignant n'y entre) ; sans bac à sable, ``env`` s'ajoute à
    l'environnement courant (voir ``worker``).
    """
    if box is None:
        return [python, str(LAUNCHER), "-f", "{connection_file}"]
    inside = {**BASE_ENV, "HOME": WORK, "TMPDIR": "/tmp", "PYTHONPATH": str(PACKAGE.parent),
              "COURSE_GRADE_RUNTIME": str(box.runtime), "COURSE_GRADE_FSIZE_MB": str(box.disk_mb),
              "MPLCONFIGDIR": f"{WORK}/.mpl", "IPYTHONDIR": f"{WORK}/.ipython", **env}
    return bwrap_argv(box) + ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in inside.items()),
                              python, str(LAUNCHER), "-f", "{connection_file}"]
