"""Noyaux clonés : un interpréteur préchargé (« zygote ») cloné dans le bac à sable de chaque rendu.

Chaque rendu d'un même exercice commence par le même travail : lancer Python, importer PyTorch,
``course_lib`` et ipykernel, puis exécuter la première cellule du notebook (imports, données,
modèle de référence entraîné), que l'élève n'a pas à modifier. Ce module le fait UNE fois par
exercice, dans un processus ``serve``, puis clone ce processus (``fork``) pour chaque rendu :

1. ``launch`` (le « noyau » déclaré au ``worker``, hors du bac à sable) démarre ``bwrap`` avec
   exactement les options du bac à sable d'un noyau neuf (``sandbox.bwrap_argv``), mais avec
   ``sleep infinity`` comme seul programme : le bac à sable (montages, quota disque, réseau, PID)
   existe, vide ;
2. il demande au zygote (socket Unix, dans un dossier 0700 de l'enseignant, invisible du bac à
   sable) un noyau dans ce bac à sable ; le clone rejoint ses espaces de noms (``setns`` :
   utilisateurs s'il y en a, montages, réseau, IPC, UTS, cgroup, PID), puis se clone encore pour
   entrer dans l'espace de PID : ce petit-enfant est le noyau ;
3. le noyau ferme tout descripteur hérité, prend l'environnement exact d'un noyau neuf, ouvre une
   session (``setsid``), meurt avec son parent (``PR_SET_PDEATHSIG``), ne peut plus gagner de
   droits (``PR_SET_NO_NEW_PRIVS``), perd ses capacités (il ne garde, en root, que CAP_SETUID et
   CAP_SETGID, comme ``bwrap --cap-add``), puis suit ``kernel_launcher.main`` : limites,
   ipykernel, abandon de root pour l'uid de la soumission, instantané, tests par le tube.

Ce que voit l'élève est donc ce que voit un noyau neuf (mêmes montages, mêmes limites), avec
l'état de la première cellule déjà calculé. Le clone ne contient rien qu'un noyau neuf n'aurait
pas : le zygote n'a lu ni notebook rendu ni test (caché ou non), seulement la première cellule de
la source, que l'élève a aussi. Tuer ``launch`` tue ``bwrap`` (``--die-with-parent``), donc
l'espace de PID, donc le noyau.

Si quoi que ce soit manque (zygote absent ou arrêté, ``setns`` refusé), ``launch`` lance le noyau
neuf habituel (``os.execv``) et l'écrit dans ``zygote.json`` : la notation ne dépend jamais du
zygote, seulement sa vitesse.

Exécuté par son chemin (``python zygote.py serve|launch ...``), sans importer ``course_lib``.
Référence : setns(2), namespaces(7), capabilities(7), prctl(2), bubblewrap(1) (``--info-fd``).
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

NAMESPACES = ("user", "cgroup", "ipc", "uts", "net", "mnt", "pid")  # « user » d'abord (setns(2))
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
CAP_SETGID, CAP_SETUID = 6, 7
NS_GET_USERNS = 0xB701  # ioctl_ns(2) : l'espace d'utilisateurs propriétaire d'un espace
_LIBC = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} : {os.strerror(err)}")


def prctl(option: int, arg: int = 0) -> None:
    _check(_LIBC.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def enter(pid: int) -> None:
    """Rejoint les espaces de noms du processus ``pid`` (ceux qui diffèrent des nôtres).

    Sans root, ``bwrap`` crée un espace d'utilisateurs U1 (propriétaire des autres espaces), puis
    un second, U2, enfant de U1, où vit le programme : on entre dans U1 (``NS_GET_USERNS``), puis
    dans les autres espaces, puis dans U2. L'espace de PID ne vaut que pour les enfants créés
    ensuite (setns(2)) : l'appelant doit se cloner après. ``/proc/pid/root`` est ouvert AVANT de
    changer d'espace de montages, puis devient la racine et le dossier courant."""
    import fcntl

    mine = {ns: os.stat(f"/proc/self/ns/{ns}").st_ino for ns in NAMESPACES}  # avant tout setns

    def join(fd: int, ns: str) -> None:
        if os.fstat(fd).st_ino != mine[ns]:
            _check(_LIBC.setns(fd, 0), f"setns({ns})")
            mine[ns] = os.fstat(fd).st_ino

    fds = {ns: os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in NAMESPACES
           if os.path.exists(f"/proc/{pid}/ns/{ns}")}
    fds["root"] = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if any(os.fstat(fds[ns]).st_ino == mine[ns] for ns in ("mnt", "pid")):
            raise OSError(0, f"le processus {pid} n'est pas dans un bac à sable (espaces communs)")
        fds["owner"] = fcntl.ioctl(fds["mnt"], NS_GET_USERNS)
        join(fds["owner"], "user")
        for ns in NAMESPACES:
            if ns != "user" and ns in fds:
                join(fds[ns], ns)
        join(fds["user"], "user")
        os.fchdir(fds["root"])
        os.chroot(".")
    finally:
        for fd in fds.values():
            os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def keep_capabilities(keep: tuple[int, ...]) -> None:
    """Ne garde que les capacités ``keep`` (ensemble limitant, ambiant, effectif, permis)."""
    cap = 0
    while True:
        if cap not in keep and _LIBC.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            if ctypes.get_errno() == 22:  # EINVAL : plus de capacité de ce numéro
                break
            _check(-1, f"PR_CAPBSET_DROP({cap})")
        cap += 1
        if cap > 63:
            break
    _LIBC.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    mask = sum(1 << c for c in keep)
    data = (_CapData * 2)(_CapData(mask, mask, 0), _CapData(0, 0, 0))
    _check(_LIBC.capset(ctypes.byref(_CapHeader(0x20080522, 0)), data), "capset")


def run_prefix(code: str, ns: dict) -> list[dict]:
    """Exécute ``code`` dans ``ns`` (comme IPython le ferait d'une cellule sans commande magique) ;
    renvoie ses sorties au format nbformat (flux ``stdout`` puis ``stderr``). Une dernière
    expression qui vaut autre chose que ``None`` (IPython l'afficherait) lève ``ValueError``."""
    import ast

    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        exec(compile(tree, "<cellule 1>", "exec"), ns)  # noqa: S102 - code de l'enseignant
        if last is not None and eval(compile(ast.Expression(last.value), "<cellule 1>", "eval"),
                                     ns) is not None:
            raise ValueError("la dernière expression de la cellule a une valeur (IPython l'afficherait)")
    return [{"output_type": "stream", "name": name, "text": text}
            for name, text in (("stdout", out.getvalue()), ("stderr", err.getvalue())) if text]


def kernel_modules(folder: Path) -> list[str]:
    """Les modules qu'importe le démarrage d'ipykernel (``IPKernelApp.initialize`` : IPython,
    débogueur...), trouvés en démarrant un noyau jetable dans un clone : le zygote les importe à
    son tour, et chaque noyau cloné les trouve chargés."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            from ipykernel.kernelapp import IPKernelApp

            trial = folder / "essai"
            trial.mkdir()
            os.environ["IPYTHONDIR"] = str(trial / ".ipython")
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            before = set(sys.modules)
            IPKernelApp.instance().initialize(
                ["-f", str(trial / "k.json"), "--transport=ipc", f"--ip={trial / 'zmq'}",
                 "--HistoryManager.enabled=False"])
            os.write(write, "\n".join(sorted(set(sys.modules) - before)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        names = stream.read().decode().split()
    os.waitpid(pid, 0)
    return names


def serve(folder: Path) -> None:
    """Zygote : charge ``COURSE_GRADE_PRELOAD`` et ``kernel_launcher``, exécute ``prefix.py`` s'il
    existe, écrit ``ready.json`` puis clone un noyau par demande reçue sur ``folder/socket``."""
    import importlib

    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # le zygote ne survit pas à la notation
    sys.path.insert(0, str(Path(__file__).parent))
    launcher = importlib.import_module("kernel_launcher")
    importlib.import_module("ipykernel.kernelapp")
    launcher.preload()
    for name in kernel_modules(folder):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - le noyau cloné l'importera lui-même s'il en a besoin
            pass
    ready: dict = {"prefix": False}
    user_ns = None
    prefix = folder / "prefix.py"
    if prefix.exists():
        user_ns = {"__name__": "__main__", "__builtins__": __builtins__}
        try:
            ready["outputs"] = run_prefix(prefix.read_text(encoding="utf-8"), user_ns)
            if os.listdir("."):  # un noyau neuf trouverait ces fichiers dans /travail, pas un clone
                raise RuntimeError(f"la première cellule a écrit {sorted(os.listdir('.'))[:3]}")
            ready["prefix"] = True
        except BaseException as exc:  # noqa: BLE001 - sans état précalculé, les noyaux restent possibles
            print(f"première cellule non reprise : {type(exc).__name__}: {exc}"[:300],
                  file=sys.stderr, flush=True)
            os._exit(3)  # état à moitié construit : aucun clone
    import random

    random_state = random.getstate()  # ``fork`` ressème ``random`` dans l'enfant (os.register_at_fork)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "socket"))
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # les clones sont récupérés par le système
    tmp = folder / "ready.tmp"
    tmp.write_text(json.dumps(ready), encoding="utf-8")
    os.replace(tmp, folder / "ready.json")
    while True:
        conn, _ = listener.accept()
        try:
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            request = json.loads(msg)
        except (OSError, ValueError):
            conn.close()
            continue
        if os.fork() == 0:
            listener.close()
            _clone(conn, request, fds, (user_ns, random_state), launcher, folder)
        conn.close()
        for fd in fds:
            os.close(fd)


def _clone(conn: socket.socket, request: dict, fds: list[int], state: tuple, launcher,
           folder: Path) -> None:
    """Enfant du zygote : rejoint le bac à sable, y clone le noyau, attend sa fin. Ne revient pas."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if state[0] is not None and not request.get("prefix"):  # l'état de la 1re cellule est là
            raise ValueError("ce zygote a exécuté la première cellule : pas de noyau « neuf » ici")
        enter(int(request["pid"]))
        if os.path.exists(folder):  # dossier de l'hôte jamais monté : on n'est pas dans le bac à sable
            raise OSError(0, "racine du bac à sable inattendue")
        kernel = os.fork()
    except (OSError, KeyError, ValueError) as exc:
        conn.sendall(json.dumps({"error": str(exc)[:300]}).encode() + b"\n")
        os._exit(1)
    if kernel == 0:
        try:
            _kernel(conn, request, fds, state, launcher)
        except BaseException:  # noqa: BLE001 - dit pourquoi (journal du worker), puis meurt
            import traceback

            traceback.print_exc()
        finally:
            os._exit(70)
    conn.sendall(json.dumps({"ok": True}).encode() + b"\n")
    _, status = os.waitpid(kernel, 0)
    code = os.waitstatus_to_exitcode(status)
    try:
        conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
    except OSError:
        pass
    os._exit(0)


def _kernel(conn, request: dict, fds: list[int], state: tuple, launcher) -> None:
    """Le noyau, dans le bac à sable : même environnement et mêmes défenses qu'un noyau neuf.
    ``state`` : (espace de noms, état de ``random``) laissés par la première cellule."""
    import random

    user_ns, random_state = state
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    conn.close()
    os.closerange(3, 1 << 16)
    root = os.geteuid() == 0
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    keep_capabilities((CAP_SETGID, CAP_SETUID) if root else ())
    env = {str(k): str(v) for k, v in request["env"].items()}
    os.environ.clear()
    os.environ.update(env)
    os.chdir(env.get("HOME", "/"))
    sys.argv = [str(Path(launcher.__file__))]
    if not request.get("prefix") and "numpy" in sys.modules:  # semé au hasard comme dans un noyau
        sys.modules["numpy"].random.seed()                    # neuf (``random`` l'est par ``fork``)
    if request.get("prefix"):  # l'état que la première cellule a laissé, ``random`` compris
        launcher.main([str(a) for a in request["argv"]], user_ns=user_ns,
                      first_cell=lambda: random.setstate(random_state))
    else:
        launcher.main([str(a) for a in request["argv"]])
    os._exit(0)


# ----------------------------------------------------------------------------- côté notation

_IPYTHON_NAMES = {"display", "get_ipython", "In", "Out", "_", "__", "___", "_i", "_ii", "_iii",
                  "_ih", "_oh", "_dh", "exit", "quit"}


def plain_cell(source: str) -> bool:
    """Une cellule qu'``exec`` exécute exactement comme IPython : Python pur (rien que les
    transformations d'IPython changent : ni ``%``, ni ``!``, ni ``?``), sans nom propre à IPython
    ni ``await`` au premier niveau ; une dernière expression ne peut être qu'un appel (``print``...),
    dont ``run_prefix`` vérifie qu'il vaut ``None`` (sinon IPython en afficherait la valeur)."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    if TransformerManager().transform_cell(source).rstrip("\n") != source.rstrip("\n"):
        return False
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not isinstance(tree.body[-1].value,
                                                                             ast.Call):
        return False
    return not any(isinstance(node, ast.Name) and node.id in _IPYTHON_NAMES
                   or isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith))
                   for node in ast.walk(tree))


# ----------------------------------------------------------------------------- côté worker

def split_argv(argv: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """``bwrap ... -- /usr/bin/env -i K=V... python lanceur ARGS`` (``sandbox.kernel_argv``) →
    (options de ``bwrap``, environnement, ARGS)."""
    cut = argv.index("--")
    rest = argv[cut + 1:]
    if rest[:2] != ["/usr/bin/env", "-i"]:
        raise ValueError("commande de noyau inattendue")
    env, i = {}, 2
    while "=" in rest[i] and not rest[i].startswith("/"):
        key, _, value = rest[i].partition("=")
        env[key] = value
        i += 1
    return argv[:cut], env, rest[i + 2:]


def _sandbox_pid(bwrap_options: list[str]) -> tuple[subprocess.Popen, int]:
    """Démarre le bac à sable vide (``sleep infinity``) ; renvoie ``bwrap`` et le PID (vu de
    l'hôte) de son premier processus (``--info-fd``)."""
    read, write = os.pipe()
    sleep = "/usr/bin/sleep" if os.path.exists("/usr/bin/sleep") else "/bin/sleep"
    proc = subprocess.Popen([*bwrap_options, "--info-fd", str(write), "--", sleep, "infinity"],
                            pass_fds=[write], stdin=subprocess.DEVNULL)
    os.close(write)
    data = b""
    with os.fdopen(read, "rb") as stream:
        while True:
            chunk = stream.read1(4096)
            if not chunk:
                break
            data += chunk
            try:
                first = int(json.loads(data)["child-pid"])
            except ValueError:
                continue
            return proc, _placeholder(proc, first)
    proc.kill()
    raise OSError(0, "bwrap n'a pas démarré")


def _placeholder(proc: subprocess.Popen, first: int, timeout: float = 60.0) -> int:
    """PID (vu de l'hôte) de ``sleep`` dans le bac à sable : ``bwrap`` ne l'exécute qu'une fois
    les montages faits ; son premier processus (``first``, annoncé par ``--info-fd``) existe avant."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            for child in _children(first):
                with open(f"/proc/{child}/comm", encoding="ascii") as f:
                    if f.read().strip() == "sleep":
                        return int(child)
        except OSError:
            pass
        time.sleep(0.002)
    proc.kill()
    raise OSError(0, "le bac à sable n'a pas démarré")


def _children(pid: int, listing: bool = True) -> list[str]:
    """PID des enfants de ``pid`` : ``/proc/PID/task/PID/children`` ; si le noyau Linux ne le
    fournit pas (ou ``listing=False``), ceux dont le parent (``/proc/*/stat``) est ``pid``."""
    path = f"/proc/{pid}/task/{pid}/children"
    if listing and os.path.exists(path):
        with open(path, encoding="ascii") as f:
            return f.read().split()
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(entry)
        except (OSError, ValueError, IndexError):
            continue
    return found


def launch(folder: str, job: str, use_prefix: str, argv: list[str]) -> None:
    """Le « noyau » vu du worker : bac à sable vide + clone du zygote ; sinon noyau neuf."""
    job_dir = Path(job)
    report = {"used": False}
    proc = None
    try:
        options, env, args = split_argv(argv)
        proc, pid = _sandbox_pid(options)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(Path(folder) / "socket"))
        request = {"pid": pid, "env": env, "argv": args, "prefix": use_prefix == "prefix"}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        stream = conn.makefile("rb")
        answer = json.loads(stream.readline() or b"{}")
        if not answer.get("ok"):
            raise OSError(0, str(answer.get("error", "pas de réponse du zygote")))
    except (OSError, ValueError, IndexError) as exc:
        if proc is not None:
            proc.kill()
            proc.wait()
        report["why"] = str(exc)[:300]
        (job_dir / "zygote.json").write_text(json.dumps(report), encoding="utf-8")
        os.execv(argv[0], argv)  # noyau neuf, comme sans zygote
    report.update(used=True, prefix=use_prefix == "prefix")
    (job_dir / "zygote.json").write_text(json.dumps(report), encoding="utf-8")
    code = 0
    for line in stream:  # jusqu'à la fin du noyau (ou celle du clone)
        code = int(json.loads(line).get("exit", code))
    proc.kill()
    proc.wait()
    os._exit(code if 0 <= code < 256 else 1)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(Path(sys.argv[2]))
    elif sys.argv[1] == "launch":
        launch(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[6:] if sys.argv[5] == "--" else [])
