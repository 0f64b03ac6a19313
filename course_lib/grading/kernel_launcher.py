"""Lanceur du noyau de notation : limites, instantané d'IPython, puis ipykernel.

Exécuté par son chemin (``python .../kernel_launcher.py -f {connection_file}``), dans le bac à
sable (``sandbox``), sans importer ``course_lib`` (qui importerait PyTorch avant les limites).
Variables d'environnement (posées par ``worker``) :

- ``COURSE_GRADE_MEMORY_MB``, ``COURSE_GRADE_CPU_S``, ``COURSE_GRADE_NPROC`` : limites
  ``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_NPROC`` (plus ``RLIMIT_FSIZE`` et pas de fichier core) ;
- ``COURSE_GRADE_UID`` : uid sans droits que prend le noyau s'il démarre en root ;
- ``COURSE_GRADE_CONFIRM`` : fichier où le noyau confirme la fin de chaque cellule de test.

Contre une cellule-réponse qui voudrait transformer un test raté en test réussi : avant le code
de l'élève, ``Snapshot`` photographie ce qu'une cellule peut détourner (transformateurs d'entrée
et d'AST d'IPython, ``set_custom_exc``, méthodes ``showtraceback``/``run_cell``..., ``builtins``,
``sys.stdout``/``displayhook``/``excepthook``, crochets d'événements). Une requête d'exécution
qui porte ``metadata["course_grade"] = {"name": N, "nonce": X}`` (une cellule de test, envoyée
par ``worker``) remet tout cela en place puis coupe ``sys.settrace``/``sys.setprofile``, sur le
fil d'exécution même de la cellule, avant de l'exécuter ; elle place dans l'espace de noms une
fonction ``N()`` (nom tiré au hasard) qui écrit ``X`` (secret tiré au hasard, jamais dans le
texte de la cellule) dans le fichier de confirmation. ``worker`` ajoute ``N()`` en dernière
ligne du test : seul un test allé jusqu'au bout écrit son secret. C'est une défense dans le même
processus que le code de l'élève : ce qui la contournerait (atteindre le noyau, les cadres,
``gc``...) est signalé par l'analyse statique (``scan``) pour un contrôle humain.
"""

from __future__ import annotations

import builtins
import os
import resource
import sys
import threading

_HOOK_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
_SYS_NAMES = ("stdout", "stderr", "stdin", "displayhook", "excepthook", "breakpointhook")


def set_limits(env=os.environ) -> None:
    """Limites du noyau (et de ses enfants) ; une valeur absente ou vide n'est pas posée."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 2**20, 512 * 2**20))
    for var, kind, scale in (("COURSE_GRADE_MEMORY_MB", resource.RLIMIT_AS, 2**20),
                             ("COURSE_GRADE_CPU_S", resource.RLIMIT_CPU, 1),
                             ("COURSE_GRADE_NPROC", resource.RLIMIT_NPROC, 1)):
        value = env.get(var)
        if value:
            limit = int(float(value) * scale)
            resource.setrlimit(kind, (limit, limit))


def drop_privileges(env=os.environ) -> None:
    """En root dans le bac à sable : prendre l'uid sans droits ``COURSE_GRADE_UID``."""
    uid = env.get("COURSE_GRADE_UID")
    if uid and os.geteuid() == 0:
        uid = int(uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


class Snapshot:
    """État d'IPython et de l'interpréteur avant toute cellule de l'élève, et sa remise en place."""

    def __init__(self, shell, kernel=None):
        self.shell = shell
        self.helpers: list[str] = []
        self.lists = {name: list(getattr(shell, name)) for name in _HOOK_LISTS}
        self.builtins = dict(vars(builtins))
        self.sys = {name: getattr(sys, name) for name in _SYS_NAMES}
        self.events = {name: list(cbs) for name, cbs in shell.events.callbacks.items()}
        objects = [shell, shell.InteractiveTB, shell.SyntaxTB, shell.displayhook,
                   shell.display_pub, shell.compile, shell.events, sys.stdout, sys.stderr]
        if kernel is not None:
            objects.append(kernel)
        self.instance_keys = [(obj, set(vars(obj))) for obj in objects if hasattr(obj, "__dict__")]
        classes = {cls for obj in objects for cls in type(obj).__mro__ if cls is not object}
        self.classes = [(cls, dict(vars(cls))) for cls in classes]
        # fonctions et classes des modules déjà chargés (``ast``, IPython, bibliothèques préchargées)
        self.modules = [(mod, {k: v for k, v in vars(mod).items() if callable(v)})
                        for mod in list(sys.modules.values()) if hasattr(mod, "__dict__")]

    def restore(self) -> None:
        """Remet en place l'instantané (à appeler sur le fil de la cellule qui va suivre)."""
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)  # type: ignore[arg-type]
        threading.setprofile(None)  # type: ignore[arg-type]
        for name, value in self.builtins.items():
            if vars(builtins).get(name) is not value:
                setattr(builtins, name, value)
        for name, value in self.sys.items():
            setattr(sys, name, value)
        for mod, saved in self.modules:
            current = vars(mod)
            for name, value in saved.items():
                if current.get(name, _MISSING) is not value:
                    current[name] = value
        for cls, saved in self.classes:
            for name, value in saved.items():
                if vars(cls).get(name, _MISSING) is not value:
                    try:
                        setattr(cls, name, value)
                    except (AttributeError, TypeError):
                        pass
        for obj, keys in self.instance_keys:  # méthodes remplacées sur l'objet lui-même
            for name in set(vars(obj)) - keys:
                if callable(getattr(type(obj), name, None)):
                    delattr(obj, name)
        for name, saved in self.lists.items():
            getattr(self.shell, name)[:] = saved
        self.shell.set_custom_exc((), None)
        for name, saved in self.events.items():
            self.shell.events.callbacks[name][:] = saved

    def hide_shadowing(self) -> dict:
        """Retire (le temps d'un test) les variables de l'élève qui masquent une fonction intégrée
        (``abs = ...`` ferait mentir ``assert abs(a - b) < 1e-6``) ; renvoie ce qu'il faut remettre."""
        ns = self.shell.user_ns
        names = [k for k, v in ns.items() if k in self.builtins and not k.startswith("_")
                 and v is not self.builtins[k]]
        return {k: ns.pop(k) for k in names}

    def arm(self, name: str, nonce: str, confirm_fd: int) -> None:
        """Place ``name()`` dans l'espace de noms : écrit ``nonce`` dans ``confirm_fd``."""
        write, data = os.write, f"{nonce}\n".encode()

        def confirm() -> None:
            write(confirm_fd, data)

        ns = self.shell.user_ns
        for old in self.helpers:
            ns.pop(old, None)
        self.helpers = [name]
        ns[name] = confirm


_MISSING = object()


def install(kernel, snapshot: Snapshot, confirm_fd: int) -> None:
    """Les requêtes d'exécution marquées ``course_grade`` remettent l'instantané en place."""
    original = kernel.shell_handlers["execute_request"]

    async def execute_request(stream, ident, parent):
        meta = (parent.get("metadata") or {}).get("course_grade")
        if not isinstance(meta, dict):
            return await original(stream, ident, parent)
        snapshot.restore()
        snapshot.arm(str(meta["name"]), str(meta["nonce"]), confirm_fd)
        hidden = snapshot.hide_shadowing()
        try:
            return await original(stream, ident, parent)
        finally:
            snapshot.shell.user_ns.update(hidden)

    kernel.shell_handlers["execute_request"] = execute_request


def preload(env=os.environ) -> None:
    """Importe les modules ``COURSE_GRADE_PRELOAD`` (ceux qu'importe le notebook source) AVANT
    l'instantané : leurs fonctions seront remises en place avant chaque test."""
    import importlib

    for name in filter(None, env.get("COURSE_GRADE_PRELOAD", "").split(",")):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - le notebook rapportera l'erreur d'import lui-même
            pass


def main(argv: list[str]) -> None:
    set_limits()
    confirm = os.environ.get("COURSE_GRADE_CONFIRM")
    confirm_fd = os.open(confirm, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if confirm \
        else os.open(os.devnull, os.O_WRONLY)
    uid = os.environ.pop("COURSE_GRADE_UID", "")
    os.environ.pop("COURSE_GRADE_CONFIRM", None)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize([*argv, "--HistoryManager.enabled=False"])
    drop_privileges({"COURSE_GRADE_UID": uid})
    preload()
    install(app.kernel, Snapshot(app.shell, app.kernel), confirm_fd)
    app.start()

if __name__ == "__main__":
    main(sys.argv[1:])
