"""Lanceur du noyau de notation : limites, instantané d'IPython, puis ipykernel.

Exécuté par son chemin (``python .../kernel_launcher.py -f {connection_file}``), dans le bac à
sable (``sandbox``), sans importer ``course_lib`` (qui importerait PyTorch avant les limites).
Variables d'environnement (posées par ``worker``) :

- ``COURSE_GRADE_MEMORY_MB``, ``COURSE_GRADE_CPU_S``, ``COURSE_GRADE_NPROC``,
  ``COURSE_GRADE_FSIZE_MB`` : limites ``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_NPROC``,
  ``RLIMIT_FSIZE`` (et pas de fichier core) ;
- ``COURSE_GRADE_UID`` : uid sans droits que prend le noyau s'il démarre en root ;
- ``COURSE_GRADE_TESTS`` : tube nommé par lequel arrive le texte des tests (voir plus bas) ;
- ``COURSE_GRADE_RUNTIME`` : dossier de connexion, passé en lecture seule une fois les sockets
  créées (hors du quota disque du bac à sable : il ne doit pas servir à écrire).

Une cellule de test arrive comme une requête d'exécution dont le code échoue (si ce gestionnaire
a été retiré, le test échoue) et dont les MÉTADONNÉES portent ``{"course_grade": {"nonce": X}}`` (``worker``) ; son texte arrive À PART,
par un tube nommé (``COURSE_GRADE_TESTS``, ouvert en lecture au démarrage puis effacé par le
worker), en un enregistrement ``"X LONGUEUR\n" + texte`` écrit juste avant la requête : il n'est
ni dans les messages ZMQ que le noyau garde en mémoire, ni ailleurs une fois compilé (à défaut de
tube, ``{"source": TEXTE}`` dans les métadonnées). Avant qu'une ligne de l'élève ne tourne à
nouveau, le gestionnaire de requêtes :

1. remet en place l'instantané ``Snapshot`` pris avant la première cellule de l'élève
   (transformateurs d'entrée et d'AST, ``set_custom_exc``, méthodes ``showtraceback``/``run_cell``
   ..., ``builtins``, ``sys.stdout``/``displayhook``/``excepthook``, crochets d'événements), coupe
   ``sys.settrace``/``sys.setprofile`` et masque les variables qui redéfinissent une fonction
   intégrée ;
2. lit le texte du test (enregistrement dont le secret est ``X`` : un enregistrement glissé dans le
   tube par l'élève est ignoré), le compile sous le nom ``<test>`` et l'oublie : ni ``linecache``,
   ni l'historique (``In``, ``_ih``, ``_i``..., requête ``store_history=False``), ni les variables
   locales d'IPython ne contiennent son texte ; IPython exécute à sa place une ligne
   ``_t<hasard>()`` qui lance ce code compilé (la valeur d'une dernière expression reste affichée :
   note partielle de nbgrader) ;
3. ipykernel répond ``execute_reply`` avec le statut ``ok`` ou ``error`` calculé par IPython
   (``ExecutionResult.error_in_exec``, indépendant de l'affichage des erreurs). Le ``worker`` ne
   compte un test réussi que sur cette réponse, reçue une seule fois, d'un noyau encore vivant.

C'est une défense dans le même processus que le code de l'élève : ce qui la contournerait
(réécrire ipykernel ou les cadres d'exécution PENDANT le test, fils d'exécution...) est signalé
par l'analyse statique (``scan``) pour un contrôle humain ; voir le README (section Enseignants).
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
    fsize = int(float(env.get("COURSE_GRADE_FSIZE_MB") or 512) * 2**20)
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
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



_MISSING = object()


def compile_test(shell, source: str):
    """Le test compilé sous le nom ``<test>`` (rien dans ``linecache``) : une fonction sans
    argument qui l'exécute dans l'espace de noms de l'élève et renvoie la valeur de sa dernière
    expression (affichée par IPython, comme dans une cellule ordinaire)."""
    import ast

    tree = ast.parse(shell.transform_cell(source))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), "<test>", "eval", dont_inherit=True)
    body = compile(tree, "<test>", "exec", dont_inherit=True)
    ns = shell.user_ns

    def run():
        exec(body, ns)
        return eval(last, ns) if last is not None else None

    return run


def read_test(fd: int | None, nonce: str) -> str | None:
    """Le texte du test ``nonce`` lu dans le tube ``fd`` (tout ce qui y attend est consommé)."""
    if fd is None:
        return None
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    found = None
    try:
        while data:
            head, _, rest = data.partition(b"\n")
            key, _, size = head.partition(b" ")
            body, data = rest[:int(size)], rest[int(size):]
            if key.decode() == nonce:
                found = body.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        pass
    return found


def install(kernel, snapshot: Snapshot, tests_fd: int | None = None) -> None:
    """Les requêtes d'exécution marquées ``course_grade`` sont des tests (voir le module)."""
    original = kernel.shell_handlers["execute_request"]
    shell = snapshot.shell
    restore, hide_shadowing = snapshot.restore, snapshot.hide_shadowing  # liés dès maintenant

    async def execute_request(stream, ident, parent):
        meta = (parent.get("metadata") or {}).pop("course_grade", None)
        if not isinstance(meta, dict):
            return await original(stream, ident, parent)
        restore()
        shell.user_ns["__builtins__"] = builtins
        content = parent["content"]
        content["store_history"] = False
        name = f"_t{os.urandom(8).hex()}"
        source = meta.pop("source", None)
        if source is None:
            source = read_test(tests_fd, str(meta.get("nonce", "")))
        try:
            if source is None:
                content["code"] = "raise RuntimeError('texte du test non reçu')"
            else:
                shell.user_ns[name] = compile_test(shell, str(source))
                content["code"] = f"{name}()"
        except SyntaxError as exc:  # un test mal écrit : l'erreur, sans le texte du test
            content["code"] = f"raise SyntaxError({f'test illisible (ligne {exc.lineno})'!r})"
        del meta, source
        hidden = hide_shadowing()
        try:
            return await original(stream, ident, parent)
        finally:
            shell.user_ns.pop(name, None)
            shell.user_ns.update(hidden)

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
    uid = os.environ.pop("COURSE_GRADE_UID", "")
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize([*argv, "--HistoryManager.enabled=False"])
    tests = os.environ.pop("COURSE_GRADE_TESTS", "")
    tests_fd = os.open(tests, os.O_RDONLY | os.O_NONBLOCK) if tests and os.path.exists(tests) \
        else None
    runtime = os.environ.pop("COURSE_GRADE_RUNTIME", "")
    if runtime:  # connexion lue et sockets créées : l'élève n'y écrit plus (seul le root le peut)
        os.chmod(runtime, 0o555)
    drop_privileges({"COURSE_GRADE_UID": uid})
    preload()
    install(app.kernel, Snapshot(app.shell, app.kernel), tests_fd)
    app.start()


if __name__ == "__main__":
    main(sys.argv[1:])
