"""Le processus qui exécute une soumission : sa description (``job.json``), son lancement, sa fin.

Le parent (``grader``) écrit la description du travail, lance ``worker.py`` dans un nouveau
groupe de processus, attend au plus le délai total, puis tue ce qui resterait : le groupe du
worker et le noyau (ou ``bwrap``, dont l'espace de PID meurt avec lui). Avec bac à sable, le noyau
est, si possible, un clone du zygote de l'exercice (``Zygote``, voir ``zygote``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import sandbox, zygote

if TYPE_CHECKING:
    from .grader import Limits


class Zygote:
    """Le zygote d'un exercice (``zygote.serve``) : démarré une fois, cloné pour chaque rendu.

    Il tourne hors du bac à sable, avec l'environnement d'un noyau neuf (``sandbox.BASE_ENV``),
    dans un dossier 0700 à lui (socket, journal) ; ``prefix`` (première cellule de la source, ou
    ``None``) y est exécutée une fois, dans un dossier courant vide."""

    def __init__(self, preload: list[str], prefix: str | None = None):
        self.folder = Path(tempfile.mkdtemp(prefix="course-grade-zygote-"))
        (self.folder / "travail").mkdir()
        if prefix is not None:
            (self.folder / "prefix.py").write_text(prefix, encoding="utf-8")
        env = {**sandbox.BASE_ENV, "HOME": str(self.folder / "travail"),
               "TMPDIR": str(self.folder / "travail"), "MPLCONFIGDIR": str(self.folder / ".mpl"),
               "IPYTHONDIR": str(self.folder / ".ipython"), "PYTHONPATH": str(sandbox.PACKAGE.parent),
               "COURSE_GRADE_PRELOAD": ",".join(preload)}
        with (self.folder / "zygote.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(zygote.__file__)), "serve", str(self.folder)], env=env,
                cwd=self.folder / "travail", stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        self._lock = threading.Lock()
        self._ready: dict | None = None
        self._done = False

    def ready(self, timeout: float = 300.0) -> dict | None:
        """``ready.json`` du zygote (``{"prefix": bool, "outputs": [...]}``) dès qu'il écoute ;
        ``None`` s'il s'est arrêté ou n'est pas prêt après ``timeout`` secondes."""
        with self._lock:
            deadline = time.monotonic() + timeout
            while not self._done:
                path = self.folder / "ready.json"
                if path.exists():
                    self._ready = json.loads(path.read_text(encoding="utf-8"))
                    self._done = True
                elif self.proc.poll() is not None or time.monotonic() > deadline:
                    self._done = True
                else:
                    time.sleep(0.02)
            return self._ready

    def why_not(self) -> str:
        """Fin du journal du zygote (pourquoi il n'est pas prêt)."""
        text = (self.folder / "zygote.log").read_text(encoding="utf-8", errors="replace").strip()
        return text.splitlines()[-1][:300] if text else f"code {self.proc.poll()}"

    def stop(self) -> None:
        kill_group(self.proc.pid)
        self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def write_job(job: Path, limits: Limits, preload: list[str] = (), clone: Zygote | None = None,
              prefix_index: int | None = None) -> None:
    """Décrit le travail (``job.json``). ``clone`` : zygote de l'exercice, dont le noyau sera
    cloné s'il est prêt ; ``prefix_index`` : indice de la cellule du notebook fusionné identique à
    la première cellule de la source (son état est celui du zygote : elle n'est pas réexécutée)."""
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
    prefix = None
    state = clone.ready() if clone is not None and limits.sandbox else None
    # un zygote qui a exécuté la première cellule ne sert qu'aux rendus qui l'ont gardée telle quelle
    if state is not None and (prefix_index is not None or not state.get("prefix")):
        use_prefix = bool(state.get("prefix"))
        argv = [sys.executable, str(Path(zygote.__file__)), "launch", str(clone.folder), str(job),
                "prefix" if use_prefix else "bare", "--", *argv]
        if use_prefix:
            prefix = {"index": prefix_index, "outputs": state.get("outputs", [])}
    (job / "job.json").write_text(json.dumps({
        "cell_timeout": limits.cell_timeout, "argv": argv, "env": env, "sandboxed": limits.sandbox,
        "output_kept": limits.output_kept_kb * 1024, "output_read": limits.output_read_mb * 2**20,
        "prefix": prefix}), encoding="utf-8")


def kernel_kind(job: Path) -> str:
    """Le noyau qui a exécuté le travail : ``"clone+cellule1"``, ``"clone"`` ou ``"neuf"``
    (``zygote.json``, écrit par ``zygote.launch`` ; absent : noyau neuf lancé directement)."""
    try:
        report = json.loads((job / "zygote.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "neuf"
    if not report.get("used"):
        return "neuf"
    return "clone+cellule1" if report.get("prefix") else "clone"


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
        expired: list[bool] = []

        def expire() -> None:  # délai total : tout le groupe du worker est tué
            if proc.poll() is None:
                expired.append(True)
                kill_group(proc.pid)

        # attente bloquante (``wait(timeout)`` sonde toutes les 50 ms : autant de perdu par rendu)
        timer = threading.Timer(limits.wall, expire)
        timer.start()
        proc.wait()
        timer.cancel()
        if expired:
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
