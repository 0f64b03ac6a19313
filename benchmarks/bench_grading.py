"""Notation d'une classe MÉLANGÉE : ``course-grade`` (bac à sable bwrap) contre
``nbgrader autograde``, sur les mêmes rendus, plusieurs fois.

La classe : ``BENCH_GRADING_STUDENTS`` rendus par exercice (défaut 30, donc 90 rendus), chacun
d'un profil pris à tour de rôle dans ``PROFILES`` (un vrai paquet de copies, pas 90 fois la même) :

- ``solution`` : les cellules-réponses reçoivent le texte des solutions (tout s'exécute) ;
- ``faux`` : une erreur d'élève du catalogue ``tests/wrong_answers`` (s'il est là ; sinon une
  réponse partielle), à tour de rôle ; ``juste`` : une réponse correcte écrite autrement ;
- ``partielle`` : la première cellule-réponse remplie, les autres telles que distribuées ;
- ``vide`` : le notebook distribué ; ``syntaxe`` : la solution avec une erreur de syntaxe ;
- ``attaque`` : réponse vide + ``set_custom_exc`` qui cache les erreurs des tests : exclue de
  l'accord, les notes des deux outils sont rapportées à part.

Mesures, répétées ``BENCH_GRADING_REPEATS`` fois (défaut 3 ; minimum et médiane) :

- ``course-grade`` avec ``BENCH_GRADING_WORKERS`` rendus à la fois (défaut 2 : la machine du cours
  a 2 cœurs ; chaque rendu = un processus + un noyau dans son propre ``bwrap``, cloné du zygote de
  l'exercice, voir ``course_lib/grading/zygote.py``) ; débit total et débit PAR worker (rendus par
  minute divisés par le nombre de workers) ; puis la même chose avec des noyaux neufs
  (``Limits(zygote=False)``) : ce que le zygote apporte ;
- ``nbgrader autograde`` (0.9, ce qu'un enseignant lancerait) dans un cours temporaire ; il note
  un rendu à la fois ;
- plancher : chaque rendu fusionné (tests cachés compris) exécuté par ``nbclient`` seul, un à la
  fois, sans bac à sable ni notation ; ce qu'aucun des deux outils ne peut battre sans partager
  du travail entre rendus (ce que fait le zygote), et ce que l'objectif 3× demande par worker ;
- accord des notes, rendu par rendu, hors attaques : sur tous, et sur les rendus aux notes NON
  triviales (ni 0 ni le maximum), avec le nombre de notes distinctes (un accord sur 90 notes
  identiques ne prouve rien) ;
- surcoût du bac à sable : ``BENCH_GRADING_OVERHEAD_SUBS`` rendus 8.5.3 notés seuls avec puis sans
  bac à sable (médianes ; 0 pour ne pas le mesurer).

    .venv/bin/python -m benchmarks.bench_grading                      # 90 rendus, 3 fois
    BENCH_GRADING_STUDENTS=2 BENCH_GRADING_REPEATS=1 BENCH_GRADING_OVERHEAD_SUBS=0 \\
        .venv/bin/python -m benchmarks.bench_grading                  # essai rapide (6 rendus)
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course_lib.grading import samples
from course_lib.grading.exercises import find_exercises
from course_lib.grading.grader import Limits, grade_folder
from course_lib.grading.nbgrader_course import NbgraderCourse

STUDENTS = int(os.environ.get("BENCH_GRADING_STUDENTS", "30"))
REPEATS = int(os.environ.get("BENCH_GRADING_REPEATS", "3"))
WORKERS = int(os.environ.get("BENCH_GRADING_WORKERS", "2"))
OVERHEAD_SUBS = int(os.environ.get("BENCH_GRADING_OVERHEAD_SUBS", "3"))
# L'ordre compte : une petite classe (essai rapide) a déjà des notes maximales ET partielles.
PROFILES = ["solution", "faux", "vide", "partielle", "syntaxe", "faux", "solution", "juste",
            "attaque", "faux", "solution", "partielle"]
ATTACK = "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n"


def catalogue() -> dict[str, dict[str, list]]:
    """``{exercice: {"faux": [cellules, ...], "juste": [...]}}`` d'après ``tests/wrong_answers``
    (vide si le catalogue n'est pas là)."""
    folder = Path(__file__).resolve().parents[1] / "tests"
    if not (folder / "wrong_answers" / "__init__.py").exists():
        return {}
    sys.path.insert(0, str(folder))
    try:
        from wrong_answers import all_answers
        answers = all_answers()
    except Exception as exc:  # noqa: BLE001 - le banc marche sans catalogue
        print(f"# catalogue tests/wrong_answers illisible ({exc}) : réponses partielles à la place",
              file=sys.stderr)
        return {}
    finally:
        sys.path.remove(str(folder))
    found: dict[str, dict[str, list]] = {}
    for a in answers:
        if a.kind in ("faux", "juste"):
            found.setdefault(a.exercise, {}).setdefault(a.kind, []).append(a.cells)
    return found


def _answer_ids(source) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in source.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]


def _solution_texts(source) -> dict[str, str]:
    return {c.metadata.nbgrader["grade_id"]: c.source for c in source.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}


def make_class(folder: Path, students: int = STUDENTS) -> dict:
    """Écrit la classe dans ``folder`` ; renvoie ``{(élève, exercice): (profil, notebook)}``."""
    wrong = catalogue()
    made: dict = {}
    for ex_id, ex in find_exercises().items():
        source = nbformat.read(ex.source, as_version=4)
        ids, texts = _answer_ids(source), _solution_texts(source)
        counters = {"faux": 0, "juste": 0}
        for i in range(students):
            profile = PROFILES[i % len(PROFILES)]
            if profile in ("faux", "juste") and wrong.get(ex_id, {}).get(profile):
                pool = wrong[ex_id][profile]
                nb = samples.filled(source, pool[counters[profile] % len(pool)])
                counters[profile] += 1
            elif profile == "juste":
                profile, nb = "solution", samples.filled(source)
            elif profile in ("faux", "partielle"):
                nb = samples.filled(source, {g: texts[g] for g in ids[:max(1, len(ids) // 2)]})
                if len(ids) == 1:  # une seule cellule-réponse : la remplir, c'est tout faire
                    nb = samples.filled(source, {ids[0]: texts[ids[0]].replace(
                        "return", "return None and", 1)})
                profile = "partielle"
            elif profile == "vide":
                nb = samples.untouched(source)
            elif profile == "syntaxe":
                nb = samples.filled(source, {ids[0]: texts[ids[0]] + "\ndef oubli(:\n    pass\n"})
            elif profile == "attaque":
                released = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
                            for c in samples.untouched(source).cells}
                nb = samples.filled(source, {ids[0]: ATTACK + released[ids[0]]})
            else:
                nb = samples.filled(source)
            student = f"eleve{i:02d}"
            made[(student, ex_id)] = (profile, nb)
            nbformat.write(nb, folder / f"{student}_{ex_id}.ipynb")
    return made


def course_grade(folder: Path, out: Path, workers: int, sandbox: bool = True, zygote: bool = True):
    start = time.perf_counter()
    results = grade_folder(folder, out, workers=workers,
                           limits=Limits(cell_timeout=300, sandbox=sandbox, zygote=zygote))
    return time.perf_counter() - start, results


def nbgrader_autograde(tmp: Path, nbs: dict) -> tuple[float, dict]:
    """Durée de ``nbgrader autograde`` seul, et ses notes ``{(élève, exercice): score}``."""
    course = NbgraderCourse(tmp, timeout=300)
    course.generate()
    course.submit(nbs)
    wall = course.autograde()
    return wall, course.scores()


def floor(made: dict, folder: Path) -> float:
    """Durée (s) de la seule exécution des rendus, un à la fois : chaque notebook fusionné (tests
    cachés compris, comme le notent les deux outils) passe dans ``nbclient`` avec un noyau neuf,
    sans bac à sable, sans notation ni rapport. Ni nbgrader ni un worker de course-grade ne
    peuvent noter un rendu plus vite sans partager du travail entre rendus."""
    from nbclient import NotebookClient

    from course_lib.grading.generate import make_student_notebook
    from course_lib.grading.prepare import merge

    exercises = find_exercises()
    sources = {ex_id: nbformat.read(ex.source, as_version=4) for ex_id, ex in exercises.items()}
    releases = {ex_id: make_student_notebook(src) for ex_id, src in sources.items()}
    work = folder / "floor"
    work.mkdir(parents=True)
    start = time.perf_counter()
    for (_student, ex_id), (_profile, nb) in made.items():
        merged = merge(nb, sources[ex_id], releases[ex_id]).nb
        NotebookClient(merged, timeout=300, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
    return time.perf_counter() - start


def sandbox_overhead(tmp: Path, n: int) -> tuple[float, float]:
    """Médianes (s) d'un rendu 8.5.3 noté seul, avec et sans bac à sable."""
    folder = tmp / "overhead"
    folder.mkdir()
    ex = find_exercises()["8.5.3"]
    nbformat.write(samples.filled(nbformat.read(ex.source, as_version=4)), folder / "a_8.5.3.ipynb")
    times = {True: [], False: []}
    for _ in range(n):
        for box in (True, False):
            _, results = course_grade(folder, tmp / f"o{box}.csv", 1, sandbox=box)
            times[box].append(results[0].seconds)
    return statistics.median(times[True]), statistics.median(times[False])


def agreement(made: dict, ours: dict, theirs: dict, maxima: dict) -> dict:
    """Accord rendu par rendu (hors attaques), sur tous et sur les notes non triviales."""
    keys = [k for k, (profile, _) in made.items() if profile != "attaque"]
    same = [k for k in keys if abs(ours.get(k, -1) - theirs.get(k, -2)) < 1e-9]
    nontrivial = [k for k in keys if 0 < theirs.get(k, 0) < maxima[k[1]]]
    attacks = {k: (ours.get(k), theirs.get(k)) for k, (profile, _) in made.items()
               if profile == "attaque"}
    return {"n": len(keys), "same": len(same), "nontrivial": len(nontrivial),
            "same_nontrivial": len([k for k in nontrivial if k in same]),
            "distinct": len({theirs.get(k) for k in keys}),
            "differ": sorted(set(keys) - set(same)), "attacks": attacks}


def measure(students: int = STUDENTS, workers: int = WORKERS, repeats: int = REPEATS) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        folder = tmp / "subs"
        folder.mkdir()
        made = make_class(folder, students)
        ours_walls, fresh_walls, theirs_walls = [], [], []
        for r in range(repeats):
            wall, results = course_grade(folder, tmp / f"grades{r}.csv", workers)
            ours_walls.append(wall)
            print(f"# course-grade ({workers} workers) : {wall:.1f} s", file=sys.stderr, flush=True)
            wall, _ = course_grade(folder, tmp / f"fresh{r}.csv", workers, zygote=False)
            fresh_walls.append(wall)
            print(f"# course-grade, noyaux neufs : {wall:.1f} s", file=sys.stderr, flush=True)
        rows = list(csv.DictReader((tmp / "grades0.csv").open(encoding="utf-8")))
        ours = {(row["student"], row["exercise"]): float(row["score"]) for row in rows}
        fresh_rows = csv.DictReader((tmp / "fresh0.csv").open(encoding="utf-8"))
        fresh = {(row["student"], row["exercise"]): float(row["score"]) for row in fresh_rows}
        maxima = {row["exercise"]: float(row["max_score"]) for row in rows}
        for r in range(repeats):
            wall, theirs = nbgrader_autograde(tmp / f"nbgrader{r}",
                                              {k: nb for k, (_, nb) in made.items()})
            theirs_walls.append(wall)
            print(f"# nbgrader autograde : {wall:.1f} s", file=sys.stderr, flush=True)
        floors = []
        for r in range(repeats):
            floors.append(floor(made, tmp / f"floor{r}"))
            print(f"# plancher (nbclient seul) : {floors[-1]:.1f} s", file=sys.stderr, flush=True)
        with_box = without_box = float("nan")
        if OVERHEAD_SUBS > 0:
            with_box, without_box = sandbox_overhead(tmp, OVERHEAD_SUBS)
    profiles = {}
    for profile, _ in made.values():
        profiles[profile] = profiles.get(profile, 0) + 1
    per_ex = {ex_id: statistics.median(r.seconds for r in results if r.submission.exercise == ex_id)
              for ex_id in find_exercises()}
    kernels: dict[str, int] = {}
    for r in results:
        if r.kernel:
            kernels[r.kernel] = kernels.get(r.kernel, 0) + 1
    return {"ours": ours_walls, "fresh": fresh_walls, "nbgrader": theirs_walls, "floor": floors,
            "n": len(made), "workers": workers, "kernels": kernels,
            "same_as_fresh": sum(ours.get(k) == fresh.get(k) for k in ours), "graded": len(ours),
            "agree": agreement(made, ours, theirs, maxima), "profiles": profiles,
            "per_exercise": per_ex, "with_box": with_box, "without_box": without_box,
            "cpus": os.cpu_count()}


def _fr(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def _spread(values: list[float]) -> str:
    return f"min {_fr(min(values))} s, médiane {_fr(statistics.median(values))} s sur {len(values)}"


def run() -> list[dict]:
    m = measure()
    a, n, w = m["agree"], m["n"], m["workers"]
    mix = ", ".join(f"{k} {v}" for k, v in sorted(m["profiles"].items()))
    where = f"{n} rendus ({STUDENTS} par exercice : {mix}), {m['cpus']} CPU, bac à sable actif"
    ours, theirs, base = min(m["ours"]), min(m["nbgrader"]), min(m["floor"])
    ratio = theirs / ours
    per_worker = ratio / w
    agree = (f"mêmes notes que nbgrader : {a['same']}/{a['n']} rendus (hors attaques), dont "
             f"{a['same_nontrivial']}/{a['nontrivial']} aux notes ni nulles ni maximales ; "
             f"{a['distinct']} notes distinctes")
    if a["differ"]:
        agree += f" ; différents : {', '.join(f'{s} {e}' for s, e in a['differ'][:6])}"
    attacks = "; ".join(f"{s} {e} : course-grade {o:g}, nbgrader {t:g}"
                        for (s, e), (o, t) in sorted(a["attacks"].items()) if o is not None
                        and t is not None)
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(m["kernels"].items()))
    fresh = min(m["fresh"])
    rows = [
        {"name": f"course-grade, classe mélangée (workers={w})", "value": round(ours, 1),
         "unit": "s", "detail": f"{_spread(m['ours'])} ; {where} ; noyaux : {kinds}"},
        {"name": f"course-grade, noyaux neufs (workers={w})", "value": round(fresh, 1),
         "unit": "s", "detail": f"{_spread(m['fresh'])} ; sans zygote (Limits(zygote=False)) ; "
                                f"mêmes notes qu'avec zygote : {m['same_as_fresh']}/{m['graded']}"},
        {"name": "apport du zygote (noyaux neufs / clonés)", "value": round(fresh / ours, 2),
         "unit": "×", "detail": "minimums ; PyTorch, ipykernel et la première cellule de "
                                "l'exercice chargés une fois au lieu d'une fois par rendu"},
        {"name": "nbgrader autograde, même classe", "value": round(theirs, 1), "unit": "s",
         "detail": f"{_spread(m['nbgrader'])} ; un rendu à la fois (nbgrader 0.9)"},
        {"name": "débit course-grade / nbgrader", "value": round(ratio, 2), "unit": "×",
         "detail": f"minimums ; objectif ≥ 3 : {'atteint' if ratio >= 3 else 'NON atteint'}"},
        {"name": "débit par worker course-grade / nbgrader", "value": round(per_worker, 2),
         "unit": "×", "detail": f"rapport divisé par {w} workers (nbgrader n'en a qu'un)"},
        {"name": "plancher : exécuter les rendus un par un", "value": round(base, 1), "unit": "s",
         "detail": f"{_spread(m['floor'])} ; nbclient, noyau neuf par rendu, tests cachés compris, "
                   "sans bac à sable ni notation"},
        {"name": "nbgrader / plancher", "value": round(theirs / base, 2), "unit": "×",
         "detail": "ce que nbgrader ajoute à la seule exécution"},
        {"name": "course-grade par worker / plancher", "value": round(ours * w / base, 2), "unit": "×",
         "detail": f"durée × {w} workers / plancher : ce qu'un worker ajoute (bac à sable, notation)"},
        {"name": "objectif 3× : durée par worker permise / plancher", "value": round(theirs / 3 * w / base, 2),
         "unit": "×", "detail": (
             f"3× nbgrader avec {w} workers = au plus {_fr(theirs / 3)} s, soit {_fr(theirs / 3 * w / base, 2)} × le "
             "plancher par worker : " + ("atteignable en notant plus vite qu'on n'exécute"
                                         if theirs / 3 * w / base >= 1 else
                                         "sous le plancher : il faut partager entre rendus le travail "
                                         "commun (le zygote le fait)"))},
        {"name": "course-grade : débit par worker", "value": round(n / ours * 60 / w, 1),
         "unit": "rendus/min", "detail": f"total {_fr(n / ours * 60)} rendus/min ; {where}"},
        {"name": "accord avec nbgrader (notes non triviales)", "value": a["same_nontrivial"],
         "unit": f"/ {a['nontrivial']}", "detail": agree},
    ]
    if attacks:
        rows.append({"name": "attaques (exclues de l'accord)", "value": len(a["attacks"]),
                     "unit": "rendus", "detail": attacks})
    if OVERHEAD_SUBS > 0:
        rows.append({"name": "surcoût du bac à sable par rendu",
                     "value": round(m["with_box"] - m["without_box"], 2), "unit": "s",
                     "detail": f"8.5.3 noté seul, médiane de {OVERHEAD_SUBS} : "
                               f"{_fr(m['with_box'])} s avec bwrap, {_fr(m['without_box'])} s sans"})
    for ex_id, sec in m["per_exercise"].items():
        rows.append({"name": f"course-grade : un rendu {ex_id} (médiane)", "value": round(sec, 1),
                     "unit": "s", "detail": "processus + noyau cloné (bwrap) + exécution + notation, "
                     f"{w} en parallèle, classe mélangée"})
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
