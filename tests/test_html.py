"""The built HTML book in a real browser (headless Chromium through Selenium).

Every chapter page is opened from a local web server and checked for JavaScript errors, images that
did not load, math MathJax did not render, widgets not drawn from their saved state, and error
outputs. A screenshot of each page goes to ``_build/screenshots/``.

Needs a built book (``jupyter-book build .``) and Chromium with its driver (Debian: ``chromium``,
``chromium-driver``). Without them these tests are skipped, unless ``MNIST_BOOK_REQUIRE_HTML=1``
(as in CI) turns the skip into a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("*.html")) if HTML.is_dir() else []
REQUIRED = os.environ.get("MNIST_BOOK_REQUIRE_HTML") == "1"


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"MNIST_BOOK_REQUIRE_HTML=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server():
    if not PAGES:
        _unavailable("the book is not built (run `jupyter-book build .` first)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        _unavailable("Chromium and chromedriver are not installed (Debian: chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.set_script_timeout(60)
    yield chrome
    chrome.quit()


# Waits until MathJax has typeset the page and the widgets manager has drawn every saved view.
_SETTLE = """
const done = arguments[arguments.length - 1];
const start = Date.now();
async function settle() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const expected = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  while (Date.now() - start < 45000) {
    const drawn = document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets-view, .widget-inline-hbox, .jupyter-widgets.widget-inline-hbox, .widget-hprogress, .jupyter-widgets-output-area').length;
    const images = [...document.images].every(img => img.complete);
    if ((expected === 0 || drawn > 0) && images) break;
    await new Promise(r => setTimeout(r, 200));
  }
  done(expected);
}
settle();
"""


@pytest.mark.parametrize("page", PAGES or ["(no pages)"])
def test_page_in_browser(page, server, browser):
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(f"{server}/{page}")
    n_widget_views = browser.execute_async_script(_SETTLE)

    # 1. No JavaScript errors (a missing favicon is the browser's habit, not the book's).
    errors = [
        e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
    ]
    assert errors == [], f"{page}: JavaScript errors in the console:\n" + "\n".join(errors)

    # 2. Every image loaded.
    broken = browser.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken == [], f"{page}: images that did not load: {broken}"

    # 2b. Every figure a cell drew has alt text and sits in a numbered figure with a caption. (Images
    # inside a widget are the widget's saved state; each explorer has a captioned static figure too.)
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('main .cell_output img')]"
        ".filter(i => !i.closest('.jupyter-widgets'))"
        ".filter(i => !(i.alt && i.alt.trim().length >= 20 && i.closest('figure') &&"
        " i.closest('figure').querySelector('figcaption')))"
        ".map(i => i.src.split('/').pop())"
    )
    assert unlabelled == [], f"{page}: output images without alt text or caption: {unlabelled}"

    # 3. Math rendered: MathJax output wherever there is math, and no raw TeX left in the text.
    n_math = browser.execute_script("return document.querySelectorAll('.math, .math-wrapper').length")
    n_rendered = browser.execute_script("return document.querySelectorAll('mjx-container').length")
    if n_math:
        assert n_rendered >= n_math, f"{page}: {n_math} math elements, only {n_rendered} rendered by MathJax"
    text = browser.execute_script("return document.querySelector('main').innerText")
    assert "$$" not in text and "\\begin{" not in text, f"{page}: raw TeX left in the text"

    # 4. Widgets drawn from their saved state.
    if n_widget_views:
        drawn = browser.execute_script("return document.querySelectorAll('.jupyter-widgets').length")
        assert drawn > 0, f"{page}: {n_widget_views} saved widget views, none drawn"

    # 5. No error outputs in any cell.
    tracebacks = browser.execute_script(
        "return [...document.querySelectorAll('.output.traceback, .output.error')].map(e => e.innerText.slice(0, 300))"
    )
    assert tracebacks == [], f"{page}: error outputs:\n" + "\n".join(tracebacks)

    # 6. A chapter offers its notebook: download, Binder and Colab links, and the repository's.
    if (ROOT / "book" / (Path(page).stem + ".ipynb")).exists():
        links = browser.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
        for what, pattern in [
            ("Binder", "mybinder.org/v2/gh/"),
            ("Colab", "colab.research.google.com/github/"),
            ("download", ".ipynb"),
            ("repository", "https://github.com/"),
        ]:
            assert any(pattern in link for link in links), f"{page}: no {what} link"

    # A screenshot of the whole page.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height, 1000), 16000))
    browser.save_screenshot(str(SCREENSHOTS / (Path(page).stem + ".png")))
    browser.set_window_size(1280, 1000)
