"""environment.yml (conda) and requirements.lock (pip) cover every dependency of pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# pip distribution name -> conda-forge package name, where they differ.
CONDA_NAMES = {"torch": "pytorch", "torch-pruning": "torch-pruning"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str:
    return _canonical(re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0])


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["test"])


def _environment() -> tuple[set[str], set[str], list]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda, pip = set(), set()
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for requirement in item.get("pip", []):
                if not requirement.startswith("-"):
                    pip.add(_name(requirement))
        else:
            conda.add(_name(item.split("::")[-1]))
    return conda, pip, env["dependencies"]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)", line)
        assert match, f"requirements.lock line is not an exact pin: {line!r}"
        pins[_canonical(match.group(1))] = match.group(2)
    return pins


def test_environment_file_shape():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["name"] == "mabprune"
    assert "conda-forge" in env["channels"]
    deps = env["dependencies"]
    assert any(isinstance(d, str) and re.fullmatch(r"python\s*=\s*3\.11(\.\*)?", d) for d in deps)
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip, "the pip section must install the project itself (-e .)"
    assert any(isinstance(d, str) and d.split("=")[0].strip() == "pip" for d in deps), \
        "list pip among the conda packages when there is a pip section"


def test_every_pyproject_dependency_is_in_environment_yml():
    conda, pip, _ = _environment()
    missing = []
    for requirement in _pyproject_requirements():
        name = _name(requirement)
        if CONDA_NAMES.get(name, name) not in conda and name not in pip:
            missing.append(name)
    assert not missing, f"not in environment.yml: {missing}"


def test_jupyter_book_below_2_in_environment_yml():
    _, _, deps = _environment()
    spec = next(d for d in deps if isinstance(d, str) and _name(d) == "jupyter-book")
    assert "<2" in spec.replace(" ", "")


def test_lock_pins_every_pyproject_dependency_exactly():
    pins = _lock()
    missing = [_name(r) for r in _pyproject_requirements() if _name(r) not in pins]
    assert not missing, f"requirements.lock does not pin: {missing}"


def test_lock_satisfies_pyproject_ranges():
    from packaging.requirements import Requirement

    pins = _lock()
    bad = []
    for requirement in _pyproject_requirements():
        req = Requirement(requirement)
        version = pins[_canonical(req.name)]
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            bad.append(f"{req.name}=={version} violates {req.specifier}")
    assert not bad, "; ".join(bad)


def test_lock_key_pins():
    pins = _lock()
    assert pins["torch"] == "2.14.1"
    assert pins["torchvision"] == "0.29.1"
    assert int(pins["jupyter-book"].split(".")[0]) < 2
