"""La règle des verdicts, les tableaux échappés et le cache des expériences partagées."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from course_lib import cache
from course_lib.evidence import NET, NOT_CLEAR, REVERSED, Statement, compare, say
from course_lib.fr import escape_markdown, md_table
from course_lib.seeds import SeedStats

SEEDS = (0, 1, 2, 3, 4)


def stats(*values, percent=True):
    return SeedStats(tuple(values), SEEDS[: len(values)], percent)


def test_clear_gap_is_net_and_reversed_the_other_way():
    a, b = stats(0.91, 0.93, 0.92, 0.94, 0.92), stats(0.88, 0.90, 0.90, 0.90, 0.89)
    assert compare(a, b).label == NET
    assert compare(b, a).label == REVERSED
    assert compare(a, b, higher_is_better=False).label == REVERSED


def test_hand_computed_mean_and_standard_error():
    v = compare(stats(0.3, 0.5, 0.7), stats(0.0, 0.0, 0.0))
    assert v.diffs == pytest.approx((0.3, 0.5, 0.7))
    assert v.mean == pytest.approx(0.5)
    assert v.se == pytest.approx(0.2 / 3 ** 0.5)      # s_d = 0,2 ; n = 3
    assert v.label == NET                               # 0,5 > 2 × 0,115 et 3/3 graines


def test_noise_or_a_few_lucky_seeds_is_not_clear():
    # moyenne positive mais dispersion énorme
    assert compare(stats(0.9, 0.1, 0.9, 0.1, 0.9), stats(0.5, 0.5, 0.5, 0.5, 0.5)).label == NOT_CLEAR
    # écart moyen net mais porté par une seule graine sur trois
    v = compare(stats(0.50, 0.50, 0.80), stats(0.51, 0.51, 0.50))
    assert v.wins == 1 and v.label == NOT_CLEAR
    # égalité parfaite
    assert compare(stats(0.5, 0.5), stats(0.5, 0.5)).label == NOT_CLEAR


def test_margin_and_constant_threshold():
    a = stats(0.105, 0.104, 0.106)
    assert compare(a, 0.1).label == NET                 # au-dessus du seuil, de peu
    assert compare(a, 0.1, margin=0.01).label == NOT_CLEAR


def test_bad_inputs_are_refused_in_french():
    with pytest.raises(ValueError, match="mêmes graines"):
        compare(stats(0.1, 0.2), SeedStats((0.1, 0.2), (5, 6)))
    with pytest.raises(TypeError, match="SeedStats"):
        compare(0.5, stats(0.1, 0.2))
    with pytest.raises(ValueError, match="margin"):
        compare(stats(0.1, 0.2), stats(0.1, 0.2), margin=-1)
    with pytest.raises(TypeError, match="Verdict"):
        say("x", "net", net="a", pas_net="b", inverse="c")


def test_say_picks_the_sentence_of_the_verdict():
    a, b = stats(0.91, 0.93, 0.92), stats(0.88, 0.90, 0.90)
    for x, y, expected in ((a, b, "A"), (b, a, "C"), (a, a, "B")):
        s = say("id", compare(x, y), net="A", pas_net="B", inverse="C")
        assert isinstance(s, Statement) and str(s) == expected
        assert s._repr_markdown_().startswith(expected) and "verdict" in s._repr_markdown_()


def test_table_cells_with_markdown_characters_stay_in_their_column():
    names = ["magnitude |w|", "Taylor |w·ḡ|", "a*b*", "__x__", "$|w|$"]
    text = md_table(["critère", "précision"], [[n, "97,2 %"] for n in names])
    lines = text.splitlines()
    assert len(lines) == 2 + len(names)
    for line in lines:
        # séparateurs de colonnes : les « | » non précédés d'une barre oblique
        unescaped = [i for i, c in enumerate(line) if c == "|" and (i == 0 or line[i - 1] != "\\")]
        assert len(unescaped) == 3, line
    assert escape_markdown("magnitude |w|") == "magnitude \\|w\\|"
    assert escape_markdown("a*b*") == "a\\*b\\*" and escape_markdown("__x__") == "\\_\\_x\\_\\_"
    assert escape_markdown("$|w|$") == "$\\vert w\\vert $"
    with pytest.raises(ValueError, match="cellules"):
        md_table(["a", "b"], [["1"]])


def test_cache_computes_once_and_keys_on_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path))
    calls = []

    def compute(x):
        calls.append(x)
        return {"x": x}

    assert cache.cached("exp", lambda: compute(1), x=1) == {"x": 1}
    assert cache.cached("exp", lambda: compute(1), x=1) == {"x": 1}
    assert cache.cached("exp", lambda: compute(2), x=2) == {"x": 2}
    assert calls == [1, 2]
    assert len(list(tmp_path.glob("exp-*.pkl"))) == 2 and not list(tmp_path.glob(".tmp-*"))
    # un fichier abîmé est recalculé
    for f in tmp_path.glob("exp-*.pkl"):
        f.write_bytes(b"abime")
    assert cache.cached("exp", lambda: compute(1), x=1) == {"x": 1} and calls == [1, 2, 1]
    monkeypatch.setenv("COURSE_LIB_CACHE", "off")
    assert cache.cached("exp", lambda: compute(1), x=1) == {"x": 1} and calls == [1, 2, 1, 1]


def test_cache_key_changes_with_threads_and_cpu_kernels(tmp_path):
    """Une autre configuration de calcul (fils, noyaux) ne relit jamais le résultat d'une autre."""
    code = "from course_lib import cache; print(cache.cache_key('e', a=1))"
    keys = set()
    for env in ({"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "2"},
                {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"}):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                             text=True, check=True)
        keys.add(out.stdout.strip())
    assert len(keys) == 3


def test_concurrent_writers_leave_a_readable_file(tmp_path):
    code = ("import sys; from course_lib import cache; "
            "r = cache.cached('big', lambda: list(range(200000)), n=1); assert r[-1] == 199999")
    env = {**os.environ, "COURSE_LIB_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(4)]
    assert all(p.wait() == 0 for p in procs)
    assert len(list(tmp_path.glob("big-*.pkl"))) == 1 and not list(tmp_path.glob(".tmp-*"))
