"""The built book as a reader meets it, in headless Chromium at 1280 px and at 768 px (issue 20 §7).

* the landing page's verdicts board shows every claim's verdict above the fold and without
  horizontal scrolling;
* no page shows a table with more than :data:`MAX_VISIBLE_ROWS` visible rows (longer tables keep
  the rest collapsed);
* every figure has alt text that says something (not empty, not a file name);
* no page contains an absolute path of the machine that built it;
* the authors' chapter shows their tables.

Same switches and skip rules as ``tests/test_browser.py``: runs with
``MABPRUNE_BROWSER_CHECK=1`` after ``make book``, needs Chromium, chromedriver and selenium.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.test_browser import HTML, PAGE_TIMEOUT_S, _chromedriver, _chromium, _skip_reason, _toc_pages, \
    _wait_for_images, site  # noqa: F401  (site is a fixture)

pytestmark = pytest.mark.browser

#: The two widths of the issue: a laptop and a tablet, with a screen height each.
VIEWPORTS = {"laptop": (1280, 800), "tablet": (768, 1024)}
MAX_VISIBLE_ROWS = 40
def _machine_paths() -> re.Pattern:
    """Absolute paths of the machine that built the book: the repository, its parent, the home
    folder, the Python installation (a warning's file name), and any home folder at all."""
    import sys

    roots = {str(REPO), str(REPO.parent), str(Path.home()), sys.prefix, sys.base_prefix}
    roots = sorted((r.rstrip("/") + "/" for r in roots if r.strip("/")), key=len, reverse=True)
    alternatives = [re.escape(r) for r in roots] + [r"/home/[\w.-]+/", r"/Users/[\w.-]+/"]
    return re.compile(r"(?<![\w.:/])(" + "|".join(alternatives) + ")")


REPO = Path(__file__).resolve().parents[1]
_ABSOLUTE = _machine_paths()
_FILE_NAME = re.compile(r"^[\w.-]*\.(png|jpe?g|svg|gif)$|^[0-9a-f]{16,}", re.I)

BOARD_JS = r"""
const board = document.querySelector('table.mabprune-board');
if (!board) { return null; }
const verdicts = Array.from(board.querySelectorAll('td.mabprune-verdict')).map(td => {
  const r = td.getBoundingClientRect();
  return {text: td.textContent.trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom};
});
let box = board.parentElement, clipped = false;
while (box && box !== document.body) {
  if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== 'visible') { clipped = true; }
  box = box.parentElement;
}
return {verdicts: verdicts, rows: board.querySelectorAll('tbody tr').length,
        innerWidth: window.innerWidth, innerHeight: window.innerHeight,
        docScroll: document.documentElement.scrollWidth, clipped: clipped};
"""

PAGE_JS = r"""
// A row inside a closed <details> is laid out on demand by Chromium but not shown.
const visible = el => { if (el.closest('details:not([open])')) { return false; }
  if (el.checkVisibility && !el.checkVisibility()) { return false; }
  const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
const tables = Array.from(document.querySelectorAll('main table, article table')).map(t =>
  Array.from(t.querySelectorAll('tr')).filter(visible).length);
const images = Array.from(document.querySelectorAll('main img, article img')).map(img => ({
  src: img.currentSrc || img.src, alt: (img.getAttribute('alt') || '').trim()}));
return {tables: tables, images: images, text: document.body.innerText,
        html: document.documentElement.outerHTML.length};
"""


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium whose window size each test sets."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    from tests.test_browser import CHROME_FLAGS

    profile = tempfile.mkdtemp(prefix="mabprune-reader-")
    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    for flag in CHROME_FLAGS:
        if not flag.startswith("--window-size"):
            options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=_chromedriver()))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _resize(driver, width: int, height: int) -> None:
    """Make the *viewport* (not the window) width x height."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))


def _skip():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_landing_page_shows_every_verdict_on_the_first_screen(request, viewport):
    _skip()
    base, driver = request.getfixturevalue("site"), request.getfixturevalue("chromium")
    width, height = VIEWPORTS[viewport]
    _resize(driver, width, height)
    driver.get(f"{base}/{_toc_pages()[0]}.html")
    info = driver.execute_script(BOARD_JS)
    assert info is not None, "the landing page has no verdicts board (table.mabprune-board)"
    assert info["innerWidth"] == width, f"viewport is {info['innerWidth']} px wide, not {width}"
    verdicts = info["verdicts"]
    assert len(verdicts) == info["rows"] >= 10, f"{len(verdicts)} verdict cells for {info['rows']} rows"
    problems = []
    if info["docScroll"] > width:
        problems.append(f"the page scrolls horizontally ({info['docScroll']} px wide at {width} px)")
    if info["clipped"]:
        problems.append("the board sits in a box that scrolls horizontally")
    for v in verdicts:
        if not v["text"]:
            problems.append("an empty verdict cell")
        if v["right"] > width or v["left"] < 0:
            problems.append(f"verdict {v['text']!r} is outside the screen horizontally ({v['left']:.0f}-{v['right']:.0f})")
        if v["bottom"] > height:
            problems.append(f"verdict {v['text']!r} is below the fold ({v['bottom']:.0f} px > {height} px)")
    assert not problems, f"{viewport} {width}x{height}: " + "; ".join(problems)


def test_every_page_is_readable(request):
    _skip()
    base, driver = request.getfixturevalue("site"), request.getfixturevalue("chromium")
    _resize(driver, *VIEWPORTS["laptop"])
    problems = []
    for docname in _toc_pages():
        if not (HTML / f"{docname}.html").is_file():
            problems.append(f"{docname}: not built")
            continue
        driver.get(f"{base}/{docname}.html")
        _wait_for_images(driver, __import__("time").monotonic() + 5)
        info = driver.execute_script(PAGE_JS)
        for i, rows in enumerate(info["tables"]):
            if rows > MAX_VISIBLE_ROWS:
                problems.append(f"{docname}: table {i + 1} shows {rows} rows (at most {MAX_VISIBLE_ROWS})")
        for img in info["images"]:
            name = img["src"].rsplit("/", 1)[-1]
            if not img["alt"] or _FILE_NAME.match(img["alt"]) or img["alt"] == name:
                problems.append(f"{docname}: figure {name} has no alt text that says what it shows "
                                f"({img['alt']!r})")
        raw = (HTML / f"{docname}.html").read_text(encoding="utf-8")
        for where, text in (("text", info["text"]), ("HTML", raw)):
            match = _ABSOLUTE.search(text)
            if match:
                start = max(0, match.start() - 40)
                problems.append(f"{docname}: an absolute path in its {where}: …{text[start:match.end() + 40]!r}…")
                break
    assert not problems, "\n".join(problems)


def test_the_authors_chapter_has_their_tables(request):
    _skip()
    base, driver = request.getfixturevalue("site"), request.getfixturevalue("chromium")
    _resize(driver, *VIEWPORTS["laptop"])
    page = next(p for p in _toc_pages() if p.endswith("authors_tables"))
    driver.get(f"{base}/{page}.html")
    text = driver.execute_script("return document.body.innerText;")
    assert "tables were not found" not in text
    counts = driver.execute_script(
        "return Array.from(document.querySelectorAll('main table, article table')).map(t => t.rows.length);")
    assert sum(1 for n in counts if n >= 3) >= 3, f"the authors' chapter shows tables of {counts} rows"
    for name in ("classification", "regression", "deep learning"):
        assert name in text.lower()
