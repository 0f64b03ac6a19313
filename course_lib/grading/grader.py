"""Notation d'un dossier de soumissions (``course-grade``).

Pour chaque soumission, dans un dossier temporaire qui lui est propre :
1. lecture (un JSON invalide est rapporté, pas fatal) et empreinte SHA-256 : la soumission n'est
   jamais modifiée (on ne fait que la lire ; l'empreinte est revérifiée à la fin) ;
2. préparation comme ``nbgrader autograde`` (``prepare.merge``) : tests cachés remis d'après la
   source enseignant, cellules verrouillées modifiées détectées par somme de contrôle ; avant toute
   exécution, les cellules de l'élève sont compilées (``erreur_syntaxe``), comparées au notebook
   distribué (``vide``) et analysées (``scan`` : ``a_verifier``) ;
3. exécution par un processus à part (``worker``), le NOYAU seul dans un bac à sable ``bwrap``
   (``sandbox``) : système en lecture seule, zone inscriptible de taille limitée, pas de réseau,
   espace de PID propre, limites de mémoire, de temps CPU et de processus ; délai par cellule
   (interruption, puis noyau tué s'il ne répond pas), délai total (le parent tue tout), sorties
   plafonnées ; le noyau est, si possible, un clone du zygote de l'exercice (``zygote`` :
   PyTorch et la première cellule, si le rendu l'a gardée telle quelle, déjà chargés) ;
4. notation de chaque cellule de test avec ses points nbgrader (``nbgrader.utils.determine_grade`` :
   0 si la cellule affiche une erreur ou écrit sur stderr) ET seulement si le noyau a répondu
   ``ok`` à la requête de ce test, une seule fois, avec la marque du lanceur, et répond encore
   après (``worker``) ; ce que le crochet d'audit du noyau a vu pendant un test fait signaler le
   rendu (``a_verifier``). Une cellule non exécutée vaut 0.

Le retour à l'élève commence par la première erreur de SES cellules (type, message, cellule de
code n° k comptée à partir de 1, ligne), puis les tests ; il ne contient ni le texte des tests
cachés ni les chemins de l'enseignant, et aucun texte venu du code de l'élève (message d'une
exception...) de plus de ``STUDENT_TEXT`` caractères.
Les soumissions sont notées en parallèle (``workers`` processus à la fois).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import outputs, process, reports, sandbox, similarity, zygote
from .exercises import ROOT, SOLUTIONS_DIR, Exercise, find_exercises
from .generate import make_student_notebook
from .prepare import ROLE_ANSWER, ROLE_TEST, merge, read_submission, role
from .reports import totals_path, write_csv  # noqa: F401  (noms publics historiques)
from .scan import parse, scan_cells, syntax_error, syntax_error_fr
from .submissions import Submission, find_submissions, newest_first

STUDENT_TEXT = 200  # caractères au plus d'un texte que le code de l'élève contrôle, dans un retour


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
    kernel: str = ""  # "clone" (du zygote de l'exercice), "clone+cellule1" (état de la 1re cellule
    #                   repris), "neuf" (noyau démarré pour ce rendu) ; vide : rien d'exécuté

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
        num = num or reports.num
        sub = self.submission
        return {"student": sub.student, "exercise": sub.exercise, "file": sub.relpath,
                "score": num(self.score), "max_score": num(self.max_score),
                "manual_points": num(self.manual_points), "status": self.status,
                "failed": " ".join(c.grade_id for c in self.cells if not c.ok and not c.manual),
                "detail": " | ".join(self.review)[:500]}


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
    disk_mb: int = 256                  # taille de /travail et de /tmp dans le bac à sable (Mo)
    output_kept_kb: int = 1024          # sorties gardées par cellule
    output_read_mb: int = 64            # sorties lues pour tout le notebook (au-delà : noyau tué)
    zygote: bool = True                 # noyaux clonés d'un zygote par exercice (bac à sable seul)

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
    trusted: list[str] = field(default_factory=list)  # textes des tests (messages de l'enseignant)
    prefix: str | None = None  # première cellule de la source, exécutable une fois pour toutes

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
                   _imported_modules(source), _test_strings(source), _prefix(source))

    def limit(self, text: str, limit: int = STUDENT_TEXT) -> str:
        """Au plus ``limit`` caractères venus d'ailleurs que des tests de l'enseignant : les
        morceaux de ``text`` qui sont des chaînes écrites dans les tests (messages des ``assert``,
        parties fixes des f-strings) sont gardés entiers, le reste (valeurs, message levé par le
        code de l'élève) est tronqué."""
        pieces = [(text, False)]
        for known in self.trusted:
            if known not in text:
                continue
            split = []
            for piece, ok in pieces:
                if ok or known not in piece:
                    split.append((piece, ok))
                    continue
                for k, part in enumerate(piece.split(known)):
                    if k:
                        split.append((known, True))
                    if part:
                        split.append((part, False))
            pieces = split
        budget, out = limit, []
        for piece, ok in pieces:
            if ok:
                out.append(piece)
            elif budget > 0:
                out.append(piece if len(piece) <= budget else piece[:budget] + "…")
                budget -= len(piece)
            elif out and not out[-1].endswith("…"):
                out.append("…")
        return "".join(out)

    def scrub(self, text: str) -> str:
        """Texte montrable à l'élève : chemins de l'enseignant et lignes des tests cachés retirés
        (aussi écrites à l'envers). Ne suffit pas contre un texte codé : d'où ``STUDENT_TEXT``."""
        for path in self.private_paths:
            text = text.replace(path, "…")
        for line in self.hidden_lines:
            text = text.replace(line, "[test caché]").replace(line[::-1], "[test caché]")
        return text


def _prefix(nb) -> str | None:
    """La première cellule de code de la source si elle n'est ni réponse ni test et s'exécute sans
    IPython (``zygote.plain_cell``) : le zygote l'exécute une fois pour tout l'exercice."""
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    meta = first.metadata.get("nbgrader", {}) if first is not None else {}
    if first is None or meta.get("solution") or meta.get("grade") or not first.source.strip():
        return None
    return first.source if zygote.plain_cell(first.source) else None


def _prefix_index(nb, ctx: Context) -> int | None:
    """Indice de la première cellule de code du notebook fusionné si elle est la cellule que le
    zygote a exécutée, à l'identique ; sinon ``None`` (noyau neuf)."""
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)
    if ctx.prefix is None or first is None or nb.cells[first].source != ctx.prefix:
        return None
    return first


def _test_strings(nb) -> list[str]:
    """Les chaînes (d'au moins 12 caractères) écrites dans les cellules de test de la source :
    constantes et parties fixes des f-strings, les plus longues d'abord."""
    import ast

    found: set[str] = set()
    for cell in nb.cells:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not nbg.get("grade") or nbg.get("solution"):
            continue
        try:
            tree = parse(cell.source)
        except SyntaxError:
            continue
        found |= {n.value for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and len(n.value) >= 12}
    return sorted(found, key=len, reverse=True)


def _imported_modules(nb) -> list[str]:
    import ast

    names: list[str] = []
    for cell in nb.cells:
        try:
            tree = parse(cell.source) if cell.cell_type == "code" else None
        except SyntaxError:
            continue
        for node in ast.walk(tree) if tree else ():
            found = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else [])
            names += [n.split(".")[0] for n in found if n.split(".")[0] not in names]
    return names


def grade_one(sub: Submission, ctx: Context, limits: Limits, keep_dir: Path | None = None,
              clone: process.Zygote | None = None) -> Result:
    """Note une soumission. Ne lève pas : tout problème devient un statut et une remarque.
    ``clone`` : zygote de l'exercice (noyau cloné s'il est prêt, noyau neuf sinon)."""
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
    unmarked = [g for g in prepared.missing if g in prepared.unmarked]
    deleted = [g for g in prepared.missing if g not in prepared.unmarked]
    if unmarked:
        result.flag("metadonnees_absentes")
        result.notes.append(
            f"Cellules de test présentes mais sans leurs métadonnées nbgrader : {', '.join(unmarked)}. "
            "Leur identifiant a été effacé (cellules copiées dans un nouveau notebook, ou éditeur "
            "qui ne garde pas les métadonnées) : elles n'ont pas pu être reconnues ni notées "
            "(0 point). Complétez le notebook distribué lui-même et rendez-le.")
    if deleted:
        result.flag("cellules_supprimees")
        result.notes.append(f"Cellules de test introuvables dans le notebook rendu (0 point) : "
                            f"{', '.join(deleted)}.")
    if prepared.duplicates:
        result.notes.append(f"Cellules en double ignorées : {', '.join(prepared.duplicates)}.")

    job = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        nbformat.write(prepared.nb, job / "input.ipynb")
        process.write_job(job, limits, ctx.preload, clone, _prefix_index(prepared.nb, ctx))
        status = process.run_worker(job, limits)
        result.kernel = process.kernel_kind(job)
        executed = job / "executed.ipynb"
        nb = nbformat.read(executed, as_version=4) if executed.exists() else prepared.nb
        _after_running(nb, status, grade_cells, result, limits, ctx)
        if keep_dir is not None:
            keep_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(executed if executed.exists() else job / "input.ipynb",
                        keep_dir / f"{sub.student}_{sub.exercise}.ipynb")
    finally:
        if (job / "runtime").is_dir():  # passé en lecture seule par le lanceur du noyau
            (job / "runtime").chmod(0o755)
        shutil.rmtree(job, ignore_errors=True)
    result.notes = [ctx.scrub(n) for n in result.notes]
    result.first_error = ctx.scrub(result.first_error)  # parts de l'élève déjà raccourcies
    for c in result.cells:
        c.reason = ctx.limit(ctx.scrub(c.reason))
    result.seconds = time.perf_counter() - start
    return result


def _student_cells(nb) -> dict[int, str]:
    return {i: c.source for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and role(c) in outputs.STUDENT_ROLES}


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
            number = outputs.code_number(nb, index)
            result.flag("erreur_syntaxe")
            result.first_error = (
                f"erreur de syntaxe dans la cellule de code n° {number}, ligne {line} : "
                f"{syntax_error_fr(message)}. Python ne peut pas exécuter cette cellule : ce "
                "qu'elle définit n'existe pas, et les tests qui s'en servent échouent à cause "
                "d'elle (corrigez-la d'abord).")
            break
    findings = scan_cells({i: s for i, s in cells.items() if s not in released})
    if findings:
        result.flag("a_verifier")
        result.review = [str(f) for f in findings[:8]]
    copies = similarity.library_copies({i: s for i, s in cells.items() if s not in released},
                                       ctx.exercise.id)
    if copies:  # code de course_lib recopié ou enveloppé (similarity)
        result.flag("a_verifier")
        result.review += [str(c) for c in copies[:4]]


def _zero(cell, reason: str) -> CellResult:
    nbg = cell.metadata.nbgrader
    manual = bool(nbg.get("solution"))
    return CellResult(nbg["grade_id"], 0.0, float(nbg["points"]), False, manual, reason)


def _status_note(status: dict, limits: Limits) -> str:
    what = {"delai_depasse": "Temps dépassé", "noyau_arrete": "Le noyau Python s'est arrêté "
            "(plantage, os._exit, sys.exit, signal, message illisible, ou mémoire au-delà de "
            f"{limits.memory_mb} Mo)", "erreur_execution": "Erreur de la machinerie de notation "
            "pendant l'exécution (pas forcément de votre fait : l'enseignant vérifiera)",
            "sortie_excessive": "Sorties trop volumineuses (affichages en boucle ?)"}
    return f"{what.get(status['status'], status['status'])} : {outputs.short(status['message'])}. " \
           "Les cellules suivantes n'ont pas été exécutées (0 point)."


_OOM = ("out of memory", "can't allocate memory", "cannot allocate memory")


def out_of_memory(cell) -> bool:
    """La cellule a-t-elle échoué faute de mémoire ? ``MemoryError``, ``torch.OutOfMemoryError``
    (``torch.cuda.OutOfMemoryError``) ou ``RuntimeError`` de PyTorch « out of memory » /
    « can't allocate memory » (allocateur CPU)."""
    out = outputs.error_output(cell) or {}
    ename, evalue = str(out.get("ename", "")), str(out.get("evalue", "")).lower()
    return ename in ("MemoryError", "OutOfMemoryError") or (
        ename == "RuntimeError" and any(k in evalue for k in _OOM))


def _after_running(nb, status: dict, grade_cells, result: Result, limits: Limits,
                   ctx: Context) -> None:
    if status["status"] != "ok":
        result.flag(status["status"])
        result.notes.append(_status_note(status, limits))
    _score(nb, grade_cells, result, status)
    interrupted = sorted({i for i, c in enumerate(nb.cells) if (outputs.error_output(c) or {}).get(
        "ename") == "KeyboardInterrupt"} | {i for i in status.get("timed_out", []) if i >= 0})
    if interrupted:  # le worker interrompt le noyau quand une cellule dépasse son délai
        result.flag("delai_depasse")
        numbers = ", ".join(str(outputs.code_number(nb, i)) for i in interrupted)
        result.notes.append(f"Cellule(s) de code n° {numbers} interrompue(s) "
                            f"après {limits.cell_timeout:g} s (délai par cellule).")
    if any(out_of_memory(c) for c in nb.cells):
        result.flag("memoire")
        result.notes.append(f"Mémoire épuisée (MemoryError ou « out of memory » de PyTorch) : "
                            f"limite de {limits.memory_mb} Mo.")
    if not result.first_error:
        result.first_error = outputs.first_student_error(nb, limits.cell_timeout)


def _test_evidence(info: dict | None, status: dict) -> str:
    """"" si le noyau a répondu ``ok`` à ce test (une fois) et répond encore après ; sinon pourquoi."""
    if not info:
        return "non exécutée" + (f" ({outputs.short(status['message'])})" if status.get("message")
                                 else "")
    if info.get("replies", 0) > 1:
        return "plusieurs réponses du noyau au même test (réponse fabriquée) : 0 point"
    if info.get("reply") is not None and not info.get("marked"):
        return "réponse du noyau sans la marque du lanceur de notation (machinerie modifiée) : 0 point"
    if info.get("reply") is None or not info.get("alive_after"):
        return "le noyau n'a pas terminé ce test (arrêté ou sans réponse pendant le test)"
    if info["reply"] != "ok":
        return "échec signalé par le noyau"
    return ""


def _score(nb, grade_cells, result: Result, status: dict) -> None:
    from nbgrader.utils import determine_grade

    tests = status.get("tests", {})
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
            result.cells.append(CellResult(gid, 0.0, max_points, False, manual, "cellule absente"))
            continue
        is_test = role(cell) == ROLE_TEST
        if (is_test and gid not in tests) or (
                cell.cell_type == "code" and cell.get("execution_count") is None):
            reason = "non exécutée" + (f" ({outputs.short(status['message'])})"
                                       if status.get("message") else "")
            result.cells.append(CellResult(gid, 0.0, max_points, False, manual, reason))
            continue
        score, _ = determine_grade(cell)
        if manual:
            reason = "sans réponse" if score == 0 else "à corriger à la main"
            result.cells.append(CellResult(gid, 0.0, max_points, score is None, True, reason))
            continue
        score = float(score or 0.0)
        reason = outputs.error_line(cell)
        if is_test:
            info = tests.get(gid) or {}
            missing = _test_evidence(info, status)
            forged = info.get("replies", 0) > 1 or (info.get("reply") is not None
                                                    and not info.get("marked"))
            if missing:
                score, reason = 0.0, missing if forged else (reason or missing)
            if forged:
                result.flag("a_verifier")
                result.review.append(f"{gid} : {missing}")
            if info.get("events"):  # vu par le crochet d'audit pendant le test : note gardée
                result.flag("a_verifier")
                result.review.append(f"pendant {gid} : {', '.join(info['events'])}")
        ok = score >= max_points
        result.cells.append(CellResult(gid, score, max_points, ok, False, "" if ok else reason))


# ----------------------------------------------------------------------------- un dossier

def grade_folder(submissions_dir: str | Path, out_csv: str | Path, workers: int = 2,
                 limits: Limits | None = None, solutions_dir: str | Path | None = SOLUTIONS_DIR,
                 feedback_dir: str | Path | None = None, keep_dir: str | Path | None = None,
                 progress: bool = False, excel: bool = False) -> list[Result]:
    """Note toutes les soumissions de ``submissions_dir`` ; écrit le CSV, les totaux, les retours
    et la liste des fichiers écartés (``<notes>_ecartes.csv`` : fichier, statut, raison).

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
        if sub.rejected:
            results.append(Result(sub, flags=["rejete"], notes=[sub.rejected],
                                  review=[sub.rejected]))
        elif sub.problem:
            results.append(Result(sub, flags=["nom_invalide"], notes=[sub.problem],
                                  review=[sub.problem]))
        elif sub.exercise not in exercises:
            why = f"exercice {sub.exercise} inconnu ; exercices : {', '.join(exercises)}"
            results.append(Result(sub, flags=["exercice_inconnu"], notes=[why], review=[why]))
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

    zygotes = {}
    if limits.sandbox and limits.zygote:
        zygotes = {ex: process.Zygote(contexts[ex].preload, contexts[ex].prefix)
                   for ex in sorted({s.exercise for s in todo})}

    def one(sub: Submission) -> Result:
        res = grade_one(sub, contexts[sub.exercise], limits, Path(keep_dir) if keep_dir else None,
                        zygotes.get(sub.exercise))
        if sub.path in kept_notes:
            res.notes.insert(0, kept_notes[sub.path])
        if progress:
            print(f"{sub.student:<16} {sub.exercise:<8} {res.score:g}/{res.max_score:g} "
                  f"{res.status} ({res.seconds:.1f} s, noyau {res.kernel})", flush=True)
        return res

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results.extend(pool.map(one, todo))
    finally:
        for ex_id, clone in zygotes.items():
            if clone.ready(timeout=0) is None:
                print(f"Exercice {ex_id} : zygote indisponible ({clone.why_not()}) ; rendus notés "
                      "par des noyaux neufs (mêmes notes, plus lentement).", file=sys.stderr)
            clone.stop()

    changed = [str(p) for p, h in hashes.items() if sha256(p) != h]
    if changed:  # ne devrait jamais arriver : on ne fait que lire
        raise RuntimeError(f"Des soumissions ont été modifiées pendant la notation : {changed}")
    results.sort(key=lambda r: (r.submission.student, r.submission.exercise, r.submission.relpath))
    reports.write_csv(results, out_csv, excel=excel)
    reports.write_totals(results, reports.totals_path(out_csv), list(exercises), excel=excel)
    reports.write_feedback(results, feedback_dir, exercises)
    reports.write_rejected(results, reports.rejected_path(out_csv), excel=excel)
    return results


