"""What the browser tests share (``test_html.py``, ``test_a11y.py``): the built book, a local web
server for it and headless Chromium (the fixtures, registered in ``conftest.py``), and a wait for
MathJax and the widgets.

Without a built book or Chromium and its driver the browser tests are skipped, unless
``MNIST_BOOK_REQUIRE_HTML=1`` (as in CI) turns the skip into a failure.
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
#: The chapter pages (and the other pages of book/), relative to HTML.
PAGES = sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("*.html")) if HTML.is_dir() else []
#: The pages Sphinx writes beside them: the redirect to the introduction, the index, the search page.
ROOT_PAGES = ["index.html", "genindex.html", "search.html"] if PAGES else []
REQUIRED = os.environ.get("MNIST_BOOK_REQUIRE_HTML") == "1"


def unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"MNIST_BOOK_REQUIRE_HTML=1 but {reason}")
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if not PAGES:
        unavailable("the book is not built (run `jupyter-book build .` first)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        unavailable("Chromium and chromedriver are not installed (Debian: chromium chromium-driver)")
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
SETTLE = """
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


def open_page(browser, server, page) -> int:
    """Open ``page`` and wait for MathJax and the widgets; returns how many saved widget views it has."""
    browser.get(f"{server}/{page}")
    return browser.execute_async_script(SETTLE)
