"""Le paragraphe des durées du README, généré depuis ``benchmarks/RESULTS.md`` (une seule source).

Le paragraphe est entre les marqueurs ``<!-- durées:début -->`` et ``<!-- durées:fin -->`` ; il
reprend la date, la machine et les chiffres des sections ``bench_notebooks`` et
``bench_widgets``. ``make bench`` le régénère quand il mesure sur une machine calme.

    python scripts/readme_timings.py           # récrit README.md
    python scripts/readme_timings.py --check   # code 1 si le README n'est pas à jour

``tests/test_benchmarks.py`` échoue quand le README diffère de ce que produit ce script.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- durées:début -->", "<!-- durées:fin -->"
SECTION = re.compile(r"^## `(bench_\w+)`", re.M)
ROW = re.compile(r"^\| (?P<name>.*?) \| (?P<value>.*?) \| (?P<unit>.*?) \| (?P<detail>.*) \|$", re.M)
META = re.compile(r"^- (Machine|Date) : (.*)$", re.M)


def sections(text: str) -> dict[str, str]:
    marks = list(SECTION.finditer(text))
    return {m.group(1): text[m.start(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
            for i, m in enumerate(marks)}


def fr(x: float, digits: int = 0) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def paragraph(results: str) -> str:
    """Le texte entre les marqueurs, calculé depuis le contenu de RESULTS.md."""
    secs = sections(results)
    if "bench_notebooks" not in secs:
        raise ValueError("RESULTS.md n'a pas de section bench_notebooks : lancez make bench.")
    nb = secs["bench_notebooks"]
    meta = dict(META.findall(nb))
    durations, one_cpu, memory = {}, {}, []
    for r in ROW.finditer(nb):
        name = r["name"]
        m = re.match(r"notebook notebooks/(\d\d)_\S+ : (.*)$", name)
        if not m:
            continue
        key, what = m.group(1), m.group(2)
        if what.startswith("durée (min / médiane / max)"):
            durations[key] = float(r["value"].split(" / ")[1])
        elif what.startswith("durée sur un CPU"):
            one_cpu[key] = float(r["value"])
        elif what.startswith("mémoire de pointe"):
            memory.append(float(r["value"]))
    if not durations:
        raise ValueError("La section bench_notebooks de RESULTS.md n'a pas de durées « min / médiane / max » "
                         "des notebooks de section : relancez make bench.")
    longest = max(durations, key=durations.get)
    text = (f"Chaque notebook de section s'exécute de bout en bout (noyau compris, cache vide) en "
            f"{fr(min(durations.values()))} à {fr(max(durations.values()))} s sur 2 cœurs (médianes de "
            f"plusieurs exécutions ; le plus long : le {longest}, {fr(durations[longest])} s)")
    if one_cpu:
        text += (f", et en {fr(min(one_cpu.values()))} à {fr(max(one_cpu.values()))} s sur un seul CPU "
                 f"(`taskset -c 0`, comme Binder)")
    floor = re.search(r"^\| plancher : processus qui ne fait qu'import torch \| (\d+) \|", nb, re.M)
    if memory:
        text += f" ; mémoire de pointe du noyau : {fr(min(memory))} à {fr(max(memory))} Mo avec le PyTorch de pip"
        if floor:
            text += f" (dont {floor.group(1)} Mo pour le seul `import torch`)"
    text += "."
    widgets = secs.get("bench_widgets")
    if widgets:
        meds = [float(r["value"]) for r in ROW.finditer(widgets) if r["unit"] == "ms (médiane)"]
        worst = [float(x) for x in re.findall(r"max (\d+) ms", widgets)]
        wdate = dict(META.findall(widgets)).get("Date", "?").split(" (")[0]
        if meds:
            text += (f" Chaque contrôle interactif répond en {fr(max(meds))} ms au plus (médiane par contrôle"
                     + (f", pire cas {fr(max(worst))} ms" if worst else "") + f", figure comprise ; mesure du {wdate}).")
    text += (f" Mesures : `make bench`, {meta.get('Date', '?').split(' (')[0]}, {meta.get('Machine', '?')} ; "
             "détails notebook par notebook (cellules les plus lentes) et contrôle par contrôle : "
             "[benchmarks/RESULTS.md](benchmarks/RESULTS.md).")
    return text


def render(readme: str, results: str) -> str:
    if START not in readme or END not in readme:
        raise ValueError(f"README.md doit contenir les marqueurs {START} et {END}.")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{paragraph(results)}\n{END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="vérifie sans écrire")
    args = ap.parse_args(argv)
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    new = render(readme, (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8"))
    if args.check:
        if new != readme:
            print("Le paragraphe des durées du README n'est pas à jour : python scripts/readme_timings.py",
                  file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
