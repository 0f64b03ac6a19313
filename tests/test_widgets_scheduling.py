"""Widgets des notebooks 05 à 10 : chaque contrôle change vraiment le résultat."""

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from conftest import param_snapshot  # noqa: E402

from course_lib.schedules import cubic_schedule, linear_schedule  # noqa: E402
from course_lib.scheduling import compare_pruning_criteria  # noqa: E402
from course_lib.widgets import scheduling as W  # noqa: E402


def _unchanged(model, before):
    return all(torch.equal(p, before[n]) for n, p in model.named_parameters())


# ----------------------------------------------------------------------------- 05

def test_schedule_points_follow_the_library_functions():
    t, s = W.schedule_points("cubic", 0.8, 4, start_step=3, frequency=2, total_steps=20)
    assert list(t) == list(range(21))
    assert s.tolist() == [cubic_schedule(int(i), 0.8, 3, 4, 2) for i in t]
    _, lin = W.schedule_points("linear", 0.8, 4, start_step=3, frequency=2, total_steps=20)
    assert lin.tolist() == [linear_schedule(int(i), 0.8, 3, 4, 2) for i in t]
    with pytest.raises(ValueError, match="cubic"):
        W.schedule_points("exp", 0.8, 4)


def test_compounded_sparsity_falls_short_of_the_target():
    assert W.compounded_sparsity(0.9, 1) == pytest.approx(0.9)
    assert W.compounded_sparsity(0.9, 10) == pytest.approx(1 - 0.91**10)
    assert W.compounded_sparsity(0.9, 10) < 0.9
    with pytest.raises(ValueError, match="target"):
        W.compounded_sparsity(1.2, 3)
    with pytest.raises(ValueError, match="n_rounds"):
        W.compounded_sparsity(0.5, 0)


def test_schedule_demo_controls(record_property):
    demo = W.schedule_demo(final_sparsity=0.9, n_steps=10)
    first = demo.last_result
    assert first["levels"][-1] == pytest.approx(0.9) and len(first["levels"]) == 11
    # cubique : les premiers élagages retirent le plus
    assert all(a >= b for a, b in zip(first["increments"], first["increments"][1:], strict=False))
    demo.control.value = 0.94
    assert demo.last_result["levels"][-1] == pytest.approx(0.94)
    record_property("latency_05_target", demo.last_latency)
    demo.controls[1].value = "linear"
    inc = demo.last_result["increments"]
    assert inc == pytest.approx([0.094] * 10)
    demo.controls[2].value = 4
    assert len(demo.last_result["levels"]) == 5 and demo.last_result["levels"][-1] == pytest.approx(0.94)


def test_schedule_demo_title_names_the_steps_where_the_curve_rises():
    demo = W.schedule_demo(final_sparsity=0.9, n_steps=10, start_step=100, frequency=50)
    r = demo.last_result
    # au pas t0 le calendrier vaut s_i = 0 : le premier élagage tombe à t0 + Δt, le dernier à t0 + nΔt
    assert r["jumps"] == list(range(150, 601, 50))
    assert "10 élagages, de t = 150 à t = 600" in r["title"] and "t₀ = 100" in r["title"]
    demo.controls[2].value = 3
    assert demo.last_result["jumps"] == [150, 200, 250]
    assert "3 élagages, de t = 150 à t = 250" in demo.last_result["title"]


# ----------------------------------------------------------------------------- 06

@pytest.fixture(scope="module")
def polishing(setup):
    data, model = setup
    before = param_snapshot(model)
    traj = W.polishing_trajectories(model, data, sparsity=0.9, n_epochs=2)
    assert _unchanged(model, before)
    return traj


def test_polishing_held_masks_keep_pruned_weights_at_zero(polishing):
    assert polishing["n_pruned"] > 0
    assert len(polishing["held"]) == len(polishing["naive"]) > 0
    assert all(r["revived"] == 0 and r["momentum"] == 0 for r in polishing["held"])
    # naïf : le momentum fait revivre des poids élagués entre deux ré-applications
    assert max(r["revived"] for r in polishing["naive"]) > 0
    assert max(r["momentum"] for r in polishing["naive"]) > 0
    # le réseau « tenu » est toujours le réseau élagué : ses deux précisions coïncident
    assert all(r["acc"] == r["acc_masked"] for r in polishing["held"])
    # naïf : le réseau qui s'entraîne est moins creux que ses masques
    n_pruned, n_weights = polishing["n_pruned"], polishing["n_weights"]
    assert 0.85 < n_pruned / n_weights < 0.95
    assert min(n_pruned - r["revived"] for r in polishing["naive"]) < n_pruned
    # dès la 2e époque, les poids déjà repartis repartent au premier pas (momentum gardé)
    first_of_epoch2 = next(r for r in polishing["naive"] if r["epoch"] == 1)
    last_of_epoch1 = [r for r in polishing["naive"] if r["epoch"] == 0][-1]
    assert first_of_epoch2["revived"] >= last_of_epoch1["revived"]


def test_polishing_demo_slider(setup, polishing, record_property):
    data, model = setup
    demo = W.polishing_demo(model, data, trajectories=polishing)
    assert demo.last_result["step"] == 1
    demo.control.value = demo.control.max
    res = demo.last_result
    assert res["step"] == demo.control.max
    assert res["naive"] == polishing["naive"][-1] and res["held"] == polishing["held"][-1]
    record_property("latency_06_step", demo.last_latency)


def test_polishing_demo_prints_french_numbers(setup, polishing, capsys):
    data, model = setup
    W.polishing_demo(model, data, trajectories=polishing)
    out = capsys.readouterr().out  # hors d'un noyau, le texte du rendu sort sur la sortie standard
    assert "sparsité du réseau qui s'entraîne" in out
    assert not any(c.isdigit() and d == "." and e.isdigit() for c, d, e in zip(out, out[1:], out[2:], strict=False))


# ----------------------------------------------------------------------------- 07

@pytest.fixture(scope="module")
def regrowth(setup):
    data, model = setup
    before = param_snapshot(model)
    traj = W.regrowth_trajectories(model, data, sparsity=0.9, regrow_fraction=0.3, n_updates=3)
    assert _unchanged(model, before)
    return traj


def test_regrowth_keeps_per_layer_counts_and_changes_the_mask(regrowth):
    assert set(regrowth) == {"statique", "set", "rigl"}
    for method, records in regrowth.items():
        assert len(records) == 4
        first = records[0]["active"]
        for r in records:
            assert r["active"] == first, method  # chaque couche garde son nombre de poids actifs
            assert r["sparsity"] == pytest.approx(records[0]["sparsity"])
    assert all(r["changed"] == 0 for r in regrowth["statique"])
    for method in ("set", "rigl"):
        assert regrowth[method][-1]["changed"] > 0
        grown = regrowth[method][0]["grown"]
        assert sum(grown.values()) > 0
        # f(0) = 0,3 ; comptes tirés de la taille de chaque couche
        for n, active in regrowth[method][0]["active"].items():
            assert grown[n] == round(0.3 * active)
            assert regrowth[method][0]["new"][n] <= grown[n]  # des poids juste retirés peuvent revenir
    # la fraction échangée décroît (cosinus de RigL)
    fractions = [r["fraction"] for r in regrowth["rigl"][:-1]]
    assert fractions == sorted(fractions, reverse=True) and fractions[0] == pytest.approx(0.3)


def test_regrowth_demo_slider(setup, regrowth, record_property):
    data, model = setup
    demo = W.regrowth_demo(model, data, trajectories=regrowth)
    last = len(regrowth["rigl"]) - 1
    assert demo.last_result["update"] == last  # au départ, les courbes entières
    assert demo.last_result["rigl"]["accuracy"] == regrowth["rigl"][last]["accuracy"]
    demo.control.value = 2
    assert demo.last_result["update"] == 2
    assert demo.last_result["rigl"]["accuracy"] == regrowth["rigl"][2]["accuracy"]
    record_property("latency_07_update", demo.last_latency)


# ----------------------------------------------------------------------------- 08

def test_comparison_demo_matches_the_library_and_moves(setup, record_property):
    data, model = setup
    before = param_snapshot(model)
    results = W.comparison_table(model, data, sparsities=(0.5, 0.9), criteria=("magnitude", "gradient"),
                                 n_batches=2)
    assert _unchanged(model, before)
    direct = compare_pruning_criteria(model, data.train, data.val, ("gradient", "magnitude"), sparsity=0.9,
                                      fine_tune_epochs=1, n_batches=2)
    for name in ("magnitude", "gradient"):
        assert results[0.9].row(name)["accuracy"] == direct.row(name)["accuracy"]
    demo = W.comparison_demo(model, data, results=results)
    shown = demo.last_result
    demo.control.value = 0.5 if shown["sparsity"] == 0.9 else 0.9
    moved = demo.last_result
    assert moved["sparsity"] != shown["sparsity"]
    assert [r["sparsity"] for r in moved["table"]] != [r["sparsity"] for r in shown["table"]]
    mat = moved["overlap"]
    assert np.allclose(np.diag(mat), 1) and np.allclose(mat, mat.T) and (mat <= 1).all()
    record_property("latency_08_sparsity", demo.last_latency)


# ----------------------------------------------------------------------------- 09

LINEAR_TABLE = W.AccuracyTable(np.array([0.0, 1.0]), np.array([0.95, 0.15]))  # −0,8 point par point de %


def test_simulate_adaptive_corrected_reaches_target_when_accuracy_holds():
    flat = W.AccuracyTable(np.array([0.0, 1.0]), np.array([0.9, 0.9]))
    good = W.simulate_adaptive(flat, 0.02, target=0.9)
    assert good[-1]["sparsity"] == 0.9 and all(h["ok"] for h in good)
    assert all(h["sparsity"] <= 0.9 for h in good)
    # le chapitre, lui, ne fait qu'approcher la cible
    bad = W.simulate_adaptive(flat, 0.02, target=0.9, rule="chapter", max_rounds=30)
    assert bad[-1]["sparsity"] < 0.9


def test_simulate_adaptive_slows_down_after_a_violation_unlike_the_chapter():
    good = W.simulate_adaptive(LINEAR_TABLE, 0.1, target=0.9, rollback=False)
    steps = np.diff([0.0] + [h["sparsity"] for h in good])
    first_violation = next(i for i, h in enumerate(good) if not h["ok"])
    assert steps[first_violation + 1] < steps[first_violation]
    # contre-exemple : la règle du chapitre prend alors un pas PLUS grand que son pas normal
    s = 0.5
    assert W.chapter_adaptive_rule(s, 0.9, violated=True) - s > W.chapter_adaptive_rule(s, 0.9, violated=False) - s
    with pytest.raises(ValueError, match="rule"):
        W.simulate_adaptive(LINEAR_TABLE, 0.1, rule="inverse")


def test_adaptive_demo_budget_drives_the_trajectory(setup, record_property):
    data, model = setup
    demo = W.adaptive_demo(model, data, target=0.9, max_drop=0.02, table=LINEAR_TABLE)
    small = demo.last_result
    demo.control.value = 0.1
    large = demo.last_result
    assert large["max_drop"] == 0.1
    assert large["kept"]["sparsity"] > small["kept"]["sparsity"]
    # la sparsité retenue respecte le budget
    for res in (small, large):
        assert 0.95 - res["kept"]["accuracy"] <= res["max_drop"] + 1e-9
    record_property("latency_09_budget", demo.last_latency)
    assert large["rollback"] and large["kept"]["ok"]
    demo.controls[1].value = False
    without = demo.last_result
    assert without["corrected"] != large["corrected"]
    # sans retour arrière, le modèle gardé est celui du dernier tour, ici hors budget : la case se voit
    assert without["kept"] != large["kept"] and not without["kept"]["ok"]
    assert without["kept"]["sparsity"] > large["kept"]["sparsity"]
    assert without["kept"]["sparsity"] == without["corrected"][-1]["sparsity"]


def test_simulate_adaptive_with_rollback_never_retries_a_refused_sparsity():
    good = W.simulate_adaptive(LINEAR_TABLE, 0.1, target=0.9, rollback=True)
    ceiling = 1.0
    for h in good:
        assert h["sparsity"] < ceiling
        if not h["ok"]:
            ceiling = min(ceiling, h["sparsity"])
    assert ceiling < 1.0  # il y a bien eu des refus
    assert all(h["next"] == g["sparsity"] for h, g in zip(good, good[1:], strict=False))


def test_retained_point_depends_on_rollback():
    history = [{"round": 1, "sparsity": 0.5, "accuracy": 0.94, "ok": True},
               {"round": 2, "sparsity": 0.7, "accuracy": 0.80, "ok": False}]
    assert W.retained_point(history, 0.95, rollback=True) == {"sparsity": 0.5, "accuracy": 0.94, "ok": True,
                                                              "round": 1}
    assert W.retained_point(history, 0.95, rollback=False)["sparsity"] == 0.7
    assert W.retained_point(history[1:], 0.95, rollback=True) == {"sparsity": 0.0, "accuracy": 0.95, "ok": True,
                                                                  "round": 0}
    assert W.retained_point([], 0.95, rollback=False)["round"] == 0
    with pytest.raises(TypeError, match="rollback"):
        W.retained_point(history, 0.95, rollback="oui")


def test_accuracy_table_is_measured_on_validation(setup):
    data, model = setup
    before = param_snapshot(model)
    tab = W.accuracy_table(model, data, grid=[0.0, 0.99], fine_tune_steps=1)
    assert _unchanged(model, before)
    assert tab(0.0) > tab(0.99)
    assert tab(0.495) == pytest.approx((tab(0.0) + tab(0.99)) / 2)


# ----------------------------------------------------------------------------- 10

def test_quiz_data_covers_both_halves_with_an_explanation_per_option():
    from course_lib.quiz import PARTS, correct_option, questions

    qs = questions()
    assert len(qs) >= 8
    assert len({q["id"] for q in qs}) == len(qs)
    for part in PARTS:  # critères (quels poids) et scheduling (quand), chacun au moins 4 questions
        assert sum(q["part"] == part for q in qs) >= 4, part
    longest_is_right = 0
    for q in qs:
        assert len(q["options"]) >= 3, q["id"]
        assert sum(o["correct"] for o in q["options"]) == 1, q["id"]
        assert all(o["why"].strip() for o in q["options"]), q["id"]  # une explication par option
        assert len({o["text"] for o in q["options"]}) == len(q["options"]), q["id"]
        right = correct_option(q)
        longest_is_right += len(right["text"]) == max(len(o["text"]) for o in q["options"])
        assert any(o is right for o in q["options"])
    # la bonne réponse n'est pas systématiquement la plus longue (au plus une question sur deux)
    assert longest_is_right <= len(qs) // 2, longest_is_right
    # la bonne réponse n'est pas toujours à la même place
    assert len({[o["correct"] for o in q["options"]].index(True) for q in qs}) >= 2


def test_compounding_question_computes_its_answer():
    from course_lib.fr import pct
    from course_lib.quiz import compounding_question, correct_option

    q = compounding_question(3, 0.3)
    assert correct_option(q)["text"] == pct(1 - 0.7**3)
    assert pct(0.9) in [o["text"] for o in q["options"]]  # l'erreur « 3 × 30 % » est proposée
    with pytest.raises(ValueError, match="n_rounds"):
        compounding_question(1, 0.3)


def test_quiz_gives_no_feedback_before_an_answer_then_explains(record_property, capsys):
    capsys.readouterr()
    demos = W.quiz()
    assert capsys.readouterr().out.replace("\x1b[2K", "").strip() == ""  # rien d'affiché avant la réponse
    from course_lib.quiz import questions

    qs = questions()
    assert len(demos) == len(qs)
    for demo in demos:
        assert demo.control.value is None
        assert demo.last_result == {"choice": None, "correct": None}
    demo, q = demos[0], qs[0]
    verdicts = []
    for option in q["options"]:
        demo.control.value = option["text"]
        verdicts.append(demo.last_result["correct"])
        shown = capsys.readouterr().out
        assert option["why"] in shown  # l'explication de l'option choisie
        right = next(o for o in q["options"] if o["correct"])
        assert right["why"] in shown  # et, si elle est fausse, celle de la bonne réponse
    assert verdicts == [o["correct"] for o in q["options"]]
    record_property("latency_10_choice", demo.last_latency)
    with pytest.raises(TypeError, match="question"):
        W.choice_question("?")


def test_a_demo_takes_the_long_lived_heap_out_of_garbage_collections():
    """Sans ``gc.freeze`` à la construction, une collecte complète au milieu d'un rappel parcourt
    tout le tas (~4,5·10^5 objets avec torch et matplotlib : 0,3–0,4 s mesurés)."""
    import gc

    gc.unfreeze()  # repartir d'un tas entièrement suivi, quel que soit l'ordre des tests
    gc.collect()
    assert len(gc.get_objects()) > 100_000  # le tas que torch et matplotlib ont créé
    W.schedule_demo()
    gc.collect()
    assert len(gc.get_objects()) < 100_000
