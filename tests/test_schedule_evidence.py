"""course_lib.experiments.schedule_evidence : une expérience par résultat, la phrase suit le verdict.

Les protocoles eux-mêmes (8 graines) tournent dans les notebooks 05, 07 et 12 sous nbval ; ici, des
résultats fabriqués vérifient le câblage (quelle mesure est comparée à quelle autre, quelle phrase
sort pour chaque verdict) et le partage par le cache, sans rien entraîner.
"""

from __future__ import annotations

import pytest

from course_lib.evidence import NET, NOT_CLEAR, REVERSED
from course_lib.experiments import schedule_evidence as E
from course_lib.seeds import SeedResults, SeedStats

SEEDS = (0, 1, 2, 3)


def _stats(*values):
    return SeedStats(tuple(values), SEEDS)


def _gradual(g95, o95):
    base = _stats(0.9, 0.9, 0.9, 0.9)
    return SeedResults({"one-shot, avant 90\u202f%": _stats(0.5, 0.5, 0.5, 0.5), "one-shot 90\u202f%": base,
                        "graduel 90\u202f%": base, "one-shot, avant 95\u202f%": _stats(0.2, 0.2, 0.2, 0.2),
                        "one-shot 95\u202f%": _stats(*o95), "graduel 95\u202f%": _stats(*g95)})


@pytest.mark.parametrize(("g95", "o95", "label", "words"), [
    ((0.90, 0.91, 0.89, 0.90), (0.80, 0.82, 0.81, 0.80), NET, "graduel finit nettement au-dessus"),
    ((0.80, 0.82, 0.81, 0.80), (0.90, 0.91, 0.89, 0.90), REVERSED, "one-shot finit nettement au-dessus"),
    ((0.80, 0.82, 0.81, 0.80), (0.81, 0.81, 0.80, 0.81), NOT_CLEAR, "on ne peut pas départager"),
])
def test_gradual_sentence_follows_the_verdict(monkeypatch, g95, o95, label, words):
    monkeypatch.setattr(E, "gradual_vs_one_shot_results", lambda seeds=E.GRADUAL_SEEDS: _gradual(g95, o95))
    st = E.say_gradual_vs_one_shot(0.95)
    assert st.claim_id == "graduel-contre-one-shot-95"
    assert next(iter(st.verdicts.values())).label == label
    assert words in st.text and "95\u202f%" in st.text
    # 90 % : les deux méthodes égales, écart nul
    assert next(iter(E.say_gradual_vs_one_shot(0.9).verdicts.values())).label == NOT_CLEAR


def test_gradual_refuses_a_sparsity_that_was_not_measured():
    with pytest.raises(ValueError, match="sparsity doit valoir"):
        E.say_gradual_vs_one_shot(0.8)


def test_sparse_training_sentences_compare_the_right_methods(monkeypatch):
    res = SeedResults({"statique": _stats(0.50, 0.55, 0.52, 0.51), "SET": _stats(0.70, 0.72, 0.71, 0.69),
                       "RigL": _stats(0.71, 0.71, 0.73, 0.69)})
    monkeypatch.setattr(E, "sparse_training_results", lambda seeds=E.SPARSE_SEEDS: res)
    labels = {st.claim_id: next(iter(st.verdicts.values())).label
              for st in (E.say_rigl_vs_static(), E.say_set_vs_static(), E.say_rigl_vs_set())}
    assert labels == {"rigl-contre-statique": NET, "set-contre-statique": NET, "rigl-contre-set": NOT_CLEAR}


def test_a_shared_experiment_is_computed_once_then_read_back(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path))
    monkeypatch.setattr(E, "_MEMO", {})
    calls = []

    def compute():
        calls.append(1)
        return _gradual((0.9,) * 4, (0.8,) * 4)

    first = E._shared("essai", compute, seeds=SEEDS)
    assert E._shared("essai", compute, seeds=SEEDS) is first          # dans le processus
    monkeypatch.setattr(E, "_MEMO", {})
    again = E._shared("essai", compute, seeds=SEEDS)                   # relu du disque
    assert len(calls) == 1 and again["graduel 95\u202f%"] == first["graduel 95\u202f%"]
    E._shared("essai", compute, seeds=(0, 1))                          # autres arguments : recalculé
    assert len(calls) == 2
