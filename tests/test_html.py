"""The built HTML book in a real browser (headless Chromium through Selenium).

Every chapter page is opened from a local web server and checked for JavaScript errors, images that
did not load, math MathJax did not render, widgets not drawn from their saved state, and error
outputs. A screenshot of each page goes to ``_build/screenshots/``. The digit pad (chapter 7.3 and the
introduction) is drawn on with real pointer strokes and with 100 MNIST test digits, and its inputs
are held to ``mnist_book.preprocess``'s.

Needs a built book (``jupyter-book build .``) and Chromium with its driver (Debian: ``chromium``,
``chromium-driver``). Without them these tests are skipped, unless ``MNIST_BOOK_REQUIRE_HTML=1``
(as in CI) turns the skip into a failure (``tests/browser.py``: the server and browser fixtures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import HTML, PAGES, ROOT, open_page, unavailable

SCREENSHOTS = ROOT / "_build" / "screenshots"


@pytest.mark.parametrize("page", PAGES or ["(no pages)"])
def test_page_in_browser(page, server, browser):
    browser.get_log("browser")  # drop what earlier pages logged
    n_widget_views = open_page(browser, server, page)

    # 1. No JavaScript errors.
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
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


# --------------------------------------------------------------------------- the digit pad

PAD_PAGE, INTRO_PAGE = "book/07_3_handwriting.html", "book/intro.html"

# Waits for the page's pads and for ONNX Runtime Web to load the network; returns how many pads.
_PAD_READY = """
const done = arguments[arguments.length - 1];
(async () => {
  const start = Date.now();
  while (!window.mnistDigitPad && Date.now() - start < 20000) await new Promise(r => setTimeout(r, 100));
  if (!window.mnistDigitPad) return done({error: "digit-pad.js did not start"});
  try {
    await window.mnistDigitPad.session();
    done({pads: window.mnistDigitPad.pads.length});
  } catch (err) {
    done({error: String((err && err.message) || err)});
  }
})();
"""

# Draws each picture (a data URL) onto the first pad and returns what the page read, the 28x28
# input it gave the network, and the drawing as PNG.
_READ_PICTURES = """
const [urls, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const pad = window.mnistDigitPad.pads[0], out = [];
  for (const url of urls) {
    const r = await pad.drawPicture(url);
    out.push({digit: r ? r.digit : null, shown: pad.result.dataset.digit, input: Array.from(pad.lastInput || []),
              png: pad.canvas.toDataURL("image/png")});
  }
  done(out);
})().catch(err => done({error: String(err)}));
"""

_LAST_DRAWING = """
const pad = window.mnistDigitPad.pads[arguments[0]];
return {input: Array.from(pad.lastInput || []), png: pad.canvas.toDataURL("image/png")};
"""


def _unit_strokes() -> dict[str, list[tuple[float, float]]]:
    """A "1", a "7" and a "0" as one stroke each, in units of half the pad (x right, y down)."""
    import math

    def line(a, b, n=12):
        return [(a[0] + (b[0] - a[0]) * t / n, a[1] + (b[1] - a[1]) * t / n) for t in range(n + 1)]

    zero = [(0.42 * math.sin(2 * math.pi * t / 40), -0.7 * math.cos(2 * math.pi * t / 40)) for t in range(41)]
    return {
        "1": line((0.06, -0.72), (-0.04, 0.72)),
        "7": line((-0.45, -0.66), (0.45, -0.66)) + line((0.45, -0.66), (-0.08, 0.72))[1:],
        "0": zero,
    }


def _draw_stroke(browser, canvas, points, kind: str) -> None:
    """One stroke with real pointer actions (``kind``: mouse, pen or touch): down, moves, up."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    half = canvas.size["width"] / 2
    pixels = [(round(x * half), round(y * half)) for x, y in points]
    builder = ActionBuilder(browser, mouse=PointerInput(kind, f"{kind}-pointer"), duration=15)
    builder.pointer_action.move_to(canvas, *pixels[0]).pointer_down()
    for x, y in pixels[1:]:
        builder.pointer_action.move_to(canvas, x, y)
    builder.pointer_action.pointer_up()
    builder.perform()


def _open_pad(browser, server, page):
    browser.get_log("browser")
    browser.get(f"{server}/{page}")
    ready = browser.execute_async_script(_PAD_READY)
    assert "error" not in ready, f"{page}: the digit pad did not start: {ready['error']}"
    assert ready["pads"] >= 1
    host = browser.find_element("css selector", ".digit-pad-host")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", host)
    return host


def _wait_for_reading(browser, result, previous=None):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(
        lambda _: result.get_attribute("data-digit") is not None and result.text != previous
    )
    return int(result.get_attribute("data-digit")), result.text


def _severe(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _python_side(pngs: list[str]):
    """What mnist_book.preprocess makes of the page's drawings, and what the exported network (run
    by ONNX Runtime in Python) reads in them."""
    import base64

    import numpy as np
    import torch

    from mnist_book.preprocess import preprocess_image
    from mnist_book.web import MODEL_NAME, load_reader, read_digits

    inputs = torch.cat([preprocess_image(base64.b64decode(p.split(",", 1)[1])).tensor for p in pngs])
    logits, _ = read_digits(load_reader(HTML / "_static" / MODEL_NAME), inputs)
    return inputs.view(len(pngs), -1).numpy(), np.argmax(logits, axis=1)


def test_digit_pad_reads_strokes_drawn_with_pointer_actions(server, browser):
    import json

    import numpy as np

    host = _open_pad(browser, server, PAD_PAGE)
    canvas = host.find_element("css selector", "canvas.digit-pad")
    result = host.find_element("css selector", ".digit-pad-result")
    clear = host.find_element("css selector", "button.digit-pad-clear")
    assert result.get_attribute("aria-live") == "polite"
    assert clear.get_attribute("aria-label") and clear.tag_name == "button"
    n_maps = 0
    drawings = []
    for (digit, points), kind in zip(_unit_strokes().items(), ["mouse", "pen", "touch"]):
        _draw_stroke(browser, canvas, points, kind)
        read, text = _wait_for_reading(browser, result)
        probs = json.loads(result.get_attribute("data-probabilities"))
        assert read == int(digit), f"a {digit} drawn with a {kind} was read as {read} ({text})"
        assert len(probs) == 10 and abs(sum(probs) - 1) < 1e-3 and int(np.argmax(probs)) == read
        assert text.startswith(f"Read as {digit} (") and text.endswith("%)")
        n_maps = len(host.find_elements("css selector", "canvas.digit-pad-map"))
        drawings.append(browser.execute_script(_LAST_DRAWING, 0))
        if digit == "7":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            host.screenshot(str(SCREENSHOTS / "digit-pad.png"))
        # Clear, from the keyboard: the button takes focus and Enter presses it.
        browser.execute_script("arguments[0].focus()", clear)
        assert browser.switch_to.active_element == clear
        clear.send_keys("\n")
        assert result.get_attribute("data-digit") is None and result.get_attribute("data-probabilities") is None
        assert result.text == "Draw a digit."
    assert n_maps == 16, "one feature map per channel of the first layer"
    # The same drawings through mnist_book.preprocess: the same 28x28 input, the same reading.
    page_inputs = np.array([d["input"] for d in drawings])
    inputs, predicted = _python_side([d["png"] for d in drawings])
    assert np.abs(page_inputs - inputs).max() <= 1e-5
    assert predicted.tolist() == [1, 7, 0]
    assert _severe(browser) == []


DRAWINGS = sorted((ROOT / "tests" / "data" / "pad_drawings").glob("*.png"))


def test_digit_pad_input_is_pythons_on_fixed_drawings(server, browser):
    """The page's preprocessing is mnist_book.preprocess's, number for number: on fixed drawings
    (``tests/data/pad_drawings``) its 28x28 inputs differ from Python's by at most 1e-5 anywhere."""
    import base64

    import numpy as np

    assert len(DRAWINGS) >= 5
    _open_pad(browser, server, PAD_PAGE)
    urls = ["data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() for p in DRAWINGS]
    readings = browser.execute_async_script(_READ_PICTURES, urls)
    assert "error" not in readings, readings
    inputs, predicted = _python_side([r["png"] for r in readings])
    page_inputs = np.array([r["input"] for r in readings])
    worst = np.abs(page_inputs - inputs).max(axis=1)
    assert worst.max() <= 1e-5, {p.name: float(w) for p, w in zip(DRAWINGS, worst)}
    assert predicted.tolist() == [r["digit"] for r in readings]
    assert _severe(browser) == []


def test_digit_pad_reads_mnist_test_digits_like_python(server, browser):
    import base64
    import io

    import numpy as np
    from PIL import Image

    from mnist_book.data import load_split, subset

    _open_pad(browser, server, PAD_PAGE)
    digits = subset(load_split("mnist", train=False, normalize=False), 100, seed=7)
    urls = []
    for image in digits.images[:, 0]:
        buffer = io.BytesIO()
        Image.fromarray((255 - image.mul(255).round()).byte().numpy()).save(buffer, format="PNG")  # black on white
        urls.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    readings = browser.execute_async_script(_READ_PICTURES, urls)
    assert "error" not in readings, readings
    page_digits = np.array([r["digit"] for r in readings])
    assert [r["shown"] for r in readings] == [str(d) for d in page_digits], "data-digit shows each reading"
    right = int((page_digits == digits.labels.numpy()).sum())
    assert right >= 95, f"the page read {right} of 100 test digits correctly"
    inputs, predicted = _python_side([r["png"] for r in readings])
    differences = np.abs(np.array([r["input"] for r in readings]) - inputs).max(axis=1)
    assert differences.max() <= 1e-5, f"page and Python inputs differ by up to {differences.max():.1e}"
    assert (predicted == page_digits).all(), "the page and Python read the same drawings differently"
    assert _severe(browser) == []


def test_digit_pad_on_the_introduction(server, browser):
    host = _open_pad(browser, server, INTRO_PAGE)
    assert "digit-pad-small" in host.get_attribute("class")
    canvas = host.find_element("css selector", "canvas.digit-pad")
    result = host.find_element("css selector", ".digit-pad-result")
    _draw_stroke(browser, canvas, _unit_strokes()["1"], "mouse")
    assert _wait_for_reading(browser, result)[0] == 1
    assert _severe(browser) == []


def test_digit_pad_without_a_server_or_javascript_says_what_to_do(browser):
    if not (HTML / PAD_PAGE).is_file():
        unavailable("the book is not built")
    # Without JavaScript the host's own text stays: what the pad is and what it needs.
    static = (HTML / PAD_PAGE).read_text()
    assert 'class="digit-pad-host"' in static and "python -m http.server -d _build/html" in static
    # Opened as a file, the page cannot fetch the network: one line says how to serve the book.
    browser.get((HTML / PAD_PAGE).as_uri())
    from selenium.webdriver.support.ui import WebDriverWait

    result = browser.find_element("css selector", ".digit-pad-result")
    WebDriverWait(browser, 20).until(lambda _: "http.server" in result.text)
    assert "python -m http.server -d _build/html" in result.text and "\n" not in result.text
