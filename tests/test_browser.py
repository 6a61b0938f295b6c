"""The built book in a real browser: every chapter loads, its images render, no error output.

Runs only with ``MABPRUNE_BROWSER_CHECK=1`` (CI sets it after ``make book``), and needs a
Chromium binary with its chromedriver (Debian: ``apt-get install chromium chromium-driver``)
and the ``selenium`` package (the ``test`` extra). The book in ``_build/html`` is served over
HTTP on 127.0.0.1 and each page of ``_toc.yml`` is opened in headless Chromium.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

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
  images: images,
};
"""


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
    assert pages, "_toc.yml lists no pages"
    assert not problems, "\n".join(problems)
