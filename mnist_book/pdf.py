"""The whole book as one PDF: ``python -m mnist_book.pdf``.

It prints the HTML book with the system's Chromium, without running a chapter again:

1. :func:`assemble_source` lays out a copy of the book's sources in ``_build/pdf_src/`` in which
   every chapter is the notebook the HTML build already executed (``_build/jupyter_execute/``, with
   its outputs, glued numbers and widget state) and the configuration turns execution off;
2. :func:`build_singlehtml` builds that copy as one page (``jupyter-book build --builder singlehtml``);
3. :func:`print_pdf` opens the page in headless Chromium, waits for MathJax and the widgets, adds a
   cover page and a table of contents, and prints it (DevTools ``Page.printToPDF``) with page
   numbers in the footer, to ``_build/html/mnist-cnn-book.pdf``, where the HTML book links to it.

How the printed page looks (figures kept whole, code wrapped, the explorers' controls hidden, their
static figures kept) is ``book/_static/print.css``, which the HTML pages use when printed too.

Needs the HTML book built first (``jupyter-book build .``) and Chromium with its driver (Debian:
``chromium``, ``chromium-driver``); without either it says so in one line.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import functools
import html
import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from mnist_book.files import atomic_write
from mnist_book.settings import REPO_ROOT

PDF_NAME = "mnist-cnn-book.pdf"
#: Where the PDF goes: beside the HTML book, so that it is published with it.
OUTPUT = REPO_ROOT / "_build" / "html" / PDF_NAME
#: The files of the book's source tree the one-page build needs besides the chapters.
SUPPORT = ("book/references.bib", "book/_ext", "book/_static")


class PdfError(Exception):
    """Why the PDF could not be made, in one line for the reader."""


def toc_entries(root: Path = REPO_ROOT) -> list[tuple[str, int]]:
    """Every page of ``_toc.yml`` in reading order, without its suffix, with its depth: 0 for the
    root and the chapters, 1 for their sections (``("book/04_1_design", 1)``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries = [(toc["root"], 0)]

    def walk(items, depth):
        for item in items or []:
            if "file" in item:
                entries.append((item["file"], depth))
            walk(item.get("sections"), depth + 1)

    walk(toc.get("chapters"), 0)
    return entries


def toc_files(root: Path = REPO_ROOT) -> list[str]:
    """Every page of ``_toc.yml`` in reading order, without its suffix (``book/intro``, ...)."""
    return [page for page, _ in toc_entries(root)]


def _source_file(root: Path, page: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (root / (page + suffix)).is_file():
            return root / (page + suffix)
    raise PdfError(f"_toc.yml lists {page}, but there is no {page}.ipynb or {page}.md")


def assemble_source(root: Path = REPO_ROOT, dest: Path | None = None) -> Path:
    """Lay out the book in ``dest`` (default ``_build/pdf_src``) for a one-page build that executes
    nothing: every notebook is the one the HTML build executed, with its outputs; the Markdown pages,
    the table of contents, the bibliography, the extension and the static files are the sources'.

    Raises :class:`PdfError` when a chapter has not been executed by an HTML build, or has changed
    since.
    """
    dest = dest or root / "_build" / "pdf_src"
    executed = root / "_build" / "jupyter_execute"
    pages = [(page, _source_file(root, page)) for page in toc_files(root)]
    missing, stale = [], []
    for page, source in pages:
        if source.suffix == ".ipynb":
            done = executed / (page + ".ipynb")
            if not done.is_file():
                missing.append(source.name)
            elif done.stat().st_mtime < source.stat().st_mtime:
                stale.append(source.name)
    if missing:
        raise PdfError(
            f"The HTML book is not built ({len(missing)} chapters never executed, e.g. {missing[0]}): "
            "run `jupyter-book build .` first"
        )
    if stale:
        raise PdfError(
            f"{', '.join(stale)} changed after the HTML book was built: run `jupyter-book build .` again first"
        )

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (dest / "_config.yml").write_text(
        "# Written by python -m mnist_book.pdf: the executed notebooks, built as one page.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    shutil.copy2(root / "_toc.yml", dest / "_toc.yml")
    for page, source in pages:
        target = dest / (page + source.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".ipynb":
            restore_glue(executed / (page + ".ipynb"), executed / (page + ".glue.json"), target)
        else:
            shutil.copy2(source, target)
    for name in SUPPORT:
        if (root / name).is_dir():
            shutil.copytree(root / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(root / name, dest / name)
    # The extension serves MathJax and the widgets manager from web_assets/ (or fetches them with
    # tools/fetch_web_assets.sh): the same ones, not a second copy.
    for name in ("web_assets", "tools"):
        if (root / name).exists():
            (dest / name).symlink_to(root / name, target_is_directory=True)
    return dest


def restore_glue(notebook: Path, glue: Path, target: Path) -> None:
    """Copy the executed ``notebook`` to ``target`` with its glued values put back.

    myst-nb takes the values ``glue()`` recorded out of the cells' outputs when it executes a
    notebook, and keeps them beside it (``<name>.glue.json``); a build that does not execute reads
    them from the outputs. So they go back in, as outputs of the last code cell, in the form
    ``glue()`` gave them (the MIME types under the record prefix, which hides them again).
    """
    book = json.loads(notebook.read_text(encoding="utf-8"))
    if glue.is_file():
        outputs = []
        for output in json.loads(glue.read_text(encoding="utf-8")).values():
            prefix = output["metadata"]["scrapbook"].get("mime_prefix", "")
            outputs.append({**output, "data": {prefix + kind: value for kind, value in output["data"].items()}})
        code = [cell for cell in book["cells"] if cell["cell_type"] == "code"]
        if not code:
            raise PdfError(f"{notebook.name} has glued values but no code cell")
        code[-1]["outputs"] = code[-1].get("outputs", []) + outputs
    target.write_text(json.dumps(book, ensure_ascii=False, indent=1), encoding="utf-8")


#: The one page, at the top of the one-page build's folder (see :func:`build_singlehtml`).
PAGE_NAME = "book.html"


def build_singlehtml(source: Path) -> Path:
    """``jupyter-book build <source> --builder singlehtml``; the page, ``PAGE_NAME`` in the folder it
    wrote.

    Sphinx writes the page under the name of the book's first page (``book/intro.html``) but links
    its styles, scripts and images, and its own sections (``book/intro.html#...``), as if it were at
    the top of the folder; so it goes there, its links to itself made links within the page."""
    command = [
        sys.executable,
        "-c",
        "from jupyter_book.cli.main import main; main()",
        "build",
        str(source),
        "--builder",
        "singlehtml",
        "-n",
        "--keep-going",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    folder = source / "_build" / "singlehtml"
    if done.returncode != 0 or not (folder / "index.html").is_file():
        output = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        raise PdfError("the one-page build failed: " + " | ".join(output[-5:]))
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if "WARNING" in line]
    for line in warnings:
        print(f"  {line}")
    first = toc_files(source)[0] + ".html"
    text = (folder / first).read_text(encoding="utf-8").replace(f'href="{first}#', 'href="#')
    (folder / PAGE_NAME).write_text(text, encoding="utf-8")
    return folder / PAGE_NAME


# --------------------------------------------------------------------------- printing

# Waits until MathJax has typeset the page, every image has loaded and the fonts are ready. (The
# widgets are not drawn in the one-page book, which has no widget state, and not printed anyway.)
_TYPESET = """
const done = arguments[arguments.length - 1];
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const start = Date.now();
  while (![...document.images].every(img => img.complete) && Date.now() - start < 60000) {
    await new Promise(r => setTimeout(r, 200));
  }
  await document.fonts.ready;
  done([document.querySelectorAll('.math').length, document.querySelectorAll('mjx-container').length]);
})().catch(err => done(String(err)));
"""

# Puts the cover and the table of contents before the book: one line per page of ``_toc.yml``
# (``arguments[1]``: [page, depth]), its first heading linked, with its page number from
# ``arguments[2]`` (filled in on the second print). Returns [section id, title] of each.
_FRONT_MATTER = """
const [cover, toc, numbers] = [arguments[0], arguments[1], arguments[2] || {}];
const main = document.querySelector('main') || document.body;
document.querySelectorAll('.pdf-front').forEach(e => e.remove());
const front = document.createElement('div');
front.className = 'pdf-front';
front.innerHTML = cover + '<nav class="pdf-contents"><h1>Contents</h1><ol></ol></nav>';
const list = front.querySelector('ol');
const found = [];
for (const [page, depth] of toc) {
  const anchor = document.getElementById('document-' + page);
  const section = anchor ? anchor.nextElementSibling : document.querySelector('main section');
  const heading = section && section.querySelector('h1, h2, h3, h4, h5, h6');
  if (!heading) continue;
  const title = [...heading.childNodes].filter(n => !(n.classList && n.classList.contains('headerlink')))
    .map(n => n.textContent).join('').trim();
  const item = document.createElement('li');
  if (depth > 0) item.className = 'pdf-section';
  const link = document.createElement('a');
  link.href = '#' + section.id;
  link.textContent = title;
  const leader = document.createElement('span');
  leader.className = 'pdf-leader';
  const number = document.createElement('span');
  number.className = 'pdf-page';
  number.textContent = numbers[section.id] || '';
  item.append(link, leader, number);
  list.appendChild(item);
  found.push([section.id, title]);
}
main.prepend(front);
// The first page's own sections after the one that holds the table of contents (which the one-page
// book fills with every other page) come before it, as they read in the HTML book.
const toctree = document.querySelector('.toctree-wrapper');
const holder = toctree && toctree.closest('section');
if (holder) {
  const after = [];
  for (let next = holder.nextElementSibling; next; next = next.nextElementSibling) {
    if (next.tagName === 'SECTION') after.push(next);
  }
  for (const section of after) holder.before(section);
}
return found;
"""

_FOOTER = (
    '<div style="width: 100%; font-size: 8pt; color: #555; text-align: center; font-family: sans-serif;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """A local web server for ``folder`` (the widgets manager loads its modules over http)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@contextmanager
def chromium() -> Iterator[object]:
    """Headless Chromium through Selenium (Debian's ``chromium`` and ``chromium-driver``)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise PdfError("selenium is not installed: pip install -r requirements.txt") from None
    binary, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (binary and driver):
        raise PdfError("Chromium and chromedriver are not installed (Debian: apt install chromium chromium-driver)")
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
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_script_timeout(120)
    try:
        yield browser
    finally:
        browser.quit()


def cover_html(root: Path = REPO_ROOT, when: datetime.date | None = None) -> str:
    """The cover: the book's title and author (``_config.yml``), the date and the commit."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    when = when or datetime.date.today()
    version = _version(root)
    lines = [
        f'<p class="pdf-title">{html.escape(config["title"])}</p>',
        f'<p class="pdf-author">{html.escape(config.get("author", ""))}</p>',
        f'<p class="pdf-date">{when:%d %B %Y}' + (f", version {html.escape(version)}" if version else "") + "</p>",
        f'<p class="pdf-source">{html.escape(config.get("repository", {}).get("url", ""))}</p>',
    ]
    return '<div class="pdf-cover">' + "".join(lines) + "</div>"


def _version(root: Path) -> str:
    """``git describe`` of the checkout (a tag, else the short commit; "-dirty" with edits), or ""."""
    try:
        done = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _print(browser) -> bytes:
    result = browser.execute_cdp_cmd(
        "Page.printToPDF",
        {
            "paperWidth": 8.27,  # A4, in inches
            "paperHeight": 11.69,
            "marginTop": 0.6,
            "marginBottom": 0.7,
            "marginLeft": 0.6,
            "marginRight": 0.6,
            "printBackground": True,
            "displayHeaderFooter": True,
            "headerTemplate": "<div></div>",
            "footerTemplate": _FOOTER,
            "generateDocumentOutline": True,
            "generateTaggedPDF": True,
        },
    )
    return base64.b64decode(result["data"])


def _chapter_pages(pdf: bytes, chapters: list[tuple[str, str]]) -> dict[str, int]:
    """The page each chapter starts on, from the PDF's outline (Chromium makes it from the headings):
    the first entry after the previous chapter's that begins as the chapter's title does and holds
    its letters in order. (Chromium gives the text of a heading that wraps twice, broken.)"""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    entries: list[tuple[str, int]] = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                entries.append(("".join(item.title.split()), reader.get_destination_page_number(item) + 1))

    walk(reader.outline)
    pages, at = {}, 0
    for section, title in chapters:
        wanted = "".join(title.split())
        for index in range(at, len(entries)):
            entry = entries[index][0]
            rest = iter(entry)
            if entry.startswith(wanted[:12]) and all(char in rest for char in wanted):  # in order
                pages[section], at = entries[index][1], index + 1
                break
    return pages


def print_pdf(page: Path, output: Path = OUTPUT, root: Path = REPO_ROOT) -> int:
    """Print the one-page book ``page`` (from :func:`build_singlehtml`) to ``output``, with a cover
    and a table of contents; return the number of pages."""
    import io

    from pypdf import PdfReader

    cover, toc = cover_html(root), toc_entries(root)
    with serve(page.parent) as url, chromium() as browser:
        browser.get(f"{url}/{page.name}")
        typeset = browser.execute_async_script(_TYPESET)
        if not (isinstance(typeset, list) and typeset[1] >= typeset[0]):
            raise PdfError(f"MathJax did not typeset the page ({typeset})")
        chapters = browser.execute_script(_FRONT_MATTER, cover, toc, {})
        if len(chapters) != len(toc):
            raise PdfError(f"the one-page book has {len(chapters)} of the {len(toc)} pages _toc.yml lists")
        print(f"pdf: typeset; printing {len(chapters)} pages of the table of contents")
        pdf = _print(browser)
        # Again, with the page numbers the first print gave each chapter in the contents.
        numbers = _chapter_pages(pdf, chapters)
        for section, title in chapters:
            if section not in numbers:
                print(f"pdf: the contents give no page for {title!r} (not found in the PDF's outline)")
        browser.execute_script(_FRONT_MATTER, cover, toc, numbers)
        pdf = _print(browser)
    with atomic_write(output) as tmp:
        tmp.write_bytes(pdf)
    return len(PdfReader(io.BytesIO(pdf)).pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_book.pdf",
        description="Print the whole book to one PDF from the notebooks the HTML build executed, without "
        f"running them again (run `jupyter-book build .` first). Writes _build/html/{PDF_NAME}.",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write the PDF (default: {OUTPUT})")
    args = parser.parse_args(argv)
    root, start = REPO_ROOT, time.perf_counter()
    try:
        print("pdf: assembling the executed notebooks in _build/pdf_src")
        source = assemble_source(root)
        print("pdf: building the book as one page (jupyter-book --builder singlehtml, no execution)")
        page = build_singlehtml(source)
        print("pdf: printing with Chromium")
        n_pages = print_pdf(page, args.output, root)
    except PdfError as error:
        print(f"pdf: {error}", file=sys.stderr)
        return 1
    print(f"pdf: wrote {args.output} ({n_pages} pages) in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
