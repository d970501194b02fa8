"""The built HTML book for every reader, in a real browser (headless Chromium through Selenium).

- **axe-core** (``web_assets/axe/axe.min.js``, fetched by ``tools/fetch_web_assets.sh``) audits every
  page, once MathJax and the widgets are drawn, against WCAG 2.0 and 2.1 at levels A and AA: no
  serious or critical violation anywhere.
- **The keyboard** reaches every control of the widgets and the digit pad with Tab, and works them:
  arrow keys move a slider (its value and readout change), Enter and Space press a button. Without a
  kernel the pictures are the saved ones; what the keys change is the control.
- **An icon**: every page's ``<link rel="icon">`` loads.
- **Light only**: with the system set to dark and a dark mode stored by an earlier visit, pages are
  light and offer no switch (README, "Light and dark").

Needs a built book, Chromium and, for the audit, axe-core; see ``tests/browser.py``.
"""

from __future__ import annotations

import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest

from tests.browser import HTML, PAGES, ROOT, ROOT_PAGES, open_page, unavailable

AXE = ROOT / "web_assets" / "axe" / "axe.min.js"
#: WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: What fails a page; "moderate" and "minor" findings are reported by axe but do not.
BLOCKING = {"serious", "critical"}

_AXE_RUN = """
const [tags, done] = [arguments[0], arguments[arguments.length - 1]];
axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           targets: v.nodes.map(n => n.target.join(" "))}))))
  .catch(err => done({error: String(err)}));
"""


def audit(browser) -> list[dict]:
    """axe-core's WCAG A/AA violations on the page open in ``browser``: id, impact, help, targets."""
    if not AXE.is_file():
        unavailable(f"axe-core is missing ({AXE.relative_to(ROOT)}: bash tools/fetch_web_assets.sh)")
    if not browser.execute_script("return typeof window.axe !== 'undefined'"):
        browser.execute_script(AXE.read_text())
    found = browser.execute_async_script(_AXE_RUN, WCAG_TAGS)
    assert "error" not in found, found
    return found


def blocking(violations: list[dict], page: str) -> list[str]:
    """One line per serious or critical violation: rule, impact, page, the first element's selector."""
    return [
        f"{v['id']} ({v['impact']}) on {page}: {v['targets'][0]}"
        + (f" and {len(v['targets']) - 1} more" if len(v["targets"]) > 1 else "")
        + f": {v['help']}"
        for v in violations
        if v["impact"] in BLOCKING
    ]


# A page with two faults axe must find: an image without alternative text, a nameless slider.
_BROKEN = """<!doctype html><html lang="en"><head><title>A broken page</title></head><body><main>
<h1>A broken page</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="20" height="20">
<div role="slider" tabindex="0" aria-valuemin="0" aria-valuemax="9" aria-valuenow="0"></div>
</main></body></html>"""


def test_the_audit_finds_violations_on_a_broken_page(server, browser):
    browser.get(f"{server}/search.html")  # any page of the book's origin, then replaced
    browser.execute_script("document.open(); document.write(arguments[0]); document.close();", _BROKEN)
    lines = blocking(audit(browser), "broken")
    assert any(line.startswith("image-alt (critical) on broken: img") for line in lines), lines
    assert any(line.startswith("aria-input-field-name (serious) on broken: div") for line in lines), lines


@pytest.mark.parametrize("page", [*PAGES, *ROOT_PAGES] or ["(no pages)"])
def test_no_serious_accessibility_violations(page, server, browser):
    open_page(browser, server, page)
    lines = blocking(audit(browser), page)
    assert lines == [], f"{len(lines)} serious or critical WCAG A/AA violations (axe-core):\n" + "\n".join(lines)


# --------------------------------------------------------------------------- the keyboard

#: The controls the keyboard must reach: the widgets' and the digit pad's.
CONTROLS = (
    "main .jupyter-widgets [role=slider], main .jupyter-widgets select, main .jupyter-widgets button,"
    " main .jupyter-widgets input, main .jupyter-widgets textarea, main .digit-pad-host button"
)
#: Pages with such controls: the explorers (chapters 1 and 6: sliders, toggle buttons; a page shows
#: widgets when it has views of them, not just their saved state) and the digit pads (introduction,
#: 7.3). Progress bars are widgets too, but no controls.
_CONTROL_MODELS = ("SliderModel", "DropdownModel", "ToggleButtonsModel", "ButtonModel", "TextModel")


def _has_controls(page: str) -> bool:
    text = (HTML / page).read_text()
    shown = "application/vnd.jupyter.widget-view+json" in text and any(m in text for m in _CONTROL_MODELS)
    return shown or "digit-pad-host" in text


KEYBOARD_PAGES = [p for p in PAGES if _has_controls(p)]


# Marks the page's controls (data-kbd = their order) and puts a focusable start just before the first.
_MARK_CONTROLS = """
const controls = [...document.querySelectorAll(arguments[0])].filter(e => e.getClientRects().length > 0);
controls.forEach((e, i) => { e.dataset.kbd = String(i); });
if (controls.length) {
  const start = document.createElement("a");
  start.href = "#"; start.id = "kbd-start"; start.textContent = "start";
  const cell = controls[0].closest(".cell, .digit-pad-host") || controls[0];
  cell.before(start);
  start.focus();
}
return controls.length;
"""

_ACTIVE = "const a = document.activeElement; return a && a.dataset.kbd !== undefined ? Number(a.dataset.kbd) : null;"


def _wait_for_controls(browser, page):
    from selenium.webdriver.support.ui import WebDriverWait

    if "digit-pad-host" in (HTML / page).read_text():
        WebDriverWait(browser, 20).until(
            lambda b: b.execute_script("return !!document.querySelector('.digit-pad-clear')")
        )


def _tab_through(browser, n_controls: int, limit: int = 200) -> list[int]:
    """Press Tab from the start mark until every control was focused (or ``limit`` presses)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    reached = []
    for _ in range(limit):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        active = browser.execute_script(_ACTIVE)
        if active is not None and active not in reached:
            reached.append(active)
        if len(reached) == n_controls:
            break
    return reached


@pytest.mark.parametrize("page", KEYBOARD_PAGES or ["(no pages)"])
def test_every_control_is_reached_and_worked_with_the_keyboard(page, server, browser):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, server, page)
    _wait_for_controls(browser, page)
    n = browser.execute_script(_MARK_CONTROLS, CONTROLS)
    assert n > 0, f"{page}: no controls drawn"
    reached = _tab_through(browser, n)
    assert sorted(reached) == list(range(n)), f"{page}: Tab reaches controls {sorted(reached)} of {n}"

    for i in range(n):
        control = browser.find_element("css selector", f'[data-kbd="{i}"]')
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", control)
        if control.get_attribute("role") == "slider":
            # Reached above with Tab; now the arrow keys move it, and its readout follows.
            browser.execute_script("arguments[0].focus()", control)
            readout = control.find_element("xpath", "ancestor::div[contains(@class,'widget-slider')]")
            readout = readout.find_element("css selector", ".widget-readout")
            before, shown = float(control.get_attribute("aria-valuenow")), readout.text
            control.send_keys(Keys.ARROW_RIGHT)
            assert float(control.get_attribute("aria-valuenow")) > before, f"{page}: ArrowRight does not move a slider"
            assert readout.text != shown, f"{page}: the slider's readout does not follow the keyboard"
            assert control.get_attribute("aria-labelledby") or control.get_attribute("aria-label"), "a nameless handle"
        elif control.tag_name == "select":
            before = control.get_attribute("value")
            control.send_keys(Keys.ARROW_DOWN)
            assert control.get_attribute("value") != before, f"{page}: ArrowDown does not change a menu"
        elif "digit-pad-clear" in control.get_attribute("class"):
            result = browser.find_element("css selector", ".digit-pad-result")
            assert result.get_attribute("aria-live") == "polite", "the pad announces what it read"
            browser.execute_script("arguments[0].dataset.digit = '3'; arguments[0].textContent = 'Read as 3'", result)
            control.send_keys(Keys.SPACE)
            assert result.text == "Draw a digit." and result.get_attribute("data-digit") is None, f"{page}: Space"
        elif "widget-toggle-button" in control.get_attribute("class"):
            control.send_keys(Keys.ENTER)
            assert "mod-active" in control.get_attribute("class"), f"{page}: Enter does not press a toggle button"


# --------------------------------------------------------------------------- the icon


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.icons = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and "icon" in (attrs.get("rel") or "").split():
            self.icons.append(attrs.get("href"))


#: Every page but index.html, which only redirects to the introduction.
ICON_PAGES = [p for p in [*PAGES, *ROOT_PAGES] if 'http-equiv="Refresh"' not in (HTML / p).read_text()[:200]]


@pytest.mark.parametrize("page", ICON_PAGES or ["(no pages)"])
def test_every_page_has_an_icon_that_loads(page, server):
    parser = _Links()
    parser.feed((HTML / page).read_text())
    assert parser.icons, f"{page}: no <link rel='icon'>"
    for href in parser.icons:
        with urllib.request.urlopen(urljoin(f"{server}/{page}", href)) as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("image/"), href


# --------------------------------------------------------------------------- light only


def _luminance(css_colour: str) -> float:
    """The relative luminance (0 black, 1 white) of a computed ``rgb(...)``/``rgba(...)`` colour."""
    channels = [float(c) / 255 for c in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_luminance_reads_computed_colours():
    assert _luminance("rgb(255, 255, 255)") == pytest.approx(1.0)
    assert _luminance("rgba(0, 0, 0, 0.5)") == 0.0
    assert _luminance("rgb(18, 18, 18)") < 0.1  # the theme's dark background


_LOOK = """
const style = getComputedStyle(document.body);
return {theme: document.documentElement.dataset.theme, mode: document.documentElement.dataset.mode,
        background: style.backgroundColor, colour: style.color,
        switches: [...document.querySelectorAll('.theme-switch-button, .theme-switch')].filter(e => e.getClientRects().length > 0).length};
"""


@pytest.mark.parametrize("page", ["book/intro.html", "book/06_evaluation.html"])
def test_pages_are_light_even_when_the_reader_chose_dark(page, server, browser):
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    try:
        assert browser.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches")
        open_page(browser, server, page)
        browser.execute_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
        open_page(browser, server, page)  # again, as on a later visit
        look = browser.execute_script(_LOOK)
        assert (look["theme"], look["mode"]) == ("light", "light"), f"{page}: {look}"
        assert _luminance(look["background"]) > 0.9 and _luminance(look["colour"]) < 0.2, f"{page}: {look}"
        assert look["switches"] == 0, f"{page}: a light/dark switch is shown"
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        browser.execute_script("localStorage.clear()")
