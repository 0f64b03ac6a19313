"""Démonstrations des notebooks 05 à 10 : calendriers, polishing, repousse, comparaison,
scheduling adaptatif et quiz d'auto-évaluation.

Ce module ne contient que des contrôles et leur rendu. Le calcul vit ailleurs et n'est fait
qu'une fois, dans le constructeur : ``course_lib.experiments`` (trajectoires enregistrées pas à
pas, table de précisions, comparaison), ``course_lib.schedules`` (courbes), ``course_lib.chapter``
(la règle adaptative du chapitre), ``course_lib.quiz`` (les questions). Le rappel du contrôle ne
fait que relire ces enregistrements (ou simuler un ordonnanceur contre une table) et redessiner.
Les noms de calcul restent importables d'ici (``demos.polishing_trajectories``...) pour les notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from torch import nn

from .. import plots
from .._validation import check_fraction, check_positive_int
from ..chapter import chapter_adaptive_rule
from ..experiments.comparison import comparison_table, criterion_label
from ..experiments.trajectories import (
    AccuracyTable,
    StepRecorder,
    accuracy_table,
    polishing_trajectories,
    regrowth_trajectories,
    retained_point,
    simulate_adaptive,
)
from ..fr import count, md_table, num, pct
from ..masks import get_weights
from ..quiz import correct_option, questions
from ..schedules import compounded_sparsity, schedule_points
from ._base import Demo, DemoGroup

SCHEDULE_LABELS = {"cubic": "cubique (Zhu & Gupta)", "linear": "linéaire"}


# ============================================================================ 05 — calendriers

def _percent_slider(values: Sequence[float], value: float, description: str, digits: int):
    """Curseur de fractions lu à la française (« 2,5 % ») : un ``SelectionSlider`` ; ``value`` s'y ajoute
    s'il n'est pas dans la grille (le ``readout_format`` d'un ``FloatSlider`` écrit « 2.5% »)."""
    grid = sorted({float(v) for v in values} | {float(value)})
    return widgets.SelectionSlider(options=[(pct(v, digits), v) for v in grid], value=float(value),
                                   description=description, continuous_update=False,
                                   style={"description_width": "initial"})


def schedule_demo(final_sparsity: float = 0.9, n_steps: int = 10, start_step: int = 100,
                  frequency: int = 50) -> Demo:
    """Courbes de calendrier : cible (curseur principal), cubique/linéaire, nombre d'élagages.

    Fonctions pures seulement : le rappel recalcule tout (quelques centaines d'appels scalaires).
    ``last_result`` : ``schedule``, ``final``, ``levels`` (sparsité aux pas t0 + kΔt, k = 0…n),
    ``increments`` (ce que chaque élagage retire, en fraction du réseau entier), ``jumps`` (les pas
    où la courbe monte, lus sur le calendrier : t₀ + Δt … t₀ + NΔt) et ``title`` (le titre affiché,
    tiré de ``jumps``).
    """
    check_fraction(final_sparsity, "final_sparsity")
    check_positive_int(n_steps, "n_steps")
    target = _percent_slider([round(0.5 + 0.02 * i, 2) for i in range(25)], final_sparsity, "cible", 0)
    kind = widgets.ToggleButtons(options=[(label, key) for key, label in SCHEDULE_LABELS.items()],
                                 value="cubic", description="calendrier")
    prunings = widgets.IntSlider(value=n_steps, min=1, max=20, description="élagages", continuous_update=False)

    def render(final, schedule, n):
        end = start_step + n * frequency
        total = end + 2 * frequency + start_step
        fig, ax = plt.subplots(figsize=(7, 3))
        other = "linear" if schedule == "cubic" else "cubic"
        t, s = schedule_points(schedule, final, n, start_step, frequency, total)
        t2, s2 = schedule_points(other, final, n, start_step, frequency, total)
        ax.step(t2, 100 * s2, where="post", color="0.7", lw=1, label=SCHEDULE_LABELS[other])
        ax.step(t, 100 * s, where="post", color="tab:blue", lw=2, label=SCHEDULE_LABELS[schedule])
        ax.plot([0, start_step, start_step, total], [0, 0, 100 * final, 100 * final], color="tab:red",
                ls=":", lw=1, label="en une fois (au pas t₀)")
        prune_steps = [start_step + k * frequency for k in range(n + 1)]
        levels = [float(s[p]) for p in prune_steps]
        ax.plot(prune_steps, [100 * v for v in levels], "o", ms=3, color="tab:blue")
        ax.set_xlabel("pas d'entraînement t")
        ax.set_ylabel("sparsité (%)")
        ax.set_ylim(0, 100)
        rises = [int(t[i]) for i in range(1, len(s)) if s[i] > s[i - 1]]  # les pas où la courbe monte
        first = rises[0] if rises else end
        ax.set_title(f"{SCHEDULE_LABELS[schedule]} : {count(len(rises), 'élagage')}, de t = {num(first, 0)} à "
                     f"t = {num(rises[-1] if rises else end, 0)} (calendrier démarré à t₀ = {num(start_step, 0)}), "
                     f"cible {pct(final, 0)}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        increments = [b - a for a, b in zip(levels, levels[1:], strict=False)]
        shown = " ; ".join(num(100 * d, 1) for d in increments[:6])
        print(f"ce que retire chaque élagage (points de % du réseau entier) : {shown}"
              f"{' …' if len(increments) > 6 else ''}")
        print(f"sparsité finale : {pct(levels[-1], 2)}")
        return {"schedule": schedule, "final": float(final), "levels": levels, "increments": increments,
                "jumps": rises, "title": ax.get_title()}

    return Demo(target, render, [kind, prunings], names=["final", "schedule", "n"],
                title="Calendriers d'élagage : s(t)")


# ============================================================================ 06 — polishing

def polishing_demo(model: nn.Module, data, sparsity: float = 0.9, n_epochs: int = 4, lr: float = 0.05,
                   seed: int = 0, trajectories: dict | None = None) -> Demo:
    """Curseur sur les pas de fine-tuning : poids élagués « revenus » (masques tenus vs naïfs).

    ``trajectories`` : le résultat de ``polishing_trajectories`` s'il est déjà calculé.
    ``last_result`` : le relevé des deux modes au pas choisi.
    """
    traj = trajectories or polishing_trajectories(model, data, sparsity, n_epochs, lr, seed)
    held, naive = traj["held"], traj["naive"]
    n_weights = traj.get("n_weights")
    n = len(held)
    steps = np.arange(1, n + 1)
    per_epoch = n // max(held[-1]["epoch"] + 1, 1)
    slider = widgets.IntSlider(value=1, min=1, max=n, description="pas", continuous_update=False)

    def render(step):
        h, v = held[step - 1], naive[step - 1]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
        ax1.plot(steps, [r["revived"] for r in naive], color="tab:red", label="naïf (w ← w⊙m par époque)")
        ax1.plot(steps, [r["revived"] for r in held], color="tab:green", label="masques tenus (prune)")
        ax1.axhline(traj["n_pruned"], color="0.5", ls=":", lw=1, label="poids élagués")
        ax1.axvline(step, color="k", ls="--", lw=1)
        ax1.set_xlabel("pas de SGD")
        ax1.set_ylabel("poids élagués ≠ 0")
        ax1.legend(fontsize=6)
        ax2.plot(steps, [r["pruned_abs"] for r in naive], color="tab:red", label="naïf")
        ax2.plot(steps, [r["pruned_abs"] for r in held], color="tab:green", label="masques tenus")
        ax2.axvline(step, color="k", ls="--", lw=1)
        ax2.set_xlabel("pas de SGD")
        ax2.set_ylabel("|w| moyen, positions élaguées")
        ax2.legend(fontsize=6)
        for e in range(1, n // max(per_epoch, 1)):
            ax1.axvline(e * per_epoch + 0.5, color="0.85", lw=0.8)
        print(f"pas {step} (époque {h['epoch'] + 1}) — poids élagués non nuls : naïf {num(v['revived'], 0)} / "
              f"{num(traj['n_pruned'], 0)}, tenus {num(h['revived'], 0)} ; momentum non nul aux positions élaguées : "
              f"naïf {num(v['momentum'], 0)}, tenus {num(h['momentum'], 0)}")
        if n_weights:
            print(f"sparsité du réseau qui s'entraîne : naïf {pct((traj['n_pruned'] - v['revived']) / n_weights)}, "
                  f"tenus {pct((traj['n_pruned'] - h['revived']) / n_weights)} (masques : {pct(traj['n_pruned'] / n_weights)})")
        print(f"|w| moyen aux positions élaguées : naïf {num(v['pruned_abs'], 4)}, tenus {num(h['pruned_abs'], 4)} ; "
              f"précision (validation) du réseau entraîné : naïf {pct(v['acc'])} (masque réappliqué {pct(v['acc_masked'])}), "
              f"tenus {pct(h['acc'])}")
        return {"step": step, "held": dict(h), "naive": dict(v)}

    return Demo(slider, render, names=["step"], title="Polishing : masques tenus ou réappliqués à la main")


# ============================================================================ 07 — repousse

REGROWTH_COLORS = {"statique": "0.5", "set": "tab:orange", "rigl": "tab:blue"}
REGROWTH_LABELS = {"statique": "statique", "set": "SET", "rigl": "RigL"}


def regrowth_demo(model: nn.Module, data, sparsity: float = 0.9, regrow_fraction: float = 0.3,
                  n_updates: int = 8, seed: int = 0, trajectories: dict | None = None) -> Demo:
    """Curseur sur les mises à jour : précision et part du masque changée, SET vs RigL vs statique.

    ``last_result`` : les relevés des trois méthodes à la mise à jour choisie.
    """
    traj = trajectories or regrowth_trajectories(model, data, sparsity, regrow_fraction, n_updates, seed=seed)
    labels = plots.layer_labels(get_weights(model))
    last = len(traj["rigl"]) - 1
    # au départ, la dernière mise à jour : les courbes entières (la version figée du site montre cet état)
    slider = widgets.IntSlider(value=last, min=0, max=last, description="mise à jour", continuous_update=False)

    def render(update):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
        for method, records in traj.items():
            u = [r["update"] for r in records[: update + 1]]
            ax1.plot(u, [100 * r["accuracy"] for r in records[: update + 1]], marker="o", ms=3,
                     color=REGROWTH_COLORS[method], label=REGROWTH_LABELS[method])
            ax2.plot(u, [100 * r["changed"] for r in records[: update + 1]], marker="o", ms=3,
                     color=REGROWTH_COLORS[method], label=REGROWTH_LABELS[method])
        for ax in (ax1, ax2):
            ax.set_xlim(-0.3, last + 0.3)
            ax.set_xlabel("mise à jour du masque (1 par époque)")
            ax.legend(fontsize=7)
        ax1.set_ylabel("précision (validation) (%)")
        ax2.set_ylabel("poids initiaux remplacés (%)")
        ax2.set_ylim(0, 100)
        now = {m: traj[m][update] for m in traj}
        print(f"mise à jour {update} — fraction échangée (cosinus) : {num(now['rigl']['fraction'], 3)}")
        print(f"{'couche':<22}{'actifs':>8}{'repoussés SET':>15}{'dont nouveaux':>15}"
              f"{'repoussés RigL':>16}{'dont nouveaux':>15}")
        for n, active in now["rigl"]["active"].items():
            print(f"{labels.get(n, n):<22}{num(active, 0):>8}{num(now['set']['grown'][n], 0):>15}"
                  f"{num(now['set']['new'][n], 0):>15}{num(now['rigl']['grown'][n], 0):>16}{num(now['rigl']['new'][n], 0):>15}")
        print("sparsité : " + ", ".join(f"{REGROWTH_LABELS[m]} {pct(r['sparsity'], 2)}" for m, r in now.items()))
        return {"update": update, **{m: dict(r) for m, r in now.items()}}

    return Demo(slider, render, names=["update"], title="Repousse : SET (au hasard) ou RigL (gradient)")


# ============================================================================ 08 — comparaison

def comparison_demo(model: nn.Module, data, sparsities: Sequence[float] = (0.5, 0.8, 0.9, 0.95),
                    criteria: Sequence[str] = ("magnitude", "gradient", "hessian"), fine_tune_epochs: int = 1,
                    seed: int = 0, results: dict | None = None) -> Demo:
    """Curseur de sparsité : table critère × précision (avant/après fine-tuning) et recouvrement des masques.

    ``results`` : le résultat de ``comparison_table`` s'il est déjà calculé.
    ``last_result`` : ``sparsity``, ``table`` (lignes), ``overlap`` (matrice de Jaccard, ordre de ``criteria``).
    """
    res = results or comparison_table(model, data, sparsities, criteria, fine_tune_epochs, seed)
    keys = sorted(res)
    names = [r["criterion"] for r in res[keys[0]].table]
    slider = widgets.SelectionSlider(options=[(pct(s, 0), s) for s in keys], value=keys[len(keys) // 2],
                                     description="sparsité", continuous_update=False)

    def render(sparsity):
        from IPython.display import Markdown, display

        r = res[sparsity]
        display(Markdown(md_table(
            ["critère", "avant fine-tuning", "après fine-tuning", "sparsité"],
            [[criterion_label(row["criterion"]), pct(row["accuracy_pruned"]), pct(row["accuracy"]),
              pct(row["sparsity"])] for row in r.table])))
        mat = np.array([[1.0 if a == b else r.overlap[(a, b)] for b in names] for a in names])
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
        for n in names:
            ax1.plot([100 * s for s in keys], [100 * res[s].row(n)["accuracy"] for s in keys], marker="o",
                     ms=3, label=criterion_label(n))
        ax1.axvline(100 * sparsity, color="k", ls="--", lw=1)
        ax1.set_xlabel("sparsité (%)")
        ax1.set_ylabel("précision (validation)\naprès fine-tuning (%)")
        ax1.legend(fontsize=7)
        im = ax2.imshow(mat, vmin=0, vmax=1, cmap="viridis")
        labels = [criterion_label(n) for n in names]
        ax2.set_xticks(range(len(names)), labels, fontsize=7, rotation=20, ha="right")
        ax2.set_yticks(range(len(names)), labels, fontsize=7)
        for i in range(len(names)):
            for j in range(len(names)):
                ax2.text(j, i, num(mat[i, j], 2), ha="center", va="center", fontsize=8,
                         color="k" if mat[i, j] > 0.6 else "w")
        ax2.set_title("recouvrement (Jaccard) des poids élagués", fontsize=9)
        fig.colorbar(im, ax=ax2, fraction=0.046)
        return {"sparsity": sparsity, "table": [dict(row) for row in r.table], "overlap": mat}

    return Demo(slider, render, names=["sparsity"], title="Critères × sparsité, à conditions égales")


# ============================================================================ 09 — adaptatif

def adaptive_demo(model: nn.Module, data, target: float = 0.95, max_drop: float = 0.02,
                  table: AccuracyTable | None = None, seed: int = 0) -> Demo:
    """Curseur de budget (baisse de précision tolérée) → trajectoire de sparsité, corrigée vs chapitre.

    La table de précision (validation) est mesurée une fois ; le rappel rejoue les deux règles. La case
    « retour arrière » change le modèle gardé (``retained_point``) : avec elle, le dernier tour dans le
    budget ; sans elle, le dernier tour, même hors budget.
    ``last_result`` : ``max_drop``, ``rollback``, ``corrected`` et ``chapter`` (relevés de
    ``simulate_adaptive``), ``kept`` et ``chapter_kept`` (modèles gardés).
    """
    tab = table or accuracy_table(model, data, seed=seed)
    budget = _percent_slider([round(0.005 * i, 3) for i in range(21)], max_drop, "budget", 1)
    rollback = widgets.Checkbox(value=True, description="retour arrière")

    def render(max_drop, rollback):
        good = simulate_adaptive(tab, max_drop, target, "corrected", rollback)
        bad = simulate_adaptive(tab, max_drop, target, "chapter", max_rounds=max(len(good), 30))
        base = tab(0.0)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
        for hist, color, label in ((good, "tab:green", "corrigée (ralentit)"), (bad, "tab:red", "chapitre")):
            rounds = [h["round"] for h in hist]
            ax1.plot(rounds, [100 * h["sparsity"] for h in hist], marker="o", ms=3, color=color, label=label)
            ax1.plot([h["round"] for h in hist if not h["ok"]], [100 * h["sparsity"] for h in hist if not h["ok"]],
                     "x", color="k", ms=6)
        ax1.axhline(100 * target, color="0.5", ls=":", lw=1)
        ax1.set_xlabel("tour")
        ax1.set_ylabel("sparsité (%)  (× = budget dépassé)")
        ax1.legend(fontsize=7)
        ax2.plot(100 * tab.sparsities, 100 * tab.accuracies, marker="o", ms=3, color="0.3")
        ax2.axhline(100 * (base - max_drop), color="tab:purple", ls="--", lw=1, label="référence − budget")
        g = retained_point(good, base, rollback)
        c = retained_point(bad, base, rollback=False)
        ax1.plot(g["round"], 100 * g["sparsity"], "o", mfc="none", mec="tab:green", ms=10, label="modèle gardé")
        ax2.axvline(100 * g["sparsity"], color="tab:green", lw=1, label="gardée (corrigée)")
        ax2.axvline(100 * c["sparsity"], color="tab:red", lw=1, ls=":", label="gardée (chapitre)")
        ax2.set_xlabel("sparsité (%)")
        ax2.set_ylabel("précision (validation) (%)")
        ax2.set_xlim(min(40, 100 * g["sparsity"] - 5), 100)
        ax2.legend(fontsize=7)

        def where(point):
            return "dans le budget" if point["ok"] else "hors budget"

        how = ("avec retour arrière, on garde le dernier tour dans le budget" if rollback else
               "sans retour arrière, on garde le dernier tour, dans le budget ou non")
        print(f"budget {pct(max_drop)} (référence {pct(base)}) ; règle corrigée, {how} : sparsité "
              f"{pct(g['sparsity'])}, validation {pct(g['accuracy'])} ({where(g)}), {count(len(good), 'tour')} "
              f"dont {sum(not h['ok'] for h in good)} hors budget")
        print(f"règle du chapitre (sans retour arrière) : sparsité {pct(c['sparsity'])}, validation "
              f"{pct(c['accuracy'])} ({where(c)}), {count(len(bad), 'tour')} dont {sum(not h['ok'] for h in bad)} "
              "hors budget")
        return {"max_drop": max_drop, "rollback": rollback, "corrected": good, "chapter": bad, "kept": dict(g),
                "chapter_kept": dict(c)}

    return Demo(budget, render, [rollback], names=["max_drop", "rollback"],
                title="Scheduling adaptatif : le budget pilote la trajectoire")


# ============================================================================ 10 — quiz

def choice_question(question: dict) -> Demo:
    """Une question à choix (boutons radio, aucun choisi au départ) ; rien ne s'affiche avant la réponse.

    ``question`` : un dictionnaire de ``course_lib.quiz`` (``question``, ``options`` = ``{text, correct,
    why}``). Après un choix, la sortie dit juste ou faux, pourquoi cette option l'est, et, si elle est
    fausse, quelle option était juste et pourquoi.
    ``last_result`` : ``{"choice", "correct"}`` (les deux valent ``None`` tant qu'on n'a pas répondu).
    """
    if not isinstance(question, dict) or "options" not in question:
        raise TypeError(f"question doit être un dictionnaire de course_lib.quiz (avec 'options') ; reçu {question!r}.")
    right = correct_option(question)
    texts = [o["text"] for o in question["options"]]
    radio = widgets.RadioButtons(options=texts, value=None, layout=widgets.Layout(width="auto"),
                                 style={"description_width": "initial"})

    def render(choice):
        if choice is None:  # pas encore répondu : aucun retour
            return {"choice": None, "correct": None}
        chosen = question["options"][texts.index(choice)]
        if chosen["correct"]:
            print(f"✔ Juste. {chosen['why']}")
        else:
            print(f"✘ Non : {chosen['why']}")
            print(f"La bonne réponse : « {right['text']} ». {right['why']}")
        return {"choice": choice, "correct": chosen["correct"]}

    number = f"Question {question['number']}. " if "number" in question else ""
    return Demo(radio, render, names=["choice"], title=number + question["question"])


def quiz(n_rounds: int = 3, per_round: float = 0.3) -> list[Demo]:
    """Le quiz du notebook 10 : les questions de ``course_lib.quiz``, une démonstration chacune."""
    return [choice_question(q) for q in questions(n_rounds, per_round)]


def quiz_widget(demos: Sequence[Demo]) -> DemoGroup:
    """Les questions l'une sous l'autre (chacune porte déjà son numéro : ``course_lib.quiz.questions``) ;
    hors de JupyterLab (site statique), chaque question s'affiche avec ses choix, sans la réponse."""
    return DemoGroup([d.widget for d in demos])


__all__ = [
    "AccuracyTable",
    "StepRecorder",
    "accuracy_table",
    "adaptive_demo",
    "chapter_adaptive_rule",
    "choice_question",
    "comparison_demo",
    "comparison_table",
    "compounded_sparsity",
    "polishing_demo",
    "polishing_trajectories",
    "quiz",
    "quiz_widget",
    "regrowth_demo",
    "regrowth_trajectories",
    "retained_point",
    "schedule_demo",
    "schedule_points",
    "simulate_adaptive",
]
