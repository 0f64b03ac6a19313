"""Hygiène des notebooks commités, et garantie que nbval exécute chacun d'eux.

Règles (README, section enseignants) :
- pas de sortie ni de numéro d'exécution ; seule exception : une cellule marquée
  ``# NBVAL_CHECK_OUTPUT`` (ou étiquetée ``nbval-check-output``) ET ``"keep_output": true``
  dans ses métadonnées peut garder sa sortie texte, que nbval compare (nbstripout la garde aussi) ;
- noyau ``python3`` ; aucun chemin absolu ; aucune modification de ``sys.path`` (les notebooks
  importent ``course_lib`` installé en mode éditable) ;
- chaque notebook du dépôt est sous un des dossiers ``NOTEBOOK_DIRS`` du Makefile, que
  ``make test`` passe à nbval.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, repo_notebooks

NOTEBOOKS = repo_notebooks()
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.:/~-])(/root|/home|/work|/Users|/tmp|/mnt|/private|/var/folders|/opt|/usr/local)(/|\b)"
    r"|\b[A-Za-z]:\\\\?[A-Za-z_]"
)
SYS_PATH_EDIT = re.compile(r"sys\.path\s*(\.\s*(insert|append|extend)|\[.*\]\s*=|\+?=)|PYTHONPATH")
# Répertoires que pytest ne parcourt pas (valeur par défaut de ``norecursedirs``).
PYTEST_NORECURSE = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")


def makefile_notebook_dirs(makefile: Path = ROOT / "Makefile") -> list[str]:
    """Les dossiers de ``NOTEBOOK_DIRS := ...`` dans le Makefile."""
    m = re.search(r"^NOTEBOOK_DIRS\s*:?=\s*(.*)$", makefile.read_text(encoding="utf-8"), re.M)
    assert m, "NOTEBOOK_DIRS introuvable dans le Makefile"
    return m.group(1).split("#")[0].split()


def notebooks_not_run_by_nbval(notebooks: list[Path], dirs: list[str]) -> list[Path]:
    """Les notebooks qu'une exécution ``pytest --nbval-lax DIRS`` ne ramasserait pas.

    Un notebook est manqué s'il n'est sous aucun des dossiers, ou si un dossier de son chemin
    est de ceux que pytest saute (``build``, dossiers cachés, ...).
    """
    missed = []
    for nb in notebooks:
        parts = Path(nb).parts
        under = any(parts[: len(Path(d).parts)] == Path(d).parts for d in dirs)
        skipped = any(fnmatch.fnmatch(p, pat) for p in parts[:-1] for pat in PYTEST_NORECURSE)
        if not under or skipped:
            missed.append(Path(nb))
    return missed


def cell_checks_output(cell) -> bool:
    first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
    tags = cell.metadata.get("tags", [])
    return "NBVAL_CHECK_OUTPUT" in first or "nbval-check-output" in tags


# --- chaque notebook est exécuté par nbval -------------------------------------------------

def test_makefile_passes_notebook_dirs_to_nbval():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"--nbval(-lax)?\b.*\$\(NOTEBOOK_DIRS\)", text), (
        "la cible nbval du Makefile doit recevoir $(NOTEBOOK_DIRS)"
    )
    assert all((ROOT / d).is_dir() for d in makefile_notebook_dirs())


def test_every_notebook_is_run_by_nbval():
    missed = notebooks_not_run_by_nbval(NOTEBOOKS, makefile_notebook_dirs())
    assert not missed, (
        f"Ces notebooks ne sont pas exécutés par nbval (hors de NOTEBOOK_DIRS = "
        f"{makefile_notebook_dirs()} dans le Makefile) : {[str(p) for p in missed]}"
    )


def _write_nb(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(), path)


def test_check_fails_on_a_notebook_outside_nbval_dirs(tmp_path):
    """Le contrôle ci-dessus échoue bien : arbre factice (hors git, donc parcours du dossier)."""
    for rel in ("notebooks/00_a.ipynb", "solutions/s.ipynb", "extra/oublie.ipynb",
                "notebooks/build/cache.ipynb", ".venv/lib/x.ipynb",
                "notebooks/.ipynb_checkpoints/00_a-checkpoint.ipynb", "tests/artifacts/lab/x.ipynb"):
        _write_nb(tmp_path / rel)
    found = repo_notebooks(tmp_path)
    assert Path(".venv/lib/x.ipynb") not in found
    assert Path("notebooks/.ipynb_checkpoints/00_a-checkpoint.ipynb") not in found
    missed = notebooks_not_run_by_nbval(found, ["notebooks", "solutions"])
    assert missed == [Path("extra/oublie.ipynb"), Path("notebooks/build/cache.ipynb")]
    assert notebooks_not_run_by_nbval(found, ["notebooks", "solutions", "extra"]) == [
        Path("notebooks/build/cache.ipynb")]


def test_nbval_collects_every_notebook():
    """Ce que pytest --nbval-lax ramasse vraiment dans NOTEBOOK_DIRS (sans rien exécuter)."""
    dirs = makefile_notebook_dirs()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--nbval-lax", *dirs],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 5), proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = {Path(line.split("::", 1)[0]) for line in proc.stdout.splitlines() if "::" in line}
    expected = {nb for nb in NOTEBOOKS if not notebooks_not_run_by_nbval([nb], dirs)}
    # Un notebook sans cellule de code ne produit aucun test nbval : il compte comme non exécuté.
    assert expected <= collected, f"nbval ne ramasse pas : {sorted(map(str, expected - collected))}"


# --- hygiène de chaque notebook ------------------------------------------------------------

def test_there_are_notebooks():
    assert NOTEBOOKS, "aucun notebook trouvé dans le dépôt"


@pytest.fixture(params=NOTEBOOKS, ids=[str(p) for p in NOTEBOOKS])
def nb(request):
    path = ROOT / request.param
    return path, nbformat.read(path, as_version=4)


def test_valid_nbformat(nb):
    path, node = nb
    nbformat.validate(node)
    assert node.nbformat == 4, path


def test_no_outputs_or_execution_counts(nb):
    path, node = nb
    bad = []
    for i, cell in enumerate(node.cells):
        if cell.cell_type != "code":
            continue
        if cell.execution_count is not None:
            bad.append(f"cellule {i} : execution_count={cell.execution_count}")
        if not cell.outputs:
            continue
        if not (cell_checks_output(cell) and cell.metadata.get("keep_output") is True):
            bad.append(f"cellule {i} : {len(cell.outputs)} sortie(s)")
            continue
        for out in cell.outputs:  # sortie de référence de nbval : du texte seulement
            if out.output_type not in ("stream", "execute_result") or out.get("execution_count"):
                bad.append(f"cellule {i} : sortie de référence {out.output_type} interdite")
            elif out.output_type == "execute_result" and set(out.data) != {"text/plain"}:
                bad.append(f"cellule {i} : sortie de référence non textuelle {sorted(out.data)}")
    assert not bad, f"{path.relative_to(ROOT)} : " + "; ".join(bad)


def test_python3_kernel(nb):
    path, node = nb
    ks = node.metadata.get("kernelspec", {})
    assert ks.get("name") == "python3", f"{path.relative_to(ROOT)} : kernelspec {ks}"
    assert ks.get("language", "python") == "python"


def test_no_absolute_paths(nb):
    path, node = nb
    texts = [("métadonnées du notebook", json.dumps(node.metadata))]
    for i, cell in enumerate(node.cells):
        texts.append((f"cellule {i}", cell.source))
        texts.append((f"métadonnées de la cellule {i}", json.dumps(cell.metadata)))
        for out in cell.get("outputs", []):
            texts.append((f"sortie de la cellule {i}", json.dumps(out)))
    bad = [(where, m.group(0)) for where, text in texts for m in ABSOLUTE_PATH.finditer(text)]
    assert not bad, f"{path.relative_to(ROOT)} : chemins absolus {bad}"


def test_no_sys_path_edits(nb):
    path, node = nb
    bad = [i for i, c in enumerate(node.cells) if c.cell_type == "code" and SYS_PATH_EDIT.search(c.source)]
    assert not bad, f"{path.relative_to(ROOT)} : sys.path modifié dans les cellules {bad}"


def test_patterns_catch_what_they_should():
    for text in ("open('/home/alice/data.csv')", "p = '/work/main/x'", "/root", r"C:\Users\x",
                 "cd /tmp/abc"):
        assert ABSOLUTE_PATH.search(text), text
    for text in ("https://arxiv.org/abs/1506.02626", "voir ../notebooks/01_magnitude.ipynb",
                 "x = a/home", "https://example.org/home/page", "~/data"):
        assert not ABSOLUTE_PATH.search(text), text
    for text in ("sys.path.insert(0, '..')", "sys.path.append('../')", "sys.path += ['..']",
                 "import os; os.environ['PYTHONPATH'] = '..'"):
        assert SYS_PATH_EDIT.search(text), text
    assert not SYS_PATH_EDIT.search("import sys\nprint(sys.version)")


def test_nbstripout_verify():
    exe = shutil.which("nbstripout", path=str(Path(sys.executable).parent)) or shutil.which("nbstripout")
    assert exe, "nbstripout manque : pip install -e .[dev]"
    proc = subprocess.run([exe, "--verify", *[str(ROOT / p) for p in NOTEBOOKS]],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"nbstripout modifierait ces notebooks (lancez `nbstripout FICHIER`) :\n{proc.stdout}{proc.stderr}"
    )


# --- course_lib importé depuis l'installation éditable, quel que soit le dossier ------------

@pytest.mark.parametrize("cwd", ["notebooks", "tmp"])
def test_course_lib_imports_from_any_directory(cwd, tmp_path):
    """JupyterLab lancé depuis la racine ou depuis notebooks/ : le noyau trouve course_lib."""
    where = ROOT / "notebooks" if cwd == "notebooks" else tmp_path
    proc = subprocess.run([sys.executable, "-c", "import course_lib; print(course_lib.__file__)"],
                          cwd=where, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve() == (ROOT / "course_lib" / "__init__.py").resolve()
