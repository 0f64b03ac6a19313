"""Exercices 8.5.1-8.5.3 : sources nbgrader, notebooks élèves générés, copie élève.

L'exécution (solutions : tous les tests cachés passent ; notebooks élèves : réponses vides
tolérées) est faite par nbval (``make test``) ; ici, la forme et la génération.
"""

from __future__ import annotations

import copy
import json
import re

import nbformat
import pytest
from conftest import CHAPTER_SCHEDULER, ROOT

from course_lib.grading import generate, student_copy
from course_lib.grading.exercises import find_exercises

EXERCISES = find_exercises()
IDS = list(EXERCISES)
REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def source(ex_id):
    return nbformat.read(EXERCISES[ex_id].source, as_version=4)


def student(ex_id):
    return nbformat.read(ROOT / "notebooks" / "exercices" / EXERCISES[ex_id].filename, as_version=4)


def test_the_three_exercises_exist():
    assert IDS == ["8.5.1", "8.5.2", "8.5.3"]
    for ex in EXERCISES.values():
        assert (ROOT / "notebooks" / "exercices" / ex.filename).exists(), ex.filename


def test_committed_student_notebooks_are_what_the_command_generates():
    stale = generate.build(check=True)
    assert not stale, f"Lancez `make exercises` : {stale}"


def test_check_detects_a_stale_student_notebook(tmp_path):
    assert len(generate.build(out_dir=tmp_path)) == 3
    assert generate.build(out_dir=tmp_path, check=True) == []
    target = tmp_path / EXERCISES["8.5.2"].filename
    target.write_text(target.read_text().replace("raise NotImplementedError()", "pass", 1))
    assert generate.build(out_dir=tmp_path, check=True) == [target]
    assert generate.main(["--out", str(tmp_path), "--check"]) == 1


@pytest.mark.parametrize("ex_id", IDS)
def test_nbgrader_metadata(ex_id):
    nb = source(ex_id)
    ids = [c.metadata.nbgrader["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "grade_id en double"
    grades = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert grades, "aucune cellule notée"
    for c in nb.cells:
        m = c.metadata.get("nbgrader")
        if m is None:
            continue
        assert {"grade_id", "solution", "grade", "locked", "schema_version"} <= set(m), m
        assert m["schema_version"] == 3
        if m["grade"]:
            assert m["points"] > 0
        if m["grade"] and not m["solution"]:
            assert m["locked"] and c.cell_type == "code", m["grade_id"]
        if "### BEGIN SOLUTION" in c.source:
            assert m["solution"], m["grade_id"]
    assert any("### BEGIN HIDDEN TESTS" in c.source for c in grades), "aucun test caché"
    assert any(c.cell_type == "markdown" and "Test" not in c.source for c in nb.cells)


def _protected_lines(nb) -> set[str]:
    """Lignes propres aux solutions et aux tests cachés (absentes du reste de la source)."""
    inside, outside = set(), set()
    for c in nb.cells:
        text = c.source
        is_answer_md = c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")
        regions = [m.group(2) for m in REGION.finditer(text)]
        for r in regions + ([text] if is_answer_md else []):
            inside |= {line.strip() for line in r.splitlines() if line.strip()}
        rest = "" if is_answer_md else REGION.sub("", text)
        outside |= {line.strip() for line in rest.splitlines() if line.strip()}
    return inside - outside


@pytest.mark.parametrize("ex_id", IDS)
def test_no_solution_or_hidden_test_in_student_notebook(ex_id):
    protected = _protected_lines(source(ex_id))
    assert len(protected) > 10
    nb = student(ex_id)
    text = "\n".join(c.source for c in nb.cells)
    leaked = sorted(protected & {line.strip() for line in text.splitlines()})
    assert not leaked, f"solutions/tests cachés visibles dans le notebook élève : {leaked[:5]}"
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert all(line in text for line in generate.CODE_STUB.splitlines())  # amorce (indentée)
    if ex_id == "8.5.1":  # la réponse rédigée est remplacée par l'amorce
        assert generate.TEXT_STUB in text


@pytest.mark.parametrize("ex_id", IDS)
def test_student_notebook_has_visible_tests_and_locked_cells(ex_id):
    nb = student(ex_id)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata.nbgrader.get("solution")]
    assert any("assert" in c.source for c in tests), "aucun test visible"
    for c in tests:
        assert c.metadata.get("editable") is False and c.metadata.get("deletable") is False
        assert c.metadata.nbgrader.get("checksum"), "somme de contrôle nbgrader absente"


@pytest.mark.parametrize("ex_id", IDS)
def test_raises_exception_tags(ex_id):
    """Élève : réponses et cellules qui en dépendent étiquetées ; solutions : aucune étiquette,
    pour que nbval y échoue si un test caché échoue."""
    assert not any("raises-exception" in c.metadata.get("tags", []) for c in source(ex_id).cells)
    nb = student(ex_id)
    first = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            assert ("raises-exception" in c.metadata.get("tags", [])) == (i >= first), i


@pytest.mark.parametrize("ex_id", IDS)
def test_first_code_cell_follows_the_notebook_conventions(ex_id):
    first = next(c for c in student(ex_id).cells if c.cell_type == "code")
    assert 'DATASET = "digits"' in first.source and "SEED = 0" in first.source
    text = json.dumps(nbformat.from_dict(student(ex_id)))
    assert "compare_pruning_criteria(" not in text.replace("`compare_pruning_criteria`", "")


def test_student_copy_has_no_solutions(tmp_path):
    target = tmp_path / "eleves"
    files = student_copy.make_student_copy(target)
    assert files and (target / "notebooks" / "exercices" / EXERCISES["8.5.1"].filename).exists()
    assert (target / "course_lib" / "__init__.py").exists() and (target / "pyproject.toml").exists()
    assert not (target / "solutions").exists() and not (target / "tests").exists()
    assert student_copy.leaks(target) == []
    for ex in EXERCISES.values():
        assert (target / "notebooks" / "exercices" / ex.filename).read_text() == (
            ROOT / "notebooks" / "exercices" / ex.filename).read_text()


def test_student_copy_refuses_a_non_empty_target_and_detects_leaks(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="n'est pas vide"):
        student_copy.make_student_copy(tmp_path)
    (tmp_path / "fuite.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    assert student_copy.leaks(tmp_path) == ["fuite.py : ### BEGIN SOLUTION"]
    with pytest.raises(ValueError):
        student_copy.make_student_copy(ROOT / "notebooks" / "copie")


# ----------------------------------------------------------------------------------------------
# Les tests visibles attrapent les erreurs typiques (issue 12, point 5).
#
# Chaque cas exécute, dans un espace de noms neuf, les cellules du notebook élève distribué :
# la mise en place (une fois par exercice), les cellules-réponses (celles de la solution, ou une
# erreur typique obtenue en modifiant une ligne de la solution), puis la cellule de tests visibles
# visée. On vérifie que la bonne réponse y passe et que chaque erreur y échoue avec un message qui
# nomme l'idée fausse.

def _answers(ex_id) -> dict[str, str]:
    return {c.metadata.nbgrader["grade_id"]: c.source for c in source(ex_id).cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}


def _mutated(ex_id, grade_id, old, new) -> dict[str, str]:
    """Les réponses de la solution, où ``old`` devient ``new`` dans la cellule ``grade_id``."""
    answers = _answers(ex_id)
    assert old in answers[grade_id], f"{ex_id}/{grade_id} : la ligne à modifier a disparu : {old!r}"
    answers[grade_id] = answers[grade_id].replace(old, new)
    return answers


def _run(code: str, ns: dict, name: str) -> None:
    exec(compile(code, f"<{name}>", "exec"), ns)  # noqa: S102  (cellules du notebook distribué)


_SETUP_CACHE: dict[str, dict] = {}


def _setup_namespace(ex_id) -> dict:
    """Les cellules de code avant la première réponse (données, modèle de référence), une fois."""
    if ex_id not in _SETUP_CACHE:
        ns: dict = {"__name__": "__main__"}
        for i, c in enumerate(student(ex_id).cells):
            if c.metadata.get("nbgrader", {}).get("solution"):
                break
            if c.cell_type == "code":
                _run(c.source, ns, f"{ex_id} cellule {i}")
        _SETUP_CACHE[ex_id] = ns
    return _SETUP_CACHE[ex_id]


def visible_test_error(ex_id, answers: dict[str, str], test_id: str) -> str | None:
    """Message de l'``AssertionError`` levée par la cellule de tests visibles ``test_id``
    (``None`` si elle passe). Les autres cellules notées sont sautées ; une autre erreur remonte."""
    ns = dict(_setup_namespace(ex_id))
    for key in ("baseline", "reference_state"):  # une réponse fautive peut modifier la référence
        if key in ns:
            ns[key] = copy.deepcopy(ns[key])
    started = False
    for i, c in enumerate(student(ex_id).cells):
        nbg = c.metadata.get("nbgrader", {})
        started = started or bool(nbg.get("solution"))
        if not started or c.cell_type != "code":
            continue
        if nbg.get("solution"):
            _run(answers[nbg["grade_id"]], ns, f"{ex_id} réponse {nbg['grade_id']}")
        elif nbg.get("grade_id") == test_id:
            try:
                _run(c.source, ns, f"{ex_id} {test_id}")
            except AssertionError as err:
                return str(err)
            return None
        elif not nbg.get("grade"):
            _run(c.source, ns, f"{ex_id} cellule {i}")
    raise AssertionError(f"{ex_id} : cellule de tests {test_id!r} introuvable")


_QUANTILE_MASKS = '''all_scores = torch.cat([t.flatten() for t in scores.values()])
    threshold = torch.quantile(all_scores, sparsity)
    return {name: (t > threshold).float() for name, t in scores.items()}'''

# (exercice, cellule de tests visibles, réponses, fragments attendus dans le message)
TYPICAL_MISTAKES = {
    "obd_divise_par_h": ("8.5.1", "test_importance", lambda: _mutated(
        "8.5.1", "importance", "return compute_obd_saliency(model, loss_fn, loader, n_batches=n_batches)",
        "h = approximate_hessian_diag(model, loss_fn, loader, n_batches=n_batches)\n"
        "        return {n: w ** 2 / (2 * h[n] + 1e-10) for n, w in get_weights(model).items()}"),
        ["PLUS important", "divisé par H"]),
    "comparaison_sans_copie": ("8.5.1", "test_comparaison", lambda: _mutated(
        "8.5.1", "comparaison", "model = copy.deepcopy(baseline)", "model = baseline"),
        ["a modifié le modèle de référence", "copy.deepcopy(baseline)"]),
    "une_seule_copie_pour_tous": ("8.5.1", "test_comparaison", lambda: _mutated(
        "8.5.1", "comparaison", "for criterion in criteria:\n        model = copy.deepcopy(baseline)",
        "model = copy.deepcopy(baseline)\n    for criterion in criteria:"),
        ["dépend de ceux qui le précèdent", "pour CHAQUE critère"]),
    "regle_du_chapitre": ("8.5.2", "test_interface", lambda: {"scheduler": CHAPTER_SCHEDULER},
                          ["ne l'atteint jamais", "il faut ralentir", "c'est accélérer"]),
    "pas_double_apres_chute": ("8.5.2", "test_interface", lambda: _mutated(
        "8.5.2", "scheduler", "self.increment *= self.slowdown", "self.increment *= 2"),
        ["il faut ralentir"]),
    "pas_proportionnel_au_reste": ("8.5.2", "test_interface", lambda: _mutated(
        "8.5.2", "scheduler", "nxt = self.current_sparsity + self.increment",
        "nxt = self.current_sparsity + (self.target_sparsity - self.current_sparsity) / 10"),
        ["ne l'atteint jamais"]),
    "sans_normalisation": ("8.5.3", "test_formes", lambda: _mutated(
        "8.5.3", "combinaison", "nm, ng = normalize_scores(magnitude), normalize_scores(gradient)",
        "nm, ng = magnitude, gradient"),
        ["Échelle", "écrase l'autre"]),
    "maximum_par_couche": ("8.5.3", "test_formes", lambda: _mutated(
        "8.5.3", "combinaison", "return {name: t / top for name, t in scores.items()}",
        "return {name: t / t.max() for name, t in scores.items()}"),
        ["couche par couche", "statistique globale"]),
    "seuil_par_quantile": ("8.5.3", "test_formes", lambda: _mutated(
        "8.5.3", "combinaison",
        "return create_masks_from_importance(combined_criterion(magnitude, gradient, alpha), sparsity)",
        "scores = combined_criterion(magnitude, gradient, alpha)\n    " + _QUANTILE_MASKS),
        ["au lieu de 9", "torch.quantile", "k plus petits"]),
    "selection_par_couche": ("8.5.3", "test_formes", lambda: _mutated(
        "8.5.3", "combinaison", "combined_criterion(magnitude, gradient, alpha), sparsity)",
        "combined_criterion(magnitude, gradient, alpha), sparsity, scope=\"layer\")"),
        ["couche par couche au lieu d'un seul classement"]),
}

VISIBLE_TESTS = {"8.5.1": ["test_importance", "test_comparaison"], "8.5.2": ["test_interface"],
                 "8.5.3": ["test_formes"]}


# 8.5.1 : nbval exécute déjà la solution (sans étiquette raises-exception, un test visible qui
# échoue l'y fait échouer) ; ses réentraînements coûtent cher, on ne les refait pas ici.
@pytest.mark.parametrize("ex_id", ["8.5.2", "8.5.3"])
def test_the_solution_passes_the_visible_tests(ex_id):
    for test_id in VISIBLE_TESTS[ex_id]:
        assert visible_test_error(ex_id, _answers(ex_id), test_id) is None, test_id


@pytest.mark.parametrize("mistake", list(TYPICAL_MISTAKES))
def test_visible_tests_catch_the_typical_mistake_and_explain_it(mistake):
    ex_id, test_id, answers, expected = TYPICAL_MISTAKES[mistake]
    message = visible_test_error(ex_id, answers(), test_id)
    assert message is not None, f"{mistake} : les tests visibles acceptent cette erreur"
    missing = [text for text in expected if text not in message]
    assert not missing, f"{mistake} : le message n'explique pas l'erreur ({missing}) :\n{message}"
