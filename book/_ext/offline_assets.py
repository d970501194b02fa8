"""Serve MathJax and the Jupyter widgets HTML manager from the book's own _static folder.

``tools/fetch_web_assets.sh`` puts them in ``web_assets/`` (from the npm registry). When they are
there, every page loads them locally, so math and widgets render without internet; when they are
not, the pages keep the public CDNs that Sphinx and myst-nb use by default.
"""
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def _use_local_assets(app, config):
    assets = Path(app.confdir) / "web_assets"
    mathjax = assets / "mathjax" / "tex-mml-chtml.js"
    embed = assets / "widgets" / "embed-amd.js"
    if not (mathjax.is_file() and embed.is_file()):
        logger.info("offline_assets: web_assets/ not found; MathJax and widgets load from CDNs "
                    "(run tools/fetch_web_assets.sh to serve them locally)")
        return
    config.html_static_path = list(config.html_static_path) + [str(assets)]
    config.mathjax_path = "mathjax/tex-mml-chtml.js"  # relative to _static/
    config.nb_ipywidgets_js = {"widgets/require.js": {}, "widgets/embed-amd.js": {}}
    logger.info("offline_assets: serving MathJax and the widgets manager from _static/")


def setup(app):
    app.connect("config-inited", _use_local_assets, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
