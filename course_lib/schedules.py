"""Les calendriers d'élagage : des fonctions pures du pas, qu'on peut tracer et tester.

Chaque fonction reçoit un pas ``step`` (entier ou réel >= 0) et renvoie la sparsité
visée à ce pas (une fraction dans [0, 1)). Aucune ne touche à un modèle : les
ordonnanceurs de ``course_lib.scheduling`` les appellent, un notebook peut les tracer.

- ``one_shot_schedule`` : tout d'un coup.
- ``linear_schedule`` : par paliers égaux.
- ``cubic_schedule`` : Zhu & Gupta (2017), *To prune, or not to prune*.
- ``rigl_drop_fraction`` : décroissance cosinus de la fraction échangée par RigL
  (Evci et al., 2020, *Rigging the Lottery*).
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import (
    check_choice,
    check_fraction,
    check_positive_int,
    check_schedule,
    check_step,
)

__all__ = ["SCHEDULES", "check_schedule", "check_step", "cubic_schedule", "linear_schedule",
           "one_shot_schedule", "rigl_drop_fraction", "schedule_value", "schedule_points", "compounded_sparsity"]


def _pruning_index(step: float, start_step: int, n_steps: int, frequency: int) -> int:
    """k = nombre d'élagages déjà faits au pas ``step`` (0 au pas t₀, N à partir de t₀ + NΔt).

    Entre deux pas d'élagage t₀ + kΔt la sparsité ne bouge pas : k = ⌊(t − t₀)/Δt⌋.
    """
    return min(int((step - start_step) // frequency), n_steps)


# ----------------------------------------------------------------------------- calendriers

def one_shot_schedule(step, final_sparsity: float, prune_step: int = 0, initial_sparsity: float = 0.0) -> float:
    """Élagage en une fois : ``initial_sparsity`` (0 par défaut) avant ``prune_step``, ``final_sparsity`` ensuite."""
    step = check_step(step)
    prune_step = check_positive_int(prune_step, "prune_step", minimum=0)
    final_sparsity, _, _, _, initial_sparsity = check_schedule(final_sparsity, 0, 1, 1, initial_sparsity)
    return final_sparsity if step >= prune_step else initial_sparsity


def linear_schedule(step, final_sparsity: float, start_step: int = 0, n_steps: int = 10,
                    frequency: int = 1, initial_sparsity: float = 0.0) -> float:
    """Paliers égaux : s_k = s_i + (s_f − s_i)·k/N après le k-ième élagage (au pas t₀ + kΔt).

    Vaut s_i avant t₀ et exactement s_f à partir de t₀ + NΔt.
    """
    step = check_step(step)
    s_f, t0, n, dt, s_i = check_schedule(final_sparsity, start_step, n_steps, frequency, initial_sparsity)
    if step < t0:
        return s_i
    k = _pruning_index(step, t0, n, dt)
    value = s_f - (s_f - s_i) * (1 - k / n)  # écrit ainsi pour valoir exactement s_f en k = n
    return min(max(value, s_i), s_f)


def cubic_schedule(step, final_sparsity: float, start_step: int = 0, n_steps: int = 10,
                   frequency: int = 1, initial_sparsity: float = 0.0) -> float:
    """Calendrier cubique de Zhu & Gupta (2017), *To prune, or not to prune*, éq. (1) :

        s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(N·Δt))³   pour t ∈ {t₀, t₀ + Δt, …, t₀ + NΔt}

    On élague vite au début (beaucoup de poids redondants), puis de plus en plus
    doucement à l'approche de s_f. La sparsité n'est recalculée qu'aux pas d'élagage
    t₀ + kΔt et reste constante entre deux : s_i avant t₀, exactement s_f après t₀ + NΔt.

    Args:
        step: pas d'entraînement t (>= 0).
        final_sparsity: s_f ∈ [0, 1).
        start_step: t₀, premier pas du calendrier.
        n_steps: N, le nombre d'élagages (>= 1).
        frequency: Δt, nombre de pas entre deux élagages (>= 1).
        initial_sparsity: s_i ∈ [0, s_f].
    """
    step = check_step(step)
    s_f, t0, n, dt, s_i = check_schedule(final_sparsity, start_step, n_steps, frequency, initial_sparsity)
    if step < t0:
        return s_i
    k = _pruning_index(step, t0, n, dt)
    value = s_f + (s_i - s_f) * (1 - k / n) ** 3
    return min(max(value, s_i), s_f)  # l'arrondi flottant ne doit pas sortir de [s_i, s_f]


def rigl_drop_fraction(step, initial_fraction: float = 0.3, end_step: int = 1000) -> float:
    """Fraction des poids actifs échangés à chaque mise à jour de RigL (Evci et al., 2020, éq. 1) :

        f(t) = α/2 · (1 + cos(π·t / T_end))   pour t <= T_end, 0 ensuite.

    Args:
        initial_fraction: α ∈ [0, 1], fraction au pas 0.
        end_step: T_end (>= 1), pas à partir duquel on n'échange plus rien.
    """
    step = check_step(step)
    alpha = check_fraction(initial_fraction, "initial_fraction", allow_one=True)
    end_step = check_positive_int(end_step, "end_step", minimum=1)
    if step >= end_step:
        return 0.0
    return alpha / 2 * (1 + math.cos(math.pi * step / end_step))


SCHEDULES = {"cubic": cubic_schedule, "linear": linear_schedule, "one_shot": one_shot_schedule}


def schedule_value(schedule: str, step, final_sparsity: float, start_step: int = 0, n_steps: int = 10,
                   frequency: int = 1, initial_sparsity: float = 0.0) -> float:
    """Évalue le calendrier nommé ``schedule`` (``"cubic"``, ``"linear"`` ou ``"one_shot"``) au pas ``step``.

    Pour ``"one_shot"``, l'élagage a lieu au pas ``start_step`` (``n_steps``/``frequency`` ignorés).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule doit valoir l'un de {sorted(SCHEDULES)} ; reçu {schedule!r}.")
    if schedule == "one_shot":
        check_schedule(final_sparsity, start_step, n_steps, frequency, initial_sparsity)
        return one_shot_schedule(step, final_sparsity, start_step, initial_sparsity)
    return SCHEDULES[schedule](step, final_sparsity, start_step, n_steps, frequency, initial_sparsity)


def schedule_points(schedule: str, final_sparsity: float, n_steps: int, start_step: int = 0,
                    frequency: int = 1, total_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """La courbe s(t) d'un calendrier, pas par pas (t = 0 … ``total_steps``).

    Args:
        schedule: ``"cubic"`` ou ``"linear"`` (fonctions de ``course_lib.schedules``).
        total_steps: dernier pas tracé ; par défaut la fin du calendrier plus 20 %.

    Returns:
        ``(pas, sparsité)`` en tableaux NumPy.
    """
    funcs = {"cubic": cubic_schedule, "linear": linear_schedule}
    check_choice(schedule, "schedule", funcs)
    end = start_step + n_steps * frequency
    total = total_steps if total_steps is not None else int(end * 1.2) + 1
    steps = np.arange(total + 1)
    values = np.array([funcs[schedule](int(t), final_sparsity, start_step, n_steps, frequency) for t in steps])
    return steps, values


def compounded_sparsity(target: float, n_rounds: int) -> float:
    """Sparsité atteinte si chaque tour retire ``target / n_rounds`` de ce qui RESTE (l'erreur évitée).

    s = 1 − (1 − s_cible/n)^n < s_cible : l'élagage « composé » n'atteint pas la cible.
    """
    target = check_fraction(target, "target")
    n_rounds = check_positive_int(n_rounds, "n_rounds")
    return 1 - (1 - target / n_rounds) ** n_rounds
