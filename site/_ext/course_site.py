"""Extension Sphinx du site du cours (``site/_config.yml``) : des pages lisibles hors ligne.

- **MathJax hors ligne** : les fichiers de MathJax 3 du paquet ``sphinx-mathjax-offline`` (extra
  ``dev``) sont copiés dans ``_static/mathjax`` (seulement ce que ``tex-chtml.js`` charge : polices,
  extensions TeX, menu, MathML d'accessibilité) ; ``mathjax_path`` y pointe.
- **Démonstrations** : l'état des widgets que nbclient range dans chaque notebook exécuté n'est pas
  recopié dans les pages (le site ne charge aucun gestionnaire de widgets) ; chaque démonstration
  s'y lit par sa vue figée (``course_lib.widgets.Demo.static_html``), mise en forme par
  ``static/course_site.css``.
- **Interface en français** : ``language: fr`` traduit presque tout ; les quelques libellés des
  thèmes qui n'ont pas de traduction française (``FRENCH_UI``) sont remplacés dans les pages écrites.
- **Pas de Thebe** : Jupyter Book charge toujours ``sphinx_thebe``, qui écrit dans chaque page
  l'adresse de Thebe sur unpkg.com et un script qui l'y chercherait ; le site n'exécute rien
  (``launch_buttons.thebe: false``), donc ce que l'extension ajoute aux pages est retiré.
- **Pied de page en français** : ``templates/copyright.html`` remplace le composant du thème qui
  écrit « © Copyright 2026. » par un crédit en français (« © 2026 Les auteurs du cours... ») ; la
  ligne « Par {author} » du thème est retirée du pied de page (l'auteur est dans le crédit).
- **Glossaire** : la page ``course_site_glossary_page`` reçoit, à la lecture, la section
  « Glossaire » de README.md (seule source du glossaire) ; ses liens relatifs (vers
  ``notebooks/NN_....ipynb``) sont récrits depuis le dossier de la page.
- **Liens vers un dossier** (``[exercices/](exercices/)`` dans un notebook : JupyterLab ouvre le
  dossier) : ils mènent à la page du site qui liste ce dossier (``course_site_folder_pages``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path, PurePosixPath

from sphinx.errors import ExtensionError
from sphinx.transforms.post_transforms import SphinxPostTransform

STATIC = Path(__file__).resolve().parent / "static"
TEMPLATES = Path(__file__).resolve().parent / "templates"
MATHJAX_PACKAGE = "sphinx-mathjax-offline"
# Ce que tex-chtml.js charge depuis son dossier (le reste du paquet : autres combinaisons, 20 Mo).
MATHJAX_FILES = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "a11y", "ui")


def mathjax_source() -> Path:
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or spec.origin is None:
        raise ExtensionError(f"MathJax hors ligne : le paquet {MATHJAX_PACKAGE} manque "
                             "(pip install -e '.[dev]', ou make venv-dev).")
    return Path(spec.origin).parent / "static" / "mathjax"


def copy_mathjax(app, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for name in MATHJAX_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


# Libellés anglais des thèmes (pydata-sphinx-theme, sphinx-book-theme) sans traduction française,
# tels qu'ils apparaissent dans les attributs des pages (title, aria-label, placeholder, alt).
FRENCH_UI = {
    '"Toggle primary sidebar"': '"Afficher ou masquer le sommaire du cours"',
    '"Toggle secondary sidebar"': '"Afficher ou masquer le sommaire de la page"',
    '"Launch interactive content"': '"Ouvrir la version interactive"',
    '"Launch on Binder"': '"Ouvrir sur Binder"',
    '"Binder logo"': '"Logo de Binder"',
    '"Search this book..."': '"Rechercher dans le cours…"',
    'aria-label="Main"': 'aria-label="Sommaire"',
}


def translate_pages(app, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for page in outdir.rglob("*.html"):
        if page.relative_to(outdir).parts[0] in ("_static", "_sources"):
            continue
        text = original = page.read_text(encoding="utf-8")
        for english, french in FRENCH_UI.items():
            text = text.replace(english, french)
        if text != original:
            page.write_text(text, encoding="utf-8")


def drop_widget_state(app, env) -> None:
    for data in getattr(env, "nb_metadata", {}).values():
        data.get("js_files", {}).pop("ipywidgets_state", None)


def add_static(app) -> None:
    mathjax_source()  # échoue tôt, avant d'exécuter les notebooks, si MathJax manque
    app.config.html_static_path.append(str(STATIC))


def drop_thebe(app, config) -> None:
    """Retire ce que ``sphinx_thebe`` ajoute aux pages quand Thebe est éteint."""
    if config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        return
    for listeners in app.events.listeners.values():
        listeners[:] = [x for x in listeners if getattr(x.handler, "__module__", "") != "sphinx_thebe"]
    app.registry.css_files = [(name, attrs) for name, attrs in app.registry.css_files
                              if name != "sphinx-thebe.css"]


def add_templates(app, config) -> None:
    config.templates_path.insert(0, str(TEMPLATES))
    # Pas de ligne « Par {author} » : l'auteur est nommé dans le crédit (templates/copyright.html).
    config.html_theme_options.setdefault("footer_content_items",
                                         ["copyright.html", "last-updated.html", "extra-footer.html"])


GLOSSARY_HEADING = "## Glossaire"
MD_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def glossary_section(readme: str) -> str:
    """La section « Glossaire » de README.md, jusqu'au titre suivant de même niveau, titres
    remontés d'un niveau (« ### Abréviations » devient une section de la page)."""
    lines = readme.splitlines()
    start = lines.index(GLOSSARY_HEADING) + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"#{1,2} ", lines[i])), len(lines))
    return "\n".join(line[1:] if line.startswith("###") else line for line in lines[start:end]).strip() + "\n"


def relink(markdown: str, page_dir: str) -> str:
    """Les liens relatifs de README.md (écrits depuis la racine du dépôt), vus depuis ``page_dir``."""
    def one(m):
        target = m.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
            return m.group(0)
        return m.group(1) + os.path.relpath(target, page_dir).replace(os.sep, "/") + m.group(3)
    return MD_LINK.sub(one, markdown)


def fill_glossary(app, docname, source) -> None:
    if docname != app.config.course_site_glossary_page:
        return
    readme = Path(app.srcdir) / "README.md"
    app.env.note_dependency(str(readme))
    section = glossary_section(readme.read_text(encoding="utf-8"))
    source[0] = source[0].rstrip() + "\n\n" + relink(section, str(PurePosixPath(docname).parent))
    app.env.course_site_glossary = source[0]


def write_glossary_source(app, exc) -> None:
    """Le bouton « Télécharger » de la page donne le glossaire, pas la page vide du dépôt."""
    text = getattr(app.env, "course_site_glossary", None)
    target = Path(app.outdir) / "_sources" / f"{app.config.course_site_glossary_page}.md"
    if exc is None and text and target.is_file():
        target.write_text(text, encoding="utf-8")


class FolderLinks(SphinxPostTransform):
    """Un lien Markdown vers un dossier connu de ``course_site_folder_pages`` mène à sa page."""

    default_priority = 5  # avant la résolution des liens de MyST (9)

    def run(self, **kwargs) -> None:
        from sphinx import addnodes

        pages = self.config.course_site_folder_pages
        for node in self.document.findall(addnodes.pending_xref):
            if node.get("reftype") != "myst":
                continue
            base = PurePosixPath(node.get("refdoc", self.env.docname)).parent
            folder = (base / node["reftarget"]).as_posix().rstrip("/")
            if folder in pages:
                node["refdomain"], node["reftarget"], node["reftargetid"] = "doc", pages[folder], None


def setup(app):
    app.add_config_value("course_site_folder_pages", {}, "env")
    app.add_config_value("course_site_glossary_page", "", "env")
    app.connect("config-inited", drop_thebe)
    app.connect("config-inited", add_templates)
    app.connect("source-read", fill_glossary)
    app.connect("build-finished", write_glossary_source)
    app.connect("builder-inited", add_static)
    app.connect("env-updated", drop_widget_state)
    app.connect("build-finished", copy_mathjax)
    app.connect("build-finished", translate_pages)
    app.add_post_transform(FolderLinks)
    app.add_css_file("course_site.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
