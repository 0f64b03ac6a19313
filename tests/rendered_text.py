"""Le texte qu'un élève voit à l'écran, relevé dans le noyau qui exécute les notebooks, et ses règles.

Deux moitiés, sans dépendance à pytest :

- **Relevé** (côté noyau, :func:`install` puis :func:`after_cell`) : le texte de chaque figure
  dessinée (titres, axes, graduations, légendes, annotations, lu après le tracé), l'état de chaque
  widget (description, libellés d'options, valeur des ``HTML``/``Label``, affichage des curseurs),
  et, pour chaque démonstration (``course_lib.widgets.Demo``), ce qu'elle affiche quand l'élève
  bouge un contrôle : chaque contrôle prend quelques valeurs (toutes les options s'il y en a peu,
  sinon les extrêmes et le milieu), les autres restant à leur valeur ; puis tout est remis comme
  avant (``last_result`` redevient celui de l'état initial). Le code montré par
  ``inspect.getsource`` est noté pour être retiré des sorties : c'est du code, pas du texte.
- **Règles** (:func:`problems`) : sur du texte affiché, hors code, formules, adresses et noms de
  fichiers. Nombre à point décimal (« 0.91 ») ; espace sécable ou rien avant « % » ; espace
  sécable entre un nombre et son unité (« 29 s ») ; abréviation absente du glossaire du README
  (« FT ») ; identifiant interne (« classifier.3 », snake_case) ; mot anglais de
  ``tests/student_text_banned.txt``.

Le greffon ``conftest.py`` (racine du dépôt) branche les deux sur nbval : chaque cellule de
notebook est exécutée par nbval, puis relevée, et la cellule échoue si son texte enfreint une règle.
"""

from __future__ import annotations

import contextlib
import functools
import html
import io
import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANNED_FILE = ROOT / "tests" / "student_text_banned.txt"
README = ROOT / "README.md"

# ============================================================================ règles

NNBSP = "\u202f"


def load_banned(path: Path = BANNED_FILE) -> list[str]:
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            words.append(word)
    return words


def glossary_abbreviations(readme: Path = README) -> set[str]:
    """Les abréviations permises : la colonne « Abréviation » du tableau « Abréviations » du README."""
    text = readme.read_text(encoding="utf-8")
    section = re.search(r"^### Abréviations\n(.*?)(?=^#)", text, re.S | re.M)
    if not section:
        raise ValueError("README.md : section « ### Abréviations » du glossaire introuvable.")
    out = set()
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] not in ("Abréviation", "") and not set(cells[0]) <= {"-"}:
            out.update(a.strip() for a in cells[0].split(","))
    return out


@functools.cache
def _defaults() -> tuple[list[str], set[str]]:
    return load_banned(), glossary_abbreviations()


# Ce qui n'est pas du texte à lire : retiré avant d'appliquer les règles.
_NOT_PROSE = [
    re.compile(r"<style.*?</style>", re.S),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"```.*?```", re.S),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"(?<!\\)\$[^$\n]*(?<!\\)\$"),            # formules, graduations mathtext
    re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.S),
    re.compile(r"\]\([^)]*\)"),                          # adresse d'un lien
    re.compile(r"<[^>\n]+>"),                            # balises HTML
    re.compile(r"(?:https?://|www\.)\S+"),
    re.compile(r"[\w./-]+\.(?:py|ipynb|json|md|txt|csv|png|svg|toml|yml|yaml|cfg|sh)\b"),
    re.compile(r"\bcourse_lib(?:\.\w+)*"),               # le paquet que l'élève importe
    re.compile(r"\x1b\[[0-9;]*[A-Za-z]"),                # codes de terminal
    re.compile(r"\[(?:'[^'\n]*'(?:,\s*)?)+\]"),           # liste Python de noms : ['bias', 'weight_orig']
]
# Numéros de section du chapitre (« 8.5.2 », « section 8.5 ») et versions : pas des décimaux.
_SECTION = re.compile(r"\b\d+(?:\.\d+){2,}\b|(?:chapitre|section|§|exercice|Python|torch|version|MIT)\s*\d+\.\d+\b",
                      re.I)

DECIMAL_POINT = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")
SPACE_BEFORE_PERCENT = re.compile(r"\d[ \u00a0\t]?%")
UNITS = ("ms", "s", "min", "h", "Mo", "Go", "ko", "Ko", "o", "Mio", "Gio", "px", "µs")
SPACE_BEFORE_UNIT = re.compile(r"\d[ \u00a0](?:" + "|".join(UNITS) + r")(?![\w'’])")
ABBREVIATION = re.compile(r"(?<![\w\\])[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*(?![\w])")
LAYER_NAME = re.compile(r"(?<![\w.])[a-z_]+\.\d+(?:\.(?:weight|bias))?(?![\w])|\b\w+\.(?:weight|bias)\b")
SNAKE = re.compile(r"(?<![\w.\-/])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/(])")
MATH_SUBSCRIPT = re.compile(r"[a-z]{1,2}(?:_[a-z0-9]{1,2})+")  # g_b, s_t : notation
# « couche couche », « Fisher Fisher » : un mot écrit deux fois de suite (« nous nous », « vous vous » : français).
REPEATED_WORD = re.compile(r"(?<![\w'’-])([^\W\d_]{2,})[^\S\n]+\1(?![\w'’-])", re.I)
REPEAT_OK = {"nous", "vous"}
# « lot(s) », « élagage(s) » : un pluriel entre parenthèses ; le nombre connu, on accorde.
PLURAL_PARENS = re.compile(r"[^\W\d_]{2,}\((?:s|es|x|aux)\)")
# « 0 tours », « 1 lots » : après 0 ou 1 (ou 0,5), le nom reste au singulier.
SINGULAR_NUMBER = re.compile(r"(?<![\w,.\u202f\u00a0])(?:0|1|0,\d+|1,\d+)[ \u00a0]([^\W\d_]{2,}[sx])(?![\w'’-])")
# Mots qui finissent par -s ou -x au singulier, et mots outils qui suivent un nombre sans s'y accorder.
SINGULAR_OK = {"fois", "pas", "poids", "temps", "mois", "cours", "processus", "taux", "prix", "choix", "dans",
               "sans", "sous", "sur", "très", "plus", "moins", "puis", "mais", "après", "depuis", "alors", "les",
               "des", "ses", "ces", "mes", "nos", "vos", "aux", "tous", "toujours", "jamais", "parmi", "vers",
               "chez", "lors", "ainsi", "près", "dès", "hors", "deux", "trois", "six", "dix", "voix", "bras", "corps", "index"}
# « DataBundle('digits', train=1079) », « PruningScheduler(schedule='cubic', pas=85) » : la
# représentation Python d'un objet, imprimée pour l'élève ; une valeur que la cellule RENVOIE
# (``text/plain``), un bloc de code ou du code entre accents graves restent du code.
OBJECT_REPR = re.compile(r"\b[A-Z]\w*\([^()\n]*?\b[^\W\d]\w*=[^=]")
# « ['1,00', '0,50'] », « ['LayerCollapseWarning'] » : une liste Python de nombres ou de noms de classe,
# imprimée telle quelle (une liste de noms PyTorch comme ['bias', 'weight_orig'] reste permise).
_ITEM = r"'(?:[−\-\d\s,.\u202f%]+|[A-Z][a-z]+(?:[A-Z][a-z]+)+)'"
PYTHON_LIST = re.compile(rf"\[{_ITEM}(?:,\s*{_ITEM})*\]")
# Tournures fautives déjà vues : un libellé ambigu, un accord oublié.
WRONG_PHRASES = [
    (re.compile(r"\b(?:Taylor|Fisher)\s+\**par exemple\b"),
     "se lit « Taylor, par exemple » : dites « (gradient de chaque exemple) »"),
    (re.compile(r"\bportée global\b"), "accord : « portée globale »"),
]
PYTHON_CONSTANT = re.compile(r"(?<![\w'\"])(?:True|False|None)(?![\w'\"])")
# Un entier de 5 chiffres ou plus sans séparateur de milliers (« 38282 ») : « 38 282 », espace fine
# insécable (course_lib.fr.num, qui écrit aussi « 1 500 » à 4 chiffres). Les années n'ont que 4 chiffres.
LONG_INTEGER = re.compile(r"(?<![\w,.\u202f\u00a0/:#=+-])\d{%d,}(?![\w,.\d/:-])" % int(os.environ.get("COURSE_MIN_DIGITS", 5)))


def is_abbreviation(word: str) -> bool:
    """« FT », « MAC », « APoZ », « NeurIPS » : au moins la moitié de capitales. « LeCun », « PyTorch »,
    « ResNet » sont des noms propres : ils s'écrivent ainsi et ne s'abrègent pas."""
    letters = [c for c in word if c.isalpha()]
    return sum(c.isupper() for c in letters) * 2 >= len(letters)


# « weight decay » : terme consacré, en italique dans le texte ; les amorces que l'élève remplace
# (``course_lib.grading.generate`` : CODE_STUB, TEXT_STUB), en capitales comme celles de nbgrader.
ALLOWED_PHRASES = ("weight decay", "VOTRE RÉPONSE ICI", "VOTRE CODE ICI")


def prose(text: str, filler: str = " ") -> str:
    """Le texte sans ce qui n'est pas de la prose (code, formules, balises, adresses, noms de fichiers),
    chaque morceau retiré remplacé par ``filler``."""
    text = html.unescape(text)
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, filler)
    for pattern in _NOT_PROSE:
        text = pattern.sub(filler, text)
    return text


def problems(text: str, banned: list[str] | None = None, abbreviations: set[str] | None = None) -> list[str]:
    """Les fautes du texte affiché ``text`` (liste vide : rien à redire)."""
    banned = _defaults()[0] if banned is None else banned
    abbreviations = _defaults()[1] if abbreviations is None else abbreviations
    # deux mots séparés par une formule retirée (« de $\\log|w|$ de ») ne sont pas un mot répété
    repeated = [m.group(0) for m in REPEATED_WORD.finditer(prose(text, " \x00 "))
                if m.group(1).lower() not in REPEAT_OK]
    lists = [m.group(0) for m in PYTHON_LIST.finditer(html.unescape(text))]
    text = prose(text)
    out = [f"liste Python « {x} » (une phrase : « poids 1 : 1,00 ; poids 2 : 0,50 »)" for x in lists]
    for m in LAYER_NAME.finditer(text):
        out.append(f"nom interne de couche « {m.group(0)} » (nommez-la : « couche cachée 1 », « couche de sortie »)")
    text = LAYER_NAME.sub(" ", text)
    no_sections = _SECTION.sub(" ", text)
    for m in DECIMAL_POINT.finditer(no_sections):
        out.append(f"point décimal « {m.group(0)} » (virgule : course_lib.fr.num)")
    for m in SPACE_BEFORE_PERCENT.finditer(text):
        out.append(f"« {m.group(0)} » : espace fine insécable avant % (course_lib.fr.pct)")
    for m in SPACE_BEFORE_UNIT.finditer(text):
        out.append(f"« {m.group(0)} » : espace fine insécable entre le nombre et l'unité (U+202F)")
    for m in ABBREVIATION.finditer(text):
        if m.group(0) not in abbreviations and is_abbreviation(m.group(0)):
            out.append(f"abréviation « {m.group(0)} » absente du glossaire (README, « Abréviations »)")
    for m in SNAKE.finditer(text):
        if not MATH_SUBSCRIPT.fullmatch(m.group(0)):
            out.append(f"identifiant interne « {m.group(0)} »")
    for word in banned:
        if re.search(rf"(?<![\w\-/.]){re.escape(word)}(?![\w\-/])", text):
            out.append(f"mot anglais ou interne « {word} » (tests/student_text_banned.txt)")
    out += [f"mot répété « {r} »" for r in repeated]
    for pattern, why in WRONG_PHRASES:
        out += [f"« {m.group(0)} » {why}" for m in pattern.finditer(text)]
    for m in PLURAL_PARENS.finditer(text):
        out.append(f"pluriel entre parenthèses « {m.group(0)} » (accordez avec le nombre)")
    for m in SINGULAR_NUMBER.finditer(text):
        if m.group(1).lower() not in SINGULAR_OK:
            out.append(f"« {m.group(0)} » : singulier après 0 ou 1 (« 0 tour »)")
    for m in OBJECT_REPR.finditer(text):
        out.append(f"représentation Python « {m.group(0)}… » (une phrase en français, ou une valeur renvoyée)")
    for m in PYTHON_CONSTANT.finditer(text):
        out.append(f"constante Python « {m.group(0)} » (« oui », « non », « aucun »)")
    for m in LONG_INTEGER.finditer(no_sections):
        if not (len(m.group(0)) == 4 and 1900 <= int(m.group(0)) <= 2099):  # années (COURSE_MIN_DIGITS=4)
            out.append(f"« {m.group(0)} » sans séparateur de milliers (« 38 282 » : course_lib.fr.num)")
    return out


# ============================================================================ relevé, côté noyau

_RECORDS: list[dict] = []
_CODE: list[str] = []        # ce qu'a renvoyé inspect.getsource : du code, retiré des sorties
_SEEN_WIDGETS: dict[int, tuple] = {}
_SWEPT: set[int] = set()
_STATE = {"where": "cellule"}
MAX_VALUES = 5  # valeurs essayées par contrôle
# Le compteur d'une barre de progression tqdm (« 12/40 [00:01<00:00, 3.2it/s] ») : l'interface de
# tqdm, pas le texte du cours (sa description, elle, est relevée).
# « 12/40 [00:01<00:00, 3.21it/s » (la suite, « , perte=0,014] », vient du cours : elle est relevée)
TQDM_STATS = re.compile(r"\d+/\d*\s*\[[\d:<?]+(?:,\s*[\d.?]+(?:it/s|s/it))?")
TQDM_PERCENT = re.compile(r":?\s*\d+%\s*$")  # « description: 100% », écrit par tqdm
_TQDM_PARTS: set[int] = set()


def record(kind: str, text: str) -> None:
    if text and text.strip():
        _RECORDS.append({"where": _STATE["where"], "kind": kind, "text": text})


def figure_texts(fig) -> list[str]:
    """Tout le texte visible d'une figure matplotlib déjà tracée (graduations comprises)."""
    texts = list(fig.texts) + [t for leg in fig.legends for t in [*leg.get_texts(), leg.get_title()]]
    for ax in fig.axes:
        texts += [ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None),
                  ax.xaxis.label, ax.yaxis.label, ax.xaxis.get_offset_text(), ax.yaxis.get_offset_text(),
                  *ax.get_xticklabels(which="both"), *ax.get_yticklabels(which="both"), *ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    return [t.get_text() for t in texts if t is not None and t.get_visible() and t.get_text().strip()]


def widget_texts(w) -> list[tuple[str, str]]:
    """``[(quoi, texte)]`` : ce que l'élève lit d'un widget ipywidgets dans son état courant."""
    out = []
    kind = type(w).__name__
    for attr in ("description", "tooltip", "placeholder"):
        value = getattr(w, attr, None)
        if isinstance(value, str) and value:
            out.append((f"{kind}.{attr}", value))
    labels = getattr(w, "_options_labels", None)
    if labels:
        out += [(f"{kind} option", str(label)) for label in labels]
    for attr in ("tooltips",):
        out += [(f"{kind}.{attr}", str(t)) for t in getattr(w, attr, None) or ()]
    if kind in ("HTML", "HTMLMath", "Label") and isinstance(w.value, str):
        value = html.unescape(w.value)
        if id(w) in _TQDM_PARTS or TQDM_STATS.search(value):  # le compteur de tqdm, pas sa description
            value = TQDM_PERCENT.sub("", TQDM_STATS.sub("", value))
        out.append((f"{kind}.value", value))
    fmt = getattr(w, "readout_format", None)
    if fmt and getattr(w, "readout", False) and hasattr(w, "min"):
        for v in (w.min, w.value, w.max):  # ce que le curseur affiche à côté de lui
            try:
                out.append((f"{kind} affichage", format(v, fmt)))
            except (TypeError, ValueError):
                pass
    return out


def _all_widgets() -> list:
    from ipywidgets import Widget

    registry = getattr(Widget, "_active_widgets", None)
    live = list((Widget.widgets if registry is None else registry).values())
    for w in live:
        if type(w).__name__ == "TqdmHBox":
            _TQDM_PARTS.update(id(c) for c in w.children)
    return live


def _demos(widgets_) -> list:
    """Les ``Demo`` vivantes : trouvées par l'observateur qu'elles posent sur leurs contrôles."""
    from course_lib.widgets import Demo

    found = {}
    for w in widgets_:
        for handlers in getattr(w, "_trait_notifiers", {}).get("value", {}).values():
            for h in handlers:
                owner = getattr(h, "__self__", None)
                if isinstance(owner, Demo):
                    found[id(owner)] = owner
    return list(found.values())


def _candidates(control) -> list:
    values = getattr(control, "_options_values", None)
    if values is not None:
        values = list(values)
        if len(values) > MAX_VALUES:
            idx = sorted({round(i * (len(values) - 1) / (MAX_VALUES - 1)) for i in range(MAX_VALUES)})
            values = [values[i] for i in idx]
        return values
    if isinstance(getattr(control, "value", None), bool):
        return [not control.value]
    if hasattr(control, "min") and hasattr(control, "max"):
        lo, hi = control.min, control.max
        mid = (lo + hi) // 2 if isinstance(lo, int) else (lo + hi) / 2
        return [lo, mid, hi]
    return []


@contextlib.contextmanager
def _capture():
    """Ce qu'affichent les rappels : ``print`` (``stdout``), ``display`` (données publiées) et figures.

    Ni ``IPython.utils.capture`` (qui remplace l'éditeur d'affichage, dont le widget ``Output`` a
    besoin dans un noyau), ni rien d'envoyé au navigateur : ``publish`` est détourné le temps du
    rappel, et ``plt.show`` relève le texte des figures avant de les montrer.
    """
    import matplotlib.pyplot as plt

    shown: list[dict] = []
    stdout = io.StringIO()
    pub = getattr(_shell(), "display_pub", None)
    show = plt.show

    def publish(data, metadata=None, *args, **kwargs):
        shown.append(data)

    def recorded_show(*args, **kwargs):
        for num in plt.get_fignums():
            fig = plt.figure(num)
            fig.canvas.draw()
            shown.append({"figure": figure_texts(fig)})
        return show(*args, **kwargs)

    if pub is not None:
        pub.publish = publish
        pub.clear_output = lambda wait=False: None
    plt.show = recorded_show
    try:
        with contextlib.redirect_stdout(stdout):
            yield stdout, shown
    finally:
        plt.show = show
        if pub is not None:
            del pub.publish, pub.clear_output


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _record_captured(stdout, shown) -> None:
    record("sortie (stdout)", stdout.getvalue())
    for data in shown:
        if "figure" in data:
            for text in data["figure"]:
                record("figure", text)
            continue
        for mime in ("text/markdown", "text/html"):
            if mime in data:
                record(f"sortie ({mime})", data[mime])
                break
        else:
            if "text/plain" in data and "image/png" not in data:
                record("sortie (text/plain)", data["text/plain"])


def sweep(demo) -> None:
    """Chaque contrôle de ``demo`` prend quelques valeurs ; le texte affiché est relevé ; tout est remis."""
    original = [c.value for c in demo.controls]
    try:
        for i, control in enumerate(demo.controls):
            name = getattr(control, "description", "") or type(control).__name__
            for value in _candidates(control):
                if value == original[i]:
                    continue
                _STATE["where"] = f"démonstration « {name} » = {value!r}"
                with _capture() as (stdout, shown):
                    control.value = value
                _record_captured(stdout, shown)
                for what, text in [t for c in demo.controls for t in widget_texts(c)]:
                    record(what, text)
            with _capture():
                control.value = original[i]
    finally:
        _STATE["where"] = "cellule"
        with _capture():
            for control, value in zip(demo.controls, original, strict=True):
                if control.value != value:
                    control.value = value


def install(records_path: str) -> None:
    """Dans le noyau : relève le texte des figures à chaque tracé, et le code montré par ``getsource``."""
    import inspect

    from matplotlib.backend_bases import FigureCanvasBase

    _STATE["path"] = records_path
    if getattr(FigureCanvasBase.print_figure, "_course_audit", False):
        return
    print_figure = FigureCanvasBase.print_figure

    def audited_print_figure(self, *args, **kwargs):
        result = print_figure(self, *args, **kwargs)
        for text in figure_texts(self.figure):
            record("figure", text)
        return result

    audited_print_figure._course_audit = True
    try:  # les barres de progression : leurs morceaux (description, compteur) sont notés
        from tqdm.notebook import tqdm_notebook
    except ImportError:
        tqdm_notebook = None
    if tqdm_notebook is not None:
        status_printer = tqdm_notebook.status_printer

        def noted_status_printer(*args, **kwargs):
            container = status_printer(*args, **kwargs)
            _TQDM_PARTS.update(id(c) for c in getattr(container, "children", ()))
            return container

        tqdm_notebook.status_printer = staticmethod(noted_status_printer)
    FigureCanvasBase.print_figure = audited_print_figure
    getsource = inspect.getsource

    def noted_getsource(obj):
        source = getsource(obj)
        _CODE.append(source)
        return source

    inspect.getsource = noted_getsource


def after_cell() -> None:
    """Dans le noyau, après chaque cellule : widgets nouveaux ou changés, démonstrations jamais bougées.

    Écrit le relevé depuis la cellule précédente dans le fichier donné à :func:`install` (JSON).
    """
    try:
        live = _all_widgets()
        for w in live:
            texts = tuple(widget_texts(w))
            if texts and _SEEN_WIDGETS.get(id(w)) != texts:
                _SEEN_WIDGETS[id(w)] = texts
                for what, text in texts:
                    record(what, text)
        for demo in _demos(live):
            if id(demo) not in _SWEPT:
                _SWEPT.add(id(demo))
                sweep(demo)
        error = None
    except Exception as exc:  # noqa: BLE001 : le relevé ne doit jamais casser le notebook ; l'échec est rapporté
        import traceback

        error = "".join(traceback.format_exception(exc))
    Path(_STATE["path"]).write_text(json.dumps({"records": _RECORDS, "code": _CODE, "error": error}),
                                    encoding="utf-8")
    _RECORDS.clear()
    _CODE.clear()


# ============================================================================ sorties de nbval

def output_texts(outputs) -> list[tuple[str, str]]:
    """``[(quoi, texte)]`` des sorties d'une cellule exécutée (flux, Markdown, HTML, texte brut).

    Un ``text/plain`` qui accompagne une image, un widget ou un HTML n'est pas affiché ; une valeur
    Python renvoyée par la cellule (``tensor(...)``, liste, dictionnaire) est du code.
    """
    out = []
    for o in outputs:
        if o.get("output_type") == "stream" and o.get("name") == "stdout":
            out.append(("sortie (print)", o.get("text", "")))
        if o.get("output_type") == "stream" and o.get("name") == "stderr" and o.get("text", "").strip():
            out.append((STDERR, o["text"]))
        data = o.get("data") or {}
        for mime in ("text/markdown", "text/html"):
            if mime in data:
                out.append((f"sortie ({mime})", data[mime]))
                break
        else:
            plain = data.get("text/plain")
            if plain and not (set(data) - {"text/plain"}) and not re.match(r"\s*[\w.]*[(\[{]|\s*['\"\d-]", plain):
                out.append(("sortie (text/plain)", plain))
    return out


# Ce qui, imprimé, reste du code : un module PyTorch sur plusieurs lignes (« SmallCNN(\n  (features): ...\n) »),
# un tenseur ou un tableau (« tensor([...]) », sur une ou plusieurs lignes), une ligne « Linear(4, 2) ».
# Une ligne « Nom(clé=valeur, ...) » (« DataBundle('digits', train=1079) ») n'en est pas : c'est un objet
# du cours qui devrait se dire en français (:data:`OBJECT_REPR`).
REPR_LINE = re.compile(r"^([ \t]*)[A-Za-z_]\w*\(\n.*?^\1\)[ \t]*$"
                       r"|^[ \t]*[a-z_][\w.]*\(.*?\)[ \t]*$"
                       r"|^[ \t]*[A-Z][\w.]*\([^\n]*\)[ \t]*$", re.M | re.S)


def _repr_or_keep(m: re.Match) -> str:
    one_line = "\n" not in m.group(0).strip()
    return m.group(0) if one_line and m.group(0).lstrip()[:1].isupper() and OBJECT_REPR.search(m.group(0)) else " "


STDERR = "sortie d'erreur"


def stderr_problems(what: str, text: str) -> list[str]:
    """Un avertissement d'une bibliothèque (« No CUDA runtime is found... ») : l'élève le lit, en anglais."""
    return [f"texte sur la sortie d'erreur : « {text.strip()[:120]} » (à taire à la source, ou à dire en français)"] \
        if what == STDERR else []


def remove_code(text: str, code: list[str]) -> str:
    """``text`` sans le code montré par ``getsource`` (``code``) ni les lignes de représentation d'objet."""
    for source in code:
        text = text.replace(source, "\n").replace(source.rstrip("\n"), "\n")
    return REPR_LINE.sub(_repr_or_keep, text)
