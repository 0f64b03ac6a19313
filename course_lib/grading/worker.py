"""Processus de travail : exécute UN notebook préparé, cellule par cellule (``nbclient``).

Lancé par ``grader`` comme ``python .../worker.py DOSSIER_DU_TRAVAIL`` (par son chemin, sans
importer ``course_lib`` ni donc PyTorch). Seul le NOYAU tourne dans le bac à sable (``sandbox``) ;
ce processus, le notebook fusionné (tests cachés compris) et ce dossier restent dehors, et le
noyau n'en voit que ``work/`` (son ``/travail``) et ``runtime/`` (connexion ZMQ en ``ipc``).

- ``DOSSIER/job.json`` : ``{"cell_timeout": s, "argv": [...], "env": {...}, "sandboxed": bool}``
  (commande du noyau, préparée par ``grader`` avec ``sandbox.kernel_argv``) ;
- ``DOSSIER/input.ipynb`` : le notebook préparé (``prepare.merge``) ; les cellules de test portent
  ``metadata["course_grade"]["role"] == "test"`` ;
- écrit ``DOSSIER/executed.ipynb`` après CHAQUE cellule, ``DOSSIER/kernel.pid`` (pour que le
  parent puisse tuer le noyau) et, à la fin, ``DOSSIER/status.json`` :
  ``{"status": ..., "message": ..., "confirmed": {grade_id: bool}}``.

Une cellule de test est envoyée avec une marque ``course_grade`` (``{"name", "nonce"}`` tirés au
hasard pour elle seule) dans les MÉTADONNÉES de la requête ; le lanceur du noyau
(``kernel_launcher``) remet IPython en état puis l'exécute ; la cellule se termine par ``name()``,
qui écrit ``nonce`` dans ``runtime/confirm`` : ``confirmed[grade_id]`` dit si ce secret est arrivé,
donc si le test est allé jusqu'au bout.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

KERNEL_NAME = "course-grade-python3"


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


def _marked_execute(kc, meta: dict):
    """``kc.execute`` dont la requête porte ``metadata["course_grade"] = meta``."""
    def execute(code, silent=False, store_history=True, user_expressions=None, allow_stdin=None,
                stop_on_error=True):
        content = {"code": code, "silent": silent, "store_history": store_history,
                   "user_expressions": user_expressions or {}, "allow_stdin": False,
                   "stop_on_error": stop_on_error}
        msg = kc.session.msg("execute_request", content, metadata={"course_grade": meta})
        kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]
    return execute


def with_confirmation(source: str, name: str) -> str:
    """Le test suivi de ``name()`` ; si le test finit par une expression (note partielle de
    nbgrader, ``determine_grade``), ``name()`` passe juste avant elle pour qu'elle reste affichée."""
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        body = []
    if body and isinstance(body[-1], ast.Expr) and body[-1].col_offset == 0:
        lines = source.splitlines()
        start = body[-1].lineno - 1
        return "\n".join([*lines[:start], f"{name}()", *lines[start:]])
    return f"{source}\n{name}()"


def run(job: Path) -> dict:
    # jsonschema (via nbformat) importe rfc3987_syntax s'il est installé : une grammaire compilée à
    # l'import, ~3 s de CPU par soumission pour un format d'URI dont nbformat ne se sert pas.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    params = json.loads((job / "job.json").read_text(encoding="utf-8"))
    runtime = job / "runtime"
    runtime.mkdir(exist_ok=True)
    confirm = runtime / "confirm"
    env = dict(params.get("env", {}))  # sans bac à sable : ajouté à l'environnement courant
    if not params.get("sandboxed"):
        work = job / "work"
        for sub in ("tmp", ".mpl", ".ipython"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        env.update({"HOME": str(work), "TMPDIR": str(work / "tmp"), "COURSE_GRADE_CONFIRM": str(confirm),
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
                            connection_file=str(runtime / "kernel.json"))
    client = NotebookClient(nb, km=km, timeout=params["cell_timeout"], allow_errors=True,
                            interrupt_on_timeout=True, record_timing=False, startup_timeout=120,
                            resources={"metadata": {"path": str(job / "work")}})
    confirmed: dict[str, bool] = {}
    status = {"status": "ok", "message": ""}
    try:
        with client.setup_kernel():
            pid = getattr(km.provisioner, "pid", None)
            if pid:
                (job / "kernel.pid").write_text(str(pid), encoding="utf-8")
            plain_execute = client.kc.execute
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                role = cell.metadata.get("course_grade", {}).get("role")
                if role != "test":
                    client.execute_cell(cell, index)
                    save()
                    continue
                gid = cell.metadata["nbgrader"]["grade_id"]
                name, nonce = f"_fin_{secrets.token_hex(8)}", secrets.token_hex(16)
                source = cell.source
                cell.source = with_confirmation(source, name)
                client.kc.execute = _marked_execute(client.kc, {"name": name, "nonce": nonce})
                try:
                    client.execute_cell(cell, index)
                finally:
                    client.kc.execute = plain_execute
                    cell.source = source
                    text = confirm.read_text(encoding="utf-8") if confirm.exists() else ""
                    confirmed[gid] = nonce in text.split()
                    save()
    except DeadKernelError as exc:
        status = {"status": "noyau_arrete", "message": f"le noyau s'est arrêté ({_last(exc)})"}
    except CellTimeoutError as exc:
        status = {"status": "delai_depasse", "message": f"délai dépassé ({_last(exc)})"}
    except Exception as exc:  # noqa: BLE001 - tout échec est rapporté
        status = {"status": "erreur_execution", "message": f"{type(exc).__name__}: {_last(exc)}"}
    save()
    status["confirmed"] = confirmed
    _write_json(job / "status.json", status)
    return status


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
