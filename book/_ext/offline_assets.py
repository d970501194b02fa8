"""Serve the book's front-end files from its own _static folder, and the digit pad.

MathJax, the Jupyter widgets HTML manager and ONNX Runtime Web come from ``web_assets/``, which
``tools/fetch_web_assets.sh`` fills from the npm registry. When they are missing the build runs that
script itself (when npm is there; once, later builds reuse them); when it cannot, the pages keep the
public CDNs that Sphinx and myst-nb use by default, and the build says so in one line.

The digit pad (``book/_static/digit-pad.js`` and ``.css``) turns every ``<div class="digit-pad-host">``
into a pad that runs the network chapter 7.3 exports (``mnist_book.web.reader_path()``, in the data
cache); at the end of the build the file is copied to ``_static/digit-reader.onnx``.

Also mends three things the browser console complained about in the stock build:
``book/_static/widgets/setup.js`` lets the widgets manager (written for MathJax 2) work beside
MathJax 3 and find its fonts; a script block sphinx-thebe adds twice is added once; and the theme
gets a valid default colour mode.

And what an accessibility audit (axe-core, ``tests/test_a11y.py``) found in the stock theme and
markup: the book is light only, whatever the reader's system or an earlier visit chose (the
templates in ``book/_templates`` drop the theme's light/dark switch and name the search button by
what it shows); the navigation's expand/collapse toggles (``<summary>``) are named after the page
they open; the bibliography's entries are list items of its list (docutils marks them with the
deprecated role ``doc-biblioentry``); ``setup.js`` names the widgets' slider handles and
``widgets/widgets.css`` wraps progress bars that would scroll sideways. axe-core itself is fetched
with the other assets, for the tests only: it is not copied into the book.
"""

import json
import shutil
import subprocess
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)
CDN_REQUIRE = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"
CDN_EMBED = (
    "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js"
)
CDN_ORT = "https://cdn.jsdelivr.net/npm/onnxruntime-web@1.30.0/dist/"  # as fetch_web_assets.sh
#: The files that must all be in web_assets/ for the book to serve its own.
ASSETS = (
    "mathjax/tex-mml-chtml.js",
    "widgets/embed-amd.js",
    "widgets/require.js",
    "ort/ort.wasm.min.js",
    "ort/ort-wasm-simd-threaded.mjs",
    "ort/ort-wasm-simd-threaded.wasm",
    "axe/axe.min.js",  # for tests/test_a11y.py, not served
)
#: The book's only colour mode (see the README, "Light and dark").
MODE = "light"
#: Runs in <head> after the theme's own script, which takes the mode an earlier visit stored.
FORCE_MODE = f'document.documentElement.dataset.mode = "{MODE}"; document.documentElement.dataset.theme = "{MODE}";'


def _have_assets(assets: Path) -> bool:
    return all((assets / name).is_file() for name in ASSETS)


def _fetch_assets(root: Path) -> str | None:
    """Run tools/fetch_web_assets.sh; None when it worked, else why not (one line)."""
    if shutil.which("npm") is None:
        return "npm is not installed"
    logger.info(
        "offline_assets: fetching MathJax, widgets and ONNX Runtime Web from npm (once)"
    )
    try:
        done = subprocess.run(
            ["bash", str(root / "tools" / "fetch_web_assets.sh")],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return "npm took over 10 minutes"
    if done.returncode != 0:
        output = done.stderr.strip() or done.stdout.strip() or "no output"
        last = output.splitlines()[-1]
        return f"tools/fetch_web_assets.sh failed: {last}"
    return None


def _configure(app, config):
    root = Path(app.confdir)
    config.html_static_path = list(config.html_static_path) + [
        str(root / "book" / "_static")
    ]
    config.templates_path = [
        str(root / "book" / "_templates"),
        *config.templates_path,
    ]  # before the theme's
    config.html_context = {**config.html_context, "default_mode": MODE}
    assets = root / "web_assets"
    why_not = None if _have_assets(assets) else _fetch_assets(root)
    if why_not is None and _have_assets(assets):
        config.html_static_path.append(str(assets))
        # exclude_patterns also filter what is copied from a static folder: axe is for the tests.
        config.exclude_patterns = [*config.exclude_patterns, "axe"]
        config.mathjax_path = "mathjax/tex-mml-chtml.js"  # relative to _static/
        require, embed, ort = "widgets/require.js", "widgets/embed-amd.js", "ort/"
        logger.info(
            "offline_assets: serving MathJax, the widgets manager and ONNX Runtime Web "
            "from _static/"
        )
    else:
        require, embed, ort = CDN_REQUIRE, CDN_EMBED, CDN_ORT
        logger.info(
            f"offline_assets: no local web assets ({why_not or 'incomplete'}): MathJax, "
            "widgets and the digit pad's runtime load from CDNs "
            "(bash tools/fetch_web_assets.sh serves them locally)"
        )
    config.nb_ipywidgets_js = {
        require: {"crossorigin": "anonymous"} if require == CDN_REQUIRE else {},
        "widgets/setup.js": {
            "data-local-manager": "true" if embed != CDN_EMBED else "false"
        },
        embed: {"crossorigin": "anonymous"} if embed == CDN_EMBED else {},
    }
    from mnist_book.preprocess import (
        page_constants,  # the pad preprocesses with the package's numbers
    )

    app.add_js_file(None, body=FORCE_MODE)
    app.add_css_file("widgets/widgets.css")
    app.add_css_file("digit-pad.css")
    app.add_css_file("print.css", media="print")  # paper, and python -m mnist_book.pdf
    app.add_js_file(
        "digit-pad.js",
        loading_method="defer",
        **{"data-ort": ort, "data-constants": json.dumps(page_constants())},
    )


def _copy_reader(app, exception):
    """Put the network chapter 7.3 exported where the digit pad loads it."""
    if exception is not None or app.builder.format != "html":
        return
    from mnist_book.web import MODEL_NAME, reader_path

    source = reader_path()
    if not source.is_file():
        logger.warning(
            f"offline_assets: {source} is missing, so the digit pad has no network: "
            "chapter 7.3 exports it when it runs"
        )
        return
    shutil.copyfile(source, Path(app.outdir) / "_static" / MODEL_NAME)


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    # sphinx-thebe's and sphinx-togglebutton's inline scripts are registered twice under Jupyter
    # Book (once with filename None, once with ""); a second `const THEBE_JS_URL` is a SyntaxError.
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = {
            k: v
            for k, v in getattr(script, "attributes", {}).items()
            if k != "priority"
        }
        key = (
            script.filename or "",
            tuple(sorted(attributes.items())),
        )  # None and "" alike
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def name_summaries(html: str) -> str:
    """Name each unnamed ``<summary>`` of the theme's navigation (an icon only) after the page whose
    sub-pages it shows or hides."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for summary in soup.find_all("summary"):
        if summary.get_text(strip=True) or summary.get("aria-label"):
            continue
        item = summary.find_parent("li")
        link = item.find("a", recursive=False) if item else None
        title = " ".join(link.get_text().split()) if link else ""
        summary["aria-label"] = f"Pages under {title}" if title else "More pages"
    return str(soup)


def _mend_markup(app, pagename, templatename, context, doctree):
    from markupsafe import Markup

    generate = context.get(
        "generate_toctree_html"
    )  # pydata-sphinx-theme's, set at priority 500
    if generate is not None:
        context["generate_toctree_html"] = lambda *args, **kwargs: Markup(
            name_summaries(str(generate(*args, **kwargs)))
        )
    # A citation list (role="list") holds list items; DPub-ARIA 1.1 deprecates doc-biblioentry.
    if "body" in context:
        context["body"] = context["body"].replace(
            'role="doc-biblioentry"', 'role="listitem"'
        )


def setup(app):
    app.connect("config-inited", _configure, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _mend_markup, priority=900)
    app.connect("build-finished", _copy_reader)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
