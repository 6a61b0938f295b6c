"""The book's frame: _config.yml and _toc.yml are consistent with the files in the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
EXECUTED = "book/executed/"


def _load(name: str) -> dict:
    data = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def _toc_files(entry) -> list[str]:
    """Every `file:` of a jb-book table of contents, in order (root first)."""
    files = []
    if isinstance(entry, dict):
        if "root" in entry:
            files.append(entry["root"])
        if "file" in entry:
            files.append(entry["file"])
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key) or []:
                files.extend(_toc_files(child))
    return files


def _strip_suffix(path: str) -> str:
    return re.sub(r"\.(md|ipynb)$", "", path)


@pytest.fixture(scope="module")
def config() -> dict:
    return _load("_config.yml")


@pytest.fixture(scope="module")
def toc() -> dict:
    return _load("_toc.yml")


def test_toc_format_and_root(toc):
    assert toc.get("format") == "jb-book"
    assert _strip_suffix(toc["root"]) == "book/intro"


def test_every_toc_entry_has_a_source(toc):
    files = [_strip_suffix(f) for f in _toc_files(toc)]
    assert len(files) == len(set(files)), "a page is listed twice in _toc.yml"
    missing = []
    for entry in files:
        if entry.startswith(EXECUTED):
            # Written by papermill from notebooks/<name>.ipynb before the build.
            source = NOTEBOOKS / (entry[len(EXECUTED):] + ".ipynb")
        else:
            source = REPO / (entry + ".md")
        if not source.is_file():
            missing.append(f"{entry} -> {source.relative_to(REPO)}")
    assert not missing, "toc entries without a source: " + "; ".join(missing)


def test_toc_lists_the_required_chapters(toc):
    files = {_strip_suffix(f) for f in _toc_files(toc)}
    required = {"book/intro", "book/method", "book/rerun", "book/api", "book/references",
                "book/executed/performance", "book/executed/environment"}
    assert required <= files, f"missing from _toc.yml: {sorted(required - files)}"


def test_notebook_sources_are_clean_and_parametrised():
    sources = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert sources, "no notebook sources in notebooks/"
    problems = []
    for path in sources:
        nb = json.loads(path.read_text(encoding="utf-8"))
        name = path.name
        if nb.get("nbformat") != 4:
            problems.append(f"{name}: nbformat {nb.get('nbformat')}, expected 4")
        kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
        if kernel != "python3":
            problems.append(f"{name}: kernel {kernel!r}, expected 'python3'")
        tagged = 0
        for i, cell in enumerate(nb.get("cells", [])):
            if cell.get("cell_type") == "code":
                if cell.get("outputs"):
                    problems.append(f"{name}: cell {i} has outputs")
                if cell.get("execution_count") is not None:
                    problems.append(f"{name}: cell {i} has an execution count")
            if "parameters" in (cell.get("metadata", {}).get("tags") or []):
                tagged += 1
                if cell.get("cell_type") != "code":
                    problems.append(f"{name}: the 'parameters' cell {i} is not a code cell")
        if tagged != 1:
            problems.append(f"{name}: {tagged} cells tagged 'parameters', expected exactly 1")
    assert not problems, "\n".join(problems)


def test_notebooks_are_not_executed_by_the_book(config):
    mode = config.get("execute", {}).get("execute_notebooks")
    # YAML 1.1 reads a bare `off` as False; jupyter-book treats both as "off".
    assert mode in ("off", False), f"execute_notebooks is {mode!r}; papermill executes notebooks"


def test_build_scope(config):
    assert config.get("only_build_toc_files") is True
    excluded = set(config.get("exclude_patterns") or [])
    for folder in (".venv", "_build", "notebooks", "results", "benchmarks", "data", "tests",
                   "mabprune", "README.md"):
        assert folder in excluded, f"{folder} is not in exclude_patterns"


def test_extensions_and_bibliography(config):
    extensions = set(config.get("sphinx", {}).get("extra_extensions") or [])
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon"} <= extensions
    bibfiles = config.get("bibtex_bibfiles") or []
    assert bibfiles, "no bibtex_bibfiles"
    for bib in bibfiles:
        assert (REPO / bib).is_file(), f"missing bibliography {bib}"


def test_cited_keys_exist(config):
    keys = set()
    for bib in config.get("bibtex_bibfiles") or []:
        keys |= set(re.findall(r"@\w+\{([^,\s]+),", (REPO / bib).read_text(encoding="utf-8")))
    cited = set()
    for page in (REPO / "book").glob("*.md"):
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text(encoding="utf-8")):
            cited |= {key.strip() for key in group.split(",")}
    assert cited, "no citations in the prose pages"
    assert cited <= keys, f"cited but not in the bibliography: {sorted(cited - keys)}"


def test_jupyter_book_pinned_below_2():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["book"]
    spec = next((d for d in deps if re.match(r"jupyter[-_]book\b", d, re.I)), None)
    assert spec is not None, "jupyter-book is not in the book extra"
    assert "<2" in spec.replace(" ", ""), f"jupyter-book must be pinned below 2: {spec!r}"
    lock = (REPO / "requirements.lock").read_text()
    match = re.search(r"^jupyter[-_]book==(\d+)\.", lock, re.M | re.I)
    assert match and int(match.group(1)) < 2, "requirements.lock must pin jupyter-book 1.x"


def test_static_css_and_local_extension_are_registered(config):
    sphinx = config.get("sphinx", {})
    for name, folder in (sphinx.get("local_extensions") or {}).items():
        assert (REPO / folder / f"{name}.py").is_file(), f"local extension {name} not in {folder}"
    conf = sphinx.get("config", {})
    static = conf.get("html_static_path") or []
    css = conf.get("html_css_files") or []
    assert css, "no CSS registered (wide tables must scroll inside the column)"
    for name in css:
        assert any((REPO / folder / name).is_file() for folder in static), f"{name} not in {static}"
    text = "".join((REPO / folder / name).read_text(encoding="utf-8") for folder in static for name in css
                   if (REPO / folder / name).is_file())
    assert "overflow-x: auto" in text and "@media print" in text
    excluded = set(config.get("exclude_patterns") or [])
    assert {"book/_ext", "book/_static"} <= excluded


def test_every_doc_reference_resolves_from_where_the_page_is_built():
    # Sources in notebooks/ are built from book/executed/, pages in book/ from book/: a {doc}
    # target that names no file there is a warning, and the book builds with warnings as errors.
    root = Path(__file__).resolve().parents[1]
    pages = [(p, root / "book" / "executed", json.loads(p.read_text())) for p in sorted((root / "notebooks").glob("*.ipynb"))]
    pages += [(p, p.parent, None) for p in sorted((root / "book").glob("*.md"))]
    missing = []
    for path, base, nb in pages:
        text = path.read_text() if nb is None else "\n".join(
            "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text):
            resolved = (base / target).resolve()
            if resolved.parent == (root / "book" / "executed").resolve():  # executed copies of notebooks/
                ok = (root / "notebooks" / f"{resolved.name}.ipynb").exists()
            else:
                ok = any(resolved.with_suffix(s).exists() for s in (".md", ".ipynb"))
            if not ok:
                missing.append(f"{path.name}: {target}")
    assert not missing, missing


def _notebook_sources():
    import json as _json

    return {p.stem: _json.loads(p.read_text(encoding="utf-8")) for p in sorted((REPO / "notebooks").glob("*.ipynb"))}


def test_every_page_opens_with_its_question_and_answer():
    """Issue 20 §2: the first markdown of each chapter is its title, then an admonition of 1-3
    sentences; its numbers are glued, not typed."""
    import re as _re

    pages = {name: "".join(next(c for c in nb["cells"] if c["cell_type"] == "markdown")["source"])
             for name, nb in _notebook_sources().items()}
    for name in ("intro", "protocols", "rerun"):
        pages[name] = (REPO / "book" / f"{name}.md").read_text(encoding="utf-8")
    problems = []
    for name, text in pages.items():
        match = _re.search(r"\A# [^\n]+\n\n:::\{admonition\} ([^\n]+)\n:class: tip\n(.+?)\n:::", text, _re.S)
        if not match:
            problems.append(f"{name}: does not open with its title and a question-and-answer admonition")
            continue
        answer = match.group(2)
        sentences = [s for s in _re.split(r"(?<=[.?!])\s+(?=[A-Z`{])", answer.replace("\n", " ")) if s.strip()]
        if not 1 <= len(sentences) <= 3:
            problems.append(f"{name}: its answer has {len(sentences)} sentences")
        bare = _re.sub(r"\{glue:text\}`[^`]+`|`[^`]*`", "", answer)
        if _re.search(r"(?<![\w-])\d+(?:\.\d+)?(?![\w-])", bare):
            problems.append(f"{name}: its answer types a number by hand: {bare!r}")
    assert not problems, "\n".join(problems)


def test_parameters_and_plumbing_are_hidden_in_the_book():
    """Issue 20 §4: the parameters cell is removed (the page's run note shows what ran) and no code
    cell shows its source open."""
    problems = []
    hiding = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
    for name, nb in _notebook_sources().items():
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            tags = set(cell.get("metadata", {}).get("tags") or [])
            if "parameters" in tags and "remove-cell" not in tags:
                problems.append(f"{name}: the parameters cell {i} is not tagged remove-cell")
            if not tags & hiding:
                problems.append(f"{name}: code cell {i} shows its source in the book")
    assert not problems, "\n".join(problems)
