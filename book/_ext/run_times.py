"""Every executed chapter page says at the top how long it took to run, measured by this build.

myst-nb times each notebook it executes (its execution data: ``runtime``, ``succeeded``). This
extension puts that time in a short note under the page's title, with what the build measured about
how it ran: fast or full mode, the machine's CPU cores (``os.cpu_count()``) and whether a GPU was
used. A page that loaded trained runs or stored results from the run cache (``mnist_book.runs``) ran
faster than it would with an empty cache: while the build runs a notebook, ``MNIST_BOOK_RUN_LOG``
names a file where the notebook's kernel notes each load and how long making it took
(``mnist_book.runs.note_loaded``), and the note adds that time to say what a first run takes.

A page's time on a GPU comes from a recorded build: every build writes ``_build/page_times.json``;
one made on a GPU, copied into ``bench/results/page_times/``, is quoted on the pages of later builds
in the same mode. Without one the note says the time on a GPU has not been measured.

The sentences are Sphinx translations (catalog ``mnist_book``, :func:`sphinx.locale.get_translation`)
filled in with the numbers, and the note is made of docutils nodes, so a translated edition words it
in its own language.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from docutils import nodes
from sphinx.locale import get_translation
from sphinx.util import logging

logger = logging.getLogger(__name__)
MESSAGE_CATALOG = "mnist_book"
_ = get_translation(MESSAGE_CATALOG)

#: Where recorded builds' page times are kept (a GPU build's is quoted on every page).
RECORDED = Path("bench") / "results" / "page_times"
#: What every build writes, in the same format, relative to the build folder (``_build``).
PAGE_TIMES = "page_times.json"


@dataclass(frozen=True)
class PageRun:
    """How one page ran in a build: its seconds, the mode, the machine, and what it loaded from the
    run cache (the seconds making each took, None where that was not recorded)."""

    seconds: float
    fast: bool
    cpus: int | None
    gpu: str | None  # the GPU's name, None when the build ran on the CPU
    loaded: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class GpuTime:
    """A page's time in a recorded build on a GPU."""

    gpu: str
    seconds: float
    loaded: int  # results that recorded build loaded from its run cache


def format_time(seconds: float) -> str:
    """``12 s``, ``4.5 min`` or ``1.2 h``."""
    if seconds < 90:
        return _("{value:.0f} s").format(value=seconds)
    if seconds < 90 * 60:
        return _("{value:.1f} min").format(value=seconds / 60)
    return _("{value:.1f} h").format(value=seconds / 3600)


def run_time_text(run: PageRun, on_gpu: GpuTime | None) -> str:
    """The note's sentences for a page that ran as ``run`` (and, if measured, ran on a GPU as ``on_gpu``)."""
    mode = _("fast mode") if run.fast else _("full mode")
    cores = str(run.cpus) if run.cpus else _("an unknown number of")
    if run.gpu:
        machine = _("a machine with {cpus} CPU cores and a GPU ({gpu})").format(
            cpus=cores, gpu=run.gpu
        )
    else:
        machine = _("a machine with {cpus} CPU cores and no GPU").format(cpus=cores)
    parts = [
        _(
            "This page ran in {time} when this book was built, in {mode} on {machine}."
        ).format(time=format_time(run.seconds), mode=mode, machine=machine)
    ]
    if run.loaded:
        count = len(run.loaded)
        results = (
            _("One stored result")
            if count == 1
            else _("{n} stored results").format(n=count)
        )
        known = [s for s in run.loaded if s is not None]
        cold = format_time(run.seconds + sum(known))
        if len(known) == count:
            sentence = _(
                "{results} came from the run cache (first made in {stored}), so with an empty run cache "
                "it takes about {cold}."
            )
        elif known:
            sentence = _(
                "{results} came from the run cache ({known} of them first made in {stored}; how long the "
                "others took was not recorded), so with an empty run cache it takes more than {cold}."
            )
        else:
            sentence = _(
                "{results} came from the run cache (how long that took was not recorded), so with "
                "an empty run cache it takes longer."
            )
        parts.append(
            sentence.format(
                results=results,
                known=len(known),
                stored=format_time(sum(known)),
                cold=cold,
            )
        )
    if not run.gpu:
        if on_gpu is None:
            parts.append(_("Its time on a GPU has not been measured yet."))
        elif on_gpu.loaded:
            parts.append(
                _(
                    "On a GPU ({gpu}), in the same mode and loading {n} stored results, it ran in {time}."
                ).format(
                    gpu=on_gpu.gpu, n=on_gpu.loaded, time=format_time(on_gpu.seconds)
                )
            )
        else:
            parts.append(
                _("On a GPU ({gpu}), in the same mode, it ran in {time}.").format(
                    gpu=on_gpu.gpu, time=format_time(on_gpu.seconds)
                )
            )
    parts.append(
        _("Results and times may differ slightly from one machine to another.")
    )
    return " ".join(str(part) for part in parts)


def note_node(text: str) -> nodes.admonition:
    """The note as docutils nodes (already translated: the gettext builder is to leave it alone)."""
    title = nodes.title(text=str(_("Run time")))
    paragraph = nodes.paragraph(text=text)
    title["translatable"] = paragraph["translatable"] = False
    return nodes.admonition("", title, paragraph, classes=["run-time"])


def page_times(runs: dict[str, PageRun]) -> dict:
    """What a build writes to ``_build/page_times.json`` (and a recorded build holds)."""
    first = next(iter(runs.values()), None)
    return {
        "gpu": first.gpu if first else None,
        "fast": first.fast if first else None,
        "cpus": first.cpus if first else None,
        "pages": {
            name: {"seconds": run.seconds, "loaded": len(run.loaded)}
            for name, run in sorted(runs.items())
        },
    }


def recorded_gpu_times(folder: Path, fast: bool) -> dict[str, GpuTime]:
    """The page times of the recorded GPU builds in ``folder`` made in the same mode, by page."""
    found: dict[str, GpuTime] = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("gpu") and record.get("fast") == fast:
            for name, page in record["pages"].items():
                found[name] = GpuTime(
                    record["gpu"], page["seconds"], page.get("loaded", 0)
                )
    return found


# --------------------------------------------------------------------------- Sphinx


def _machine() -> tuple[bool, int | None, str | None]:
    """This build's mode, CPU cores and GPU (its name, or None), as the chapters' ``setup()`` sees them."""
    import torch

    from mnist_book.settings import settings

    cfg = settings()
    gpu = torch.cuda.get_device_name(cfg.device) if cfg.device.type == "cuda" else None
    return cfg.fast, os.cpu_count(), gpu


def _log_path(app, docname: str) -> Path:
    return Path(app.doctreedir) / "run_logs" / f"{docname}.jsonl"


def _start_log(app, docname, source):
    """Before a page is read (and, for a notebook, run): a fresh run log, named to its kernel."""
    from mnist_book.settings import ENV_RUN_LOG

    path = _log_path(app, docname)
    path.unlink(missing_ok=True)
    os.environ[ENV_RUN_LOG] = str(path)


def _add_note(app, doctree):
    from myst_nb.sphinx_ import NbMetadataCollector

    from mnist_book.runs import read_run_log

    docname = app.env.docname
    data = NbMetadataCollector.get_exec_data(app.env, docname)
    if not data or not data.get("succeeded") or data.get("runtime") is None:
        return
    fast, cpus, gpu = _machine()
    loaded = [entry.seconds for entry in read_run_log(_log_path(app, docname))]
    run = PageRun(float(data["runtime"]), fast, cpus, gpu, loaded)
    if not hasattr(app.env, "mnist_run_times"):
        app.env.mnist_run_times = {}
    # plain data: the environment is pickled
    app.env.mnist_run_times[docname] = asdict(run)
    on_gpu = recorded_gpu_times(Path(app.confdir) / RECORDED, fast).get(docname)
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not isinstance(section[0], nodes.title):
        logger.warning(f"run_times: {docname} has no title to put its run time under")
        return
    section.insert(1, note_node(run_time_text(run, on_gpu)))


def _purge(app, env, docname):
    getattr(env, "mnist_run_times", {}).pop(docname, None)


def _merge(app, env, docnames, other):
    env.mnist_run_times = getattr(env, "mnist_run_times", {})
    env.mnist_run_times.update(
        {
            name: run
            for name, run in getattr(other, "mnist_run_times", {}).items()
            if name in docnames
        }
    )


def _write_page_times(app, exception):
    runs = {
        name: PageRun(**run)
        for name, run in getattr(app.env, "mnist_run_times", {}).items()
    }
    if exception is not None or not runs:
        return
    path = Path(app.doctreedir).parent / PAGE_TIMES
    path.write_text(json.dumps(page_times(runs), indent=1) + "\n")
    logger.info(f"run_times: the pages' run times are in {path}")


def setup(app):
    app.add_message_catalog(
        MESSAGE_CATALOG, str(Path(__file__).resolve().parent / "locales")
    )
    app.connect("source-read", _start_log)
    app.connect("doctree-read", _add_note)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("build-finished", _write_page_times)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
