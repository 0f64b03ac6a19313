"""``course-student-copy DOSSIER`` : le dépôt des élèves, complet et autonome (à publier, Binder compris).

La copie est un dépôt à part entière, pas un extrait de celui des enseignants :

- copiés tels quels : ``course_lib/`` sans ``grading/`` (ni outils de notation ni
  ``course-student-copy`` lui-même), ``notebooks/`` (sections et exercices élèves),
  ``environment.yml`` et ``postBuild`` (le même Binder), ``scripts/ensure_venv.sh``, ``.gitignore`` ;
- écrits pour les élèves, depuis ``release/`` : ``README.md`` (sections élèves seulement ; le
  plan du cours et la section conda sont repris du README principal, jamais recopiés à la main),
  ``Makefile`` (``make lab``, ``make test`` = nbval sur ``notebooks/``), et ``pyproject.toml``
  (mêmes dépendances, un extra ``test`` = pytest + nbval, aucun point d'entrée).

Jamais copiés : ``solutions/``, ``tests/``, ``benchmarks/``, ``.ci/``, les dossiers de travail.
La copie part d'un commit (``HEAD`` par défaut, extrait par ``git archive``), jamais du dossier
de travail : un notebook exécuté et sauvegardé (sorties comprises) ou une modification non
commitée n'y entrent pas. Un notebook commité avec des sorties fait refuser la copie.
Avant la copie, les notebooks élèves sont régénérés depuis ``solutions/`` et comparés : une
copie n'est jamais faite à partir de notebooks périmés. La copie est construite dans un dossier
temporaire voisin, vérifiée (:func:`release_problems` : aucun marqueur de solution ni de test
caché, aucun module de notation, aucun lien mort du README), puis renommée : en cas d'erreur,
rien n'a changé. Deux constructions depuis le même dépôt donnent les mêmes fichiers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .commands import NBGRADER_MISSING, nbgrader_missing
from .exercises import ROOT, SOLUTIONS_DIR, STUDENT_DIR
from .generate import build

TEMPLATES = "release"  # dossier des modèles (README.md, Makefile), relatif au dépôt
# Ce que la copie reprend du dépôt (un dossier finit par « / »), et ce qu'elle en retire.
COPIED = ("course_lib/", "notebooks/", "environment.yml", "postBuild", "scripts/ensure_venv.sh",
          ".gitignore", ".gitattributes", "LICENSE", "jupyter_config/labconfig/",
          "jupyter_config/workspace.json", "jupyter_config/jupyter_server_config.py")
LEFT_OUT = ("course_lib/grading/",)
EXCLUDED_ANY = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache", ".venv", ".git"}
# Ce qu'une copie ne doit jamais contenir.
FORBIDDEN_PATHS = ("solutions", "tests", "benchmarks", ".ci", "course_lib/grading", TEMPLATES)
FORBIDDEN_TEXT = re.compile(r"\bgrading\b|\bsolutions/|course-grade|BEGIN (SOLUTION|HIDDEN TESTS)")
# Une ligne qui n'est QUE le marqueur (comme nbgrader les lit) ; un texte qui en parle ne compte pas.
MARKER_LINE = re.compile(r"^[#\s/%*-]*(BEGIN|END) (SOLUTION|HIDDEN TESTS)[\s*/-]*$", re.M)
# Dans le modèle du README : « <!-- section du dépôt des enseignants : Titre --> ».
# Dans le modèle du README : les durées mesurées, reprises du README principal.
TIMINGS = "<!-- durées du dépôt des enseignants -->"
INCLUDE = re.compile(r"^<!-- section du dépôt des enseignants : (.+?) -->$", re.M)
DEPOT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
DEFAULT_DEPOT = "course-pruning/chapitre-8-5-eleves"
STUDENT_EXTRA = ("pytest", "nbval")  # l'extra « test » de la copie, bornes prises à l'extra dev
LINK = re.compile(r"\]\(([^)\s]+)\)")
class MissingTool(RuntimeError):
    """Un outil enseignant (nbgrader) manque à l'environnement ; le message dit quoi installer."""


def export_commit(root: Path, commit: str, dest: Path) -> Path:
    """Extrait ``commit`` de ``root`` (``git archive``) dans ``dest`` : les fichiers commités, rien
    du dossier de travail. Lève ``RuntimeError`` (en français) hors d'un dépôt git ou si le commit
    n'existe pas."""
    try:
        proc = subprocess.run(["git", "archive", "--format=tar", commit], cwd=root,
                              capture_output=True, check=False)
    except OSError as exc:
        raise RuntimeError(f"git est introuvable ({exc}) : la copie élève part d'un commit.") from None
    if proc.returncode != 0:
        raise RuntimeError(f"Impossible d'extraire le commit {commit!r} de {root} (la copie élève part "
                           f"d'un commit) : {proc.stderr.decode('utf-8', 'replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(dest, filter="data")
        else:  # Python < 3.11.4
            archive.extractall(dest)  # noqa: S202 (archive produite par git depuis le dépôt)
    return dest


def uncommitted(root: Path = ROOT) -> list[str]:
    """Les fichiers que la copie reprendrait et que le dossier de travail modifie sans les avoir
    commités (ils ne sont PAS dans la copie, qui part du commit)."""
    paths = [c.rstrip("/") for c in COPIED] + ["README.md", "pyproject.toml", TEMPLATES]
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=root,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line[3:] for line in out.splitlines() if line.strip()]


def notebook_outputs(path: Path) -> list[int]:
    """Les cellules de code d'un notebook qui portent des sorties ou un numéro d'exécution."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (ValueError, AttributeError):
        return []
    return [i for i, c in enumerate(cells) if c.get("cell_type") == "code"
            and (c.get("outputs") or c.get("execution_count") is not None)]


def course_files(root: Path = ROOT, use_git: bool = True) -> list[Path]:
    """Les fichiers du dépôt que la copie reprend tels quels, relatifs à ``root``, triés ; sans
    ``use_git`` (un commit extrait), tous les fichiers de ``root``."""
    try:
        if not use_git:
            raise OSError
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=root, capture_output=True, check=True, text=True).stdout
        files = [Path(p) for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]

    def wanted(rel: Path) -> bool:
        s = rel.as_posix()
        return (any(s == c or (c.endswith("/") and s.startswith(c)) for c in COPIED)
                and not any(s.startswith(x) for x in LEFT_OUT)
                and not EXCLUDED_ANY.intersection(rel.parts) and (root / rel).is_file())

    return sorted(p for p in files if wanted(p))


def readme_section(readme: str, title: str) -> str:
    """La section ``title`` d'un README (son titre compris), jusqu'au titre suivant de même niveau."""
    lines, out, level, fenced = readme.splitlines(), [], 0, False
    for line in lines:
        fenced = fenced != line.startswith("```")
        heading = None if fenced or line.startswith("```") else re.match(r"(#+) (.+?)\s*$", line)
        if heading and level and len(heading.group(1)) <= level:
            break
        if heading and not level and heading.group(2) == title:
            level = len(heading.group(1))
        if level:
            out.append(line)
    if not out:
        raise RuntimeError(f"Section « {title} » introuvable dans le README principal : "
                           "le modèle release/README.md la reprend, renommez-la des deux côtés.")
    return "\n".join(out).rstrip() + "\n"


def student_readme(root: Path = ROOT, depot: str = DEFAULT_DEPOT) -> str:
    """Le README de la copie : le modèle, ses sections reprises du README principal, le badge Binder."""
    main = (root / "README.md").read_text(encoding="utf-8")
    template = (root / TEMPLATES / "README.md").read_text(encoding="utf-8")
    text = INCLUDE.sub(lambda m: readme_section(main, m.group(1)).rstrip("\n"), template)
    return text.replace(TIMINGS, timings_paragraph(main)).replace("{{depot}}", depot)


def timings_paragraph(main: str) -> str:
    """Le paragraphe des durées mesurées du README principal (généré par ``scripts/readme_timings.py``
    entre ``<!-- durées:début -->`` et ``<!-- durées:fin -->``), sans son renvoi à
    ``benchmarks/RESULTS.md``, qui n'est pas dans la copie."""
    found = re.search(r"^<!-- durées:début -->\n(.*?)\n<!-- durées:fin -->$", main, re.S | re.M)
    if not found:
        raise RuntimeError("README.md : paragraphe des durées introuvable (marqueurs « <!-- durées:début --> » "
                           "et « <!-- durées:fin --> ») ; lancez `python scripts/readme_timings.py`.")
    text = re.sub(r" ; détails [^\n]*?: \[benchmarks/RESULTS\.md\]\(benchmarks/RESULTS\.md\)", "",
                  found.group(1))
    return text.replace("Mesures : `make bench`, ", "Mesures du ")


def student_pyproject(root: Path = ROOT) -> str:
    """Le ``pyproject.toml`` de la copie : les tables du paquet, sans extras ni points d'entrée enseignant."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    keep = {"build-system", "project", "tool.setuptools.packages.find", "tool.setuptools.package-data"}
    out, table = [], None
    for line in text.splitlines():
        m = re.match(r"^\[([^\[\]]+)\]\s*$", line)
        table = m.group(1).strip() if m else table
        if table in keep and not line.lstrip().startswith("#"):
            out.append(line)
    dev = {re.split(r"[<>=!~;\s\[]", r, maxsplit=1)[0]: r
           for r in data["project"].get("optional-dependencies", {}).get("dev", [])}
    missing = [n for n in STUDENT_EXTRA if n not in dev]
    if missing:
        raise RuntimeError(f"L'extra dev de pyproject.toml ne déclare pas {missing} : "
                           "la copie en a besoin pour `make test`.")
    extra = ", ".join(json.dumps(dev[n]) for n in STUDENT_EXTRA)
    out += ["", "[project.optional-dependencies]", "# `make test` : exécuter chaque notebook (nbval).",
            f"test = [{extra}]"]
    warnings = data.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("filterwarnings")
    if warnings:
        out += ["", "[tool.pytest.ini_options]", f"filterwarnings = {json.dumps(warnings)}"]
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"
    parsed = tomllib.loads(result)
    if "scripts" in parsed["project"] or set(parsed["project"]["optional-dependencies"]) != {"test"}:
        raise RuntimeError("pyproject.toml de la copie incohérent (points d'entrée ou extras en trop).")
    return result


def _notebook_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="ignore")
    try:  # le texte des cellules, ligne à ligne
        return "\n".join(c["source"] if isinstance(c.get("source"), str) else "".join(c.get("source", []))
                         for c in json.loads(text).get("cells", []))
    except (ValueError, AttributeError, KeyError, TypeError):
        return text


def leaks(folder: Path) -> list[str]:
    """Fichiers de ``folder`` qui contiennent un marqueur de solution ou de test caché."""
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            text = (_notebook_text(path) if path.suffix == ".ipynb"
                    else path.read_text(encoding="utf-8", errors="ignore"))
            found += [f"{path.relative_to(folder)} : {m.group(0).strip()}"
                      for m in MARKER_LINE.finditer(text)]
    return found


def release_problems(folder: str | Path) -> list[str]:
    """Ce qui empêche ``folder`` d'être publié aux élèves (liste vide : rien)."""
    folder = Path(folder)
    problems = [f"marqueur nbgrader : {x}" for x in leaks(folder)]
    problems += [f"{p} ne doit pas être dans la copie" for p in FORBIDDEN_PATHS if (folder / p).exists()]
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or EXCLUDED_ANY.intersection(path.relative_to(folder).parts):
            continue
        text = (_notebook_text(path) if path.suffix == ".ipynb"
                else path.read_text(encoding="utf-8", errors="ignore"))
        problems += [f"{path.relative_to(folder)} mentionne « {m.group(0)} »"
                     for m in FORBIDDEN_TEXT.finditer(text)]
        if path.suffix == ".ipynb" and notebook_outputs(path):
            cells = ", ".join(map(str, notebook_outputs(path)))
            problems.append(f"{path.relative_to(folder)} : sorties enregistrées (cellules {cells}) ; "
                            "la copie élève n'en livre jamais : videz-les (nbstripout) et commitez")
        if path.suffix in (".md", ".ipynb"):
            for link in LINK.findall(text):
                rel = link.split("#")[0]
                if rel and not re.match(r"[a-z]+:", rel) and not (path.parent / rel).exists():
                    problems.append(f"{path.relative_to(folder)} : lien mort « {link} »")
    readme = folder / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        problems += [f"README.md : section « {t} »" for t in re.findall(r"^#+ (Enseignants|Mainteneurs)\b",
                                                                        text, re.M)]
        problems += ["README.md : modèle non rempli « {{ »"] if "{{" in text else []
    else:
        problems.append("README.md manque")
    return problems


def _check_target(target, depot: str, root: Path) -> Path:
    if not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"Le dossier de destination doit être un chemin (str ou Path) ; "
                        f"reçu {type(target).__name__}.")
    if not isinstance(depot, str) or not DEPOT.fullmatch(depot):
        raise ValueError(f"Dépôt GitHub de la copie attendu sous la forme PROPRIÉTAIRE/NOM "
                         f"(badge Binder) ; reçu {depot!r}.")
    target = Path(target).resolve()
    if target == root.resolve() or root.resolve() in target.parents:
        raise ValueError(f"La copie doit aller hors du dossier du cours ({root}) ; reçu {target}.")
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} existe et n'est pas un dossier : attendu un dossier vide ou absent.")
    if target.is_dir() and any(target.iterdir()):
        raise ValueError(f"{target} n'est pas vide : attendu un dossier vide ou absent "
                         "(rien n'a été modifié ; choisissez un dossier neuf).")
    return target


def make_student_copy(target: str | Path, root: Path = ROOT, depot: str = DEFAULT_DEPOT,
                      commit: str = "HEAD") -> list[Path]:
    """Construit le dépôt des élèves dans ``target`` (vide ou absent). Renvoie ses fichiers, triés.

    La copie part du commit ``commit`` de ``root`` (``git archive``), jamais du dossier de travail.
    ``depot`` (``PROPRIÉTAIRE/NOM`` sur GitHub) est là où la copie sera publiée : le badge Binder
    de son README y pointe. Lève ``ValueError`` / ``TypeError`` (destination) ou ``RuntimeError``
    (pas de dépôt git, notebooks élèves périmés, notebook avec sorties, copie qui contiendrait des
    solutions) sans rien modifier ; ``MissingTool`` si nbgrader manque.
    """
    if root is None:
        raise RuntimeError("Dépôt du cours introuvable depuis le dossier courant : lancez "
                           "course-student-copy depuis le dépôt des enseignants.")
    root = Path(root)
    target = _check_target(target, depot, root)
    with tempfile.TemporaryDirectory(prefix="course-student-copy-") as tmp:
        source = export_commit(root, commit, Path(tmp) / "commit")
        return _copy_from(source, target, depot)


def _copy_from(root: Path, target: Path, depot: str) -> list[Path]:
    """La copie, depuis ``root`` : un commit extrait par :func:`export_commit`."""
    try:
        stale = build(root / SOLUTIONS_DIR.relative_to(ROOT), root / STUDENT_DIR.relative_to(ROOT),
                      check=True)
    except ModuleNotFoundError as exc:
        if not nbgrader_missing(exc):
            raise
        raise MissingTool(NBGRADER_MISSING) from None
    if stale:
        raise RuntimeError(f"Notebooks élèves périmés : {[str(p.relative_to(root)) for p in stale]}. "
                           "Lancez `make exercises`, commitez, puis relancez.")
    generated = {"README.md": student_readme(root, depot), "pyproject.toml": student_pyproject(root),
                 "Makefile": (root / TEMPLATES / "Makefile").read_text(encoding="utf-8")}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for rel in course_files(root, use_git=False):
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, staging / rel)
        for name, text in generated.items():
            (staging / name).write_text(text, encoding="utf-8")
        problems = release_problems(staging)
        if problems:
            raise RuntimeError("Copie annulée, elle n'est pas publiable :\n- " + "\n- ".join(problems))
        staging.chmod(0o755)
        if target.is_dir():
            target.rmdir()  # vide (vérifié plus haut)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="course-student-copy",
                                description="Construit le dépôt des élèves : sans solutions, tests cachés "
                                            "ni outils de notation ; make lab, make test et Binder y marchent.")
    p.add_argument("target", help="dossier de destination (vide ou absent)")
    p.add_argument("--commit", default="HEAD",
                   help="commit du dépôt dont part la copie (défaut HEAD ; le dossier de travail, "
                        "sorties des notebooks comprises, n'est jamais copié)")
    p.add_argument("--depot", default=DEFAULT_DEPOT,
                   help=f"dépôt GitHub PROPRIÉTAIRE/NOM où la copie sera publiée (badge Binder ; "
                        f"défaut {DEFAULT_DEPOT})")
    args = p.parse_args(argv)
    try:
        files = make_student_copy(args.target, depot=args.depot, commit=args.commit)
    except (RuntimeError, ValueError, TypeError) as exc:
        print(f"course-student-copy : {exc}", file=sys.stderr)
        return 1
    ignored = uncommitted() if args.commit == "HEAD" else []
    if ignored:
        print("Attention : la copie part du dernier commit ; ces modifications non commitées n'y "
              "sont pas :\n  " + "\n  ".join(ignored), file=sys.stderr)
    print(f"{len(files)} fichiers écrits dans {args.target} (sans solutions, tests cachés ni notation).\n"
          f"Vérifiez : cd {args.target} && make test")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
