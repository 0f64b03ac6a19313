"""Ce que la notation écrit : le CSV par rendu, le CSV des totaux par élève, un retour par élève.

Chaque fichier est écrit d'un coup (fichier temporaire puis ``os.replace``) : une notation
interrompue laisse l'ancien fichier intact.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pas d'import circulaire à l'exécution
    from .exercises import Exercise
    from .grader import Result

CSV_FIELDS = ["student", "exercise", "file", "score", "max_score", "manual_points", "status",
              "failed", "detail"]


def num(x: float) -> str:
    return f"{x:g}"


def num_fr(x: float) -> str:
    return f"{x:g}".replace(".", ",")


def totals_path(out_csv: str | Path) -> Path:
    """``notes.csv`` -> ``notes_totaux.csv``."""
    out_csv = Path(out_csv)
    return out_csv.with_name(f"{out_csv.stem}_totaux{out_csv.suffix or '.csv'}")


def rejected_path(out_csv: str | Path) -> Path:
    """``notes.csv`` -> ``notes_ecartes.csv``."""
    out_csv = Path(out_csv)
    return out_csv.with_name(f"{out_csv.stem}_ecartes{out_csv.suffix or '.csv'}")


REJECTED = ("rejete", "nom_invalide", "exercice_inconnu")


def write_rejected(results: list[Result], path: str | Path, excel: bool = False) -> list[dict]:
    """Les fichiers non notés (rejetés, mal nommés, exercice inconnu) : fichier, statut, raison.
    Écrit même vide (l'enseignant sait alors qu'aucun fichier n'a été écarté) ; renvoie les lignes."""
    rows = [{"file": r.submission.relpath, "status": r.status, "raison": " ".join(r.notes)}
            for r in results if set(r.flags) & set(REJECTED)]
    _atomic_write(Path(path), _csv_text(["file", "status", "raison"], rows, excel), bom=excel)
    return rows


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
    rows = [r.row(num_fr if excel else num) for r in results]
    _atomic_write(Path(path), _csv_text(CSV_FIELDS, rows, excel), bom=excel)


def write_totals(results: list[Result], path: str | Path, exercise_ids: list[str],
                 excel: bool = False) -> None:
    """Un élève par ligne : note de chaque exercice (vide si pas de rendu), total, maximum."""
    fmt = num_fr if excel else num
    graded = [r for r in results if r.cells and r.submission.student and "doublon" not in r.flags]
    maxima = {r.submission.exercise: r.max_score for r in graded}
    rows = []
    for student in sorted({r.submission.student for r in graded}):
        mine = {r.submission.exercise: r for r in graded if r.submission.student == student}
        row = {"student": student}
        for ex_id in exercise_ids:
            row[ex_id] = fmt(mine[ex_id].score) if ex_id in mine else ""
        row["total"] = fmt(sum(r.score for r in mine.values()))
        row["max_total"] = fmt(sum(maxima.get(e, 0.0) for e in exercise_ids))
        row["manual_points"] = fmt(sum(r.manual_points for r in mine.values()))
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
