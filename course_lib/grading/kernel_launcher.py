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
   (``ExecutionResult.error_in_exec``, indépendant de l'affichage des erreurs), et des
   métadonnées ``course_grade`` : ce qu'un crochet d'audit (``Watch``, impossible à retirer) a
   vu pendant le test (cadre du test ou d'IPython obtenu, traçage, ``gc``). Le ``worker`` ne
   compte un test réussi que sur cette réponse, marquée, reçue une seule fois, d'un noyau encore
   vivant ; ce que le crochet a vu fait signaler le rendu (``a_verifier``).

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


def compile_test(shell, source: str) -> tuple:
    """Le test compilé sous le nom ``<test>`` (rien dans ``linecache``) : ``(corps, dernière)``,
    deux appelables sans argument ni cadre Python à eux (``functools.partial`` d'``exec`` et
    d'``eval`` dans l'espace de noms de l'élève) ; ``dernière`` (ou ``None``) renvoie la valeur de
    la dernière expression du test, affichée par IPython comme dans une cellule ordinaire."""
    import ast
    import functools

    tree = ast.parse(shell.transform_cell(source))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        code = compile(ast.Expression(tree.body.pop().value), "<test>", "eval", dont_inherit=True)
        last = functools.partial(eval, code, shell.user_ns)
    body = functools.partial(exec, compile(tree, "<test>", "exec", dont_inherit=True), shell.user_ns)
    return body, last


_WATCHED = {"sys._getframe", "object.__getattr__", "sys.settrace", "sys.setprofile",
            "sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents"}
_MACHINERY = ("/IPython/", "/ipykernel/", "/jupyter_client/", "/zmq/", "/tornado/", "/asyncio/",
              "/traitlets/", "/anyio/", "kernel_launcher.py")
# Qui a le droit de toucher aux cadres pendant un test : la machinerie elle-même, et ce qui met en
# forme une erreur (IPython affiche la pile du test qui échoue), journalise ou avertit.
_TRUSTED_CALLERS = (*_MACHINERY, "/stack_data/", "/executing/", "/pure_eval/", "/traceback.py", "/inspect.py",
                    "/linecache.py", "/logging/", "/warnings.py", "/typing.py", "/collections/")


class Watch:
    """Crochet d'audit (PEP 578 : on ne peut pas le retirer) : pendant un test, note ce qui
    atteint le test ou la machinerie du noyau (cadre du test ou d'IPython, traçage, ``gc``),
    même par un nom calculé qui échappe à l'analyse statique. Rapporté dans les métadonnées de
    la réponse ``execute_reply`` du test (``finish_metadata``)."""

    def __init__(self):
        self.active = False
        self.events: list[str] = []
        self._busy = False

    def hook(self, event, args) -> None:
        if not self.active or self._busy or event not in _WATCHED:
            return
        self._busy = True
        try:
            what = self._judge(event, args)
            if what and what not in self.events and len(self.events) < 12:
                self.events.append(what)
        except Exception:  # noqa: BLE001 - un crochet d'audit ne doit jamais lever
            pass
        finally:
            self._busy = False

    @staticmethod
    def _judge(event: str, args) -> str:
        caller = sys._getframe(2).f_code.co_filename  # 0 : _judge, 1 : hook, 2 : qui agit
        if any(m in caller for m in _TRUSTED_CALLERS):
            return ""
        if event in ("sys._getframe", "object.__getattr__"):
            frame = args[0] if args else None
            if event == "object.__getattr__" and (len(args) < 2 or args[1] != "f_code"):
                return ""
            if type(frame).__name__ != "frame":
                return ""
            filename = frame.f_code.co_filename
            if filename == "<test>":
                return f"{event} : cadre du test"
            if any(m in filename for m in _MACHINERY):
                return f"{event} : cadre de la machinerie du noyau"
            return ""
        return event


def _runner_code(shell, body, last) -> str:
    """Le code que voit IPython : chaque appelable est retiré de l'espace de noms AVANT d'être
    appelé (le code de l'élève ne le retrouve pas dans ``globals()``)."""
    lines = []
    for part in (body, last):
        if part is not None:
            name = f"_t{os.urandom(8).hex()}"
            shell.user_ns[name] = part
            lines.append(f"globals().pop({name!r})()")
    return "\n".join(lines)


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


def install(kernel, snapshot: Snapshot, tests_fd: int | None = None,
            watch: Watch | None = None) -> None:
    """Les requêtes d'exécution marquées ``course_grade`` sont des tests (voir le module)."""
    original = kernel.shell_handlers["execute_request"]
    shell = snapshot.shell
    restore, hide_shadowing = snapshot.restore, snapshot.hide_shadowing  # liés dès maintenant
    watch = watch or Watch()
    marked = kernel.finish_metadata  # ``mark_replies`` (si posé), remis avant chaque test

    async def execute_request(stream, ident, parent):
        meta = (parent.get("metadata") or {}).pop("course_grade", None)
        if not isinstance(meta, dict):
            return await original(stream, ident, parent)
        restore()
        kernel.finish_metadata = marked
        shell.user_ns["__builtins__"] = builtins
        content = parent["content"]
        content["store_history"] = False
        before = set(shell.user_ns)
        source = meta.pop("source", None)
        if source is None:
            source = read_test(tests_fd, str(meta.get("nonce", "")))
        try:
            if source is None:
                content["code"] = "raise RuntimeError('texte du test non reçu')"
            else:
                content["code"] = _runner_code(shell, *compile_test(shell, str(source)))
        except SyntaxError as exc:  # un test mal écrit : l'erreur, sans le texte du test
            content["code"] = f"raise SyntaxError({f'test illisible (ligne {exc.lineno})'!r})"
        except Exception as exc:  # noqa: BLE001 - jamais sans réponse : le test échoue
            content["code"] = f"raise RuntimeError({f'test illisible ({type(exc).__name__})'!r})"
        added = set(shell.user_ns) - before
        del meta, source
        hidden = hide_shadowing()
        watch.events.clear()
        watch.active = True
        try:
            return await original(stream, ident, parent)
        finally:
            watch.active = False
            for name in added:
                shell.user_ns.pop(name, None)
            shell.user_ns.update(hidden)

    kernel.shell_handlers["execute_request"] = execute_request


def mark_replies(kernel, watch: Watch) -> None:
    """La réponse ``execute_reply`` d'un test porte ``metadata["course_grade"]`` : ce que le
    crochet d'audit a noté pendant le test. À poser AVANT l'instantané (qui la gardera)."""
    finish = kernel.finish_metadata

    def finish_metadata(parent, metadata, reply_content):
        metadata = finish(parent, metadata, reply_content)
        if watch.active:
            metadata["course_grade"] = {"events": list(watch.events)}
        return metadata

    kernel.finish_metadata = finish_metadata


def preload(env=os.environ) -> None:
    """Importe les modules ``COURSE_GRADE_PRELOAD`` (ceux qu'importe le notebook source) AVANT
    l'instantané : leurs fonctions seront remises en place avant chaque test."""
    import importlib

    for name in filter(None, env.get("COURSE_GRADE_PRELOAD", "").split(",")):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - le notebook rapportera l'erreur d'import lui-même
            pass


def main(argv: list[str], user_ns: dict | None = None, first_cell=None) -> None:
    """Lance le noyau ; ``user_ns`` : espace de noms de départ de l'élève (``zygote`` : état de la
    première cellule, déjà exécutée), sinon un espace vide ; ``first_cell`` : appelé une fois, juste
    avant la première cellule exécutée (le démarrage d'ipykernel tire des nombres de ``random`` :
    ``zygote`` y remet l'état que la première cellule a laissé)."""
    set_limits()
    uid = os.environ.pop("COURSE_GRADE_UID", "")
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    if user_ns is not None:
        app.user_ns = user_ns
    app.initialize([*argv, "--HistoryManager.enabled=False"])
    tests = os.environ.pop("COURSE_GRADE_TESTS", "")
    tests_fd = os.open(tests, os.O_RDONLY | os.O_NONBLOCK) if tests and os.path.exists(tests) \
        else None
    runtime = os.environ.pop("COURSE_GRADE_RUNTIME", "")
    if runtime:  # connexion lue et sockets créées : l'élève n'y écrit plus (seul le root le peut)
        os.chmod(runtime, 0o555)
    drop_privileges({"COURSE_GRADE_UID": uid})
    preload()
    watch = Watch()
    sys.addaudithook(watch.hook)
    mark_replies(app.kernel, watch)
    if user_ns is not None:  # la première cellule a déjà eu le numéro 1
        app.shell.execution_count = 2
    install(app.kernel, Snapshot(app.shell, app.kernel), tests_fd, watch)
    if first_cell is not None:  # après l'instantané : ``restore`` l'enlèverait avant un test
        def once(*_):
            app.shell.events.unregister("pre_execute", once)
            first_cell()

        app.shell.events.register("pre_execute", once)
    app.start()


if __name__ == "__main__":
    main(sys.argv[1:])
