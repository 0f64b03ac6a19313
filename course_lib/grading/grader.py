"""Notation d'un dossier de soumissions (``course-grade``).

Pour chaque soumission, dans un dossier temporaire qui lui est propre :
1. lecture (un JSON invalide est rapporté, pas fatal) et empreinte SHA-256 : la soumission n'est
   jamais modifiée (on ne fait que la lire ; l'empreinte est revérifiée à la fin) ;
2. préparation comme ``nbgrader autograde`` (``prepare.merge``) : tests cachés remis d'après la
   source enseignant, cellules verrouillées modifiées détectées par somme de contrôle ; avant toute
   exécution, les cellules de l'élève sont compilées (``erreur_syntaxe``), comparées au notebook
   distribué (``vide``) et analysées (``scan`` : ``a_verifier``) ;
3. exécution par un processus à part (``worker``), le NOYAU seul dans un bac à sable ``bwrap``
   (``sandbox``) : système en lecture seule, dossier de travail privé, pas de réseau, espace de
   PID propre, limites de mémoire, de temps CPU et de processus ; délai par cellule (``nbclient``,
   interruption du noyau), délai total (le parent tue le processus et le bac à sable) ;
4. notation de chaque cellule de test avec ses points nbgrader (``nbgrader.utils.determine_grade`` :
   0 si la cellule affiche une erreur ou écrit sur stderr) ET seulement si le test a confirmé sa
   propre fin par son secret (``worker``, ``kernel_launcher``). Une cellule non exécutée vaut 0.

Le retour à l'élève commence par la première erreur de SES cellules (type, message, cellule et
ligne), puis les tests ; il ne contient ni le texte des tests cachés ni les chemins de l'enseignant.
Les soumissions sont notées en parallèle (``workers`` processus à la fois).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
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

from . import sandbox
from .exercises import ROOT, SOLUTIONS_DIR, Exercise, find_exercises
from .generate import make_student_notebook
from .prepare import ROLE_ANSWER, ROLE_STUDENT, ROLE_TEST, merge, read_submission, role
from .scan import scan_cells, syntax_error
from .submissions import Submission, find_submissions, newest_first

CSV_FIELDS = ["student", "exercise", "file", "score", "max_score", "manual_points", "status",
              "failed", "detail"]
STUDENT_ROLES = (ROLE_ANSWER, ROLE_STUDENT)


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
    flags: list[str] = field(default_factory=list)      # statuts : vide, erreur_syntaxe, ...
    notes: list[str] = field(default_factory=list)      # remarques en français pour l'élève
    first_error: str = ""                               # première erreur des cellules de l'élève
    review: list[str] = field(default_factory=list)     # pour l'enseignant (a_verifier)
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

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)

    def row(self, num=None) -> dict:
        num = num or _num
        sub = self.submission
        return {"student": sub.student, "exercise": sub.exercise, "file": sub.relpath,
                "score": num(self.score), "max_score": num(self.max_score),
                "manual_points": num(self.manual_points), "status": self.status,
                "failed": " ".join(c.grade_id for c in self.cells if not c.ok and not c.manual),
                "detail": " | ".join(self.review)[:500]}


def _num(x: float) -> str:
    return f"{x:g}"


def _num_fr(x: float) -> str:
    return f"{x:g}".replace(".", ",")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- une soumission

@dataclass
class Limits:
    """Limites par soumission. ``sandbox=False`` : sans bubblewrap (déconseillé, voir ``cli``)."""

    cell_timeout: float = 60.0
    total_timeout: float | None = None  # défaut : 5 × cell_timeout + 60 s
    memory_mb: int | None = 6144
    processes: int = 256                # tâches (processus et fils) du noyau et de ses enfants
    sandbox: bool = True

    @property
    def wall(self) -> float:
        return self.total_timeout if self.total_timeout else 5 * self.cell_timeout + 60


@dataclass
class Context:
    """Ce qui ne change pas d'une soumission à l'autre d'un même exercice."""

    exercise: Exercise
    source: object
    release: object
    hidden_lines: list[str]   # lignes des tests cachés, à ne jamais montrer à un élève
    private_paths: list[str]  # chemins de l'enseignant, à ne jamais montrer à un élève
    preload: list[str]        # modules importés par la source : chargés avant l'instantané

    @classmethod
    def build(cls, exercise: Exercise, extra_paths=()) -> Context:
        source = nbformat.read(exercise.source, as_version=4)
        release = make_student_notebook(source)
        visible = {ln.strip() for c in release.cells for ln in c.source.splitlines()}
        hidden = sorted({ln.strip() for c in source.cells for ln in c.source.splitlines()
                         if len(ln.strip()) >= 8 and ln.strip() not in visible}, key=len, reverse=True)
        paths = {str(Path(p).resolve()) for p in (exercise.source.parent, sys.prefix,
                                                  sys.base_prefix, *extra_paths) if p}
        paths |= {str(Path(sandbox.__file__).resolve().parents[2])}
        if ROOT:
            paths.add(str(ROOT))
        return cls(exercise, source, release, hidden, sorted(paths, key=len, reverse=True),
                   _imported_modules(source))

    def scrub(self, text: str) -> str:
        """Texte montrable à l'élève : chemins de l'enseignant et lignes des tests cachés retirés."""
        for path in self.private_paths:
            text = text.replace(path, "…")
        for line in self.hidden_lines:
            text = text.replace(line, "[test caché]")
        return text


def _imported_modules(nb) -> list[str]:
    import ast

    names: list[str] = []
    for cell in nb.cells:
        try:
            tree = ast.parse(cell.source) if cell.cell_type == "code" else None
        except SyntaxError:
            continue
        for node in ast.walk(tree) if tree else ():
            found = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else [])
            names += [n.split(".")[0] for n in found if n.split(".")[0] not in names]
    return names


def grade_one(sub: Submission, ctx: Context, limits: Limits, keep_dir: Path | None = None) -> Result:
    """Note une soumission. Ne lève pas : tout problème devient un statut et une remarque."""
    start = time.perf_counter()
    result = Result(sub)
    grade_cells = [c for c in ctx.source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    try:
        submitted = read_submission(sub.path.read_bytes())
    except (OSError, ValueError) as exc:
        result.flag("illisible")
        result.notes.append(f"Le fichier n'a pas pu être lu : {exc}. Aucun test n'a été exécuté.")
        result.cells = [_zero(c, "non exécutée : notebook illisible") for c in grade_cells]
        result.seconds = time.perf_counter() - start
        return result

    prepared = merge(submitted, ctx.source, ctx.release)
    _before_running(prepared.nb, ctx, result)
    if prepared.edited:
        result.flag("cellules_verrouillees_modifiees")
        result.notes.append("Cellules verrouillées modifiées (remplacées par l'original pour la "
                            f"notation) : {', '.join(prepared.edited)}.")
    if prepared.missing:
        result.flag("cellules_supprimees")
        result.notes.append(f"Cellules de test supprimées (0 point) : {', '.join(prepared.missing)}.")
    if prepared.duplicates:
        result.notes.append(f"Cellules en double ignorées : {', '.join(prepared.duplicates)}.")

    job = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        nbformat.write(prepared.nb, job / "input.ipynb")
        _write_job(job, limits, ctx.preload)
        status = _run_worker(job, limits)
        executed = job / "executed.ipynb"
        nb = nbformat.read(executed, as_version=4) if executed.exists() else prepared.nb
        _after_running(nb, status, grade_cells, result, limits, ctx)
        if keep_dir is not None:
            keep_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(executed if executed.exists() else job / "input.ipynb",
                        keep_dir / f"{sub.student}_{sub.exercise}.ipynb")
    finally:
        shutil.rmtree(job, ignore_errors=True)
    result.notes = [ctx.scrub(n) for n in result.notes]
    result.first_error = ctx.scrub(result.first_error)
    for c in result.cells:
        c.reason = ctx.scrub(c.reason)
    result.seconds = time.perf_counter() - start
    return result


def _student_cells(nb) -> dict[int, str]:
    return {i: c.source for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and role(c) in STUDENT_ROLES}


def _before_running(nb, ctx: Context, result: Result) -> None:
    """Vide ? Erreur de syntaxe ? Construction qui atteint la notation ? (sans rien exécuter)."""
    released = {c.source for c in ctx.release.cells}
    cells = _student_cells(nb)
    answers = [c for c in nb.cells if role(c) == ROLE_ANSWER]
    if all(c.source.strip() == "" or c.source in released for c in answers) and not [
            s for s in cells.values() if s.strip() and s not in released]:
        result.flag("vide")
        result.notes.append("Aucune réponse : les cellules-réponses sont telles que distribuées.")
    for index, source in cells.items():
        err = syntax_error(source)
        if err:
            line, message = err
            result.flag("erreur_syntaxe")
            result.first_error = f"{message} (cellule n° {index}, ligne {line})"
            break
    findings = scan_cells({i: s for i, s in cells.items() if s not in released})
    if findings:
        result.flag("a_verifier")
        result.review = [str(f) for f in findings[:8]]


def _write_job(job: Path, limits: Limits, preload: list[str] = ()) -> None:
    env = {"COURSE_GRADE_MEMORY_MB": str(limits.memory_mb or ""),
           "COURSE_GRADE_CPU_S": str(int(limits.wall) + 5),
           "COURSE_GRADE_PRELOAD": ",".join(preload)}
    if limits.sandbox:
        box = sandbox.prepare(job)
        env["COURSE_GRADE_CONFIRM"] = str(box.runtime / "confirm")
        if box.uid is not None:
            env["COURSE_GRADE_UID"] = str(box.uid)
            env["COURSE_GRADE_NPROC"] = str(limits.processes)
        else:  # RLIMIT_NPROC compte toutes les tâches de l'utilisateur
            env["COURSE_GRADE_NPROC"] = str(_user_tasks() + limits.processes)
        argv = sandbox.kernel_argv(box, env)
        env = {}
    else:
        (job / "work").mkdir()
        argv = sandbox.kernel_argv(None, env)
    (job / "job.json").write_text(json.dumps({
        "cell_timeout": limits.cell_timeout, "argv": argv, "env": env,
        "sandboxed": limits.sandbox}), encoding="utf-8")


def _user_tasks() -> int:
    uid, n = os.getuid(), 0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                n += len(os.listdir(proc / "task"))
        except OSError:
            pass
    return n


def _zero(cell, reason: str) -> CellResult:
    nbg = cell.metadata.nbgrader
    manual = bool(nbg.get("solution"))
    return CellResult(nbg["grade_id"], 0.0, float(nbg["points"]), False, manual, reason)


def _run_worker(job: Path, limits: Limits) -> dict:
    worker = Path(__file__).with_name("worker.py")
    with (job / "worker.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(worker), str(job)], stdout=subprocess.DEVNULL,
                                stderr=log, start_new_session=True)
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
    lines = (job / "worker.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return {"status": "erreur_execution",
            "message": f"le processus de notation s'est arrêté (code {proc.returncode}) : "
                       f"{lines[-1][:200] if lines else 'sans message'}"}


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_kernel(job: Path) -> None:
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


def _status_note(status: dict, limits: Limits) -> str:
    what = {"delai_depasse": "Temps dépassé", "noyau_arrete": "Le noyau Python s'est arrêté "
            "(plantage, os._exit, signal, ou mémoire au-delà de "
            f"{limits.memory_mb} Mo)", "erreur_execution": "Erreur pendant l'exécution"}
    return f"{what.get(status['status'], status['status'])} : {status['message']}. " \
           "Les cellules suivantes n'ont pas été exécutées (0 point)."


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_WHERE = re.compile(r"In\s*\[(\d+)\],\s*line (\d+)")


def _last_line(text: str) -> str:
    lines = [s for s in str(text).strip().splitlines() if s.strip()]
    return lines[-1].strip() if lines else ""


def _error_output(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out
    return None


def _error_line(cell) -> str:
    """Pourquoi une cellule de test a échoué : la dernière ligne de l'erreur (ou de stderr)."""
    out = _error_output(cell)
    if out is not None:
        ename, evalue = out.get("ename", "Erreur"), _last_line(out.get("evalue", ""))
        if ename == "NotImplementedError" and not evalue:
            return "NotImplementedError : réponse pas encore écrite"
        return (f"{ename}: {evalue}" if evalue else ename)[:300]
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return f"sortie d'erreur (stderr) : {_last_line(out.get('text', ''))[:250]}"
    return ""


def _first_student_error(nb, limits: Limits) -> str:
    """Première erreur levée par une cellule de l'élève : type, message, cellule et ligne."""
    counts = {c.get("execution_count"): i for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or role(cell) not in STUDENT_ROLES:
            continue
        out = _error_output(cell)
        if out is None:
            continue
        ename, evalue = out.get("ename", "Erreur"), _last_line(out.get("evalue", ""))
        if ename == "NotImplementedError" and not evalue:
            continue  # amorce « VOTRE CODE ICI » : signalée par le statut vide et par les tests
        if ename == "KeyboardInterrupt":
            return (f"cellule n° {index} interrompue après {limits.cell_timeout:g} s "
                    "(délai par cellule dépassé : boucle infinie ?)")
        where = _WHERE.findall(_ANSI.sub("", "\n".join(out.get("traceback", []))))
        if where:
            count, line = where[-1]
            index = counts.get(int(count), index)
            place = f"cellule n° {index}, ligne {line}"
        else:
            place = f"cellule n° {index}"
        return f"{ename}: {evalue} ({place})" if evalue else f"{ename} ({place})"
    return ""


def _after_running(nb, status: dict, grade_cells, result: Result, limits: Limits,
                   ctx: Context) -> None:
    if status["status"] != "ok":
        result.flag(status["status"])
        result.notes.append(_status_note(status, limits))
    _score(nb, grade_cells, result, status)
    interrupted = [i for i, c in enumerate(nb.cells) if (_error_output(c) or {}).get(
        "ename") == "KeyboardInterrupt"]
    if interrupted:  # nbclient interrompt le noyau quand une cellule dépasse son délai
        result.flag("delai_depasse")
        result.notes.append(f"Cellule(s) n° {', '.join(map(str, interrupted))} interrompue(s) "
                            f"après {limits.cell_timeout:g} s (délai par cellule).")
    if any((_error_output(c) or {}).get("ename") == "MemoryError" for c in nb.cells):
        result.flag("memoire")
        result.notes.append(f"Mémoire épuisée (MemoryError) : limite de {limits.memory_mb} Mo.")
    if not result.first_error:
        result.first_error = _first_student_error(nb, limits)


def _score(nb, grade_cells, result: Result, status: dict) -> None:
    from nbgrader.utils import determine_grade

    confirmed = status.get("confirmed", {})
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
        reason = _error_line(cell)
        if role(cell) == ROLE_TEST and score > 0 and not confirmed.get(gid):
            score, reason = 0.0, "test interrompu avant sa dernière ligne (fin non confirmée)"
        ok = score >= max_points
        result.cells.append(CellResult(gid, score, max_points, ok, False, "" if ok else reason))


# ----------------------------------------------------------------------------- un dossier

def grade_folder(submissions_dir: str | Path, out_csv: str | Path, workers: int = 2,
                 limits: Limits | None = None, solutions_dir: str | Path | None = SOLUTIONS_DIR,
                 feedback_dir: str | Path | None = None, keep_dir: str | Path | None = None,
                 progress: bool = False, excel: bool = False) -> list[Result]:
    """Note toutes les soumissions de ``submissions_dir`` ; écrit le CSV, les totaux, les retours.

    Args:
        excel: CSV pour un tableur français (séparateur ``;``, virgule décimale, BOM UTF-8).

    Returns:
        Un ``Result`` par fichier (mal nommé, inconnu ou en double compris).
    """
    limits = limits or Limits()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers doit être un entier >= 1 ; reçu {workers!r}.")
    if limits.sandbox:
        sandbox.find_bwrap()
    exercises = find_exercises(solutions_dir)
    subs = find_submissions(submissions_dir)
    out_csv = Path(out_csv)
    feedback_dir = Path(feedback_dir) if feedback_dir else out_csv.parent / "feedback"
    hashes = {s.path: sha256(s.path) for s in subs}
    private = [Path(submissions_dir).resolve(), out_csv.resolve().parent]
    contexts = {ex_id: Context.build(ex, private) for ex_id, ex in exercises.items()}

    todo, results, groups = [], [], {}
    for sub in subs:
        if sub.problem:
            results.append(Result(sub, flags=["nom_invalide"], notes=[sub.problem]))
        elif sub.exercise not in exercises:
            results.append(Result(sub, flags=["exercice_inconnu"], notes=[
                f"exercice {sub.exercise} inconnu ; exercices : {', '.join(exercises)}"]))
        else:
            groups.setdefault((sub.student, sub.exercise), []).append(sub)
    kept_notes = {}
    for group in groups.values():
        newest, *older = newest_first(group)
        todo.append(newest)
        for old in older:
            results.append(Result(old, flags=["doublon"], notes=[
                f"rendu en double pour {old.exercise} : remplacé par {newest.relpath}, plus récent"]))
        if older:
            kept_notes[newest.path] = (f"{len(older)} rendu(s) plus ancien(s) ignoré(s) : "
                                       f"{', '.join(o.relpath for o in older)}.")

    def one(sub: Submission) -> Result:
        res = grade_one(sub, contexts[sub.exercise], limits, Path(keep_dir) if keep_dir else None)
        if sub.path in kept_notes:
            res.notes.insert(0, kept_notes[sub.path])
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
    write_csv(results, out_csv, excel=excel)
    write_totals(results, totals_path(out_csv), list(exercises), excel=excel)
    write_feedback(results, feedback_dir, exercises)
    return results


def totals_path(out_csv: str | Path) -> Path:
    """``notes.csv`` -> ``notes_totaux.csv``."""
    out_csv = Path(out_csv)
    return out_csv.with_name(f"{out_csv.stem}_totaux{out_csv.suffix or '.csv'}")


def _atomic_write(path: Path, text: str, bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_text(fields: list[str], rows: list[dict], excel: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, delimiter=";" if excel else ",")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(results: list[Result], path: str | Path, excel: bool = False) -> None:
    """CSV (une ligne par fichier), écrit d'un coup : fichier temporaire puis ``os.replace``."""
    rows = [r.row(_num_fr if excel else _num) for r in results]
    _atomic_write(Path(path), _csv_text(CSV_FIELDS, rows, excel), bom=excel)


def write_totals(results: list[Result], path: str | Path, exercise_ids: list[str],
                 excel: bool = False) -> None:
    """Un élève par ligne : note de chaque exercice (vide si pas de rendu), total, maximum."""
    num = _num_fr if excel else _num
    graded = [r for r in results if r.cells and r.submission.student and "doublon" not in r.flags]
    maxima = {r.submission.exercise: r.max_score for r in graded}
    rows = []
    for student in sorted({r.submission.student for r in graded}):
        mine = {r.submission.exercise: r for r in graded if r.submission.student == student}
        row = {"student": student}
        for ex_id in exercise_ids:
            row[ex_id] = num(mine[ex_id].score) if ex_id in mine else ""
        row["total"] = num(sum(r.score for r in mine.values()))
        row["max_total"] = num(sum(maxima.get(e, 0.0) for e in exercise_ids))
        row["manual_points"] = num(sum(r.manual_points for r in mine.values()))
        row["status"] = " ".join(f"{e}:{mine[e].status}" for e in exercise_ids
                                 if e in mine and mine[e].status != "ok")
        rows.append(row)
    fields = ["student", *exercise_ids, "total", "max_total", "manual_points", "status"]
    _atomic_write(Path(path), _csv_text(fields, rows, excel), bom=excel)


def feedback_text(student: str, results: list[Result], exercises: dict[str, Exercise]) -> str:
    """Retour en français pour un élève : par exercice, la première erreur de ses cellules, puis
    la note et les tests échoués (et pourquoi)."""
    lines = [f"# Retour de notation — {student}", ""]
    for r in results:
        ex = exercises.get(r.submission.exercise)
        title = f"Exercice {r.submission.exercise}" + (f" ({ex.filename})" if ex else "")
        lines.append(f"## {title} : {r.score:g} / {r.max_score:g} points")
        lines.append(f"Fichier : `{r.submission.relpath}` ; statut : {r.status}.")
        lines.append("")
        if r.first_error:
            lines += [f"**Première erreur dans vos cellules** : {r.first_error}", ""]
        for note in r.notes:
            lines.append(f"> {note}")
        if "a_verifier" in r.flags:
            lines.append("> Votre notebook sera relu par l'enseignant avant que la note soit définitive.")
        if r.notes or "a_verifier" in r.flags:
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


def _file_name(student: str) -> str:
    return re.sub(r'[/\\:*?"<>|\x00-\x1f]', "_", student).strip(". ") or "_"


def write_feedback(results: list[Result], folder: str | Path, exercises: dict[str, Exercise]) -> None:
    """Un fichier ``<élève>.md`` par élève (les fichiers mal nommés vont dans ``_non_notes.md``)."""
    folder = Path(folder)
    by_student: dict[str, list[Result]] = {}
    for r in results:
        by_student.setdefault(r.submission.student or "_non_notes", []).append(r)
    for student, rs in by_student.items():
        _atomic_write(folder / f"{_file_name(student)}.md", feedback_text(student, rs, exercises))
