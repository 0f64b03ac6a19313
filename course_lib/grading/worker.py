"""Processus de travail : exécute UN notebook préparé, cellule par cellule (``nbclient``).

Lancé par ``grader`` comme ``python .../worker.py DOSSIER_DU_TRAVAIL`` (par son chemin, sans
importer ``course_lib`` ni donc PyTorch). Seul le NOYAU tourne dans le bac à sable (``sandbox``) ;
ce processus, le notebook fusionné (tests cachés compris) et ce dossier restent dehors, et le
noyau n'en voit que ``runtime/`` (connexion ZMQ en ``ipc``).

- ``DOSSIER/job.json`` : ``{"cell_timeout": s, "argv": [...], "env": {...}, "sandboxed": bool,
  "output_kept": octets, "output_read": octets}`` (commande du noyau : ``sandbox.kernel_argv``) ;
- ``DOSSIER/input.ipynb`` : le notebook préparé (``prepare.merge``) ; les cellules de test portent
  ``metadata["course_grade"]["role"] == "test"`` ;
- écrit ``DOSSIER/executed.ipynb`` après CHAQUE cellule, ``DOSSIER/kernel.pid`` (pour que le
  parent puisse tuer le noyau) et, à la fin, ``DOSSIER/status.json`` :
  ``{"status": ..., "message": ..., "tests": {grade_id: {"reply": "ok"|"error"|None, "marked":
  bool, "events": [...], "replies": n, "alive_after": bool}}}``.

Le texte d'un test passe par un tube nommé, pas par la requête (voir ``kernel_launcher``).
Un test ne compte que sur des preuves que le code de l'élève ne fabrique pas en écrivant ou en
appelant quelque chose : la réponse ``execute_reply`` du noyau à la requête de CE test (statut
``ok``), reçue une seule fois (une seconde réponse au même message est une réponse forgée), puis
une réponse du noyau à une requête suivante (``kernel_info``) : un noyau qui meurt pendant ou
juste après le test (``os._exit``) le fait échouer. Un message illisible venu du noyau (signature
fausse, trames tronquées) le fait tuer : ``noyau_arrete``.

Limites propres au worker : au plus ``output_kept`` octets de sorties gardés par cellule (la suite
est remplacée par une ligne), au plus ``output_read`` octets lus pour tout le notebook (au-delà, le
noyau est tué : statut ``sortie_excessive``) ; une cellule qui dépasse son délai est interrompue,
et si le noyau ignore l'interruption il est tué ``KILL_GRACE`` secondes plus tard
(``delai_depasse``) au lieu d'attendre le délai total.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

KERNEL_NAME = "course-grade-python3"
KILL_GRACE = 3.0  # secondes laissées au noyau pour répondre à une interruption


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def write_kernelspec(job: Path, argv: list[str], env: dict[str, str], sandboxed: bool) -> None:
    """Déclare le noyau (lanceur limité, dans ``bwrap`` s'il y a bac à sable) dans ``job/share``."""
    spec = job / "share" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    _write_json(spec / "kernel.json", {
        "argv": argv, "display_name": "Python 3 (notation)", "language": "python", "env": env,
        # bwrap ne relaie pas SIGINT : l'interruption passe par le canal de contrôle
        "interrupt_mode": "message" if sandboxed else "signal",
    })


def _send_test(pipe: int | None, source: str) -> dict:
    """Écrit le test dans le tube (``"SECRET LONGUEUR\n" + texte``) ; renvoie les métadonnées de la
    requête : ``{"nonce": SECRET}``, ou ``{"source": texte}`` si le tube manque ou est plein."""
    if pipe is not None:
        nonce, body = secrets.token_hex(16), source.encode("utf-8")
        record = f"{nonce} {len(body)}\n".encode() + body
        try:
            if os.write(pipe, record) == len(record):
                return {"nonce": nonce}
        except OSError:
            pass
    return {"source": source}


def _open_pipe(path: Path) -> int | None:
    """Extrémité d'écriture du tube des tests (le noyau l'a ouvert en lecture au démarrage), puis
    le tube est effacé : plus personne ne peut l'ouvrir."""
    import fcntl

    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass
    folder = path.parent
    mode = folder.stat().st_mode & 0o777
    try:
        folder.chmod(0o755)  # le lanceur l'a passé en lecture seule
        path.unlink()
        folder.chmod(mode)
    except OSError:
        pass
    return fd


_UNHANDLED = "raise RuntimeError('test non reçu par le lanceur du noyau de notation')"


def _marked_execute(kc, meta: dict, sent: list):
    """``kc.execute`` pour une cellule de test : un code qui échoue (``_UNHANDLED`` : le lanceur
    le remplace), ``metadata["course_grade"] = meta``,
    sans historique ; l'identifiant du message envoyé est ajouté à ``sent``."""
    def execute(code, silent=False, store_history=False, user_expressions=None, allow_stdin=None,
                stop_on_error=True):
        # sans le gestionnaire du lanceur (remplacé par l'élève ?), ce code-là échoue
        content = {"code": _UNHANDLED, "silent": False, "store_history": False, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": stop_on_error}
        msg = kc.session.msg("execute_request", content, metadata={"course_grade": meta})
        kc.shell_channel.send(msg)
        sent.append(msg["header"]["msg_id"])
        return msg["header"]["msg_id"]
    return execute


def _size(content) -> int:
    """Octets (approximatifs) d'un message de sortie : textes et données."""
    total = 0
    for key in ("text", "data", "traceback", "evalue"):
        value = content.get(key)
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, dict):
            total += sum(len(v) if isinstance(v, str) else len(str(v)) for v in value.values())
        elif isinstance(value, list):
            total += sum(len(str(v)) for v in value)
    return total


def make_client(nb, km, params: dict, kill):
    """Un ``NotebookClient`` qui plafonne les sorties et tue un noyau sourd aux interruptions."""
    import asyncio

    from nbclient import NotebookClient

    kept_cap = int(params.get("output_kept", 1 << 20))
    read_cap = int(params.get("output_read", 64 << 20))

    class GradingClient(NotebookClient):
        read = 0                 # octets de sorties lus
        kept: dict[int, int]     # octets gardés par cellule
        stop: str = ""           # "sortie_excessive" ou "delai_depasse" : noyau tué, et pourquoi
        timed_out: list[int]     # cellules interrompues après leur délai

        def process_message(self, msg, cell, cell_index):
            size = _size(msg.get("content") or {})
            self.read += size
            if self.read > read_cap and not self.stop:
                self.stop = "sortie_excessive"
                self._kill_now()
            return super().process_message(msg, cell, cell_index)

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content") or {}
            if msg["msg_type"] == "error":  # gardée (elle note la cellule), mais raccourcie
                content["evalue"] = str(content.get("evalue", ""))[:10_000]
                content["traceback"] = [str(t)[:2_000] for t in content.get("traceback", [])[-40:]]
            size = _size(content)
            kept = self.kept.get(cell_index, 0)
            if kept + size > kept_cap and msg["msg_type"] != "error":
                if kept <= kept_cap:
                    self.kept[cell_index] = kept_cap + 1
                    outs.append(self._notice())
                return None
            self.kept[cell_index] = kept + size
            return super().output(outs, msg, display_id, cell_index)

        def _notice(self):
            from nbformat.v4 import new_output

            return new_output("stream", name="stdout", text=(
                f"\n[sortie tronquée : plus de {kept_cap // 1024} Ko pour cette cellule]\n"))

        def _kill_now(self):
            kill()
            task = getattr(self, "task_poll_for_reply", None)
            if task is not None:
                task.cancel()

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out.append(next((i for i, c in enumerate(self.nb.cells) if c is cell), -1))
            await super()._async_handle_timeout(timeout, cell)
            task = self.task_poll_for_reply

            async def kill_later():
                await asyncio.sleep(KILL_GRACE)
                if not task.done() and not self.stop:
                    self.stop = "delai_depasse"
                    self._kill_now()

            self._killer = asyncio.ensure_future(kill_later())
            return None

    client = GradingClient(nb, km=km, timeout=params["cell_timeout"], allow_errors=True,
                           interrupt_on_timeout=True, record_timing=False, startup_timeout=120,
                           resources={"metadata": {"path": str(params["work"])}})
    client.kept, client.timed_out = {}, []
    return client


def run(job: Path) -> dict:
    # jsonschema (via nbformat) importe rfc3987_syntax s'il est installé : une grammaire compilée à
    # l'import, ~3 s de CPU par soumission pour un format d'URI dont nbformat ne se sert pas.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    params = json.loads((job / "job.json").read_text(encoding="utf-8"))
    runtime = job / "runtime"
    runtime.mkdir(exist_ok=True)
    os.mkfifo(runtime / "tests", 0o600)
    work = job / "work"
    work.mkdir(exist_ok=True)
    params["work"] = work
    env = dict(params.get("env", {}))  # sans bac à sable : ajouté à l'environnement courant
    if not params.get("sandboxed"):
        for sub in ("tmp", ".mpl", ".ipython"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        env.update({"HOME": str(work), "TMPDIR": str(work / "tmp"),
                    "MPLCONFIGDIR": str(work / ".mpl"), "IPYTHONDIR": str(work / ".ipython")})
    os.environ.update({"JUPYTER_PATH": str(job / "share"), "JUPYTER_RUNTIME_DIR": str(runtime)})
    write_kernelspec(job, params["argv"], env, bool(params.get("sandboxed")))
    nb = nbformat.read(job / "input.ipynb", as_version=4)
    executed = job / "executed.ipynb"

    def save() -> None:
        tmp = executed.with_suffix(".tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, executed)

    km = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(runtime / "zmq"),
                            connection_file=str(runtime / "kernel.json"),
                            client_factory=_ready_client_class())
    client = make_client(nb, km, params, lambda: _kill(job))
    tests: dict[str, dict] = {}
    replies: dict[str, list[str]] = {}  # msg_id -> statuts de TOUTES les execute_reply reçues
    status = {"status": "ok", "message": ""}
    current = {"index": -1}
    unreadable: list[str] = []  # pourquoi un message du noyau n'a pas pu être relu
    try:
        with client.setup_kernel():
            pid = getattr(km.provisioner, "pid", None)
            if pid:
                (job / "kernel.pid").write_text(str(pid), encoding="utf-8")
            _record_replies(client.kc.shell_channel, replies)
            for channel in (client.kc.shell_channel, client.kc.iopub_channel):
                _refuse_unreadable(channel, lambda: _kill(job), unreadable)
            pipe = _open_pipe(runtime / "tests")
            plain_execute = client.kc.execute
            done = _prefix_done(job, params)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                current["index"] = index
                role = cell.metadata.get("course_grade", {}).get("role")
                if index == done:  # exécutée une fois pour toutes par le zygote de l'exercice
                    cell.outputs = [nbformat.from_dict(o) for o in params["prefix"]["outputs"]]
                    cell.execution_count = 1
                    save()
                    continue
                if role != "test":
                    client.execute_cell(cell, index)
                    save()
                    continue
                gid = cell.metadata["nbgrader"]["grade_id"]
                sent: list[str] = []
                tests[gid] = {"reply": None, "index": index}
                client.kc.execute = _marked_execute(client.kc, _send_test(pipe, cell.source), sent)
                try:
                    client.execute_cell(cell, index)
                finally:
                    client.kc.execute = plain_execute
                    save()
                tests[gid]["msg_id"] = sent[0] if sent else None
                tests[gid]["alive_after"] = _probe(client)
                if not tests[gid]["alive_after"]:
                    raise DeadKernelError("le noyau ne répond plus après le test")
    except DeadKernelError as exc:
        why = unreadable[0] if unreadable else _last(exc)
        status = {"status": "noyau_arrete", "message": f"le noyau s'est arrêté ({why})"}
    except CellTimeoutError as exc:
        status = {"status": "delai_depasse", "message": f"délai dépassé ({_last(exc)})"}
    except Exception as exc:  # noqa: BLE001 - tout échec est rapporté
        status = {"status": "erreur_execution", "message": f"{type(exc).__name__}: {_last(exc)}"}
    if client.stop == "sortie_excessive":
        status = {"status": "sortie_excessive", "message": (
            f"plus de {int(params.get('output_read', 64 << 20)) // 2**20} Mo de sorties : noyau "
            f"arrêté pendant la cellule n° {current['index']}")}
    elif client.stop == "delai_depasse":
        status = {"status": "delai_depasse", "message": (
            f"la cellule n° {current['index']} a dépassé {params['cell_timeout']:g} s et n'a pas "
            f"répondu à l'interruption : noyau arrêté")}
    save()
    for info in tests.values():
        seen = replies.get(info.get("msg_id") or "", [])
        info["reply"] = seen[0]["status"] if len(seen) == 1 else None
        info["marked"] = bool(seen) and all(r["marked"] for r in seen)
        info["events"] = sorted({e for r in seen for e in r["events"]})
        info["replies"] = len(seen)
    status["tests"] = tests
    status["timed_out"] = sorted(set(client.timed_out))
    _write_json(job / "status.json", status)
    return status


def _prefix_done(job: Path, params: dict) -> int | None:
    """Indice de la cellule déjà exécutée par le zygote dont le noyau est le clone (``zygote.json``,
    écrit par ``zygote.launch`` avant que le noyau ne démarre), ou ``None``."""
    try:
        report = json.loads((job / "zygote.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    prefix = params.get("prefix")
    return prefix["index"] if report.get("used") and report.get("prefix") and prefix else None


def _ready_client_class():
    """``AsyncKernelClient`` dont ``wait_for_ready`` ne finit pas par 0,2 s d'attente : celui de
    jupyter_client vide ensuite l'IOPub jusqu'à 0,2 s de silence (0,2 s perdues par noyau) ; ici,
    seuls les messages déjà arrivés sont jetés (nbclient ignore de toute façon les messages qui ne
    répondent pas à SA requête)."""
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class ReadyClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout=None):
            import time

            deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
            while True:
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    msg = None
                if msg is not None and msg["msg_type"] == "kernel_info_reply":
                    try:  # l'IOPub est-il branché ? sinon on recommence
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
            while True:
                try:
                    await self.iopub_channel.get_msg(timeout=0)
                except Empty:
                    break

    return ReadyClient


def _record_replies(channel, replies: dict) -> None:
    """Chaque ``execute_reply`` lue sur le canal ``shell`` est notée (``replies[msg_id]``), même
    celles que ``nbclient`` ignore (réponse à un message déjà traité)."""
    get_msg = channel.get_msg

    async def recording_get_msg(*args, **kwargs):
        msg = await get_msg(*args, **kwargs)
        if msg.get("msg_type") == "execute_reply":
            parent = (msg.get("parent_header") or {}).get("msg_id", "")
            mark = (msg.get("metadata") or {}).get("course_grade")
            replies.setdefault(parent, []).append({
                "status": (msg.get("content") or {}).get("status"), "marked": isinstance(mark, dict),
                "events": [str(e)[:120] for e in (mark or {}).get("events", [])][:12]
                if isinstance(mark, dict) else []})
        return msg

    channel.get_msg = recording_get_msg


def _refuse_unreadable(channel, kill, reasons: list) -> None:
    """Un message que ``jupyter_client`` ne sait pas relire (signature fausse, JSON tronqué, trames
    manquantes) vient du noyau : envoi coupé par une mémoire épuisée, ou code de l'élève qui écrit
    sur les sockets. Le noyau est tué et l'exécution finit en ``noyau_arrete`` (pas en erreur de la
    machinerie) ; la raison est ajoutée à ``reasons``."""
    from nbclient.exceptions import DeadKernelError

    get_msg = channel.get_msg

    async def checked_get_msg(*args, **kwargs):
        try:
            return await get_msg(*args, **kwargs)
        except (ValueError, TypeError, KeyError) as exc:  # session.deserialize
            reasons.append(f"message illisible envoyé par le noyau : {type(exc).__name__}: {str(exc)[:60]}")
            kill()
            raise DeadKernelError(reasons[-1]) from None

    channel.get_msg = checked_get_msg


def _probe(client) -> bool:
    """Le noyau répond-il encore (``kernel_info``) ? Toutes les réponses au test, forgées ou non,
    arrivent avant celle-ci (même canal, dans l'ordre)."""
    try:
        msg_id = client.kc.kernel_info()
        return client.wait_for_reply(msg_id) is not None
    except Exception:  # noqa: BLE001 - noyau mort ou délai dépassé : il ne répond plus
        return False


def _last(exc: BaseException) -> str:
    lines = [s for s in str(exc).strip().splitlines() if s.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def _kill(job: Path) -> None:
    """Tue le noyau (``bwrap`` : son espace de PID, donc tout ce qu'il a lancé, meurt avec lui)."""
    import signal

    try:
        os.kill(int((job / "kernel.pid").read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    run(Path(sys.argv[1]))
    _kill(Path(sys.argv[1]))
    os._exit(0)  # sans attendre la fermeture des sockets ZMQ du noyau tué
