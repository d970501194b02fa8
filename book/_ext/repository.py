"""The repository's address in one place: ``repository.url`` in ``_config.yml``.

The book's buttons (repository, issues, edit, Binder, Colab) take it from there. A chapter opened
alone (Colab opens the notebook file from the repository, without the rest of it) cannot read
``_config.yml``, so every chapter's first, hidden cell installs the book's package from the address
written into it. This extension writes it: at the start of every build it makes each chapter's
install cell :func:`install_cell` of ``repository.url``, rewriting the notebooks in ``book/`` whose
cell differs, with a warning that says to commit them (``jupyter-book build -W`` fails on it, and
the Pages workflow checks that the build left them unchanged). To publish under another address,
change ``repository.url`` and build once.
"""

from __future__ import annotations

import json
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

#: What marks a chapter's first code cell as its install cell.
MARKER = 'importlib.util.find_spec("mnist_book") is None'


def install_cell(url: str) -> str:
    """The source of every chapter's first (hidden) cell: install the book's package from ``url``."""
    return (
        "# Colab, or any Python without the book's package: install it (with myst-nb, for `glue`) first.\n"
        "import importlib.util\n"
        "\n"
        f"if {MARKER}:\n"
        f'    %pip install --quiet "mnist_book[notebooks] @ git+{url}"'
    )


def _first_code_cell(notebook: dict) -> dict | None:
    return next(
        (cell for cell in notebook["cells"] if cell["cell_type"] == "code"), None
    )


def sync_notebook(path: Path, url: str) -> bool:
    """Make the install cell of the notebook ``path`` install from ``url``; whether it had to be rewritten.

    A notebook whose first code cell is not an install cell is left alone (the tests require one)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cell = _first_code_cell(notebook)
    wanted = install_cell(url)
    if (
        cell is None
        or MARKER not in "".join(cell["source"])
        or "".join(cell["source"]) == wanted
    ):
        return False
    cell["source"] = wanted.splitlines(keepends=True)
    # as Jupyter writes notebooks (nbformat), so that the diff is the changed line alone
    text = json.dumps(
        notebook, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")
    )
    path.write_text(text + "\n", encoding="utf-8")
    return True


def _sync(app, config):
    url = config.html_theme_options.get("repository_url")
    if not url:
        logger.warning(
            "repository: _config.yml has no repository.url, so the chapters cannot install the package"
        )
        return
    changed = [
        path
        for path in sorted((Path(app.srcdir) / "book").glob("*.ipynb"))
        if sync_notebook(path, url)
    ]
    if changed:
        names = ", ".join(path.name for path in changed)
        logger.warning(
            f"repository: the install cell of {names} now installs from {url} (repository.url): "
            "commit them, since Colab reads the notebooks from the repository"
        )


def setup(app):
    app.connect("config-inited", _sync, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
