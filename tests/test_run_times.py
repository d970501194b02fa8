"""The book's Sphinx extension book/_ext/run_times.py: the note at the top of every executed chapter
page that says how long it took to run, in which mode, on what machine, what it loaded from the run
cache, and on a GPU when a GPU build was recorded. (tests/test_built_book.py checks the built pages.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests import book_ext

ROOT = Path(__file__).resolve().parent.parent
run_times = book_ext.load("run_times")
PageRun, GpuTime, text = run_times.PageRun, run_times.GpuTime, run_times.run_time_text


def test_times_read_as_seconds_minutes_or_hours():
    assert [run_times.format_time(s) for s in (4.4, 89, 95, 5399, 7200)] == [
        "4 s",
        "89 s",
        "1.6 min",
        "90.0 min",
        "2.0 h",
    ]


def test_fast_mode_on_a_cpu_without_loads_and_without_a_gpu_measurement():
    said = text(PageRun(14.2, fast=True, cpus=2, gpu=None), None)
    assert said.startswith("This page ran in 14 s when this book was built, in fast mode on a machine with 2 CPU cores")
    assert "no GPU" in said and "run cache" not in said
    assert "Its time on a GPU has not been measured yet." in said
    assert said.endswith("Results and times may differ slightly from one machine to another.")


def test_full_mode_on_a_gpu_says_so_and_quotes_no_other_gpu():
    said = text(PageRun(130, fast=False, cpus=16, gpu="NVIDIA H200"), GpuTime("Other GPU", 9, 0))
    assert (
        "ran in 2.2 min when this book was built, in full mode on a machine with 16 CPU cores and a GPU (NVIDIA H200)"
        in said
    )
    assert "Other GPU" not in said and "not been measured" not in said


def test_loads_from_the_run_cache_give_the_time_with_an_empty_cache():
    said = text(PageRun(20, fast=True, cpus=2, gpu=None, loaded=[100.0, 30.0]), None)
    assert "2 stored results came from the run cache (first made in 2.2 min)" in said
    assert "with an empty run cache it takes about 2.5 min." in said
    one = text(PageRun(20, fast=True, cpus=2, gpu=None, loaded=[30.0]), None)
    assert "One stored result came from the run cache (first made in 30 s)" in one and "about 50 s" in one


def test_loads_whose_time_was_not_recorded_are_not_counted_as_free():
    some = text(PageRun(20, fast=True, cpus=2, gpu=None, loaded=[30.0, None]), None)
    assert "(1 of them first made in 30 s; how long the others took was not recorded)" in some
    assert "more than 50 s" in some and "about" not in some
    none = text(PageRun(20, fast=True, cpus=2, gpu=None, loaded=[None]), None)
    assert "how long that took was not recorded" in none and "takes longer" in none


def test_a_recorded_gpu_build_is_quoted_on_a_cpu_build():
    said = text(PageRun(20, fast=True, cpus=2, gpu=None), GpuTime("NVIDIA H200", 3.2, 0))
    assert "On a GPU (NVIDIA H200), in the same mode, it ran in 3 s." in said and "not been measured" not in said
    loading = text(PageRun(20, fast=True, cpus=2, gpu=None), GpuTime("NVIDIA H200", 3.2, 2))
    assert "in the same mode and loading 2 stored results, it ran in 3 s" in loading


def test_recorded_gpu_builds_are_read_in_the_builds_mode_only(tmp_path):
    runs = {"book/01_data": PageRun(3.5, fast=True, cpus=16, gpu="NVIDIA H200", loaded=[None])}
    (tmp_path / "gpu.json").write_text(json.dumps(run_times.page_times(runs)))
    cpu = {"book/01_data": PageRun(20, fast=True, cpus=2, gpu=None)}
    (tmp_path / "cpu.json").write_text(json.dumps(run_times.page_times(cpu)))  # not a GPU build: ignored
    assert run_times.recorded_gpu_times(tmp_path, fast=True) == {"book/01_data": GpuTime("NVIDIA H200", 3.5, 1)}
    assert run_times.recorded_gpu_times(tmp_path, fast=False) == {}


def test_the_note_is_nodes_the_translation_step_leaves_alone():
    node = run_times.note_node("This page ran in 3 s.")
    assert "run-time" in node["classes"]
    title, paragraph = node.children
    assert title.astext() == "Run time" and paragraph.astext() == "This page ran in 3 s."
    assert title["translatable"] is False and paragraph["translatable"] is False


def test_every_sentence_is_a_translatable_message():
    """Each sentence is one gettext message (``_("...")``) filled in with ``format``, never glued from
    pieces of English, so that a translation can reorder it."""
    source = (ROOT / "book" / "_ext" / "run_times.py").read_text()
    messages = re.findall(r'_\(\s*"([^"]+)"', source)
    assert len(messages) >= 10
    assert "This page ran in {time} when this book was built, in {mode} on {machine}." in messages
