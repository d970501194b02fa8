"""The PDF of the whole book (``python -m mnist_book.pdf``).

The source tree it builds from, and its errors, are checked on a small made-up book, without a
browser. The PDF itself (``_build/html/mnist-cnn-book.pdf``) is read with pypdf when it exists: its
length, its cover and contents, every chapter's title, the numbers the chapters glued into their
text, and no TeX left unrendered. Without the PDF those tests are skipped, unless
``MNIST_BOOK_REQUIRE_HTML=1`` (as in CI, which makes the PDF after the book) turns the skip into a
failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import unicodedata
from pathlib import Path

import pytest
import yaml

from mnist_book import pdf

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
REQUIRED = os.environ.get("MNIST_BOOK_REQUIRE_HTML") == "1"


# --------------------------------------------------------------------------- the source tree, on a made-up book


def _notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(source: str, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": outputs or [], "execution_count": 1}


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """A book of three pages (a Markdown root, a chapter notebook, a section notebook), built: each
    notebook's executed copy and glue file are where an HTML build leaves them."""
    (tmp_path / "book" / "_ext").mkdir(parents=True)
    (tmp_path / "book" / "_static").mkdir()
    (tmp_path / "_config.yml").write_text(
        "title: A <small> book\nauthor: Someone & co\nexecute:\n  execute_notebooks: force\n"
    )
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/one\n    sections:\n      - file: book/two\n"
    )
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "references.bib").write_text("")
    (tmp_path / "book" / "_ext" / "ext.py").write_text("")
    (tmp_path / "book" / "_static" / "print.css").write_text("")
    executed = tmp_path / "_build" / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    for name in ("one", "two"):
        (tmp_path / "book" / f"{name}.ipynb").write_text(json.dumps(_notebook([_code("x = 1")])))
        ran = _notebook([{"cell_type": "markdown", "source": "# Hi", "metadata": {}}, _code("x = 1", ["ran"])])
        (executed / f"{name}.ipynb").write_text(json.dumps(ran))
    record = "application/papermill.record/"
    glue = {"answer": {"output_type": "display_data", "data": {"text/plain": "'42'"}}}
    glue["answer"]["metadata"] = {"scrapbook": {"name": "answer", "mime_prefix": record}}
    (executed / "one.glue.json").write_text(json.dumps(glue))
    return tmp_path


def test_toc_entries_are_the_books_pages_in_order_with_their_depth():
    entries = pdf.toc_entries()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert entries[0] == (toc["root"], 0)
    assert [page for page, _ in entries] == pdf.toc_files()
    assert len(entries) == len(set(entries)) >= 10
    assert ("book/04_1_design", 1) in entries and ("book/04_network", 0) in entries
    assert entries.index(("book/04_network", 0)) + 1 == entries.index(("book/04_1_design", 1))


def test_assemble_source_takes_the_executed_notebooks_and_turns_execution_off(book: Path):
    dest = pdf.assemble_source(book, book / "_build" / "pdf_src")
    config = yaml.safe_load((dest / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["title"] == "A <small> book"  # the rest of the configuration as it was
    for page in pdf.toc_files(book):
        assert (dest / (page + ".md")).is_file() or (dest / (page + ".ipynb")).is_file(), page
    assert (dest / "_toc.yml").read_text() == (book / "_toc.yml").read_text()
    for name in ("book/references.bib", "book/_ext/ext.py", "book/_static/print.css"):
        assert (dest / name).is_file(), name
    one = json.loads((dest / "book" / "one.ipynb").read_text())
    code = [cell for cell in one["cells"] if cell["cell_type"] == "code"]
    assert code[-1]["outputs"][0] == "ran", "the executed notebook, not the source"
    # The glued value is back, as glue() recorded it: under the record prefix, which myst-nb strips.
    glued = code[-1]["outputs"][-1]
    assert glued["metadata"]["scrapbook"]["name"] == "answer"
    assert glued["data"] == {"application/papermill.record/text/plain": "'42'"}
    assert json.loads((dest / "book" / "two.ipynb").read_text())["cells"][-1]["outputs"] == ["ran"]
    # A second run starts afresh.
    (dest / "left-over").write_text("")
    pdf.assemble_source(book, dest)
    assert not (dest / "left-over").exists()


def test_assemble_source_says_when_the_book_is_not_built(book: Path):
    (book / "_build" / "jupyter_execute" / "book" / "two.ipynb").unlink()
    with pytest.raises(pdf.PdfError, match=r"not built .*two\.ipynb.*jupyter-book build \."):
        pdf.assemble_source(book, book / "_build" / "pdf_src")


def test_assemble_source_says_when_a_chapter_changed_since_the_build(book: Path):
    source = book / "book" / "one.ipynb"
    built = book / "_build" / "jupyter_execute" / "book" / "one.ipynb"
    os.utime(source, (built.stat().st_mtime + 10,) * 2)
    with pytest.raises(pdf.PdfError, match=r"one\.ipynb changed after the HTML book was built"):
        pdf.assemble_source(book, book / "_build" / "pdf_src")


def test_the_command_says_in_one_line_when_the_book_is_not_built(book: Path, monkeypatch, capsys):
    monkeypatch.setattr(pdf, "REPO_ROOT", book)
    (book / "_build" / "jupyter_execute" / "book" / "one.ipynb").unlink()
    assert pdf.main([]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert error.startswith("pdf: The HTML book is not built") and "jupyter-book build ." in error


def test_without_chromium_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    with pytest.raises(pdf.PdfError, match="chromium-driver"):
        with pdf.chromium():
            pass


def test_cover_has_the_title_author_date_and_version(book: Path):
    import datetime

    cover = pdf.cover_html(book, datetime.date(2026, 12, 4))
    assert "A &lt;small&gt; book" in cover and "Someone &amp; co" in cover and "04 December 2026" in cover


# --------------------------------------------------------------------------- the PDF


def _normal(text: str) -> str:
    """Ligatures undone (ﬁ: fi) and all white space one space: how text is compared with the PDF's."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


@pytest.fixture(scope="module")
def book_pdf():
    if not pdf.OUTPUT.is_file():
        message = f"{pdf.OUTPUT.relative_to(ROOT)} is missing (run `python -m mnist_book.pdf` after the book)"
        if REQUIRED:
            pytest.fail(f"MNIST_BOOK_REQUIRE_HTML=1 but {message}")
        pytest.skip(message)
    from pypdf import PdfReader

    reader = PdfReader(pdf.OUTPUT)
    pages = [page.extract_text() for page in reader.pages]
    return reader, pages, _normal("\n".join(pages))


def _titles() -> list[str]:
    """Every page's first heading, from the sources, in the order of ``_toc.yml``."""
    titles = []
    for page in pdf.toc_files():
        source = pdf._source_file(ROOT, page)
        if source.suffix == ".ipynb":
            cells = json.loads(source.read_text())["cells"]
            text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        else:
            text = source.read_text()
        titles.append(re.search(r"^# (.+)$", text, re.M).group(1).strip())
    return titles


@pytest.mark.slow
def test_pdf_has_a_cover_contents_with_page_numbers_and_every_chapter(book_pdf):
    reader, pages, text = book_pdf
    titles = _titles()
    assert 3 * len(titles) <= len(pages) <= 1000, f"{len(pages)} pages"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    cover = _normal(pages[0])
    assert config["title"] in cover and config["author"] in cover
    assert re.search(r"\d{2} \w+ \d{4}, version \S+", cover), cover
    assert cover.endswith(f"1 / {len(pages)}"), "page numbers in the footer"
    contents = _normal(pages[1])
    assert contents.startswith("Contents")
    numbers = []
    for title in titles:
        found = re.search(re.escape(_normal(title)) + r" (\d+)", contents)
        assert found, f"the contents give no page for {title!r}"
        numbers.append(int(found.group(1)))
        # ... and the chapter starts there, with its title (after the page's margin notes).
        assert _normal(title)[:20] in _normal(pages[numbers[-1] - 1])[:500], title
    assert numbers == sorted(numbers) and numbers[-1] <= len(pages)
    for title in titles:
        assert text.count(_normal(title)) >= 2, f"{title!r}: in the contents and as a heading"


@pytest.mark.slow
def test_pdf_shows_the_glued_numbers_of_the_built_pages(book_pdf):
    """Every number a chapter glued into its text (up to 40 characters), as the HTML book shows it, is
    in the PDF."""
    _, _, text = book_pdf
    if not (HTML / "book").is_dir():
        pytest.skip("the HTML book is not built")
    missing, total = [], 0
    for page in sorted((HTML / "book").glob("*.html")):
        glued = re.findall(r'<span class="pasted-text">([^<]*)</span>', page.read_text())
        for value in {_normal(html.unescape(v)) for v in glued if re.search(r"\d", v) and len(v) <= 40}:
            total += 1
            if value not in text:
                missing.append(f"{page.stem}: {value!r}")
    assert total >= 50, "the chapters glue their numbers into the text"
    assert missing == [], f"{len(missing)} of {total} glued values not in the PDF: {missing[:10]}"


@pytest.mark.slow
def test_pdf_has_no_raw_tex(book_pdf):
    _, _, text = book_pdf
    for tex in ("$$", "\\frac", "\\begin{", "\\end{", "\\mathrm", "\\sum", "\\left", "\\cdot", "\\(", "\\["):
        assert tex not in text, f"raw TeX {tex!r} in the PDF: MathJax did not typeset everything"


@pytest.mark.slow
def test_pdf_keeps_the_figures_and_leaves_out_the_widgets(book_pdf):
    reader, pages, text = book_pdf
    n_images = sum(len(page.images) for page in reader.pages)
    assert n_images >= 40, f"only {n_images} images: the chapters' figures are missing"
    # The digit pad is a line of text on paper, and the explorers' sliders are not printed.
    assert "The digit pad: in the HTML book" in text
    assert "Draw a digit." not in text and "Clear" not in text.split()


def test_html_book_links_to_the_pdf():
    intro = HTML / "book" / "intro.html"
    if not intro.is_file():
        if REQUIRED:
            pytest.fail("MNIST_BOOK_REQUIRE_HTML=1 but the book is not built")
        pytest.skip("the book is not built")
    links = re.findall(r'href="([^"]*\.pdf)"', intro.read_text())
    assert links, "the introduction links to the PDF"
    assert all((intro.parent / link).resolve() == pdf.OUTPUT.resolve() for link in links), links
