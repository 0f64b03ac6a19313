"""Le site statique du cours (``make site``, configuration dans ``site/``).

Toujours : le vérificateur ``site/check_site.py`` sait échouer (petits sites factices : liens,
autres hôtes, scripts de la page, formules non rendues) ; la page Glossaire est tirée de README.md.
Sur le site construit (``$COURSE_SITE_HTML``, donné par ``make site-test`` ; sauté sans lui, ou si
le site n'est pas construit, sauf avec ``COURSE_SITE_REQUIRED=1`` comme dans ``make site-test``) :
- le vérificateur ne trouve rien (liens internes, ancres, images, aucun autre hôte, aucune formule
  non rendue, aucun corrigé) ;
- une page par notebook de section, une par exercice (énoncé), aucune pour ``solutions/`` ;
- chaque démonstration y laisse une figure (vue figée de ``Demo``) ; aucun tableau resté en
  Markdown brut ; page en français ; bouton Binder vers le dépôt des élèves ;
- dans Chromium (Playwright), deux pages montrent une figure chargée (``naturalWidth > 0``), un
  tableau et une formule rendue par MathJax, sans aucun « $ » visible hors code et sans aucune
  requête vers un autre hôte.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from conftest import ROOT, section_notebooks

from course_lib.grading.student_copy import DEFAULT_DEPOT

# Le site construit est testé par make site-test, qui donne son dossier : un site d'une construction
# plus ancienne, resté dans build/, n'est jamais testé par make test.
SITE = Path(os.environ["COURSE_SITE_HTML"]) if os.environ.get("COURSE_SITE_HTML") else None
EXERCISES = sorted((ROOT / "notebooks" / "exercices").glob("*.ipynb"))
# Deux pages ouvertes dans le navigateur : chacune a une démonstration, des tableaux et des formules.
BROWSER_PAGES = ("notebooks/00_introduction.html", "notebooks/01_magnitude.html")


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_site", ROOT / "site" / "check_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_site = _load_checker()


# --- le vérificateur sait échouer -------------------------------------------------------------

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


GOOD = {
    "index.html": '<html><body><a href="notebooks/a.html#intro">a</a> <a href="https://mybinder.org/v2">Binder</a>'
                  '<img src="_static/f.png"><link rel="stylesheet" href="_static/s.css"><a href="#">haut</a>'
                  '<img src="data:image/png;base64,iVBO"></body></html>',
    "notebooks/a.html": '<html><body><h1 id="intro">A</h1><a href="../index.html">retour</a>'
                        # ce qui n'est pas de la prose : formules (que MathJax rend), code, scripts
                        '<p>la perte <span class="math notranslate">\\(L = \\frac{1}{n}\\sum_{i} x_i\\)</span></p>'
                        '<div class="math">\\[s_{k+1} = s_k\\]</div><pre>prix = "$5" \\frac</pre>'
                        '<p><code>$HOME</code></p><script>const t = "$x$"; const ns = "http://www.w3.org/2000/svg";'
                        '</script><script type="application/vnd.jupyter.widget-view+json">{"model_id": "a"}</script>'
                        '</body></html>',
    "_static/f.png": "png",
    "_static/s.css": "body { background: url('f.png'); } .x { background: url(data:image/png;base64,AA); }",
    "_static/webpack-macros.html": "<link href=\"{{ pathto('x.css', 1) }}\">",  # un modèle, pas une page
}


def test_checker_accepts_a_clean_site(tmp_path):
    assert check_site.check(_write(tmp_path, GOOD)) == []


@pytest.mark.parametrize("case, change, expected", [
    ("fichier absent", {"notebooks/a.html": '<a href="b.html">b</a>'}, "notebooks/a.html <a> : b.html mène à un fichier absent"),
    ("ancre absente", {"notebooks/a.html": '<a href="../index.html#nulle-part">x</a>'},
     "ancre #nulle-part absente de index.html"),
    ("image absente", {"notebooks/a.html": '<img src="../_static/g.png">'}, "g.png mène à un fichier absent"),
    ("image d'un autre hôte", {"notebooks/a.html": '<img src="https://example.org/f.png">'},
     "<img> charge https://example.org/f.png depuis un autre hôte"),
    ("script d'un autre hôte", {"notebooks/a.html": '<script src="//cdn.example.org/m.js"></script>'},
     "<script> charge //cdn.example.org/m.js depuis un autre hôte"),
    ("police d'un autre hôte", {"_static/s.css": "@import 'https://fonts.example.org/css';"},
     "_static/s.css : charge https://fonts.example.org/css depuis un autre hôte"),
    ("corrigé", {"notebooks/a.html": "<pre>### BEGIN SOLUTION\nx = 1</pre>"}, "« ### BEGIN SOLUTION »"),
    ("dossier solutions", {"solutions/ex.html": "<p>corrigé</p>"}, "un dossier solutions/ est publié"),
    ("hors du site", {"notebooks/a.html": '<a href="../../ailleurs.html">x</a>'}, "sort du site"),
    # un script de la page qui nomme une adresse d'un autre hôte : il peut la charger plus tard
    ("adresse dans un script", {"notebooks/a.html": '<script>const THEBE_JS_URL = "https://unpkg.com/t.js"</script>'},
     "un <script> de la page nomme https://unpkg.com/t.js, sur un autre hôte"),
    ("import() dans un script", {"notebooks/a.html": "<script type=module>import('//cdn.example.org/m.js')</script>"},
     "nomme //cdn.example.org/m.js"),
    ("fetch() dans un script", {"notebooks/a.html": '<script>fetch(`https://example.org/data.json`)</script>'},
     "nomme https://example.org/data.json"),
    # formules que le parseur n'a pas reconnues : « $ » et TeX restés dans le texte
    ("$$ dans un paragraphe", {"notebooks/a.html": "<p>SGD fait $ <em>v</em> n'est pas remis à zéro</p>"},
     "notebooks/a.html : formule non rendue (1 « $ »"),
    ("TeX hors formule", {"notebooks/a.html": "<li><p>f(t) = \\frac{\\alpha}{2}</p></li>"}, "« f(t) = \\frac"),
    ("indice TeX", {"notebooks/a.html": "<p>I_{j} après un <code>code</code></p>"}, "formule non rendue"),
    ("$ après une formule", {"notebooks/a.html": '<p><span class="math">\\(x\\)</span> coûte 5 $</p>'},
     "formule non rendue"),
])
def test_checker_finds_each_problem(tmp_path, case, change, expected):
    problems = check_site.check(_write(tmp_path, {**GOOD, **change}))
    assert any(expected in p for p in problems), (case, problems)


def test_checker_exit_code(tmp_path, capsys):
    assert check_site.main([str(_write(tmp_path / "ok", GOOD))]) == 0
    assert check_site.main([str(tmp_path / "vide")]) == 1
    assert "make site" in capsys.readouterr().out


def test_site_config_points_binder_to_the_student_release():
    import yaml

    config = yaml.safe_load((ROOT / "site" / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"] == f"https://github.com/{DEFAULT_DEPOT}"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["sphinx"]["config"]["language"] == "fr"
    assert "solutions" in config["exclude_patterns"]
    # le menu contextuel de MathJax 3 n'existe qu'en anglais ; $$...$$ dans un paragraphe est une formule
    assert config["sphinx"]["config"]["mathjax3_config"]["options"]["enableMenu"] is False
    assert config["sphinx"]["config"]["myst_dmath_double_inline"] is True
    for page in ("index.md", "exercices.md"):
        links = re.findall(r"https://mybinder\.org/v2/gh/([^/]+/[^/]+)/", (ROOT / "site" / page).read_text())
        assert links and set(links) == {DEFAULT_DEPOT}, (page, links)


def _load_extension():
    spec = importlib.util.spec_from_file_location("course_site", ROOT / "site" / "_ext" / "course_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_glossary_page_is_the_readme_section_with_links_to_the_pages():
    course_site = _load_extension()
    section = course_site.glossary_section((ROOT / "README.md").read_text(encoding="utf-8"))
    assert section.startswith("Une notation pour tout le cours")
    assert "\n## Abréviations\n" in section and "| APoZ |" in section  # sous-section remontée d'un niveau
    assert "## Démarrer" not in section and "\n# " not in section
    assert (course_site.relink("[00](notebooks/00_introduction.ipynb) [a](https://arxiv.org/x) [b](#c)", "site")
            == "[00](../notebooks/00_introduction.ipynb) [a](https://arxiv.org/x) [b](#c)")
    # une seule source : la page du dépôt n'a que son titre, le glossaire vient de README.md
    stub = (ROOT / "site" / "glossaire.md").read_text(encoding="utf-8")
    assert "|" not in stub and stub.startswith("# Glossaire")
    assert "site/glossaire" in (ROOT / "site" / "_toc.yml").read_text(encoding="utf-8")
    assert "](glossaire.md)" in (ROOT / "site" / "index.md").read_text(encoding="utf-8")


# --- le site construit --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site() -> Path:
    if SITE is None or not (SITE / "index.html").is_file():
        msg = f"site non construit ou non désigné ({SITE}) : make site site-test"
        if os.environ.get("COURSE_SITE_REQUIRED", "") not in ("", "0"):
            pytest.fail(msg)
        pytest.skip(msg)
    return SITE


def _page(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


def test_built_site_passes_the_checker(site):
    assert check_site.check(site) == []


def test_every_section_and_exercise_has_a_page_and_no_solution(site):
    for nb in section_notebooks():
        assert (site / "notebooks" / f"{nb.stem}.html").is_file(), nb.name
    for nb in EXERCISES:
        html = _page(site, f"notebooks/exercices/{nb.stem}.html")
        assert "VOTRE" in html, nb.name  # l'énoncé, cellules à compléter comprises
    assert not (site / "solutions").exists() and not (site / "_sources" / "solutions").exists()


def _demo_cells(nb_path: Path) -> int:
    nb = nbformat.read(nb_path, as_version=4)
    return sum(bool(re.search(r"\b\w+_demo\(", c.source)) for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("nb", section_notebooks(), ids=lambda p: p.stem)
def test_section_page_reads_without_a_kernel(site, nb):
    html = _page(site, f"notebooks/{nb.stem}.html")
    assert '<html lang="fr"' in html
    # libellés des thèmes sans traduction française, remplacés par site/_ext/course_site.py
    for english in ("Toggle primary sidebar", "Launch on Binder", "Search this book", 'aria-label="Main"'):
        assert english not in html, english
    # le bouton Binder de la page ouvre ce notebook dans le dépôt des élèves
    assert (f"https://mybinder.org/v2/gh/{DEFAULT_DEPOT}/HEAD?urlpath=lab/tree/notebooks/{nb.stem}.ipynb"
            in html)
    # chaque démonstration laisse une vue figée avec sa figure
    static = re.findall(r'<div class="course-static">(.*?)</div>', html, re.S)
    with_figure = [s for s in static if '<img src="data:image/png;base64,' in s]
    assert len(with_figure) >= _demo_cells(nb), (nb.name, len(static), len(with_figure))
    # aucun tableau resté en Markdown brut (display(Markdown(...)) rendu en <table>)
    assert not re.search(r"\|\s*-{3,}\s*\|", re.sub(r"<[^>]+>", "", html)), nb.name
    assert "_static/mathjax/tex-chtml.js" in html and (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    # pied de page en français : « © 2026 Les auteurs... », « Mis à jour le 6 décembre 2026 »
    assert "Copyright" not in html and 'class="component-author"' not in html
    day = re.search(r"Mis à jour le (\d+) ", html)
    assert day and not day.group(1).startswith("0"), nb.name
    assert "thebe" not in html.lower()  # Thebe est éteint (launch_buttons.thebe: false)


def test_glossary_page_links_to_the_notebooks(site):
    html = _page(site, "site/glossaire.html")
    assert "Abréviations" in html and "<table" in html
    linked = set(re.findall(r'href="\.\./notebooks/(\d\d_\w+)\.html"', html))
    assert linked and all((site / "notebooks" / f"{stem}.html").is_file() for stem in linked)
    assert 'href="glossaire.html"' in _page(site, "site/index.html")


# --- dans le navigateur -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


_VISIBLE_JS = """
() => {
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0
                        && getComputedStyle(e).visibility !== 'hidden'; };
  const imgs = Array.from(document.querySelectorAll('.cell_output img'));
  return {
    lang: document.documentElement.lang,
    figures: imgs.filter(i => i.complete && i.naturalWidth > 0 && shown(i)).length,
    broken: imgs.filter(i => i.complete && i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
    tables: Array.from(document.querySelectorAll('.cell_output table')).filter(shown).length,
    formulas: Array.from(document.querySelectorAll('mjx-container')).filter(shown).length,
    math_errors: document.querySelectorAll('mjx-merror').length,
    // un « $ » visible hors code et hors formule : une formule que le parseur n'a pas reconnue
    dollars: (() => {
      const found = [];
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const p = n.parentElement;
        if (!n.data.includes('$') || p.closest('pre, code, script, style, mjx-container') || !shown(p)) continue;
        found.push(n.data.trim().slice(0, 80));
      }
      return found;
    })(),
  };
}
"""


@pytest.mark.browser
@pytest.mark.parametrize("rel", BROWSER_PAGES)
def test_page_in_browser_shows_figure_table_formula_offline(served, rel):
    from browser_harness import CHROMIUM, CHROMIUM_ARGS, require_browser
    from playwright.sync_api import sync_playwright

    require_browser()
    local = urlsplit(served).netloc
    outside: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith("data:") or urlsplit(url).netloc == local:
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", route)
            page.goto(f"{served}/{rel}", wait_until="load")
            page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=60_000)
            page.wait_for_load_state("networkidle")
            seen = page.evaluate(_VISIBLE_JS)
        finally:
            browser.close()
    assert seen["lang"] == "fr", seen
    assert seen["figures"] > 0 and not seen["broken"], seen
    assert seen["tables"] > 0, seen
    assert seen["formulas"] > 0 and seen["math_errors"] == 0, seen
    assert seen["dollars"] == [], seen
    assert outside == [], f"requêtes vers d'autres hôtes : {outside}"


# --- make site, make site-test, CI ----------------------------------------------------------------

def test_make_site_builds_everything_afresh_then_checks_and_ci_runs_it():
    import subprocess

    out = subprocess.run(["make", "-n", "site", "site-test"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    out = out.replace("\\\n", " ")  # une commande par ligne
    build = re.search(r"jupyter-book build \. ([^\n]*)", out).group(1)
    assert "--all" in build and "--config site/_config.yml" in build and "--toc site/_toc.yml" in build
    assert "--warningiserror" in build  # un lien cassé, un notebook qui échoue : la construction échoue
    assert out.index("rm -rf build/site/_build") < out.index("jupyter-book build") < out.index("check_site.py")
    assert re.search(r"COURSE_SITE_REQUIRED=1 .*pytest .*tests/test_site\.py", out)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test\b", ci, re.M) and re.search(r"^make site site-test\b", ci, re.M)
    assert ci.index("make test") < ci.index("make site site-test")
