"""Chaque résultat du cours sous plusieurs réglages de calcul et d'autres graines : lesquels sont fragiles ?

Les phrases expérimentales des notebooks sont choisies par un verdict (``course_lib.evidence``)
calculé sur la machine qui exécute : ce module exécute chaque notebook sous plusieurs réglages
(noyaux de calcul ``ATEN_CPU_CAPABILITY`` × nombre de fils) et avec les graines décalées
(``SEEDS`` + 100, un autre tirage), puis lit, cellule par cellule, le verdict affiché (« net »,
« pas net », « inversé ») de chaque résultat (métadonnée ``claims``) ; un résultat exact (un
``assert``) est « ok » ou « ÉCHEC ». Un résultat dont le verdict change d'une colonne à l'autre est
fragile : sa phrase change aussi, ce qui est honnête, mais un résultat central du cours devrait
rester net partout.

    .venv/bin/python -m benchmarks.bench_claims                      # tout (≈ 3 × 2 exécutions par notebook)
    COURSE_BENCH_NOTEBOOKS=02,05 .venv/bin/python -m benchmarks.bench_claims   # seulement ces notebooks
"""

from __future__ import annotations

import os
import re

from benchmarks._notebooks import all_notebooks, execute, shift_seeds

MEASURES_TIME = False  # des verdicts, pas des durées : la charge de la machine ne les change pas
SETTINGS = (("natif, 1 fil", {"OMP_NUM_THREADS": "1"}),
            ("AVX2, 2 fils", {"ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "2"}),
            ("défaut, 1 fil", {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}))
SHIFT = 100
VERDICT = re.compile(r"verdict\s*:\s*(net|pas net|inversé)")


def cell_text(cell: dict) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if "text" in o:
            parts.append("".join(o["text"]) if isinstance(o["text"], list) else o["text"])
        for mime in ("text/markdown", "text/plain", "text/html"):
            v = o.get("data", {}).get(mime)
            if v:
                parts.append("".join(v) if isinstance(v, list) else v)
    return "\n".join(parts)


def verdicts(run) -> dict[str, str]:
    """ID → verdict(s) affichés (« net », « pas net / net »...) ou « ok » / « ÉCHEC » pour un assert."""
    out = {}
    for c in run.nb.get("cells", []):
        ids = c.get("metadata", {}).get("claims")
        if c["cell_type"] != "code" or not ids:
            continue
        failed = any(o.get("output_type") == "error" for o in c.get("outputs", []))
        found = VERDICT.findall(cell_text(c))
        if not failed and len(found) == len(ids) > 1:   # une phrase par résultat, dans l'ordre des ID
            out.update(zip(ids, found, strict=True))
            continue
        value = "ÉCHEC" if failed else " / ".join(found) if found else "ok"
        for cid in ids:
            out[cid] = value
    return out


def selected():
    wanted = os.environ.get("COURSE_BENCH_NOTEBOOKS")
    notebooks = [p for p in all_notebooks() if p.parent.name != "exercices"]
    if wanted:
        keys = [w.strip() for w in wanted.split(",") if w.strip()]
        notebooks = [p for p in notebooks if any(p.name.startswith(k) or k in p.name for k in keys)]
    return notebooks


def shared_verdicts_on_other_seeds(shift: int = SHIFT) -> dict[str, str]:
    """Les verdicts partagés de ``schedule_evidence`` (graines fixées dans la bibliothèque, que le
    décalage des ``SEEDS`` d'un notebook n'atteint pas), recalculés sur les graines + ``shift``."""
    from course_lib.experiments import schedule_evidence as se

    gradual = tuple(s + shift for s in se.GRADUAL_SEEDS)
    sparse = tuple(s + shift for s in se.SPARSE_SEEDS)
    statements = [se.say_gradual_vs_one_shot(0.95, gradual), se.say_gradual_vs_one_shot(0.9, gradual),
                  se.say_one_shot_recovers(0.95, gradual), se.say_rigl_vs_static(sparse),
                  se.say_set_vs_static(sparse), se.say_rigl_vs_set(sparse)]
    return {st.claim_id: " / ".join(VERDICT.findall(st._repr_markdown_())) for st in statements}


def run() -> list[dict]:
    columns = [(f"{name}, graines", env, None) for name, env in SETTINGS]
    columns.append((f"{SETTINGS[0][0]}, graines + {SHIFT}", SETTINGS[0][1], shift_seeds(SHIFT)))
    rows, fragile, total = [], [], 0
    for path in selected():
        results = [verdicts(execute(path, env=env, patch=patch)) for _, env, patch in columns]
        ids = list(dict.fromkeys(cid for r in results for cid in r))
        for cid in ids:
            values = [r.get(cid, "absent") for r in results]
            total += 1
            stable = len(set(values)) == 1
            if not stable:
                fragile.append(cid)
            rows.append({"name": f"{path.name} · {cid}", "value": " | ".join(values), "unit": "verdicts",
                         "detail": ("stable" if stable else "FRAGILE") + " ; colonnes : "
                         + " ; ".join(c[0] for c in columns)})
    if not os.environ.get("COURSE_BENCH_NOTEBOOKS"):
        for cid, value in shared_verdicts_on_other_seeds().items():
            rows.append({"name": f"schedule_evidence · {cid}", "value": value, "unit": "verdict",
                         "detail": f"graines de la bibliothèque + {SHIFT} (comparer à la ligne du notebook 05 ou 07)"})
    rows.append({"name": "résultats dont le verdict change", "value": len(fragile), "unit": f"sur {total}",
                 "detail": ", ".join(fragile) or "aucun"})
    return rows


if __name__ == "__main__":
    from benchmarks import main

    main(run)
