"""Notation d'un dossier de soumissions (``course-grade``).

Pour chaque soumission, dans un dossier temporaire qui lui est propre :
1. lecture (un JSON invalide est rapporté, pas fatal) et empreinte SHA-256 : la soumission n'est
   jamais modifiée (on ne fait que la lire ; l'empreinte est revérifiée à la fin) ;
2. préparation comme ``nbgrader autograde`` (``prepare.merge``) : tests cachés remis d'après la
   source enseignant, cellules verrouillées modifiées détectées par somme de contrôle ;
3. exécution dans un noyau neuf, par un processus à part (``worker``) : délai par cellule
   (``nbclient``, interruption du noyau), délai total (le parent tue le processus et le noyau),
   limite mémoire (``RLIMIT_AS``), écritures hors du dossier de travail refusées ;
4. notation de chaque cellule de test avec ses points nbgrader (``nbgrader.utils.determine_grade`` :
   0 si la cellule affiche une erreur ou écrit sur stderr, tous les points sinon). Une cellule
   non exécutée (noyau arrêté, délai total) vaut 0.

Les soumissions sont notées en parallèle (``workers`` processus à la fois).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .exercises import SOLUTIONS_DIR, Exercise, find_exercises
from .generate import make_student_notebook
from .prepare import merge, read_submission
from .submissions import Submission, find_submissions

CSV_FIELDS = ["student", "exercise", "file", "score", "max_score", "manual_points", "status", "failed"]


@dataclass
class CellResult:
    grade_id: str
    points: float
    max_points: float
    ok: bool
    manual: bool = False  # réponse rédigée, à corriger à la main
    reason: str = ""


@dataclass
class Result:
    """Note d'une soumission."""

    submission: Submission
    cells: list[CellResult] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)      # statuts : ok, delai_depasse, ...
    notes: list[str] = field(default_factory=list)      # remarques en français pour l'élève
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(c.points for c in self.cells if not c.manual)

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.cells if not c.manual)

    @property
    def manual_points(self) -> float:
        return sum(c.max_points for c in self.cells if c.manual and c.reason == "à corriger à la main")

    @property
    def status(self) -> str:
        return ";".join(self.flags) or "ok"

    def row(self) -> dict:
        sub = self.submission
        return {"student": sub.student, "exercise": sub.exercise, "file": sub.relpath,
                "score": _num(self.score), "max_score": _num(self.max_score),
                "manual_points": _num(self.manual_points), "status": self.status,
                "failed": " ".join(c.grade_id for c in self.cells if not c.ok and not c.manual)}


def _num(x: float) -> str:
    return f"{x:g}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- une soumission

@dataclass
class Limits:
    cell_timeout: float = 60.0
    total_timeout: float | None = None  # défaut : 5 × cell_timeout + 60 s
    memory_mb: int | None = 6144

    @property
    def wall(self) -> float:
        return self.total_timeout if self.total_timeout else 5 * self.cell_timeout + 60


def grade_one(sub: Submission, exercise: Exercise, source, release, limits: Limits,
              keep_dir: Path | None = None) -> Result:
    """Note une soumission. Ne lève pas : tout problème devient un statut et une remarque."""
    start = time.perf_counter()
    result = Result(sub)
    grade_cells = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    try:
        submitted = read_submission(sub.path.read_bytes())
    except (OSError, ValueError) as exc:
        result.flags.append("illisible")
        result.notes.append(f"Le fichier n'a pas pu être lu : {exc}. Aucun test n'a été exécuté.")
        result.cells = [_zero(c, "non exécutée : notebook illisible") for c in grade_cells]
        result.seconds = time.perf_counter() - start
        return result

    prepared = merge(submitted, source, release)
    if prepared.edited:
        result.flags.append("cellules_verrouillees_modifiees")
        result.notes.append("Cellules verrouillées modifiées (remplacées par l'original pour la "
                            f"notation) : {', '.join(prepared.edited)}.")
    if prepared.missing:
        result.flags.append("cellules_supprimees")
        result.notes.append(f"Cellules de test supprimées (0 point) : {', '.join(prepared.missing)}.")
    if prepared.duplicates:
        result.notes.append(f"Cellules en double ignorées : {', '.join(prepared.duplicates)}.")

    job = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        (job / "work").mkdir()
        nbformat.write(prepared.nb, job / "input.ipynb")
        (job / "job.json").write_text(json.dumps({"cell_timeout": limits.cell_timeout,
                                                   "memory_mb": limits.memory_mb}), encoding="utf-8")
        status = _run_worker(job, limits)
        if status["status"] != "ok":
            result.flags.append(status["status"])
            result.notes.append(_status_note(status, limits))
        executed = job / "executed.ipynb"
        nb = nbformat.read(executed, as_version=4) if executed.exists() else prepared.nb
        _score(nb, grade_cells, result, status)
        interrupted = [i for i, c in enumerate(nb.cells) if i > 0 and any(
            o.get("output_type") == "error" and o.get("ename") == "KeyboardInterrupt"
            for o in c.get("outputs", []))]
        if interrupted:  # nbclient interrompt le noyau quand une cellule dépasse son délai
            if "delai_depasse" not in result.flags:
                result.flags.append("delai_depasse")
            result.notes.append(f"Cellule(s) n° {', '.join(map(str, interrupted))} interrompue(s) "
                                f"après {limits.cell_timeout:g} s (délai par cellule).")
        denied = _read_audit(job / "audit.log")
        if denied:
            result.flags.append("ecriture_refusee")
            result.notes.append("Opérations refusées (écriture hors du dossier de travail, "
                                 f"processus, signaux) : {'; '.join(denied[:5])}.")
        if keep_dir is not None:
            keep_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(executed if executed.exists() else job / "input.ipynb",
                        keep_dir / f"{sub.student}_{sub.exercise}.ipynb")
    finally:
        shutil.rmtree(job, ignore_errors=True)
    result.seconds = time.perf_counter() - start
    return result


def _zero(cell, reason: str) -> CellResult:
    nbg = cell.metadata.nbgrader
    manual = bool(nbg.get("solution"))
    return CellResult(nbg["grade_id"], 0.0, float(nbg["points"]), False, manual, reason)


def _run_worker(job: Path, limits: Limits) -> dict:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("worker.py")), str(job)],
        stdout=subprocess.DEVNULL, stderr=(job / "worker.log").open("wb"), start_new_session=True,
    )
    try:
        proc.wait(timeout=limits.wall)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()
        _kill_kernel(job)
        return {"status": "delai_depasse",
                "message": f"délai total de {limits.wall:g} s dépassé : exécution arrêtée"}
    _kill_kernel(job)  # au cas où le processus serait mort sans arrêter son noyau
    status_file = job / "status.json"
    if status_file.exists():
        return json.loads(status_file.read_text(encoding="utf-8"))
    log = (job / "worker.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return {"status": "erreur_execution",
            "message": f"le processus de notation s'est arrêté (code {proc.returncode}) : "
                       f"{log[-1][:200] if log else 'sans message'}"}


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_kernel(job: Path) -> None:
    """Tue le groupe du noyau lancé par NOTRE processus de travail (son pid est dans le dossier)."""
    pid_file = job / "kernel.pid"
    if pid_file.exists():
        try:
            _kill_group(int(pid_file.read_text()))
        except ValueError:
            pass


def _status_note(status: dict, limits: Limits) -> str:
    what = {"delai_depasse": "Temps dépassé", "noyau_arrete": "Le noyau Python s'est arrêté "
            "(plantage, os._exit, signal, ou mémoire au-delà de "
            f"{limits.memory_mb} Mo)", "erreur_execution": "Erreur pendant l'exécution"}
    return f"{what.get(status['status'], status['status'])} : {status['message']}. " \
           "Les cellules suivantes n'ont pas été exécutées (0 point)."


def _last_line(text: str) -> str:
    lines = [s for s in str(text).strip().splitlines() if s.strip()]
    return lines[-1].strip() if lines else ""


def _error_line(cell) -> str:
    """Pourquoi une cellule de test a échoué : la dernière ligne de l'erreur (ou de stderr)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Erreur"), _last_line(out.get("evalue", ""))
            if ename == "NotImplementedError" and not evalue:
                return "NotImplementedError : réponse pas encore écrite"
            return (f"{ename}: {evalue}" if evalue else ename)[:300]
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return f"sortie d'erreur (stderr) : {_last_line(out.get('text', ''))[:250]}"
    return ""


def _score(nb, grade_cells, result: Result, status: dict) -> None:
    from nbgrader.utils import determine_grade

    by_id = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid and gid not in by_id:
            by_id[gid] = cell
    for ref in grade_cells:
        nbg = ref.metadata.nbgrader
        gid, max_points = nbg["grade_id"], float(nbg["points"])
        cell = by_id.get(gid)
        manual = bool(nbg.get("solution"))
        if cell is None:
            result.cells.append(CellResult(gid, 0.0, max_points, False, manual, "cellule supprimée"))
            continue
        if cell.cell_type == "code" and cell.get("execution_count") is None:
            reason = "non exécutée" + (f" ({status['message']})" if status.get("message") else "")
            result.cells.append(CellResult(gid, 0.0, max_points, False, manual, reason))
            continue
        score, _ = determine_grade(cell)
        if manual:
            reason = "sans réponse" if score == 0 else "à corriger à la main"
            result.cells.append(CellResult(gid, 0.0, max_points, score is None, True, reason))
            continue
        score = float(score or 0.0)
        ok = score >= max_points
        result.cells.append(CellResult(gid, score, max_points, ok, False, "" if ok else _error_line(cell)))


def _read_audit(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.replace("\t", " ") for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip()]


# ----------------------------------------------------------------------------- un dossier

def grade_folder(submissions_dir: str | Path, out_csv: str | Path, workers: int = 2,
                 limits: Limits | None = None, solutions_dir: str | Path = SOLUTIONS_DIR,
                 feedback_dir: str | Path | None = None, keep_dir: str | Path | None = None,
                 progress: bool = False) -> list[Result]:
    """Note toutes les soumissions de ``submissions_dir`` ; écrit le CSV et les retours.

    Returns:
        Un ``Result`` par fichier (mal nommé, inconnu ou en double compris).
    """
    limits = limits or Limits()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers doit être un entier >= 1 ; reçu {workers!r}.")
    exercises = find_exercises(solutions_dir)
    subs = find_submissions(submissions_dir)
    out_csv = Path(out_csv)
    feedback_dir = Path(feedback_dir) if feedback_dir else out_csv.parent / "feedback"
    hashes = {s.path: sha256(s.path) for s in subs}

    sources, releases = {}, {}
    for ex_id, ex in exercises.items():
        sources[ex_id] = nbformat.read(ex.source, as_version=4)
        releases[ex_id] = make_student_notebook(sources[ex_id])

    todo, results, seen = [], [], set()
    for sub in subs:
        if sub.problem:
            results.append(Result(sub, flags=["nom_invalide"], notes=[sub.problem]))
        elif sub.exercise not in exercises:
            results.append(Result(sub, flags=["exercice_inconnu"], notes=[
                f"exercice {sub.exercise} inconnu ; exercices : {', '.join(exercises)}"]))
        elif (sub.student, sub.exercise) in seen:
            results.append(Result(sub, flags=["doublon"], notes=[
                f"soumission en double pour {sub.exercise} : seule la première est notée"]))
        else:
            seen.add((sub.student, sub.exercise))
            todo.append(sub)

    def one(sub: Submission) -> Result:
        res = grade_one(sub, exercises[sub.exercise], sources[sub.exercise], releases[sub.exercise],
                        limits, Path(keep_dir) if keep_dir else None)
        if progress:
            print(f"{sub.student:<16} {sub.exercise:<8} {res.score:g}/{res.max_score:g} "
                  f"{res.status} ({res.seconds:.1f} s)", flush=True)
        return res

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results.extend(pool.map(one, todo))

    changed = [str(p) for p, h in hashes.items() if sha256(p) != h]
    if changed:  # ne devrait jamais arriver : on ne fait que lire
        raise RuntimeError(f"Des soumissions ont été modifiées pendant la notation : {changed}")
    results.sort(key=lambda r: (r.submission.student, r.submission.exercise, r.submission.relpath))
    write_csv(results, out_csv)
    write_feedback(results, feedback_dir, exercises)
    return results


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(results: list[Result], path: str | Path) -> None:
    """CSV (une ligne par soumission), écrit d'un coup : fichier temporaire puis ``os.replace``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for r in results:
        writer.writerow(r.row())
    _atomic_write(Path(path), buf.getvalue())


def feedback_text(student: str, results: list[Result], exercises: dict[str, Exercise]) -> str:
    """Retour en français pour un élève : note par exercice, tests échoués et pourquoi."""
    lines = [f"# Retour de notation — {student}", ""]
    for r in results:
        ex = exercises.get(r.submission.exercise)
        title = f"Exercice {r.submission.exercise}" + (f" ({ex.filename})" if ex else "")
        lines.append(f"## {title} : {r.score:g} / {r.max_score:g} points")
        lines.append(f"Fichier : `{r.submission.relpath}` ; statut : {r.status}.")
        lines.append("")
        for note in r.notes:
            lines.append(f"> {note}")
        if r.notes:
            lines.append("")
        for c in r.cells:
            if c.manual:
                lines.append(f"- ✍️ `{c.grade_id}` ({c.max_points:g} pt) : {c.reason}")
            elif c.ok:
                lines.append(f"- ✅ `{c.grade_id}` : {c.points:g} / {c.max_points:g}")
            else:
                lines.append(f"- ❌ `{c.grade_id}` : 0 / {c.max_points:g} — {c.reason or 'échec'}")
        lines.append("")
    return "\n".join(lines)


def write_feedback(results: list[Result], folder: str | Path, exercises: dict[str, Exercise]) -> None:
    """Un fichier ``<élève>.md`` par élève (les fichiers mal nommés vont dans ``_non_notes.md``)."""
    folder = Path(folder)
    by_student: dict[str, list[Result]] = {}
    for r in results:
        by_student.setdefault(r.submission.student or "_non_notes", []).append(r)
    for student, rs in by_student.items():
        _atomic_write(folder / f"{student}.md", feedback_text(student, rs, exercises))
