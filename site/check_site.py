"""Vérifie le site construit par ``make site`` : ``python site/check_site.py DOSSIER_HTML``.

Hors ligne, sans serveur (le ``linkcheck`` de Sphinx, lui, va sur le réseau) ; pour chaque page
``.html`` et chaque feuille de style ``.css`` du dossier :

- chaque lien interne (``href``, ``src``) mène à un fichier du site, et son ancre (``#id``) existe
  dans la page visée ;
- aucune ressource chargée (image, script, feuille de style, police, cadre) ne vient d'un autre
  hôte : le site se lit hors ligne ; les liens ``<a href="https://...">`` vers d'autres sites
  (Binder, articles) restent permis ;
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


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, bool]] = []  # (balise, adresse, chargée par la page)
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
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

    def handle_data(self, data):
        self.text.append(data)


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
