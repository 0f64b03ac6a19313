"""environment.yml (Binder / conda) et pyproject.toml décrivent le même environnement d'exécution."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 : tomllib n'existe qu'à partir de 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

# Nom PyPI -> nom conda-forge, quand ils diffèrent. « pytorch-cpu » est le méta-paquet
# conda-forge de PyTorch sans CUDA (Binder n'a pas de GPU, et la version CUDA pèse des Go).
PYPI_TO_CONDA = {"torch": "pytorch-cpu"}
# Entrées d'environment.yml qui ne sont pas des dépendances du paquet.
CONDA_ONLY = {"python", "pip"}
# Ce que pip installe sur la machine de référence : les bornes doivent l'admettre.
REFERENCE_VERSIONS = {"torch": "2.14.1", "torchvision": "0.29.1"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def runtime_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in _pyproject()["project"]["dependencies"]]
    return {r.name.lower(): r for r in reqs}


def conda_specs(path: Path = ROOT / "environment.yml") -> dict[str, str]:
    """{nom: contrainte} des dépendances conda (les sections ``pip:`` sont refusées)."""
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {}
    for dep in env["dependencies"]:
        assert isinstance(dep, str), f"section non conda dans environment.yml : {dep!r}"
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", dep)
        assert m, f"entrée illisible dans environment.yml : {dep!r}"
        out[m.group(1).lower()] = m.group(2)
    return out


def lower_bound(spec: str) -> str | None:
    found = re.findall(r">=\s*([0-9][0-9.]*)", spec)
    return found[0] if found else None


def test_environment_uses_conda_forge_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"] == ["conda-forge"]


def test_same_runtime_dependencies():
    expected = {PYPI_TO_CONDA.get(n, n) for n in runtime_requirements()}
    declared = set(conda_specs()) - CONDA_ONLY
    assert declared == expected, (
        f"environment.yml et pyproject.toml diffèrent : manquent dans environment.yml "
        f"{sorted(expected - declared)}, en trop {sorted(declared - expected)}"
    )


def test_same_lower_bounds():
    specs = conda_specs()
    for name, req in runtime_requirements().items():
        conda = specs[PYPI_TO_CONDA.get(name, name)]
        assert lower_bound(conda) == lower_bound(str(req.specifier)), (name, conda, req)


def upper_bound(spec: str) -> str | None:
    """La borne haute d'une contrainte (« <=2.14.1 », « <3 »), opérateur compris ; None sans borne."""
    found = re.findall(r"(<=?)\s*([0-9][0-9.]*)", spec)
    return "".join(found[0]) if found else None


def test_same_upper_bounds():
    """Les bornes hautes de pyproject.toml (torch <= 2.14.1...) valent aussi pour Binder."""
    specs = conda_specs()
    for name, req in runtime_requirements().items():
        conda = specs[PYPI_TO_CONDA.get(name, name)]
        assert upper_bound(conda) == upper_bound(str(req.specifier)), (
            f"{name} : environment.yml dit {conda!r}, pyproject.toml {str(req.specifier)!r}")


def test_upper_bound_check_can_fail(tmp_path):
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert "pytorch-cpu>=2.1,<=2.14.1" in text
    broken = tmp_path / "environment.yml"
    broken.write_text(text.replace("pytorch-cpu>=2.1,<=2.14.1", "pytorch-cpu>=2.1"), encoding="utf-8")
    assert upper_bound(conda_specs(broken)["pytorch-cpu"]) is None
    assert upper_bound(str(runtime_requirements()["torch"].specifier)) == "<=2.14.1"


# Ce que lit repo2docker (buildpacks/conda) : seule une version exacte « python=3.11 » choisit
# l'interpréteur ; « python>=3.10 » est ignoré et Binder prend sa version par défaut.
REPO2DOCKER_PYTHON = re.compile(r"python\s*=+\s*([\d\.]*)")


def repo2docker_python(path: Path = ROOT / "environment.yml") -> str | None:
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    for dep in env["dependencies"]:
        m = REPO2DOCKER_PYTHON.match(dep) if isinstance(dep, str) else None
        if m and m.group(1):
            return m.group(1)
    return None


def test_cpu_only_pytorch_and_python_version():
    specs = conda_specs()
    assert "pytorch" not in specs and "pytorch-gpu" not in specs and "pytorch-cpu" in specs
    assert not any("cuda" in name for name in specs)
    version = repo2docker_python()
    assert version and re.fullmatch(r"3\.\d+", version), f"python=3.X attendu, repo2docker lit {version!r}"
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(version)
    # la version que lit repo2docker est celle de la machine de référence (Python 3.11)
    assert version == "3.11"


def test_repo2docker_ignores_a_lower_bound(tmp_path):
    broken = tmp_path / "environment.yml"
    broken.write_text("dependencies:\n  - python>=3.10\n  - pip\n", encoding="utf-8")
    assert repo2docker_python(broken) is None


def test_french_language_pack_for_students_and_binder():
    """Le pack de langue de JupyterLab est une dépendance d'exécution, donc aussi dans environment.yml."""
    assert "jupyterlab-language-pack-fr-fr" in runtime_requirements()
    assert "jupyterlab-language-pack-fr-fr" in conda_specs()


def test_no_jupyterlab_upper_pin():
    """repo2docker installe sa propre JupyterLab : une borne haute (ou ==) la ferait rétrograder."""
    spec = conda_specs()["jupyterlab"]
    assert not re.search(r"<|!=|~=|(?<![<>!~])=", spec), spec


@pytest.mark.parametrize("name", sorted(REFERENCE_VERSIONS))
def test_version_ranges_admit_reference_versions(name):
    req = runtime_requirements()[name]
    assert req.specifier.contains(Version(REFERENCE_VERSIONS[name]), prereleases=True), (
        f"{req} refuse {name} {REFERENCE_VERSIONS[name]}"
    )


def test_nbgrader_is_not_a_runtime_dependency():
    assert "nbgrader" not in runtime_requirements()
    assert "nbgrader" not in conda_specs()
    assert "nbgrader" not in (ROOT / "environment.yml").read_text(encoding="utf-8").lower()
    extras = _pyproject()["project"]["optional-dependencies"]
    assert any(Requirement(r).name == "nbgrader" for r in extras["instructor"])


def test_postbuild_installs_package_without_deps():
    path = ROOT / "postBuild"
    assert path.stat().st_mode & 0o111, "postBuild doit être exécutable"
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    code = [ln for ln in lines if ln and not ln.startswith("#")]
    assert code[0] == "set -e", "postBuild doit commencer par « set -e »"
    installs = [ln for ln in code if re.search(r"\bpip install\b", ln)]
    assert installs, "postBuild n'installe pas le paquet"
    for ln in installs:
        assert "--no-deps" in ln.split() and re.search(r"-e\s+\.(\s|$)", ln), ln


def test_binder_files_where_repo2docker_looks():
    """repo2docker ne lit que binder/ s'il existe : environment.yml et postBuild doivent y être."""
    where = ROOT / "binder" if (ROOT / "binder").is_dir() else ROOT
    assert (where / "environment.yml").is_file() and (where / "postBuild").is_file()


def test_checks_detect_a_mismatch(tmp_path):
    """Le contrôle de cohérence échoue bien quand environment.yml oublie une dépendance."""
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    broken = tmp_path / "environment.yml"
    broken.write_text(text.replace("  - tqdm>=4.60\n", ""), encoding="utf-8")
    assert "tqdm" in conda_specs() and "tqdm" not in conda_specs(broken)


def conda_activations(readme: str) -> list[str]:
    """Les noms passés à ``conda activate`` dans un README."""
    return re.findall(r"^\s*conda activate (\S+)", readme, re.M)


def test_readme_activates_the_environment_that_environment_yml_creates():
    name = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))["name"]
    # Le README élève reprend cette section du README principal (tests/test_release.py).
    found = conda_activations((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found and set(found) == {name}, f"environment.yml crée {name!r}, le README active {found}"
    assert conda_activations("conda env create -f environment.yml\nconda activate pruning-8-5\n") == [
        "pruning-8-5"]


# --- Licence au format SPDX (PEP 639) : pas d'avertissement de setuptools à l'installation -------

def test_licence_is_an_spdx_expression():
    data = _pyproject()
    project = data["project"]
    assert project["license"] == "MIT", "attendu une expression SPDX (license = \"MIT\"), pas une table"
    assert project["license-files"] and all(list(ROOT.glob(f)) for f in project["license-files"])
    # setuptools refuse une expression SPDX accompagnée d'un classifieur « License :: »
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    (setuptools,) = [Requirement(r) for r in data["build-system"]["requires"]
                     if Requirement(r).name == "setuptools"]
    assert setuptools.specifier.contains("77.0") and not setuptools.specifier.contains("76.2"), setuptools


def build_metadata(src: Path, out: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Métadonnées du paquet (ce que fait pip install), avertissements de setuptools changés en erreurs."""
    out.mkdir(parents=True, exist_ok=True)
    code = ("import sys\nfrom setuptools import build_meta\n"
            "print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code, str(out)], cwd=src,
                          capture_output=True, text=True, timeout=300)
    found = list(out.glob("*.dist-info/METADATA"))
    return proc, found[0].read_text(encoding="utf-8") if found else ""


def _source_tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "course_lib", src / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    return src


def test_metadata_builds_without_deprecation_warning(tmp_path):
    pytest.importorskip("setuptools", minversion="77")
    proc, metadata = build_metadata(_source_tree(tmp_path), tmp_path / "meta")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "deprecat" not in (proc.stdout + proc.stderr).lower(), proc.stderr[-3000:]
    assert re.search(r"^License-Expression: MIT$", metadata, re.M), metadata[:1000]
    assert re.search(r"^License-File: LICENSE$", metadata, re.M)


def test_metadata_check_catches_the_old_licence_table(tmp_path):
    pytest.importorskip("setuptools", minversion="77")
    src = _source_tree(tmp_path)
    text = (src / "pyproject.toml").read_text(encoding="utf-8")
    text = text.replace('license = "MIT"\nlicense-files = ["LICENSE"]\n', 'license = { text = "MIT" }\n')
    (src / "pyproject.toml").write_text(text, encoding="utf-8")
    proc, _ = build_metadata(src, tmp_path / "meta")
    assert proc.returncode != 0 and "license" in proc.stderr.lower(), proc.stderr[-2000:]
