"""Serve MathJax and the Jupyter widgets HTML manager from the book's own _static folder.

``tools/fetch_web_assets.sh`` puts them in ``web_assets/`` (from the npm registry). When they are
there, every page loads them locally, so math and widgets render without internet; when they are
not, the pages keep the public CDNs that Sphinx and myst-nb use by default.

Also mends three things the browser console complained about in the stock build:
``book/_static/widgets/setup.js`` lets the widgets manager (written for MathJax 2) work beside
MathJax 3 and find its fonts; a script block sphinx-thebe adds twice is added once; and the theme
gets a valid default colour mode.
"""

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)
CDN_REQUIRE = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"
CDN_EMBED = (
    "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js"
)


def _configure(app, config):
    book_static = Path(app.confdir) / "book" / "_static"
    config.html_static_path = list(config.html_static_path) + [str(book_static)]
    config.html_context = {**config.html_context, "default_mode": "light"}
    assets = Path(app.confdir) / "web_assets"
    if (assets / "mathjax" / "tex-mml-chtml.js").is_file() and (
        assets / "widgets" / "embed-amd.js"
    ).is_file():
        config.html_static_path.append(str(assets))
        config.mathjax_path = "mathjax/tex-mml-chtml.js"  # relative to _static/
        require, embed = "widgets/require.js", "widgets/embed-amd.js"
        logger.info(
            "offline_assets: serving MathJax and the widgets manager from _static/"
        )
    else:
        require, embed = CDN_REQUIRE, CDN_EMBED
        logger.info(
            "offline_assets: web_assets/ not found; MathJax and widgets load from CDNs "
            "(run tools/fetch_web_assets.sh to serve them locally)"
        )
    config.nb_ipywidgets_js = {
        require: {"crossorigin": "anonymous"} if require == CDN_REQUIRE else {},
        "widgets/setup.js": {
            "data-local-manager": "true" if embed != CDN_EMBED else "false"
        },
        embed: {"crossorigin": "anonymous"} if embed == CDN_EMBED else {},
    }


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


def setup(app):
    app.connect("config-inited", _configure, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
