"""Processus de travail : exécute UN notebook préparé dans un noyau neuf (``nbclient``).

Lancé par ``grader`` comme ``python .../worker.py DOSSIER_DU_TRAVAIL`` (par son chemin, sans
importer ``course_lib`` ni donc PyTorch : le processus démarre vite et reste léger) :

- ``DOSSIER/job.json`` : ``{"cell_timeout": s, "memory_mb": m}`` ;
- ``DOSSIER/input.ipynb`` : le notebook préparé (``prepare.merge``) ;
- ``DOSSIER/work/`` : dossier de travail du noyau (son cwd, son HOME, son TMPDIR) ;
- écrit ``DOSSIER/executed.ipynb`` après CHAQUE cellule (une notation partielle reste possible si
  le processus est tué), ``DOSSIER/kernel.pid`` (pour que le parent puisse tuer le noyau) et,
  à la fin, ``DOSSIER/status.json`` (``{"status": ..., "message": ...}``).

Limite mémoire : ``RLIMIT_AS`` (espace d'adressage) posée par le lanceur du noyau
(``limited_kernel``, déclaré comme noyau ``course-grade-python3`` dans ``DOSSIER/share``) : elle ne
touche que le noyau. C'est de la mémoire VIRTUELLE : PyTorch seul en réserve ~3,5 Go.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def kernel_env(job: Path) -> dict[str, str]:
    """Environnement du noyau : tout ce qu'il pourrait écrire reste dans ``job/work``."""
    work = job / "work"
    for sub in ("tmp", ".mpl", ".ipython"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "HOME": str(work), "TMPDIR": str(work / "tmp"), "MPLCONFIGDIR": str(work / ".mpl"),
        "IPYTHONDIR": str(work / ".ipython"), "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
        "JUPYTER_RUNTIME_DIR": str(job / "runtime"), "MPLBACKEND": "Agg",
        "COURSE_GRADE_AUDIT_LOG": str(job / "audit.log"), "JUPYTER_PATH": str(job / "share"),
    })
    return env


KERNEL_NAME = "course-grade-python3"


def write_kernelspec(job: Path, memory_mb: int | None) -> None:
    """Déclare le noyau limité (même Python que ce processus) dans ``job/share``."""
    spec = job / "share" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    _write_json(spec / "kernel.json", {
        "argv": [sys.executable, str(Path(__file__).with_name("limited_kernel.py")), "-f",
                 "{connection_file}"],
        "display_name": "Python 3 (notation)", "language": "python",
        "env": {"COURSE_GRADE_MEMORY_MB": str(memory_mb or "")},
    })


def run(job: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    params = json.loads((job / "job.json").read_text(encoding="utf-8"))
    os.environ.clear()
    os.environ.update(kernel_env(job))
    write_kernelspec(job, params.get("memory_mb"))
    nb = nbformat.read(job / "input.ipynb", as_version=4)
    executed = job / "executed.ipynb"

    def save(**_):
        tmp = executed.with_suffix(".tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, executed)

    client = NotebookClient(
        nb, timeout=params["cell_timeout"], kernel_name=KERNEL_NAME, allow_errors=True,
        interrupt_on_timeout=True, record_timing=False, startup_timeout=120,
        resources={"metadata": {"path": str(job / "work")}}, on_cell_executed=save,
    )

    def started(**_):
        pid = getattr(client.km.provisioner, "pid", None)
        if pid:
            (job / "kernel.pid").write_text(str(pid), encoding="utf-8")

    client.on_notebook_start = started
    try:
        client.execute()
        status = {"status": "ok", "message": ""}
    except DeadKernelError as exc:
        status = {"status": "noyau_arrete", "message": f"le noyau s'est arrêté ({_last(exc)})"}
    except CellTimeoutError as exc:
        status = {"status": "delai_depasse", "message": f"délai dépassé ({_last(exc)})"}
    except Exception as exc:  # noqa: BLE001 - tout échec est rapporté à l'élève
        status = {"status": "erreur_execution", "message": f"{type(exc).__name__}: {_last(exc)}"}
    save()
    _write_json(job / "status.json", status)
    return status


def _last(exc: BaseException) -> str:
    lines = [s for s in str(exc).strip().splitlines() if s.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


if __name__ == "__main__":
    run(Path(sys.argv[1]))
