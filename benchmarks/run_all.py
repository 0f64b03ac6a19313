"""Exécute chaque ``benchmarks/bench_*.py`` et écrit ``benchmarks/RESULTS.md``.

    .venv/bin/python -m benchmarks.run_all                          # tout (= make bench)
    .venv/bin/python -m benchmarks.run_all bench_fisher bench_x     # seulement ces modules

Avec des noms, seules leurs sections sont refaites ; les autres sections du fichier existant
sont gardées telles quelles (chacune porte sa propre date et sa machine). Un module qui échoue
donne une section « ÉCHEC » avec l'erreur, et le code de sortie vaut 1.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
KEYS = ("name", "value", "unit", "detail")
SECTION = re.compile(r"^## `(bench_\w+)`", re.MULTILINE)
HEADER = """# Mesures de coût (benchmarks)

Fichier écrit par `make bench` (`.venv/bin/python -m benchmarks.run_all`) : ne pas l'éditer à la
main. Chaque section dit la commande qui a produit ses chiffres, la machine et la date. Protocole
pour ajouter une mesure : voir `benchmarks/__init__.py`.
"""


def discover() -> list[str]:
    """Les modules ``bench_*.py`` du dossier, triés par nom."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    return (f"{cpu_model()}, {os.cpu_count()} cœurs, torch {torch.__version__} ({build}), "
            f"{torch.get_num_threads()} threads par défaut, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def check_rows(module: str, rows) -> list[dict]:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError(f"{module}.run() doit renvoyer une liste de dict ; reçu {type(rows).__name__}.")
    for r in rows:
        missing = [k for k in KEYS if k not in r]
        if missing:
            raise ValueError(f"{module}.run() : ligne {r!r} sans les clés {missing} (attendu : {KEYS}).")
    return rows


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_section(module: str, rows: list[dict] | None, seconds: float, error: str | None) -> str:
    date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    doc = (importlib.import_module(f"benchmarks.{module}").__doc__ or "").strip().split("\n\n")[0]
    lines = [f"## `{module}`", "", doc.replace("\n", " "), "",
             f"- Commande : `make bench` ou `.venv/bin/python -m benchmarks.{module}`",
             f"- Machine : {machine()}",
             f"- Date : {date} (durée du module : {seconds:.0f} s)", ""]
    if error is not None:
        lines += ["**ÉCHEC** :", "", "```", error.strip(), "```", ""]
        return "\n".join(lines)
    lines += ["| mesure | valeur | unité | conditions |", "|---|---:|---|---|"]
    lines += [f"| {_cell(r['name'])} | {_cell(r['value'])} | {_cell(r['unit'])} | {_cell(r['detail'])} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def existing_sections(text: str) -> dict[str, str]:
    """Sections ``## `bench_x` `` d'un RESULTS.md existant, par nom de module."""
    marks = list(SECTION.finditer(text))
    return {m.group(1): text[m.start(): marks[i + 1].start() if i + 1 < len(marks) else len(text)].rstrip() + "\n"
            for i, m in enumerate(marks)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    available = discover()
    wanted = [a.removeprefix("benchmarks.").removesuffix(".py") for a in argv] or available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        print(f"Modules inconnus : {unknown} ; disponibles : {available}", file=sys.stderr)
        return 2
    sections = existing_sections(RESULTS.read_text()) if argv and RESULTS.exists() else {}
    failed = False
    for module in wanted:
        print(f"# {module} ...", flush=True)
        start = time.perf_counter()
        rows, error = None, None
        try:
            rows = check_rows(module, importlib.import_module(f"benchmarks.{module}").run())
            for r in rows:
                print(f"  {r['name']}: {r['value']} {r['unit']}", flush=True)
        except Exception:  # noqa: BLE001 - une mesure en échec ne doit pas empêcher les autres
            error = traceback.format_exc()
            failed = True
            print(error, file=sys.stderr)
        sections[module] = render_section(module, rows, time.perf_counter() - start, error)
        RESULTS.write_text(HEADER + "\n" + "\n".join(sections[m] for m in sorted(sections)))
    print(f"-> {RESULTS.relative_to(HERE.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
