"""Publishing: the deploy workflow, launch links to the source notebooks, Binder/Colab, citation.

The workflow cannot run here; it is parsed and its commands compared with the README's. The
launch links are checked against ``_config.yml`` and the toc, and the book's Sphinx extension
(``book/_ext/mabprune_book.py``) is run on the theme's button structure; the built site itself is
checked by ``tests/test_browser.py`` after ``make book``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


def _yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _readme_commands() -> list[str]:
    """The commands of the README's "The two commands" block, e.g. ``make book``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def _git_files() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def _extension():
    spec = importlib.util.spec_from_file_location("mabprune_book", REPO / "book" / "_ext" / "mabprune_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _executed_pages() -> list[str]:
    pages = []

    def walk(entry):
        if isinstance(entry, dict):
            for key in ("root", "file"):
                if key in entry and str(entry[key]).startswith("book/executed/"):
                    pages.append(str(entry[key]).removesuffix(".ipynb"))
            for key in ("parts", "chapters", "sections"):
                for child in entry.get(key) or []:
                    walk(child)

    walk(_yaml(REPO / "_toc.yml"))
    return pages


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = _yaml(WORKFLOW)
    # YAML 1.1 reads the bare key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


@pytest.fixture(scope="module")
def config() -> dict:
    return _yaml(REPO / "_config.yml")


def test_workflow_runs_the_readme_commands(workflow):
    assert _readme_commands() == ["make book", "make test"]
    runs = [step["run"].strip() for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    assert sorted(runs) == sorted(_readme_commands()), f"the workflow runs {runs}"
    assert runs.index("make test") < runs.index("make book"), "the tests run before the book is built"


def test_workflow_triggers_and_pages_deploy(workflow):
    push = workflow["on"]["push"]
    assert push["branches"] == ["main"] and push.get("tags"), push
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    assert workflow["concurrency"]["group"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build["runs-on"].startswith("ubuntu")
    uses = {step["uses"].split("@")[0]: step for step in build["steps"] if "uses" in step}
    assert uses["actions/setup-python"]["with"]["cache"] == "pip"
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["environment"]["name"] == "github-pages"
    # No download of data: no step other than the package install of `make` fetches anything.
    text = WORKFLOW.read_text(encoding="utf-8")
    assert not re.search(r"\b(curl|wget|download)\b", text.replace("download.pytorch.org", "")), text


def test_repository_url_comes_from_one_place(workflow, config):
    """_config.yml holds the default; REPO_URL (Makefile, set by the workflow) overrides it."""
    assert workflow["jobs"]["build"]["env"]["REPO_URL"] == "https://github.com/${{ github.repository }}"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^export MABPRUNE_REPO_URL := \$\(REPO_URL\)$", makefile, re.M)
    assert re.search(r"^export MABPRUNE_REPO_BRANCH := \$\(REPO_BRANCH\)$", makefile, re.M)
    url = config["repository"]["url"]
    cff = _yaml(REPO / "CITATION.cff")
    assert cff["repository-code"] == url
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        first = json.loads(nb.read_text(encoding="utf-8"))["cells"][0]
        assert f'"{url}"' in "".join(first["source"]), f"{nb.name}: the install cell names another repository"


def test_repository_override_from_the_environment(monkeypatch):
    ext = _extension()
    config = SimpleNamespace(html_theme_options={"repository_url": "https://github.com/a/b",
                                                 "repository_branch": "main"})
    monkeypatch.setenv("MABPRUNE_REPO_URL", "https://github.com/fork/mabprune/")
    monkeypatch.setenv("MABPRUNE_REPO_BRANCH", "")
    ext._apply_repository_override(None, config)
    assert config.html_theme_options == {"repository_url": "https://github.com/fork/mabprune",
                                         "repository_branch": "main"}
    monkeypatch.setenv("MABPRUNE_REPO_URL", "https://example.org/fork/mabprune")
    with pytest.raises(Exception, match="not https://github.com/<owner>/<repo>"):
        ext._apply_repository_override(None, config)


def _fake_app(tmp_path: Path, records: dict | None = None):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "deep_learning.ipynb").write_text("{}")
    config = SimpleNamespace(mabprune_executed_dir="book/executed", mabprune_source_dir="notebooks",
                             html_theme_options={"path_to_docs": ""}, mabprune_records={})
    env = SimpleNamespace(mabprune_records=records or {})
    return SimpleNamespace(srcdir=str(tmp_path), config=config, env=env)


def _theme_buttons(page: str) -> list[dict]:
    """The header buttons as sphinx-book-theme 1.x builds them for ``page``."""
    return [
        {"label": "download-buttons", "buttons": [
            {"type": "link", "url": f"../../_sources/{page}.ipynb", "label": "download-source-button"},
            {"type": "javascript", "javascript": "window.print()", "label": "download-pdf-button"}]},
        {"label": "launch-buttons", "buttons": [
            {"text": "Binder", "url": f"https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/{page}.ipynb"},
            {"text": "Colab", "url": f"https://colab.research.google.com/github/o/r/blob/main/{page}.ipynb"}]},
    ]


def test_launch_links_open_the_source_notebook(tmp_path):
    ext = _extension()
    page = "book/executed/deep_learning"
    site = "records/quick/deep_learning.jsonl"
    app = _fake_app(tmp_path, {page: [("/x/results/quick/deep_learning.jsonl", site)]})
    context = {"header_buttons": _theme_buttons(page), "pathto": lambda name, resource=0: f"../../{name}"}
    ext._on_page_context(app, page, "page.html", context, None)
    launch = {b["text"]: b["url"] for b in context["header_buttons"][1]["buttons"]}
    assert launch == {
        "Binder": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/deep_learning.ipynb",
        "Colab": "https://colab.research.google.com/github/o/r/blob/main/notebooks/deep_learning.ipynb"}
    downloads = context["header_buttons"][0]["buttons"]
    assert [b["label"] for b in downloads] == ["download-source-button", "download-records-button",
                                               "download-pdf-button"]
    assert downloads[1]["url"] == f"../../{site}"
    # A prose page keeps the theme's buttons as they are.
    prose = {"header_buttons": _theme_buttons("book/method")}
    ext._on_page_context(app, "book/method", "page.html", prose, None)
    assert prose["header_buttons"] == _theme_buttons("book/method")


def test_every_executed_page_has_a_tracked_source(config):
    """The launch links of every executed page (config + toc) name files in `git ls-files`."""
    tracked = _git_files()
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    local = config["sphinx"]["local_extensions"]
    assert local == {"mabprune_book": "book/_ext"}
    ext = _extension()
    app = SimpleNamespace(config=SimpleNamespace(mabprune_executed_dir="book/executed",
                                                 mabprune_source_dir="notebooks"))
    pages = _executed_pages()
    assert pages
    for page in pages:
        assert ext._source_of(app, page) in tracked, f"{page}: no tracked source"
    for path in ("binder/requirements.txt", "binder/postBuild", "requirements.lock"):
        assert path in tracked or (REPO / path).is_file(), path


def test_records_of_each_page_match_the_families():
    from mabprune.cli import FAMILY_NOTEBOOKS

    records = _yaml(REPO / "_config.yml")["sphinx"]["config"]["mabprune_records"]
    for notebook, family in FAMILY_NOTEBOOKS.items():
        assert records[notebook] == [family]
    assert sorted(records["statistical_analysis"]) == sorted(FAMILY_NOTEBOOKS.values())


def test_parameter_note_hides_machine_paths(tmp_path):
    from docutils import nodes

    ext = _extension()
    app = SimpleNamespace(srcdir=str(tmp_path))
    params = {"profile": "quick", "results_dir": str(tmp_path / "results" / "quick"),
              "data_root": "/elsewhere/data"}
    note = ext._note(app, "book/executed/deep_learning", params,
                     [(str(tmp_path / "results/quick/deep_learning.jsonl"), "records/quick/deep_learning.jsonl")])
    text = note.astext()
    assert "results_dir = 'results/quick'" in text and str(tmp_path) not in text
    assert "data_root = '<outside the repository>/data'" in text
    (ref,) = list(note.findall(nodes.reference))
    assert ref["refuri"] == "../../records/quick/deep_learning.jsonl"


def test_binder_installs_the_package():
    reqs = (REPO / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "-r ../requirements.lock" in reqs
    post = REPO / "binder" / "postBuild"
    assert post.stat().st_mode & 0o111, "binder/postBuild is not executable"
    assert re.search(r"pip install .*-e \.$", post.read_text(encoding="utf-8"), re.M)


def _install_cell(name: str) -> dict:
    return json.loads((REPO / "notebooks" / name).read_text(encoding="utf-8"))["cells"][0]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")))
def test_colab_install_cell_is_first_hidden_and_inert(name, monkeypatch):
    cell = _install_cell(name)
    assert cell["cell_type"] == "code" and "remove-cell" in cell["metadata"]["tags"]
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    # mabprune imports here (as in the book build and papermill): the cell must do nothing.
    exec(compile("".join(cell["source"]), name, "exec"), {})
    assert calls == []


def test_colab_install_cell_installs_when_missing(tmp_path, monkeypatch):
    import os

    cell = _install_cell("deep_learning.ipynb")
    calls, moved = [], []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd))
    monkeypatch.setattr(os, "chdir", moved.append)
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile("".join(cell["source"]), "install", "exec"), {})
    url = _yaml(REPO / "_config.yml")["repository"]["url"]
    checkout = str(tmp_path / "mabprune")
    assert calls == [["git", "clone", "--depth", "1", url, checkout],
                     [sys.executable, "-m", "pip", "install", "--quiet", "-e", checkout]]
    assert moved == [str(Path(checkout) / "notebooks")]


def test_citation_names_the_paper():
    import tomllib

    cff = _yaml(REPO / "CITATION.cff")
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert str(cff["version"]) == version
    paper = cff["preferred-citation"]
    assert paper["title"] == "Structured Neuron Pruning in Deep Neural Networks Using Multi-Armed Bandits"
    assert [(a["given-names"], a["family-names"]) for a in paper["authors"]] == [("Salem", "Ameen"),
                                                                                ("Sunil", "Vadera")]
    assert "2606.07615" in paper["url"] and paper["year"] == 2026
    intro = (REPO / "book" / "intro.md").read_text(encoding="utf-8")
    how = intro.split("## How to cite", 1)[1].split("\n## ", 1)[0]
    assert "arXiv:2606.07615" in how and "CITATION.cff" in how


def test_release_target_builds_and_checks():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nrelease:", 1)[1].split("\n\n", 1)[0]
    assert "-m build --outdir dist" in recipe and "-m twine check" in recipe
    assert "dist/" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    checklist = readme.split("## Releasing", 1)[1].split("\n## ", 1)[0]
    for step in ("make release", "git tag", "Pages", "Zenodo"):
        assert step in checklist, step


def test_offline_mathjax_is_loaded_once_locked():
    """The book extension loads sphinx-mathjax-offline when installed; once the lock pins it,
    it must be importable under one of the names the extension tries (else math needs a CDN)."""
    lock = (REPO / "requirements.lock").read_text(encoding="utf-8")
    if not re.search(r"^sphinx[-_]mathjax[-_]offline==", lock, re.M | re.I):
        pytest.skip("sphinx-mathjax-offline is not in requirements.lock: math loads MathJax from its CDN")
    ext = _extension()
    assert any(importlib.util.find_spec(name) for name in ext._OFFLINE_MATHJAX), \
        "sphinx-mathjax-offline is locked but not importable as " + " or ".join(ext._OFFLINE_MATHJAX)


def test_records_of_a_page_with_one_profile_per_family(tmp_path):
    """`make book` gives the statistics page `profiles` (standard tabular, quick deep learning):
    each family's records are linked from its own profile's folder, with no warning."""
    ext = _extension()
    for profile, family in (("standard", "classification"), ("standard", "regression"),
                            ("quick", "deep_learning")):
        (tmp_path / "results" / profile).mkdir(parents=True, exist_ok=True)
        (tmp_path / "results" / profile / f"{family}.jsonl").write_text("{}\n")
    app = SimpleNamespace(srcdir=str(tmp_path), config=SimpleNamespace(
        mabprune_records={"statistical_analysis": ["classification", "regression", "deep_learning"]}))
    profiles = {"classification": "standard", "regression": "standard", "deep_learning": "quick"}
    found = ext._records_of(app, "book/executed/statistical_analysis", {"profiles": profiles})
    assert [site for _, site in found] == ["records/standard/classification.jsonl",
                                           "records/standard/regression.jsonl", "records/quick/deep_learning.jsonl"]
    assert all(Path(src).is_file() for src, _ in found)
    # Neither `profile` nor a profile for every family: nothing to offer.
    assert ext._records_of(app, "book/executed/statistical_analysis", {"profiles": {"classification": "quick"}}) == []
