"""environment.yml (Binder / conda) et pyproject.toml décrivent le même environnement d'exécution."""

from __future__ import annotations

import re
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


def test_cpu_only_pytorch_and_python_version():
    specs = conda_specs()
    assert "pytorch" not in specs and "pytorch-gpu" not in specs and "pytorch-cpu" in specs
    assert not any("cuda" in name for name in specs)
    assert lower_bound(specs["python"]) == "3.10"
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains("3.10")


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
