"""The built book in a real browser: every chapter loads, its images render, no error output,
and every launch and download link points at a file of the repository or of the built site.

Runs only with ``MABPRUNE_BROWSER_CHECK=1`` (CI sets it after ``make book``), and needs a
Chromium binary with its chromedriver (Debian: ``apt-get install chromium chromium-driver``)
and the ``selenium`` package (the ``test`` extra). The book in ``_build/html`` is served over
HTTP on 127.0.0.1 and each page of ``_toc.yml`` is opened in headless Chromium.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"

pytestmark = pytest.mark.browser

CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1600",
)
PAGE_TIMEOUT_S = 20
TOTAL_BUDGET_S = 55

# Runs in the page; returns what the checks need in one round trip.
INSPECT_JS = r"""
const outputs = Array.from(document.querySelectorAll('.cell_output, div.output'));
const badClass = [];
for (const root of outputs) {
  for (const el of [root, ...root.querySelectorAll('*')]) {
    const cls = (typeof el.className === 'string') ? el.className : '';
    if (/error|traceback/i.test(cls)) { badClass.push(el.tagName.toLowerCase() + '.' + cls.trim().split(/\s+/).join('.')); }
  }
}
const tracebackText = outputs.some(el => (el.textContent || '').includes('Traceback (most recent call last)'));
const images = Array.from(document.images).map(img => ({
  src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth}));
const h1 = document.querySelector('main h1, article h1, h1');
return {
  title: document.title,
  h1: h1 ? h1.textContent.trim() : '',
  readyState: document.readyState,
  badClass: Array.from(new Set(badClass)).slice(0, 10),
  tracebackText: tracebackText,
  papermillError: document.getElementById('papermill-error-cell') !== null,
  injectedParameters: document.querySelector('.tag_injected-parameters') !== null,
  images: images,
  links: Array.from(document.querySelectorAll('a[href]')).map(a => ({
    href: a.href, cls: (typeof a.className === 'string') ? a.className : ''})),
};
"""

#: Classes of the links to files: the theme's download buttons and the records links.
DOWNLOAD_CLASSES = ("btn-download-source-button", "btn-download-records-button", "mabprune-records-link")
_BINDER = re.compile(r"^https://mybinder\.org/v2/gh/[^/]+/[^/]+/[^/?]+$")
_COLAB = re.compile(r"^https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/(?P<path>.+)$")


def _tracked_files() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def _link_problems(docname: str, links: list[dict], tracked: set[str], site_root: str) -> tuple[list[str], int, int]:
    """Problems of the launch and download links of one page; also how many of each were seen.

    ``links`` holds ``{"href", "cls"}``; ``site_root`` is the URL of the built site's root, to
    which the local hrefs (already absolute) are relative.
    """
    problems, launches, downloads = [], 0, 0
    for link in links:
        href, cls = link["href"], link.get("cls", "")
        if href.startswith("https://mybinder.org/"):
            launches += 1
            base, _, query = href.partition("?")
            urlpath = parse_qs(query).get("urlpath", [""])[0]
            path = urlpath.removeprefix("lab/tree/").removeprefix("tree/")
            if not _BINDER.match(base) or path not in tracked:
                problems.append(f"{docname}: Binder link opens {path!r}, not a file of `git ls-files` ({href})")
        elif href.startswith("https://colab.research.google.com/"):
            launches += 1
            match = _COLAB.match(href)
            if not match or match.group("path") not in tracked:
                problems.append(f"{docname}: Colab link is not a file of `git ls-files` ({href})")
        elif any(c in cls.split() for c in DOWNLOAD_CLASSES):
            downloads += 1
            if not href.startswith(site_root):
                problems.append(f"{docname}: download link leaves the site: {href}")
                continue
            rel = unquote(urlparse(href).path)[len(urlparse(site_root).path):].lstrip("/")
            if not (HTML / rel).is_file():
                problems.append(f"{docname}: download link to a missing file {rel}")
    return problems, launches, downloads


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            attrs = dict(attrs)
            if attrs.get("href"):
                self.links.append({"href": attrs["href"], "cls": attrs.get("class") or ""})


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _chromedriver() -> str | None:
    for candidate in ("/usr/bin/chromedriver", shutil.which("chromedriver")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _toc_pages() -> list[str]:
    """The docnames of _toc.yml, root first (e.g. ``book/intro``)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    pages: list[str] = []

    def walk(entry):
        if isinstance(entry, dict):
            for key in ("root", "file"):
                if key in entry:
                    pages.append(str(entry[key]).removesuffix(".md").removesuffix(".ipynb"))
            for key in ("parts", "chapters", "sections"):
                for child in entry.get(key) or []:
                    walk(child)

    walk(toc)
    return pages


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep the test output clean
        pass


@pytest.fixture(scope="module")
def site():
    """Serve _build/html on a free port of 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mabprune-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=_chromedriver()))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _skip_reason() -> str | None:
    if os.environ.get("MABPRUNE_BROWSER_CHECK") != "1":
        return "browser check disabled: set MABPRUNE_BROWSER_CHECK=1 after `make book`"
    if _chromium() is None:
        return "no Chromium binary (/usr/bin/chromium or `chromium` on PATH)"
    if _chromedriver() is None:
        return "no chromedriver (Debian package chromium-driver)"
    if not (HTML / "index.html").is_file():
        return "no built book: _build/html/index.html is missing (run `make book`)"
    return None


def _wait_for_images(driver, deadline: float) -> None:
    script = "return Array.from(document.images).every(img => img.complete);"
    while time.monotonic() < deadline and not driver.execute_script(script):
        time.sleep(0.1)


def test_every_chapter_renders_in_chromium(request):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    base = request.getfixturevalue("site")
    driver = request.getfixturevalue("browser")

    started = time.monotonic()
    problems: list[str] = []
    tracked = _tracked_files()
    pages = _toc_pages()
    for docname in pages:
        if time.monotonic() - started > TOTAL_BUDGET_S:
            problems.append(f"time budget of {TOTAL_BUDGET_S} s spent before {docname}")
            break
        if not (HTML / f"{docname}.html").is_file():
            problems.append(f"{docname}: not built ({docname}.html is missing)")
            continue
        driver.get(f"{base}/{docname}.html")
        _wait_for_images(driver, time.monotonic() + 5)
        info = driver.execute_script(INSPECT_JS)
        if not info["title"].strip() or "Error response" in info["title"] or not info["h1"]:
            problems.append(f"{docname}: did not load (title {info['title']!r}, h1 {info['h1']!r})")
        for img in info["images"]:
            if not (img["complete"] and img["width"] > 0):
                problems.append(f"{docname}: image not rendered: {img['src']}")
        if info["badClass"]:
            problems.append(f"{docname}: error output in cells: {info['badClass']}")
        if info["tracebackText"]:
            problems.append(f"{docname}: a cell output shows a Python traceback")
        if info["papermillError"]:
            problems.append(f"{docname}: papermill recorded an exception while executing it")
        if info["injectedParameters"]:
            problems.append(f"{docname}: shows papermill's injected-parameters cell (this machine's paths)")
        found, _, _ = _link_problems(docname, info["links"], tracked, base + "/")
        problems.extend(found)
    assert pages, "_toc.yml lists no pages"
    assert not problems, "\n".join(problems)


def test_launch_and_download_links_resolve():
    """Without a browser: each executed page's launch links open a tracked notebook of
    notebooks/, and its download links (executed .ipynb, records) are files of the site."""
    if os.environ.get("MABPRUNE_BROWSER_CHECK") != "1":
        pytest.skip("link check disabled: set MABPRUNE_BROWSER_CHECK=1 after `make book`")
    if not (HTML / "index.html").is_file():
        pytest.skip("no built book: _build/html/index.html is missing (run `make book`)")
    tracked = _tracked_files()
    offline_math = re.search(r"^sphinx[-_]mathjax[-_]offline==", (REPO / "requirements.lock").read_text(),
                             re.M | re.I) is not None
    site_root = "http://book.invalid/"
    problems: list[str] = []
    for docname in _toc_pages():
        page = HTML / f"{docname}.html"
        if not page.is_file():
            problems.append(f"{docname}: not built")
            continue
        parser = _Anchors()
        parser.feed(page.read_text(encoding="utf-8"))
        links = [{"href": urljoin(site_root + docname + ".html", a["href"]), "cls": a["cls"]}
                 for a in parser.links]
        found, launches, downloads = _link_problems(docname, links, tracked, site_root)
        problems.extend(found)
        if docname.startswith("book/executed/"):
            if launches != 2:
                problems.append(f"{docname}: {launches} Binder/Colab links, expected 2")
            if not any("btn-download-source-button" in a["cls"] for a in parser.links):
                problems.append(f"{docname}: no download button for its executed .ipynb")
            if "tag_injected-parameters" in page.read_text(encoding="utf-8"):
                problems.append(f"{docname}: shows papermill's injected-parameters cell")
        if offline_math and re.search(r'<script[^>]+src="https?://[^"]*mathjax', page.read_text(encoding="utf-8")):
            problems.append(f"{docname}: loads MathJax from the network although sphinx-mathjax-offline is locked")
    assert not problems, "\n".join(problems)
