"""The chapters' exercises: every one has a hint and a worked solution, collapsed; chapters 1 to 7 have
at least two checked exercises each; and every worked solution of a checked exercise passes its
checker (the reference solutions live in the chapters, once, and run here)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_book import exercises

BOOK = Path(__file__).resolve().parent.parent / "book"
PAGES = sorted(BOOK.glob("*.ipynb"))
SOLUTION = re.compile(r"```python\n# solution: (check_\w+)\n(.*?)```", re.S)


def exercises_markdown(path: Path) -> str:
    """Everything from the page's "## Exercises" heading on: its markdown cells, and its code cells."""
    cells = json.loads(path.read_text())["cells"]
    start = next(i for i, c in enumerate(cells) if "## Exercises" in "".join(c["source"]))
    return "\n".join("".join(c["source"]) for c in cells[start:] if c["cell_type"] == "markdown")


def solutions(path: Path) -> list[tuple[str, str]]:
    return SOLUTION.findall(exercises_markdown(path))


def chapter_of(path: Path) -> str:
    return path.stem[:2] if path.stem[:2].isdigit() else path.stem


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_every_exercise_has_a_hint_and_a_solution(path):
    text = exercises_markdown(path)
    numbered = re.findall(r"^(\d+)\. ", text, re.M)
    assert numbered, f"{path.name} has no numbered exercises"
    hints = text.count("<summary>Hint</summary>")
    worked = text.count("<summary>Solution</summary>")
    assert hints == worked == len(numbered), (
        f"{path.name}: {len(numbered)} exercises, {hints} hints, {worked} solutions"
    )
    assert text.count("<details>") == text.count("</details>") == hints + worked  # all collapsed, all closed


def test_chapters_one_to_seven_have_two_checked_exercises_each():
    checked: dict[str, set[str]] = {}
    for path in PAGES:
        checked.setdefault(chapter_of(path), set()).update(name for name, _ in solutions(path))
    for chapter in ("01", "02", "03", "04", "05", "06", "07"):
        assert len(checked.get(chapter, ())) >= 2, f"chapter {chapter}: checked exercises {checked.get(chapter)}"
    used = set().union(*checked.values())
    assert used <= set(exercises.__all__), used - set(exercises.__all__)


CASES = [(path, name, code) for path in PAGES for name, code in solutions(path)]


@pytest.mark.parametrize("path, checker, code", CASES, ids=[f"{p.stem}-{name}" for p, name, _ in CASES] or None)
def test_worked_solution_passes_its_checker(path, checker, code):
    namespace = {"torch": torch, "nn": nn, "F": F, "np": np, "math": math}
    exec(code, namespace)
    answer = namespace["answer"]
    check = getattr(exercises, checker)
    verdict = check(*answer) if checker == "check_pixel_stats" else check(answer)
    assert verdict, f"{path.name}: the worked solution for {checker} fails: {verdict}"
