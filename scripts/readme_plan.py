"""Le tableau « Plan du cours » du README, régénéré depuis l'en-tête des notebooks (issue 14).

Une seule source pour les durées : la phrase « Durée estimée : N minutes » de la première
cellule markdown de chaque notebook. Ce script récrit la colonne Durée du README (et les
« (N min) » de la ligne des exercices, dont la durée est la somme), ajoute une ligne pour un
notebook de section qui n'en a pas (son titre sert de description, à compléter), et garde
les descriptions écrites à la main.

    python scripts/readme_plan.py           # récrit README.md
    python scripts/readme_plan.py --check   # code 1 et la différence si le README n'est pas à jour

``tests/test_durations.py`` échoue quand le README diffère de ce que produit ce script.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = re.compile(r"Durée estimée\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*(\d+)\s*min", re.I)
TITLE = re.compile(r"^#\s+(?:\d+\s*[—–-]\s*)?(.+?)\s*$", re.M)
ROW = re.compile(r"^\| \[(?P<name>[^\]]+)\]\((?P<link>[^)]+)\) \| (?P<time>[^|]*?) \| (?P<text>.*) \|$")
EXERCISE_TIME = re.compile(r"(8\.5\.(\d))([^()]*)\((\d+) min\)")


def header(path: Path) -> tuple[int, str]:
    """(durée en minutes, titre) lus dans la première cellule markdown du notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    first = next((c for c in cells if c["cell_type"] == "markdown"), None)
    source = "".join(first["source"]) if first else ""
    m, t = DURATION.search(source), TITLE.search(source)
    if not m:
        raise ValueError(f"{path.name} : la première cellule markdown doit dire « Durée estimée : N minutes » ; "
                         f"reçu : {source[:200]!r}")
    return int(m.group(1)), (t.group(1) if t else path.stem)


def fmt(minutes: int) -> str:
    """« 20 min », « 1 h », « 1 h 25 »."""
    h, m = divmod(minutes, 60)
    if not h:
        return f"{m} min"
    return f"{h} h" + (f" {m:02d}" if m else "")


def sections(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def exercises(root: Path) -> list[Path]:
    return sorted((root / "notebooks" / "exercices").glob("*.ipynb"))


def render(readme: str, root: Path = ROOT) -> str:
    """Le README avec un plan du cours à jour (le reste du texte est inchangé)."""
    lines = readme.split("\n")
    try:
        start = lines.index("## Plan du cours")
    except ValueError:
        raise ValueError("README : section « ## Plan du cours » introuvable") from None
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("| Notebook"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    head, rows = lines[first:first + 2], lines[first + 2:end]

    timed = {p.stem: header(p) for p in sections(root)}
    ex_minutes = [header(p)[0] for p in exercises(root)]
    seen, out = set(), []
    for row in rows:
        m = ROW.match(row)
        if not m:
            raise ValueError(f"README, plan du cours : ligne illisible {row!r}")
        name, text = m.group("name"), m.group("text")
        if name.rstrip("/") == "exercices":
            total = fmt(sum(ex_minutes))
            text = EXERCISE_TIME.sub(
                lambda e: (f"{e.group(1)}{e.group(3)}({ex_minutes[int(e.group(2)) - 1]} min)"
                           if int(e.group(2)) <= len(ex_minutes) else e.group(0)), text)
            missing = [n for n in timed if n not in seen]
            out += [_row(n, timed[n][0], timed[n][1]) for n in missing]
            seen.update(missing)
            out.append(f"| [{name}]({m.group('link')}) | {total} | {text} |")
        elif name in timed:
            seen.add(name)
            out.append(f"| [{name}]({m.group('link')}) | {fmt(timed[name][0])} | {text} |")
        # une ligne dont le notebook n'existe plus disparaît
    out += [_row(n, *timed[n]) for n in timed if n not in seen]
    return "\n".join(lines[:first] + head + out + lines[end:])


def _row(name: str, minutes: int, title: str) -> str:
    return f"| [{name}](notebooks/{name}.ipynb) | {fmt(minutes)} | {title} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="ne rien écrire ; code 1 si le README diffère")
    args = parser.parse_args(argv)
    path = ROOT / "README.md"
    old = path.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        diff = list(difflib.unified_diff(old.split("\n"), new.split("\n"), "README.md", "attendu", lineterm=""))
        print("\n".join(diff) if diff else "README : plan du cours à jour.")
        return 1 if diff else 0
    if new != old:
        path.write_text(new, encoding="utf-8")
        print("README.md : plan du cours régénéré.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
