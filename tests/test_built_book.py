"""What a reader of the built book sees, read from the build's own files (no browser needed):

- a sentence glued into the prose is not shown again as the printed output of a visible cell;
- every code listing a page shows (``Code(inspect.getsource(...))``, ``specialise(...)``, a diff) is at
  most :data:`MAX_LINES` lines, like the visible code cells (``tests/test_book_structure.py``);
- every chapter page says under its title how long it took to run (``book/_ext/run_times.py``).

Needs a built book (``jupyter-book build .``: it reads the executed notebooks in
``_build/jupyter_execute``); skipped without one, unless ``MNIST_BOOK_REQUIRE_HTML=1`` (CI).
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pytest

from tests.test_book_structure import MAX_LINES

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = ROOT / "_build" / "jupyter_execute" / "book"
NOTEBOOKS = sorted(EXECUTED.glob("*.ipynb")) if EXECUTED.is_dir() else []
REQUIRED = os.environ.get("MNIST_BOOK_REQUIRE_HTML") == "1"

pytestmark = pytest.mark.slow

#: Cells whose outputs the HTML book does not show.
HIDDEN_OUTPUT = {"remove-cell", "remove-output"}
#: Glued values shorter than this are numbers and short phrases, which may well recur on a page.
SENTENCE = 40

_GLUED_ROW = re.compile(r"<tr><td><code>([^<]+)</code></td><td>(.*?)</td></tr>", re.S)


def _needs_build():
    if not NOTEBOOKS:
        if REQUIRED:
            pytest.fail("MNIST_BOOK_REQUIRE_HTML=1 but the book is not built")
        pytest.skip("the book is not built (run `jupyter-book build .` first)")


def glued_values(notebook: dict) -> dict[str, str]:
    """What ``prose.glue_all`` glued in an executed notebook, by name (read from the table it shows)."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            table = "".join(output.get("data", {}).get("text/html", ""))
            if 'class="glued"' in table:
                values.update((name, html.unescape(value)) for name, value in _GLUED_ROW.findall(table))
    return values


def listings(notebook: dict) -> list[tuple[int, str]]:
    """(cell index, code) of every code listing the notebook displays (IPython's ``Code`` objects)."""
    found = []
    for i, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "".join(data.get("text/latex", "")).startswith("\\begin{Verbatim}"):
                found.append((i, "".join(data["text/plain"])))
    return found


def test_readers_of_the_build_work_on_a_small_example():
    table = '<table class="glued"><tbody><tr><td><code>s</code></td><td>A &lt;b&gt; c</td></tr></tbody></table>'
    nb = {"cells": [{"outputs": [{"data": {"text/html": [table]}}]}]}
    assert glued_values(nb) == {"s": "A <b> c"}
    shown = {"cells": [{"metadata": {}, "outputs": [{"text": ["A  sentence\n", "printed"]}]}]}
    assert shown_outputs(shown) == [(0, "A sentence printed")]
    shown["cells"][0]["metadata"]["tags"] = ["remove-cell"]
    assert shown_outputs(shown) == []
    code = {"data": {"text/latex": ["\\begin{Verbatim}..."], "text/plain": ["a\n", "b"]}}
    assert listings({"cells": [{"outputs": [code]}]}) == [(0, "a\nb")]


def shown_outputs(notebook: dict) -> list[tuple[int, str]]:
    """(cell index, text) of what the HTML page shows of each visible cell's outputs: printed text,
    and the text of its HTML and plain displays."""
    shown = []
    for i, cell in enumerate(notebook["cells"]):
        if HIDDEN_OUTPUT & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join(output.get("text", "")) or "".join(data.get("text/plain", ""))
            if "text/html" in data:
                text += " " + html.unescape(re.sub(r"<[^>]+>", " ", "".join(data["text/html"])))
            shown.append((i, " ".join(text.split())))
    return shown


@pytest.mark.parametrize("notebook", NOTEBOOKS or [None], ids=lambda p: p.stem if p else "unbuilt")
def test_a_glued_sentence_is_not_also_printed(notebook):
    """A sentence glued into the prose is not printed again by a visible cell above it: the hidden
    glue cell shows it to Jupyter readers, the prose to everyone."""
    _needs_build()
    nb = json.loads(notebook.read_text())
    sentences = {n: " ".join(v.split()) for n, v in glued_values(nb).items() if len(v.strip()) >= SENTENCE}
    printed = {name: i for i, text in shown_outputs(nb) for name, sentence in sentences.items() if sentence in text}
    assert not printed, (
        f"{notebook.name}: visible cells print sentences the prose glues (name: cell): {printed}; "
        "print them from the hidden glue cell instead"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS or [None], ids=lambda p: p.stem if p else "unbuilt")
def test_listings_fit_on_a_screen(notebook):
    _needs_build()
    long = {i: len(code.splitlines()) for i, code in listings(json.loads(notebook.read_text()))}
    long = {i: n for i, n in long.items() if n > MAX_LINES}
    assert not long, f"{notebook.name}: listings longer than {MAX_LINES} lines (cell: lines): {long}"


@pytest.mark.parametrize("notebook", NOTEBOOKS or [None], ids=lambda p: p.stem if p else "unbuilt")
def test_glued_text_carries_no_markdown(notebook):
    """``{glue:text}`` pastes a value as plain text, so Markdown in it (`code`, **bold**) would be
    shown to the reader as backticks and asterisks."""
    _needs_build()
    raw = {n: v for n, v in glued_values(json.loads(notebook.read_text())).items() if "`" in v or "**" in v}
    assert not raw, f"{notebook.name}: glued values with Markdown the page would show raw: {raw}"


#: The run-time note under a chapter page's title, and its first sentence's measured time.
_RUN_TIME = re.compile(r'<div class="[^"]*\brun-time\b[^"]*">(.*?)</div>', re.S)
_RAN_IN = re.compile(r"This page ran in \d+(?:\.\d+)? (?:s|min|h) when this book was built")


def run_time_note(page: str) -> str | None:
    """The text of the run-time note of a built HTML page (None when it has none)."""
    found = _RUN_TIME.search(page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()) if found else None


def test_the_run_time_reader_works_on_a_small_example():
    page = '<h1>T</h1><div class="run-time admonition"><p class="admonition-title">Run time</p><p>This page ran in 14 s when this book was built.</p></div>'
    assert _RAN_IN.search(run_time_note(page))
    assert run_time_note("<h1>T</h1><p>This page ran in 14 s when this book was built.</p>") is None
    assert not _RAN_IN.search(run_time_note(page.replace("14 s", "s")))


@pytest.mark.parametrize("notebook", NOTEBOOKS or [None], ids=lambda p: p.stem if p else "unbuilt")
def test_every_chapter_page_says_how_long_it_took(notebook):
    _needs_build()
    page = (ROOT / "_build" / "html" / notebook.relative_to(EXECUTED.parent).with_suffix(".html")).read_text()
    note = run_time_note(page)
    assert note is not None, f"{notebook.stem}: no run-time note on its page"
    assert _RAN_IN.search(note), f"{notebook.stem}: the run-time note has no measured time: {note!r}"
    title = page.index("<h1", page.index("<article"))  # under the title, before the first section
    next_heading = page.find("<h2", title)
    where = page.index("run-time", title)
    assert next_heading == -1 or where < next_heading, f"{notebook.stem}: the note is not at the top"
