"""Vérifie le site construit par ``make site`` : ``python site/check_site.py DOSSIER_HTML``.

Hors ligne, sans serveur (le ``linkcheck`` de Sphinx, lui, va sur le réseau) ; pour chaque page
``.html`` et chaque feuille de style ``.css`` du dossier :

- chaque lien interne (``href``, ``src``) mène à un fichier du site, et son ancre (``#id``) existe
  dans la page visée ;
- aucune ressource chargée (image, script, feuille de style, police, cadre) ne vient d'un autre
  hôte : le site se lit hors ligne ; les liens ``<a href="https://...">`` vers d'autres sites
  (Binder, articles) restent permis ;
- aucun script écrit dans la page (``<script>`` sans ``src``) ne nomme une adresse d'un autre hôte :
  le vérificateur ne suit pas ce qu'un script fait d'une chaîne (``script.src = URL``,
  ``import(URL)``, ``fetch(URL)``, ou un autre fichier ``.js`` qui la relit plus tard), donc nommer
  une adresse compte comme la charger ; seuls les espaces de noms XML (``http://www.w3.org/...``,
  des identifiants que le navigateur ne télécharge jamais) sont admis ;
- aucune formule non rendue : dans le texte visible, hors code (``pre``, ``code``...) et hors
  formules (``class="math"``, que MathJax met en forme), ni « $ » resté tel quel, ni commande TeX
  (``\\frac``, ``\\sum``...), ni indice ou exposant TeX (``_{``, ``^{``) ;
- aucun corrigé publié : pas de chemin ``solutions/``, pas de marque de solution ou de test caché
  de nbgrader dans le texte.

Code de sortie 1 et un problème par ligne s'il y en a ; ``check(dossier)`` les renvoie en liste.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Balise -> attributs qui chargent une ressource (la page la demande d'elle-même).
RESOURCE_ATTRS = {"img": ("src",), "script": ("src",), "iframe": ("src",), "source": ("src",),
                  "video": ("src", "poster"), "audio": ("src",), "embed": ("src",), "object": ("data",),
                  "input": ("src",)}
# <link rel=...> qui chargent (les autres, comme rel="canonical", ne sont que des adresses).
LOADING_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "prefetch", "manifest",
                "apple-touch-icon", "mask-icon"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
# Marques de nbgrader dans les corrigés et les tests cachés (solutions/), jamais dans un énoncé.
SOLUTION_MARKS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
# Une adresse d'un autre hôte écrite comme chaîne dans un script de la page.
SCRIPT_URL = re.compile(r"""["'`]((?:https?:)?//[^"'`\s]+)""")
XML_NAMESPACE = re.compile(r"^https?://www\.w3\.org/")
# Ce qui, dans le texte visible, trahit une formule que le parseur n'a pas reconnue.
RAW_TEX = re.compile(r"\$|\\[A-Za-z]{2,}|[_^]\{")
# Balises dont le texte n'est pas de la prose lue par l'élève : code, scripts, styles, SVG, MathML.
NOT_PROSE_TAGS = {"script", "style", "pre", "code", "kbd", "samp", "tt", "textarea", "template", "svg", "math"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
             "track", "wbr"}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, bool]] = []  # (balise, adresse, chargée par la page)
        self.text: list[str] = []
        self.prose: list[str] = []  # le texte visible hors code et hors formules
        self.scripts: list[str] = []  # le texte des <script> écrits dans la page
        self._open: list[tuple[str, bool]] = []  # (balise ouverte, texte à ignorer)
        self._skipped = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID_TAGS:
            # Sphinx écrit les formules dans <span class="math"> ou <div class="math">, entre \( \) ou \[ \].
            skip = tag in NOT_PROSE_TAGS or "math" in (a.get("class") or "").split()
            self._open.append((tag, skip))
            self._skipped += skip
            if tag == "script" and not a.get("src"):
                self.scripts.append("")
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href") is not None:
            self.links.append((tag, a["href"], False))
        elif tag == "link" and a.get("href") is not None:
            rels = set((a.get("rel") or "").lower().split())
            self.links.append((tag, a["href"], bool(rels & LOADING_RELS)))
        for attr in RESOURCE_ATTRS.get(tag, ()):
            if a.get(attr):
                self.links.append((tag, a[attr], True))
        if a.get("srcset"):
            for item in a["srcset"].split(","):
                if item.strip():
                    self.links.append((tag, item.split()[0], True))

    def handle_endtag(self, tag):
        if any(t == tag for t, _ in self._open):
            while self._open:
                t, skip = self._open.pop()
                self._skipped -= skip
                if t == tag:
                    break

    def handle_data(self, data):
        self.text.append(data)
        if self._open and self._open[-1][0] == "script" and self.scripts:
            self.scripts[-1] += data
        if not self._skipped:
            self.prose.append(data)


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.netloc) or parts.scheme not in ("", "file")


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def _pages(root: Path) -> list[Path]:
    """Les pages du site ; ``_static/`` et ``_sources/`` ne contiennent que des modèles et des sources."""
    return sorted(p for p in root.rglob("*.html") if p.relative_to(root).parts[0] not in ("_static", "_sources"))


def check(root: Path | str) -> list[str]:
    """Les problèmes du site construit dans ``root`` (liste vide : tout va bien)."""
    root = Path(root).resolve()
    if not (root / "index.html").is_file():
        return [f"{root} : pas de index.html (le site n'est pas construit : make site)"]
    problems: list[str] = []
    pages = {p: _parse(p) for p in _pages(root)}

    def target_ok(source: Path, url: str, where: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("mailto", "tel", "javascript", "data"):
            return
        path = unquote(parts.path)
        target = source if not path else (source.parent / path).resolve()
        if path and target.is_dir():
            target = target / "index.html"
        if root not in (target, *target.parents):
            problems.append(f"{where} : {url} sort du site")
        elif not target.is_file():
            problems.append(f"{where} : {url} mène à un fichier absent")
        elif parts.fragment and target.suffix == ".html":
            page = pages.get(target) or _parse(target)
            if unquote(parts.fragment) not in page.ids:
                problems.append(f"{where} : ancre #{parts.fragment} absente de {target.relative_to(root)}")

    for path, page in pages.items():
        rel = path.relative_to(root)
        for tag, url, loads in page.links:
            if not url or url.startswith("#") and not url[1:]:
                continue
            if _is_external(url):
                if loads and not url.startswith("data:"):
                    problems.append(f"{rel} : <{tag}> charge {url} depuis un autre hôte")
                continue
            target_ok(path, url, f"{rel} <{tag}>")
            if "solutions/" in url:
                problems.append(f"{rel} : lien vers un corrigé ({url})")
        named = {url for script in page.scripts for url in SCRIPT_URL.findall(script)}
        for url in sorted(u for u in named if not XML_NAMESPACE.match(u)):
            problems.append(f"{rel} : un <script> de la page nomme {url}, sur un autre hôte")
        prose = " ".join(page.prose)
        raw = list(RAW_TEX.finditer(prose))
        if raw:
            shown = " ; ".join("« " + " ".join(prose[max(m.start() - 30, 0):m.end() + 30].split()) + " »"
                               for m in raw[:3])
            problems.append(f"{rel} : formule non rendue ({len(raw)} « $ » ou marque TeX dans le texte "
                            f"visible) : {shown}")
        text = "".join(page.text)
        for mark in SOLUTION_MARKS:
            if mark in text:
                problems.append(f"{rel} : « {mark} » (corrigé ou test caché publié)")
    for css in sorted(root.rglob("*.css")):
        rel = css.relative_to(root)
        for m in CSS_URL.finditer(css.read_text(encoding="utf-8", errors="replace")):
            url = (m.group(1) or m.group(2)).strip()
            if url.startswith("data:"):
                continue
            if _is_external(url):
                problems.append(f"{rel} : charge {url} depuis un autre hôte")
            else:
                target_ok(css, url.split("?")[0].split("#")[0], f"{rel} url()")
    if any("solutions" in p.relative_to(root).parts for p in root.rglob("*")):
        problems.append("un dossier solutions/ est publié dans le site")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage : python site/check_site.py DOSSIER_HTML", file=sys.stderr)
        return 2
    problems = check(argv[0])
    for p in problems:
        print(p)
    n_pages = len(_pages(Path(argv[0]).resolve()))
    print(f">> site : {n_pages} pages vérifiées, {len(problems)} problème(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
