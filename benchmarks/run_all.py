"""Exécute chaque ``benchmarks/bench_*.py`` et écrit ``benchmarks/RESULTS.md``.

    .venv/bin/python -m benchmarks.run_all                          # tout (= make bench)
    .venv/bin/python -m benchmarks.run_all bench_fisher bench_x     # seulement ces modules

    .venv/bin/python -m benchmarks.run_all --compare bench_widgets  # refait, compare, n'écrit rien

``--compare`` : chaque mesure de coût (s, ms, ×, Mo) refaite est comparée à RESULTS.md ; code de
sortie 0 si toutes sont à 20 % près (ou à un pas d'affichage près : 0,02 s contre 0,03 s n'est
qu'un arrondi), 1 sinon, 3 si la machine était occupée (non concluant).

Avec des noms, seules leurs sections sont refaites ; les autres sections du fichier existant
sont gardées telles quelles (chacune porte sa propre date et sa machine). Un module qui échoue
donne une section « ÉCHEC » avec l'erreur, et le code de sortie vaut 1.

Chaque section note la charge moyenne de la machine (``os.getloadavg``) au début du module, et la
part du CPU prise par **d'autres** programmes pendant la mesure (temps CPU de toute la machine,
``/proc/stat``, moins celui du benchmark et de tous ses descendants : ``DescendantCpu`` les relève
dans ``/proc`` pendant la mesure, y compris les noyaux de notation lancés dans ``bwrap`` qu'aucun
``wait`` ne rend au benchmark). Si la machine était occupée
(plus de 20 % du CPU pris par d'autres ; sans ``/proc/stat``, charge de départ > moitié des
cœurs), les chiffres ne sont pas représentatifs : la section va dans
``benchmarks/RESULTS.busy.md`` (ignoré par git) avec un avertissement, ``RESULTS.md`` et le README
ne changent pas. ``--force`` écrit quand même dans ``RESULTS.md``, section marquée « machine
occupée ». Un module qui ne mesure pas de temps (``MEASURES_TIME = False`` : ``bench_claims``, des
verdicts) est écrit quelle que soit la charge. Quand ``bench_notebooks`` est mesuré sur une machine calme, le paragraphe des durées
du README est régénéré depuis ``RESULTS.md`` (``scripts/readme_timings.py``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import re
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
BUSY_RESULTS = HERE / "RESULTS.busy.md"
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


def load() -> float:
    """Charge moyenne sur une minute (0 si le système ne la donne pas)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


class DescendantCpu:
    """Secondes CPU de ce processus et de TOUS ses descendants, relevées dans ``/proc``.

    ``RUSAGE_CHILDREN`` ne compte qu'un enfant attendu (``wait``), avec les descendants que lui-même
    a attendus : un noyau de notation tué avec son ``bwrap``, ou rattaché à ``init``, lui échappe,
    et son CPU passerait pour celui « d'autres programmes ». Ici, un fil relève toutes les
    ``interval`` s le temps CPU (``utime + stime`` de ``/proc/PID/stat``) de chaque processus dont
    la chaîne des parents mène à ce processus ; un processus reconnu une fois reste compté
    (clé : PID et instant de départ), même rattaché à ``init`` ensuite. Ce qui échappe : les
    ``interval`` dernières secondes d'un descendant avant sa fin, et un descendant plus bref que
    ``interval`` (tous deux comptés alors comme « autres » : l'erreur va vers « occupée »).
    """

    def __init__(self, interval: float = 0.25):
        import threading

        self.interval = interval
        self.seen: dict[tuple[int, int], float] = {}  # (pid, départ) -> secondes CPU relevées
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._hz = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> DescendantCpu:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> float:
        """Relève maintenant ; renvoie le total (s) des processus comptés."""
        table = {}
        try:
            entries = list(os.scandir("/proc"))
        except OSError:  # pas de /proc : rien à relever (cpu_snapshot ne mesure rien non plus)
            entries = []
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue  # processus fini entre-temps
            # après « (nom) » : état, ppid (4e champ de stat), ..., utime 14, stime 15, départ 22
            table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / self._hz,
                                      int(fields[19]))
        me = os.getpid()
        with self._lock:
            known = {pid for (pid, start) in self.seen if pid in table and table[pid][2] == start}
            for pid, (_ppid, cpu, start) in table.items():
                key, chain, hops = (pid, start), pid, 0
                mine = key in self.seen
                while not mine and chain in table and hops < 64:
                    mine = chain == me or chain in known
                    chain, hops = table[chain][0], hops + 1
                if mine:
                    self.seen[key] = max(cpu, self.seen.get(key, 0.0))
                    known.add(pid)
            return sum(self.seen.values())


def cpu_snapshot(watch: DescendantCpu | None = None) -> tuple[float, float, float] | None:
    """(secondes CPU occupées de toute la machine, secondes CPU de ce processus et de ses
    descendants, instant) ; ``None`` sans ``/proc/stat``. Les descendants sont ceux du relevé
    ``watch`` en cours, sinon les seuls enfants attendus (``RUSAGE_CHILDREN``)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy = (sum(fields) - fields[3] - fields[4]) / hz          # sans idle ni iowait
    if watch is not None:
        own = watch.sample()
    else:
        own = sum(getattr(resource.getrusage(w), a) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for a in ("ru_utime", "ru_stime"))
    return busy, own, time.monotonic()


def others_share(before, after) -> float | None:
    """Part (0-1) de la capacité CPU de la machine prise par d'autres programmes entre deux instantanés
    (``None`` si on ne peut pas la mesurer)."""
    if before is None or after is None:
        return None
    if after[2] <= before[2]:
        return 0.0
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others) / ((after[2] - before[2]) * (os.cpu_count() or 1))


def is_busy(loads: tuple[float, float | None]) -> bool:
    """Occupée : plus de 20 % du CPU pris par d'autres programmes pendant la mesure.

    La charge moyenne de départ compte aussi les processus du module précédent de ``run_all``
    (elle décroît en une minute environ) : elle ne sert de critère que si la part des autres n'a
    pas pu être mesurée (``loads[1] is None``, sans ``/proc/stat``) — charge > moitié des cœurs.
    """
    if loads[1] is None:
        return loads[0] > (os.cpu_count() or 1) / 2
    return loads[1] > 0.20


def _fr(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def render_section(module: str, rows: list[dict] | None, seconds: float, error: str | None,
                   loads: tuple[float, float | None] = (0.0, None), timed: bool = True) -> str:
    date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    doc = (importlib.import_module(f"benchmarks.{module}").__doc__ or "").strip().split("\n\n")[0]
    lines = [f"## `{module}`", "", doc.replace("\n", " "), "",
             f"- Commande : `make bench` ou `.venv/bin/python -m benchmarks.{module}`",
             f"- Machine : {machine()}",
             f"- Date : {date} (durée du module : {seconds:.0f} s)",
             f"- Charge moyenne (1 min) au début : {_fr(loads[0])} sur {os.cpu_count()} cœurs ; CPU pris par "
             f"d'autres programmes pendant la mesure : "
             f"{'non mesuré' if loads[1] is None else f'{100 * loads[1]:.0f} %'}" + (" (aucune durée mesurée : la charge ne change pas ces chiffres)" if not timed else
                " — **MACHINE OCCUPÉE : chiffres non représentatifs**" if is_busy(loads) else " (machine calme)"), ""]
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


COMPARED_UNITS = ("s", "ms", "×", "Mo")  # mesures de coût comparées par --compare
AGREEMENT = 0.20


def number(value) -> float:
    """La valeur comparée d'une ligne : le nombre, ou la médiane d'un « min / médiane / max »."""
    parts = str(value).split(" / ")
    return float(parts[1] if len(parts) == 3 else parts[0])


def step(value) -> float:
    """Le pas d'affichage d'une valeur (« 0.02 » : 0,01 ; « 93 » : 1) : un écart plus petit n'est
    que l'arrondi, même s'il dépasse 20 % d'une valeur minuscule."""
    text = str(value).split(" / ")[-1]
    return 10.0 ** -len(text.split(".")[1]) if "." in text else 1.0


def recorded_rows(section: str) -> dict[str, tuple[float, str]]:
    """``{mesure: (valeur, unité)}`` du tableau d'une section de RESULTS.md (valeurs numériques)."""
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith(("| mesure", "|---")):
            continue
        cells = [c.replace("\\|", "|").strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4:
            try:
                rows[cells[0]] = (number(cells[1]), cells[2])
            except ValueError:
                pass
    return rows


def compare(module: str, rows: list[dict], section: str | None) -> tuple[list[str], int]:
    """Lignes du rapport « enregistré / maintenant » d'un module, et le nombre de mesures de coût
    (unités ``COMPARED_UNITS``) qui s'écartent de plus de ``AGREEMENT`` de RESULTS.md."""
    if section is None:
        return [f"{module} : pas de section dans RESULTS.md, rien à comparer"], 0
    before = recorded_rows(section)
    lines, off, compared = [], 0, 0
    for r in rows:
        unit = str(r["unit"])
        if r["name"] not in before or unit.split(" ")[0] not in COMPARED_UNITS:
            continue
        old, new = before[r["name"]][0], number(r["value"])
        gap = abs(new - old) / abs(old) if old else (0.0 if new == old else float("inf"))
        apart = gap > AGREEMENT and abs(new - old) > step(r["value"])
        compared += 1
        off += apart
        lines.append(f"  {'ÉCART ' if apart else 'accord'} {r['name']} : {old:g} -> {new:g} {unit} "
                     f"({100 * gap:.0f} %)")
    lines.insert(0, f"{module} : {compared - off}/{compared} mesures à {100 * AGREEMENT:.0f} % près de RESULTS.md")
    return lines, off


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    force = "--force" in argv
    check = "--compare" in argv
    argv = [a for a in argv if a not in ("--force", "--compare")]
    available = discover()
    wanted = [a.removeprefix("benchmarks.").removesuffix(".py") for a in argv] or available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        print(f"Modules inconnus : {unknown} ; disponibles : {available}", file=sys.stderr)
        return 2
    # les sections d'un module qui n'est pas refait (ou refait sur une machine occupée) restent
    sections = {m: t for m, t in (existing_sections(RESULTS.read_text()) if RESULTS.exists() else {}).items()
                if m in available}
    busy_sections = existing_sections(BUSY_RESULTS.read_text()) if BUSY_RESULTS.exists() else {}
    failed, quiet_notebooks, disagree, inconclusive = False, False, False, False
    for module in wanted:
        print(f"# {module} ...", flush=True)
        start = time.perf_counter()
        rows, error = None, None
        with DescendantCpu() as watch:
            start_load, snap = load(), cpu_snapshot(watch)
            try:
                rows = check_rows(module, importlib.import_module(f"benchmarks.{module}").run())
                for r in rows:
                    print(f"  {r['name']}: {r['value']} {r['unit']}", flush=True)
            except Exception:  # noqa: BLE001 - une mesure en échec ne doit pas empêcher les autres
                error = traceback.format_exc()
                failed = True
                print(error, file=sys.stderr)
            loads = (start_load, others_share(snap, cpu_snapshot(watch)))
        timed = getattr(importlib.import_module(f"benchmarks.{module}"), "MEASURES_TIME", True)
        if check:  # rien n'est écrit : on dit seulement si RESULTS.md tient encore
            report, off = compare(module, rows or [], sections.get(module))
            busy = timed and is_busy(loads)
            print("\n".join(report + ([f"  (machine occupée : {100 * (loads[1] or 0):.0f} % du CPU pris par "
                                        "d'autres ; écarts non concluants)"] if busy else [])), flush=True)
            disagree = disagree or (off > 0 and not busy)
            inconclusive = inconclusive or busy
            continue
        section = render_section(module, rows, time.perf_counter() - start, error, loads, timed)
        if timed and is_busy(loads) and not force:
            share = "?" if loads[1] is None else f"{100 * loads[1]:.0f}"
            print(f"!! machine occupée (charge {_fr(loads[0])} sur {os.cpu_count()} cœurs, {share} % "
                  f"du CPU pris par d'autres) : "
                  f"{module} va dans {BUSY_RESULTS.name}, RESULTS.md et le README ne changent pas "
                  "(relancez sur une machine calme, ou --force)", file=sys.stderr, flush=True)
            busy_sections[module] = section
            BUSY_RESULTS.write_text(HEADER + "\n" + "\n".join(busy_sections[m] for m in sorted(busy_sections)))
            continue
        sections[module] = section
        quiet_notebooks |= module in ("bench_notebooks", "bench_widgets") and error is None
        RESULTS.write_text(HEADER + "\n" + "\n".join(sections[m] for m in sorted(sections)))
    if check:
        return 1 if failed or disagree else 3 if inconclusive else 0
    if quiet_notebooks:
        subprocess.run([sys.executable, str(HERE.parent / "scripts" / "readme_timings.py")], check=False)
    print(f"-> {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
