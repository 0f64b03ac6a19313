"""Les benchmarks disent la vérité : machine occupée signalée, README tiré de RESULTS.md, verdicts lus."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT))  # benchmarks/ est un paquet du dépôt, pas du cours installé
from benchmarks import run_all  # noqa: E402
from benchmarks._notebooks import Run, shift_seeds  # noqa: E402
from benchmarks.bench_claims import verdicts  # noqa: E402

_spec = importlib.util.spec_from_file_location("readme_timings", ROOT / "scripts" / "readme_timings.py")
readme_timings = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_timings)


def test_share_of_cpu_taken_by_other_programs():
    # 10 s sur 2 cœurs = 20 s CPU ; la machine en a consommé 12, dont 4 par le benchmark
    before, after = (100.0, 1.0, 0.0), (112.0, 5.0, 10.0)
    assert run_all.others_share(before, after) == pytest.approx(8 / 20 if run_all.os.cpu_count() == 2
                                                               else 8 / (10 * run_all.os.cpu_count()))
    assert run_all.others_share(None, after) is None
    assert run_all.is_busy((0.1, 0.5)) and not run_all.is_busy((0.1, 0.05))
    # la charge de départ (qui compte le module précédent) ne décide que sans /proc/stat
    assert not run_all.is_busy((1.5, 0.0)) and run_all.is_busy((99.0, None))
    assert not run_all.is_busy((0.2, None))


def test_cpu_of_descendants_that_escape_wait_is_ours(tmp_path):
    """Un petit-enfant qui brûle 1 s de CPU après la mort (SIGKILL) de son parent : ``wait`` ne le
    rend jamais (``RUSAGE_CHILDREN`` l'ignore, comme un noyau tué avec son ``bwrap``), le relevé
    ``DescendantCpu`` le compte comme le nôtre."""
    import resource
    import subprocess
    import sys
    import time

    burn = "import time\nwhile time.process_time() < 1.0:\n    pass\n"
    parent = (f"import os, subprocess, sys, time\n"
              f"p = subprocess.Popen([sys.executable, '-c', {burn!r}])\n"
              f"open({str(tmp_path / 'pid')!r}, 'w').write(str(p.pid))\n"
              "time.sleep(0.6)\nos.kill(os.getpid(), 9)\n")

    def cpu(who) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    children, me = cpu(resource.RUSAGE_CHILDREN), cpu(resource.RUSAGE_SELF)
    with run_all.DescendantCpu(interval=0.05) as watch:
        start = watch.sample()
        subprocess.run([sys.executable, "-c", parent], check=False)
        grandchild = int((tmp_path / "pid").read_text())
        while Path(f"/proc/{grandchild}").exists():  # rattaché à init, qui l'attendra
            time.sleep(0.02)
        descendants = watch.sample() - start - (cpu(resource.RUSAGE_SELF) - me)
    assert cpu(resource.RUSAGE_CHILDREN) - children < 0.7  # le parent seul : le petit-enfant échappe à wait
    assert 0.9 <= descendants < 2.0, descendants  # 1 s (moins un relevé) + le parent


def _fake_benchmarks(tmp_path, monkeypatch, busy: bool):
    monkeypatch.setattr(run_all, "RESULTS", tmp_path / "RESULTS.md")
    monkeypatch.setattr(run_all, "BUSY_RESULTS", tmp_path / "RESULTS.busy.md")
    monkeypatch.setattr(run_all, "discover", lambda: ["bench_fisher"])
    module = type("M", (), {"run": staticmethod(lambda: [{"name": "x", "value": 1, "unit": "s", "detail": ""}]),
                            "__doc__": "Faux."})
    monkeypatch.setattr(run_all.importlib, "import_module", lambda name: module)
    monkeypatch.setattr(run_all, "machine", lambda: "machine de test")
    monkeypatch.setattr(run_all, "load", lambda: 0.0)
    monkeypatch.setattr(run_all, "cpu_snapshot", lambda watch=None: None)
    monkeypatch.setattr(run_all, "others_share", lambda before, after: 0.6 if busy else 0.0)


def test_a_busy_machine_does_not_overwrite_the_results(tmp_path, monkeypatch, capsys):
    _fake_benchmarks(tmp_path, monkeypatch, busy=False)
    assert run_all.main([]) == 0
    quiet = (tmp_path / "RESULTS.md").read_text()
    assert "machine calme" in quiet
    _fake_benchmarks(tmp_path, monkeypatch, busy=True)
    assert run_all.main([]) == 0
    assert (tmp_path / "RESULTS.md").read_text() == quiet                 # inchangé
    busy = (tmp_path / "RESULTS.busy.md").read_text()
    assert "MACHINE OCCUPÉE" in busy and "machine occupée" in capsys.readouterr().err
    assert run_all.main(["--force"]) == 0                                 # forcé : écrit, mais marqué
    assert "MACHINE OCCUPÉE" in (tmp_path / "RESULTS.md").read_text()


def test_readme_timing_paragraph_is_generated_from_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    assert readme_timings.render(readme, results) == readme, (
        "README pas à jour : python scripts/readme_timings.py (après make bench sur une machine calme)")


def test_readme_paragraph_reads_the_medians():
    results = """## `bench_notebooks`

- Machine : M
- Date : 2026-12-06 09:00 UTC (durée du module : 1 s)

| mesure | valeur | unité | conditions |
|---|---:|---|---|
| notebook notebooks/00_a.ipynb : durée (min / médiane / max) | 4.0 / 5.0 / 9.0 | s | x |
| notebook notebooks/12_b.ipynb : durée (min / médiane / max) | 20.0 / 21.0 / 22.0 | s | x |
| notebook notebooks/12_b.ipynb : durée sur un CPU (taskset -c 0) | 35.0 | s | x |
| notebook notebooks/12_b.ipynb : mémoire de pointe | 900 | Mo | x |
"""
    text = readme_timings.paragraph(results)
    assert "5 à 21 s" in text and "le 12, 21 s" in text and "35 à 35 s" in text and "2026-12-06 09:00 UTC" in text
    with pytest.raises(ValueError, match="make bench"):
        readme_timings.paragraph("## `bench_notebooks`\n\n| notebook notebooks/00_a.ipynb : durée | 13.0 | s | x |\n")


def test_seed_shift_and_verdict_reading():
    nb = {"cells": [{"cell_type": "code", "source": "SEEDS = tuple(range(5))  # graines\nx = 1", "metadata": {}}]}
    patched = shift_seeds(100)(json.loads(json.dumps(nb)))
    ns = {}
    exec(patched["cells"][0]["source"], ns)
    assert ns["SEEDS"] == (100, 101, 102, 103, 104)
    executed = {"cells": [
        {"cell_type": "code", "metadata": {"claims": ["a"]}, "outputs": [
            {"output_type": "display_data", "data": {"text/markdown": "A.\n\n<small>mesure : écart, verdict : pas net</small>"}}]},
        {"cell_type": "code", "metadata": {"claims": ["b"]}, "outputs": []},
        {"cell_type": "code", "metadata": {"claims": ["c"]}, "outputs": [{"output_type": "error", "ename": "E"}]},
        {"cell_type": "code", "metadata": {"claims": ["d", "e"]}, "outputs": [
            {"output_type": "display_data", "data": {"text/markdown": "<small>x : verdict : net</small>"}},
            {"output_type": "display_data", "data": {"text/markdown": "<small>y : verdict : inversé</small>"}}]},
    ]}
    assert verdicts(Run(ROOT, 0.0, 0.0, 0, executed)) == {"a": "pas net", "b": "ok", "c": "ÉCHEC", "d": "net",
                                                          "e": "inversé"}


def test_kernel_peak_is_read_from_the_added_cell_and_judged():
    from benchmarks._notebooks import _PEAK_CELL, _read_peak, _with_peak_cell, _without_peak_cell
    from benchmarks.bench_notebooks import memory_row

    nb = {"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []}]}
    added = _with_peak_cell(nb)
    assert len(added["cells"]) == 2 and len(nb["cells"]) == 1  # la copie seule change
    ns = {}
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(_PEAK_CELL, ns)  # la cellule tourne vraiment et imprime la pointe de ce processus
    peak_cell = added["cells"][-1]
    executed = {"cells": [nb["cells"][0], {**peak_cell, "outputs": [{"output_type": "stream", "text": buf.getvalue()}]}]}
    peak = _read_peak(executed)
    assert peak is not None and peak > 1
    assert _without_peak_cell(executed)["cells"] == nb["cells"]
    assert _read_peak({"cells": nb["cells"]}) is None  # cellule absente : pas de chiffre inventé
    fake = {"cells": [{**peak_cell, "outputs": [{"output_type": "stream", "text": "course-bench-vmhwm-kb 1153434\n"}]}]}
    over = Run(ROOT, 1.0, 900.0, 0, {}, _read_peak(fake))
    under = Run(ROOT, 1.0, 1100.0, 0, {}, 800.0)
    assert "NON atteint" in memory_row("x", [under, over], "torch")["detail"]
    row = memory_row("x", [under], "torch")
    assert row["value"] == 800 and "objectif ≤ 1 024 Mo : atteint" in row["detail"] and "1100 Mo" in row["detail"]
    assert memory_row("x", [Run(ROOT, 1.0, 900.0, 1, {}, None)], "torch")["value"] == "non mesurée"


def test_compare_reports_each_cost_against_results_md():
    """``--compare`` : une mesure de coût à plus de 20 % de RESULTS.md est un écart ; les
    mesures qui ne sont pas des coûts (comptes, notes) ne sont pas comparées."""
    section = ("## `bench_x`\n\n| mesure | valeur | unité | conditions |\n|---|---:|---|---|\n"
               "| a \\| b | 10.0 | s | x |\n| lat | 50 | ms (médiane) | y |\n| accord | 4 | / 4 | z |\n"
               "| nb | 12.1 / 12.5 / 14.0 | s | w |\n")
    assert run_all.recorded_rows(section) == {"a | b": (10.0, "s"), "lat": (50.0, "ms (médiane)"),
                                              "accord": (4.0, "/ 4"), "nb": (12.5, "s")}
    rows = [{"name": "a | b", "value": 11.9, "unit": "s"}, {"name": "lat", "value": 61, "unit": "ms (médiane)"},
            {"name": "accord", "value": 1, "unit": "/ 4"}, {"name": "nouvelle", "value": 3, "unit": "s"},
            {"name": "nb", "value": "11.0 / 14.0 / 20.0", "unit": "s"}]  # médianes : 12,5 -> 14 (12 %)
    report, off = run_all.compare("bench_x", rows, section)
    assert off == 1 and report[0] == "bench_x : 2/3 mesures à 20 % près de RESULTS.md", report
    assert any(line.startswith("  ÉCART  lat") for line in report), report
    assert run_all.compare("bench_x", rows, None)[1] == 0
    tiny = "| mesure | valeur | unité | c |\n|---|---:|---|---|\n| q | 0.02 | s | z |\n| r | 0 | ms | z |\n"
    same = [{"name": "q", "value": 0.03, "unit": "s"}, {"name": "r", "value": 1, "unit": "ms"}]
    assert run_all.compare("bench_x", same, tiny)[1] == 0  # un pas d'affichage : l'arrondi
    assert run_all.compare("bench_x", [{"name": "q", "value": 0.05, "unit": "s"}], tiny)[1] == 1
