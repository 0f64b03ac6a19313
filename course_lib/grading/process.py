"""Le processus qui exécute une soumission : sa description (``job.json``), son lancement, sa fin.

Le parent (``grader``) écrit la description du travail, lance ``worker.py`` dans un nouveau
groupe de processus, attend au plus le délai total, puis tue ce qui resterait : le groupe du
worker et le noyau (ou ``bwrap``, dont l'espace de PID meurt avec lui).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import sandbox

if TYPE_CHECKING:
    from .grader import Limits


def write_job(job: Path, limits: Limits, preload: list[str] = ()) -> None:
    env = {"COURSE_GRADE_MEMORY_MB": str(limits.memory_mb or ""),
           "COURSE_GRADE_CPU_S": str(int(limits.wall) + 5),
           "COURSE_GRADE_PRELOAD": ",".join(preload)}
    env["COURSE_GRADE_TESTS"] = str(job / "runtime" / "tests")  # tube créé par le worker
    if limits.sandbox:
        box = sandbox.prepare(job, limits.disk_mb)
        if box.uid is not None:
            env["COURSE_GRADE_UID"] = str(box.uid)
            env["COURSE_GRADE_NPROC"] = str(limits.processes)
        else:  # RLIMIT_NPROC compte toutes les tâches de l'utilisateur
            env["COURSE_GRADE_NPROC"] = str(user_tasks() + limits.processes)
        argv = sandbox.kernel_argv(box, env)
        env = {}
    else:
        (job / "work").mkdir()
        argv = sandbox.kernel_argv(None, env)
    (job / "job.json").write_text(json.dumps({
        "cell_timeout": limits.cell_timeout, "argv": argv, "env": env, "sandboxed": limits.sandbox,
        "output_kept": limits.output_kept_kb * 1024, "output_read": limits.output_read_mb * 2**20}),
        encoding="utf-8")


def user_tasks() -> int:
    uid, n = os.getuid(), 0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                n += len(os.listdir(proc / "task"))
        except OSError:
            pass
    return n


def run_worker(job: Path, limits: Limits) -> dict:
    worker = Path(__file__).with_name("worker.py")
    with (job / "worker.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(worker), str(job)], stdout=subprocess.DEVNULL,
                                stderr=log, start_new_session=True)
        try:
            proc.wait(timeout=limits.wall)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
            kill_kernel(job)
            return {"status": "delai_depasse",
                    "message": f"délai total de {limits.wall:g} s dépassé : exécution arrêtée"}
    kill_kernel(job)  # au cas où le processus serait mort sans arrêter son noyau
    status_file = job / "status.json"
    if status_file.exists():
        return json.loads(status_file.read_text(encoding="utf-8"))
    lines = (job / "worker.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return {"status": "erreur_execution",
            "message": f"le processus de notation s'est arrêté (code {proc.returncode}) : "
                       f"{lines[-1][:200] if lines else 'sans message'}"}


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_kernel(job: Path) -> None:
    """Tue le noyau (ou ``bwrap`` : son espace de PID meurt avec lui) lancé par NOTRE worker."""
    pid_file = job / "kernel.pid"
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text())
        except ValueError:
            return
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
