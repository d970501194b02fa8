"""The reader's apparatus of every chapter, checked in the sources: citations that resolve, glossary
links that resolve, a caption and alt text on every figure, and the install cell that lets a chapter
run outside this repository (Colab) installing from the repository the book's buttons link to.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests import book_ext

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
#: book/_ext/repository.py, which writes the install cell every chapter starts with.
repository = book_ext.load("repository")

#: The most lines a reader is shown at once: a visible code cell, or a listing of the package's code
#: (``tests/test_built_book.py`` holds the listings to it).
MAX_LINES = 30

#: Tags that keep a code cell's source out of the HTML book (hide-input folds it away).
HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}

#: A code cell that draws a matplotlib figure.
FIGURE_CELL = re.compile(r"plt\.show\(\)|^fig\s*=|^fig,|\bshow_\w+\(|plot_\w+\(|draw_network\(", re.M)
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
TERM = re.compile(r"\{term\}`(?:[^`<]*<([^`>]+)>|([^`<]+))`")


def _cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        cell["text"] = "".join(cell["source"])
    return cells


def _markdown(path: Path) -> str:
    return "\n".join(c["text"] for c in _cells(path) if c["cell_type"] == "markdown")


def bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text(), re.M))


def glossary_terms() -> set[str]:
    text = (BOOK / "glossary.md").read_text()
    block = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    return {line.strip() for line in block.splitlines() if line and not line[0].isspace()}


def test_scanners_read_roles():
    text = "See {cite}`a,b` and {cite:p}`c`; a {term}`kernel <kernel (filter)>` and a {term}`stride`."
    assert [k for m in CITE.finditer(text) for k in m.group(1).split(",")] == ["a", "b", "c"]
    assert [m.group(1) or m.group(2) for m in TERM.finditer(text)] == ["kernel (filter)", "stride"]
    assert {"lecun1998gradient", "xiao2017fashion", "srivastava2014dropout", "ioffe2015batch"} <= bib_keys()
    assert {"convolution", "pooling", "fine-tuning", "fully connected layer"} <= glossary_terms()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_cites_the_bibliography(path):
    keys = [k.strip() for m in CITE.finditer(_markdown(path)) for k in m.group(1).split(",")]
    assert keys, f"{path.name} cites nothing from book/references.bib"
    unknown = set(keys) - bib_keys()
    assert not unknown, f"{path.name} cites keys missing from references.bib: {sorted(unknown)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_links_the_glossary(path):
    terms = [(m.group(1) or m.group(2)).strip() for m in TERM.finditer(_markdown(path))]
    assert len(terms) >= 3, f"{path.name} links only {len(terms)} glossary terms"
    unknown = set(terms) - glossary_terms()
    assert not unknown, f"{path.name} links terms the glossary does not define: {sorted(unknown)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_has_caption_and_alt_text(path):
    figures = [c for c in _cells(path) if c["cell_type"] == "code" and FIGURE_CELL.search(c["text"])]
    assert figures, f"{path.name} draws no figure"
    for cell in figures:
        options = cell["metadata"].get("mystnb", {})
        where = f"{path.name}, the cell starting {cell['text'][:60]!r}"
        assert options.get("figure", {}).get("caption", "").strip(), f"{where}: no caption"
        assert options.get("figure", {}).get("name", "").startswith("fig-"), f"{where}: no fig- name"
        assert len(options.get("image", {}).get("alt", "")) >= 20, f"{where}: no alt text"
        # myst-nb wraps every display output of the cell in the figure: only the figure may display.
        assert "display(" not in cell["text"] and "tqdm(" not in cell["text"], f"{where}: displays more"


def test_figure_names_are_unique():
    names = [
        c["metadata"]["mystnb"]["figure"]["name"]
        for path in CHAPTERS
        for c in _cells(path)
        if c["cell_type"] == "code" and "figure" in c["metadata"].get("mystnb", {})
    ]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_install_cell_points_at_the_books_repository(path):
    """The build writes repository.url into it (book/_ext/repository.py): this fails until the chapters
    it rewrote are committed."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    first = code[0]
    assert repository.MARKER in first["text"], f"{path.name}: no install cell first"
    assert first["text"] == repository.install_cell(url), f"{path.name}: install cell does not install from {url}"
    assert "remove-cell" in first["metadata"].get("tags", []), f"{path.name}: install cell shown in HTML"


def test_launch_buttons_configured():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"].startswith("https://github.com/")
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    assert config["html"]["use_repository_button"] and config["html"]["use_download_button"]
    requirements = (ROOT / "requirements.txt").read_text()
    assert "-e ." in requirements  # Binder installs requirements.txt, the package included


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_fits_the_page(path):
    """The HTML book's code column shows about 88 characters; longer lines hide behind a scroll bar.
    (The article's own code, kept verbatim and marked with noqa, is the exception.)"""
    long = [
        line
        for c in _cells(path)
        if c["cell_type"] == "code" and "remove-cell" not in c["metadata"].get("tags", [])
        for line in c["text"].splitlines()
        if len(line) > 88 and "noqa" not in line
    ]
    assert not long, f"{path.name}: lines over 88 characters: {long}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_visible_code_cells_fit_on_a_screen(path):
    """A reader studies a visible cell as a whole: long ones are split at their steps, and machinery
    (formatting, glue, tables of results) lives in the package or in hidden cells."""
    long = {
        i: len(c["text"].splitlines())
        for i, c in enumerate(_cells(path))
        if c["cell_type"] == "code"
        and not HIDDEN & set(c["metadata"].get("tags", []))
        and len(c["text"].splitlines()) > MAX_LINES
    }
    assert not long, f"{path.name}: visible code cells over {MAX_LINES} lines (cell: lines): {long}"
