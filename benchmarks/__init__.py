"""Mesures de coût du cours (pas des tests : aucune assertion de durée dans ``tests/``).

Protocole, pour ajouter une mesure :

- un module ``benchmarks/bench_<sujet>.py`` dont la docstring dit ce qui est mesuré et comment ;
- une fonction ``run() -> list[dict]``, chaque dict ayant les clés ``name``, ``value``, ``unit``
  et ``detail`` (conditions de mesure, objectif et verdict) ;
- un bloc ``if __name__ == "__main__":`` qui imprime les lignes, pour lancer le module seul :
  ``.venv/bin/python -m benchmarks.bench_<sujet>``.

``make bench`` (``.venv/bin/python -m benchmarks.run_all``) exécute tous les modules
``bench_*.py`` et écrit ``benchmarks/RESULTS.md`` : pour chaque chiffre, la commande qui l'a
produit, la machine (CPU, cœurs, version de torch) et la date.
"""


def main(run) -> None:
    """Lance ``run()`` d'un module seul : une ligne JSON par mesure, puis la durée totale."""
    import json
    import time

    start = time.perf_counter()
    for row in run():
        print(json.dumps(row, ensure_ascii=False))
    print(f"# {time.perf_counter() - start:.0f} s au total")
