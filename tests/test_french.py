"""Le texte qu'un élève lit est en français, sans identifiant interne (issue 14).

Texte élève, lu statiquement (sans rien exécuter) :
- les cellules markdown des notebooks, hors code (```blocs```, `spans`), formules ($...$),
  commentaires HTML (``<!-- claim: ... -->``) et adresses des liens ;
- les chaînes des cellules de code des notebooks et de ``course_lib/widgets/`` : une chaîne
  qui contient une espace ou une lettre accentuée est de la prose ; un mot seul n'est lu que
  là où il s'affiche (``description=``, ``title=``, libellés d'``options``, ``xlabel``...).
  Les docstrings et ce que montre ``inspect.getsource`` sont du code, pas de la prose.

Deux règles :
1. Nombres : jamais de point décimal avant « % » (« 97.2% », ``f"{a:.1%}"``,
   ``f"{x:.1f} %"``, ``"%.1f%%"``), jamais « 97% » collé ; on écrit ``course_lib.fr.pct``.
2. Aucun identifiant interne : mots de ``tests/student_text_banned.txt`` (casse exacte) et
   tout mot en snake_case hors `code`.

Le rendu réel (sorties exécutées, figures, widgets, démonstrations qu'on bouge) est vérifié pendant
que nbval exécute les notebooks : ``conftest.py`` (racine) et ``tests/rendered_text.py``, dont les
règles s'appliquent aussi, ici, au Markdown des notebooks.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from rendered_text import load_banned

WIDGET_MODULES = sorted((ROOT / "course_lib" / "widgets").glob("*.py"))


def student_notebooks(root: Path = ROOT) -> list[Path]:
    """Notebooks de section et exercices élèves."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
        (root / "notebooks" / "exercices").glob("*.ipynb"))


BANNED = load_banned()

# --- règle 1 : les pourcentages ---------------------------------------------------------------
# « 97.2% », « 97.2 % », « 97% » ; « 97,2 % » (espace insécable) est correct.
BAD_PERCENT = re.compile(r"\d\.\d+\s*%|\d%")
SAMPLE_FLOAT = "9.5"  # ce qu'affiche un format flottant de Python (point décimal)
FR_FUNCS = {"pct", "num", "pm"}  # course_lib.fr : rendu français


HTML_TAG = re.compile(r"<[^<>\n]+>")  # « <img style="max-width: 100%"> » : un attribut, pas du texte


def percent_problems(text: str) -> list[str]:
    return [m.group(0) for m in BAD_PERCENT.finditer(HTML_TAG.sub(" ", text))]


# --- règle 2 : les identifiants internes -----------------------------------------------------
SNAKE = re.compile(r"(?<![\w.\-/])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/(])(?!\.(?:py|ipynb)\b)")


ALLOWED = {"course_lib"}  # le nom du paquet que l'élève importe
ALLOWED_PHRASES = ["weight decay"]  # terme consacré, aussi en français
# Les fonctions publiques de course_lib : une consigne affichée peut dire « appelez compute_obd_saliency ».
API_NAMES = {m for f in (ROOT / "course_lib").rglob("*.py")
             for m in re.findall(r"^(?:def|class) ([a-z][a-z0-9_]*)", f.read_text(encoding="utf-8"), re.M)}
MATH_SUBSCRIPT = re.compile(r"[a-z]{1,2}(?:_[a-z0-9]{1,2})+")  # g_b, s_t : notation, pas du code


def identifier_problems(text: str, banned: list[str] = BANNED, api_ok: bool = False) -> list[str]:
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    found = [m.group(0) for m in SNAKE.finditer(text)
             if m.group(0) not in ALLOWED and not MATH_SUBSCRIPT.fullmatch(m.group(0))
             and not (api_ok and m.group(0) in API_NAMES)]
    for word in banned:
        if re.search(rf"(?<![\w\-/.]){re.escape(word)}(?![\w\-/])", text):
            found.append(word)
    return found


# --- extraire la prose ------------------------------------------------------------------------
_MD_STRIP = [
    re.compile(r"<!--.*?-->", re.S),         # marqueurs invisibles
    re.compile(r"```.*?```", re.S),          # blocs de code
    re.compile(r"~~~.*?~~~", re.S),
    re.compile(r"`[^`\n]*`"),                # code en ligne
    re.compile(r"\$\$.*?\$\$", re.S),        # formules
    re.compile(r"(?<!\\)\$[^$\n]*(?<!\\)\$"),
    re.compile(r"\]\([^)]*\)"),              # adresse d'un lien (le texte du lien reste)
    re.compile(r"<[^>\n]+>"),                # balises HTML
    re.compile(r"https?://\S+"),
]


def markdown_prose(source: str) -> str:
    for pattern in _MD_STRIP:
        source = pattern.sub(" ", source)
    return source


DISPLAY_KWARGS = {"description", "title", "label", "xlabel", "ylabel", "placeholder", "tooltip",
                  "button_style_label", "suptitle", "names_fr"}
DISPLAY_METHODS = {"set_title", "set_xlabel", "set_ylabel", "suptitle", "title", "xlabel", "ylabel",
                   "print", "Label", "HTML", "Markdown", "text", "annotate", "legend"}


@dataclass
class Piece:
    text: str      # la chaîne telle qu'elle s'affichera (formats remplacés par un exemple)
    prose: bool    # phrase (espace, accent) ou mot seul affiché
    where: str
    names_ok: bool = False  # message d'erreur : il nomme le paramètre reçu, c'est voulu
    api_ok: bool = False    # chaîne de code : les noms de fonctions de course_lib y sont des consignes
    code: str = ""          # la chaîne telle qu'écrite dans le code (pour le message)


def _call_name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else None
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


def _render_fstring(node: ast.JoinedStr) -> str:
    out = []
    for v in node.values:
        if isinstance(v, ast.Constant):
            out.append(str(v.value))
            continue
        spec = "".join(str(p.value) for p in v.format_spec.values
                       if isinstance(p, ast.Constant)) if v.format_spec else ""
        if isinstance(v.value, ast.Call) and _call_name(v.value) in FR_FUNCS:
            out.append("9,5")
        elif spec.endswith("%"):
            out.append(SAMPLE_FLOAT + "%")
        elif re.search(r"\.\d*[fgeFGE]?$", spec) or spec[-1:] in ("f", "g", "e"):
            out.append(SAMPLE_FLOAT)
        else:
            out.append("X")  # valeur inconnue : ne déclenche aucune règle à elle seule
    return "".join(out)


def _render_plain(s: str, old_style: bool) -> str:
    s = re.sub(r"\{[^{}]*:[^{}]*%\}", SAMPLE_FLOAT + "%", s)          # "{:.1%}".format
    s = re.sub(r"\{[^{}]*:[^{}]*\.\d*[fge]\}", SAMPLE_FLOAT, s)        # "{:.1f}".format
    if old_style:
        s = re.sub(r"%[-+ 0#]*\d*\.?\d*[fge]", SAMPLE_FLOAT, s)        # "%.1f%%" % x
        s = s.replace("%%", "%")
    return s


def _is_prose(text: str) -> bool:
    return bool(re.search(r"\s|[^\x00-\x7f]", text.strip()))


def _shown(node: ast.AST) -> list[ast.AST]:
    """Les chaînes qu'affiche l'expression ``node`` (pas les clés ``d["n_pruned"]`` ni les arguments)."""
    if isinstance(node, (ast.Constant, ast.JoinedStr)):
        return [node]
    if isinstance(node, ast.BinOp):
        return _shown(node.left) + _shown(node.right)
    if isinstance(node, ast.IfExp):
        return _shown(node.body) + _shown(node.orelse)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [n for e in node.elts for n in _shown(e)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "format", "join", "strip", "upper", "capitalize"):
        return _shown(node.func.value)
    return []


def code_pieces(source: str, where: str) -> list[Piece]:
    """Les chaînes d'un code Python qu'un élève peut lire (voir la docstring du module)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # magie IPython (%time, !pip) : on retire ces lignes
        source = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())
        tree = ast.parse(source)
    skip, displayed, old_style, errors, french_by_hand = set(), set(), set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))  # docstring
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in ast.walk(node) if v is not node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
            old_style.add(id(node.left))
        if isinstance(node, (ast.Raise, ast.Assert)):
            part = node.exc if isinstance(node, ast.Raise) else node.msg
            errors.update(id(n) for n in ast.walk(part)) if part is not None else None
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "getsource":
                skip.update(id(n) for n in ast.walk(node))
            if (name == "replace" and len(node.args) == 2
                    and all(isinstance(a, ast.Constant) for a in node.args)
                    and [a.value for a in node.args] == [".", ","]):
                french_by_hand.update(id(n) for n in ast.walk(node.func.value))  # "...".replace(".", ",")
            targets = [kw.value for kw in node.keywords if kw.arg in DISPLAY_KWARGS]
            if name in DISPLAY_METHODS:
                targets += node.args
            for kw in node.keywords:
                if kw.arg == "options" and isinstance(kw.value, (ast.List, ast.Tuple)):
                    for e in kw.value.elts:  # libellé = la chaîne seule, ou le 1er du couple
                        targets.append(e.elts[0] if isinstance(e, ast.Tuple) and e.elts else e)
            for t in targets:
                displayed.update(id(n) for n in _shown(t))
    pieces = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            text = _render_fstring(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = _render_plain(node.value, id(node) in old_style)
        else:
            continue
        if id(node) in french_by_hand:
            text = text.replace(".", ",")
        prose = _is_prose(text)
        if prose or id(node) in displayed:
            pieces.append(Piece(text, prose, f"{where}, ligne {node.lineno}", id(node) in errors, True,
                                (ast.get_source_segment(source, node) or "")[:90]))
    return pieces


def notebook_pieces(path: Path) -> list[Piece]:
    nb = nbformat.read(path, as_version=4)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    pieces = []
    for i, cell in enumerate(nb.cells):
        where = f"{rel}, cellule {i}"
        if cell.cell_type == "markdown":
            pieces.append(Piece(markdown_prose(cell.source), True, where))
        elif cell.cell_type == "code":
            pieces += code_pieces(cell.source, where)
    return pieces


def module_pieces(path: Path) -> list[Piece]:
    return code_pieces(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def violations(pieces: list[Piece]) -> list[str]:
    out = []
    for p in pieces:
        for bad in percent_problems(p.text)[:1]:  # une ligne par chaîne
            shown = p.code or _excerpt(p.text, bad)
            out.append(f"{p.where} : nombre à l'anglaise dans {shown} (attendu « 97,2 % » : course_lib.fr.pct)")
        for bad in [] if p.names_ok else identifier_problems(p.text, api_ok=p.api_ok):
            out.append(f"{p.where} : identifiant interne « {bad} » dans « {_excerpt(p.text, bad)} »")
    return out


def _excerpt(text: str, word: str) -> str:
    k = text.find(word)
    return " ".join(text[max(0, k - 40): k + len(word) + 40].split())


# --- le vérificateur sait échouer --------------------------------------------------------------

@pytest.mark.parametrize("text", ["précision 97.2%", "précision 97.2 %", "97% des poids", "0.5 %"])
def test_percent_rule_flags_english_numbers(text):
    assert percent_problems(text)


@pytest.mark.parametrize("text", ["précision 97,2\u202f%", "97,2\u00a0%", "96,1 ± 0,6 %", "version 2.1",
                                  '<img style="max-width: 100%;">'])
def test_percent_rule_accepts_french_numbers(text):
    assert percent_problems(text) == []


@pytest.mark.parametrize("code", [
    'print(f"précision : {acc:.1%}")',
    'print(f"précision : {100 * acc:.1f} %")',
    'print("précision : %.1f%%" % (100 * acc))',
    'print("précision : {:.2%}".format(acc))',
])
def test_code_scan_sees_python_percent_formats(code):
    assert violations(code_pieces(code, "exemple")), code


def test_code_scan_accepts_course_lib_fr():
    code = 'from course_lib.fr import pct\nprint(f"précision : {pct(acc)} ; {n} poids")'
    assert violations(code_pieces(code, "exemple")) == []


@pytest.mark.parametrize("text", ["la couche layer est vide", "méthode squared_batch_mean",
                                  "SET vs RigL", "la rigl repousse"])
def test_identifier_rule_flags_internal_names(text):
    assert identifier_problems(text)


@pytest.mark.parametrize("text", ["SET contre RigL", "élagage one-shot", "voir 01_magnitude",
                                  "le fichier ex_8_5_2_scheduler_adaptatif.ipynb",
                                  "la magnitude |w|", "course_lib.fr.pct"])
def test_identifier_rule_accepts_french_prose(text):
    assert identifier_problems(text) == []


def test_code_spans_and_markers_are_not_prose():
    md = ("On appelle `compute_gradient_salience(model, variant='squared')`.\n"
          "```python\nscope = 'layer'\n```\nRésultat. <!-- claim: 02-x-vs-y -->\n$w_{layer}$")
    assert violations([Piece(markdown_prose(md), True, "md")]) == []
    assert violations([Piece(markdown_prose("SET vs RigL, scope = layer"), True, "md")])


def test_displayed_words_are_checked_but_values_and_docstrings_are_not():
    code = ('"""Docstring : scope, layer, 97.2%."""\n'
            'w = widgets.ToggleButtons(options=[("par couche", "layer"), "global"], description="portée")\n'
            'm = make(method="squared_batch_mean")\n'
            'print(inspect.getsource(f))\n')
    assert violations(code_pieces(code, "ok")) == []
    bad = 'w = widgets.ToggleButtons(options=["global", "layer"], description="scope")'
    found = violations(code_pieces(bad, "bad"))
    assert len(found) == 2 and "« layer »" in found[0] + found[1] and "« scope »" in found[0] + found[1]


def test_error_messages_may_name_parameters_but_not_english_numbers():
    ok = 'raise ValueError(f"layer={layer!r} inconnu ; couches élagables : {names}.")'
    assert violations(code_pieces(ok, "ok")) == []
    bad = 'raise ValueError(f"sparsity doit être < 1 ; reçu {s:.1%}")'
    assert len(violations(code_pieces(bad, "bad"))) == 1


def test_keys_are_not_text_and_hand_made_french_is():
    ok = ('print("reste :", d["n_pruned"], g_b)\n'
          'text = f"{100 * x:.1f}\\u202f%".replace(".", ",")\n'
          'print("moyenne des |g_b| :", x)')
    assert violations(code_pieces(ok, "ok")) == []
    assert violations(code_pieces('print("reste :", "n_pruned")', "bad"))


def test_course_lib_functions_may_be_named_in_printed_hints_only():
    assert violations(code_pieces('print("appelez compute_obd_saliency.")', "ok")) == []
    assert violations([Piece(markdown_prose("appelez compute_obd_saliency."), True, "md")])
    assert violations([Piece(markdown_prose("appelez `compute_obd_saliency`."), True, "md")]) == []


def test_banned_list_is_read():
    assert {"layer", "vs", "rigl"} <= set(BANNED)


# --- le cours ---------------------------------------------------------------------------------

NOTEBOOKS = student_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_text_is_french(path):
    found = violations(notebook_pieces(path))
    assert not found, f"{len(found)} problème(s) :\n" + "\n".join(found)


@pytest.mark.parametrize("path", WIDGET_MODULES, ids=[p.name for p in WIDGET_MODULES])
def test_widget_text_is_french(path):
    found = violations(module_pieces(path))
    assert not found, f"{len(found)} problème(s) :\n" + "\n".join(found)


def test_there_is_student_text():
    assert NOTEBOOKS and WIDGET_MODULES


def test_quiz_text_is_french():
    """Le quiz (données ``course_lib/quiz_questions.json`` et question calculée) : questions, options
    et explications sont lues par l'élève."""
    from course_lib.quiz import questions

    problems = []
    for q in questions():
        texts = [q["question"]] + [t for o in q["options"] for t in (o["text"], o["why"])]
        for text in texts:
            problems += [f"quiz {q['id']} : {p}" for p in percent_problems(text) + identifier_problems(text)]
    assert not problems, "\n".join(problems)


# --- les règles du texte rendu (tests/rendered_text.py), aussi sur le Markdown des notebooks ----
# nbval n'exécute que les cellules de code : le Markdown, texte rendu tel quel, est lu ici.

def test_notebook_markdown_follows_the_rendered_text_rules():
    import rendered_text

    found = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "markdown":
                found += [f"{path.name}, cellule {i} : {p}" for p in rendered_text.problems(cell.source)]
    assert not found, f"{len(found)} problème(s) :\n" + "\n".join(found)


def test_markdown_rules_catch_a_bad_cell():
    import rendered_text

    assert len(rendered_text.problems("Précision après FT : 0.91 à 80 % de sparsity.")) == 4


def test_quiz_answers_are_spread_over_positions_and_questions_numbered():
    from collections import Counter

    from course_lib.quiz import answer_positions, place_answer, questions

    qs = questions()
    assert [q["number"] for q in qs] == list(range(1, len(qs) + 1))
    found = [[o["correct"] for o in q["options"]].index(True) for q in qs]
    positions = Counter(found)
    shared = range(min(len(q["options"]) for q in qs))  # positions que toutes les questions offrent
    assert max(positions[p] for p in shared) - min(positions[p] for p in shared) <= 1, positions
    assert all(positions[p] >= 1 for p in range(max(len(q["options"]) for q in qs))), positions
    assert found != [i % len(q["options"]) for i, q in enumerate(qs)]  # pas le cycle 1, 2, 3, 1, 2…
    assert questions() == qs  # déterministe
    # 12 questions à 3 options : 4 bonnes réponses à chaque place
    fake = [{"id": f"q{i}", "options": [{}, {}, {}]} for i in range(12)]
    assert sorted(Counter(answer_positions(fake)).values()) == [4, 4, 4]
    q = qs[0]
    assert [o["correct"] for o in place_answer(q, 2)["options"]].index(True) == 2
    with pytest.raises(ValueError, match="index doit être un entier >= 0 ; reçu -1"):
        place_answer(q, -1)


def test_quiz_widget_titles_carry_the_number():
    from course_lib.widgets import scheduling as W

    demos = W.quiz()
    assert demos[0].widget.children[1].value.startswith("<b>Question 1. ") or any(
        getattr(c, "value", "").startswith("<b>Question 1. ") for c in demos[0].widget.children)


# --- un terme anglais du glossaire est expliqué là où un notebook l'emploie pour la première fois ---
# « fine-tuning » : la première occurrence d'un notebook (Markdown, ou code dans l'ordre des cellules)
# est la glose d'un terme français : « ré-entraînement fin (*fine-tuning*) ».
GLOSSED = {"fine-tuning": re.compile(r"ré-?entraîn\w*\*?(?: fin)?[^.;\n]{0,30}[(,]\s*(?:en anglais\s*)?\*fine-tuning\*")}


def first_use_problems(cells, glossed=GLOSSED) -> list[str]:
    text = "\n".join(cells)
    out = []
    for word, gloss in glossed.items():
        first = text.find(word)
        if first >= 0:
            start = max(0, first - 60)
            if not gloss.search(text[start:first + len(word) + 2]):
                out.append(f"première occurrence de « {word} » sans explication : « {text[start:first + 30]} »")
    return out


def test_first_use_rule_needs_the_french_term_first():
    assert first_use_problems(["On ré-entraîne. Puis 5 époques de fine-tuning."])
    assert first_use_problems(["5 époques de ré-entraînement fin (*fine-tuning*) puis du fine-tuning"]) == []
    assert first_use_problems(["rien à expliquer"]) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_english_terms_are_explained_at_first_use(path):
    cells = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert first_use_problems(cells) == []
