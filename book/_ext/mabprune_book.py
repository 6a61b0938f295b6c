"""Sphinx extension of the mabprune book: launch links, record downloads, hidden machine paths.

Registered in ``_config.yml`` (``sphinx.local_extensions``). The pages of the book under
``book/executed/`` are papermill-executed copies of the tracked, output-free sources in
``notebooks/``; this extension

* points the Binder and Colab launch buttons of such a page at ``notebooks/<name>.ipynb``
  (sphinx-book-theme builds them from the page path, ``book/executed/<name>.ipynb``, a
  git-ignored build product);
* takes the repository URL and branch from ``MABPRUNE_REPO_URL`` / ``MABPRUNE_REPO_BRANCH``
  when they are set (the Makefile's ``REPO_URL`` / ``REPO_BRANCH``; the deploy workflow sets
  them from the repository it runs in), else from ``repository:`` in ``_config.yml``;
* removes the cell papermill injects (tag ``injected-parameters``: it holds this machine's
  absolute paths) and puts in its place a note with the parameters, paths relative to the
  repository, and links to the records the page read, copied into the site as
  ``records/<profile>/<family>.jsonl`` and also offered in the page's download menu;
* loads ``sphinx-mathjax-offline`` when it is installed, so math renders without a network.
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

#: Folder of the built site receiving the records (no leading underscore: served as-is).
RECORDS_DIR = "records"
INJECTED_TAG = "tag_injected-parameters"
_GITHUB = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_OFFLINE_MATHJAX = ("sphinx-mathjax-offline", "sphinx_mathjax_offline")


def _repo_root(app: Sphinx) -> Path:
    return Path(app.srcdir).resolve()


def _source_of(app: Sphinx, docname: str) -> str | None:
    """``notebooks/<name>.ipynb`` for a page under the executed folder, else None."""
    prefix = app.config.mabprune_executed_dir.strip("/") + "/"
    if not docname.startswith(prefix):
        return None
    return f"{app.config.mabprune_source_dir.strip('/')}/{docname[len(prefix):]}.ipynb"


def _apply_repository_override(app: Sphinx, config) -> None:
    """``config-inited``: the repository URL and branch from the environment, if set."""
    import os

    options = config.html_theme_options
    url = os.environ.get("MABPRUNE_REPO_URL", "").strip().rstrip("/")
    branch = os.environ.get("MABPRUNE_REPO_BRANCH", "").strip()
    if url:
        options["repository_url"] = url
    if branch:
        options["repository_branch"] = branch
    final = str(options.get("repository_url", "")).rstrip("/")
    if not _GITHUB.match(final):
        raise ExtensionError(f"repository URL {final!r} is not https://github.com/<owner>/<repo>; the Binder "
                             "and Colab launch links need a GitHub repository (set REPO_URL)")


def _relative(path: str, root: Path) -> str:
    """A path for display: relative to the repository root, or marked as outside it."""
    p = Path(path).expanduser()
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return f"<outside the repository>/{p.name}"


def _papermill_parameters(path: Path) -> dict[str, Any] | None:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    papermill = nb.get("metadata", {}).get("papermill")
    if not isinstance(papermill, dict):
        return None
    return dict(papermill.get("parameters") or {})


def _records_of(app: Sphinx, docname: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(source file, site path) of each record file the page read."""
    stem = docname.rsplit("/", 1)[-1]
    families = app.config.mabprune_records.get(stem) or []
    if not families:
        return []
    # The cross-family pages of `make book` get one profile per family (`profiles`, a dict), the
    # family pages and a hand run one `profile`.
    per_family = params.get("profiles") if isinstance(params.get("profiles"), dict) else {}
    profile = params.get("profile")
    if not profile and not all(f in per_family for f in families):
        LOGGER.warning(f"{docname}: the executed notebook records no 'profile' parameter, so the records "
                       "it read cannot be offered for download", location=docname)
        return []
    found, missing = [], []
    for family in families:
        fam_profile = str(per_family.get(family) or profile)
        results = Path(params["results_dir"]) if params.get("results_dir") else \
            _repo_root(app) / "results" / fam_profile
        src = results / f"{family}.jsonl"
        (found if src.is_file() else missing).append((str(src), f"{RECORDS_DIR}/{fam_profile}/{family}.jsonl"))
    profile = profile or ", ".join(f"{f}={p}" for f, p in per_family.items())
    # A family page reads exactly its family; the analysis pages read what is there.
    if missing and (len(families) == 1 or not found):
        LOGGER.warning(f"{docname}: records {', '.join(s for s, _ in missing)} not found; executed with "
                       f"profile {profile!r}", location=docname)
    return found


def _note(app: Sphinx, docname: str, params: dict[str, Any], records: list[tuple[str, str]]) -> nodes.Node:
    root = _repo_root(app)
    note = nodes.container(classes=["mabprune-run-note"])
    para = nodes.paragraph()
    para += nodes.Text("Executed by papermill with ")
    shown = []
    for key, value in params.items():
        if isinstance(value, str) and ("/" in value or "\\" in value):
            value = _relative(value, root)
        shown.append(f"{key} = {value!r}")
    if shown:
        for i, text in enumerate(shown):
            if i:
                para += nodes.Text(", ")
            para += nodes.literal(text=text)
    else:
        para += nodes.Text("the defaults of its parameters cell")
    para += nodes.Text(".")
    if records:
        para += nodes.Text(" Records read by this page: ")
        here = posixpath.dirname(docname)
        for i, (_, site) in enumerate(records):
            if i:
                para += nodes.Text(", ")
            ref = nodes.reference("", "", internal=False, refuri=posixpath.relpath(site, here or "."),
                                  classes=["mabprune-records-link"])
            ref += nodes.literal(text=site.split("/", 1)[1])
            para += ref
        para += nodes.Text(" (one JSON record per run).")
    note += para
    return note


def _on_doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    if _source_of(app, docname) is None:
        return
    injected = [n for n in doctree.findall(nodes.container) if INJECTED_TAG in n.get("classes", [])]
    params = _papermill_parameters(Path(app.env.doc2path(docname))) or {}
    records = _records_of(app, docname, params)
    store = getattr(app.env, "mabprune_records", {})
    store[docname] = records
    app.env.mabprune_records = store
    note = _note(app, docname, params, records)
    if injected:
        # The note takes the cell's place (not its classes: it is not a notebook cell).
        injected[0].parent.insert(injected[0].parent.index(injected[0]), note)
        for cell in injected:
            cell.parent.remove(cell)
    elif params or records:
        sections = list(doctree.findall(nodes.section))
        if sections:
            title = sections[0].next_node(nodes.title)
            sections[0].insert(sections[0].index(title) + 1 if title is not None else 0, note)


def _on_purge(app: Sphinx, env, docname: str) -> None:
    getattr(env, "mabprune_records", {}).pop(docname, None)


def _on_merge(app: Sphinx, env, docnames, other) -> None:
    store = getattr(env, "mabprune_records", {})
    store.update(getattr(other, "mabprune_records", {}))
    env.mabprune_records = store


def _on_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """After the theme (priority 501): launch links to the source, records in the download menu."""
    source = _source_of(app, pagename)
    if source is None:
        return
    if not (_repo_root(app) / source).is_file():
        LOGGER.warning(f"{pagename}: its source notebook {source} does not exist", location=pagename)
        return
    built = posixpath.join(str(app.config.html_theme_options.get("path_to_docs", "")).strip("/"),
                           f"{pagename}.ipynb").lstrip("/")
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            for button in group.get("buttons", []):
                url = button.get("url")
                if not url:
                    continue
                if built not in url:
                    LOGGER.warning(f"{pagename}: launch link {url!r} does not name {built}; cannot point "
                                   f"it at {source}", location=pagename)
                    continue
                button["url"] = url.replace(built, source)
        if group.get("label") == "download-buttons":
            pathto = context["pathto"]
            for _, site in getattr(app.env, "mabprune_records", {}).get(pagename, []):
                group["buttons"].insert(len(group["buttons"]) - 1, {
                    "type": "link", "url": pathto(site, 1), "text": site.rsplit("/", 1)[-1],
                    "tooltip": "Download the records this page read", "icon": "fas fa-database",
                    "label": "download-records-button"})


def _on_build_finished(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for records in getattr(app.env, "mabprune_records", {}).values():
        for src, site in records:
            dest = out / site
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the configuration values and event handlers."""
    app.add_config_value("mabprune_source_dir", "notebooks", "env")
    app.add_config_value("mabprune_executed_dir", "book/executed", "env")
    app.add_config_value("mabprune_records", {}, "env")
    app.connect("config-inited", _apply_repository_override)
    app.connect("doctree-read", _on_doctree_read)
    app.connect("env-purge-doc", _on_purge)
    app.connect("env-merge-info", _on_merge)
    app.connect("html-page-context", _on_page_context, priority=502)
    app.connect("build-finished", _on_build_finished)
    for name in _OFFLINE_MATHJAX:
        if importlib.util.find_spec(name) is not None:
            app.setup_extension(name)
            break
    else:
        LOGGER.info("sphinx-mathjax-offline is not installed: math loads MathJax from its CDN")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
