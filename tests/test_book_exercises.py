"""The chapters' exercises: every one has a hint and a worked solution, collapsed; chapters 1 to 6 and
each page of chapter 7 have at least two checked exercises, each appendix one; every checker has an
exercise; and every worked solution of a checked exercise passes its checker (the reference solutions
live in the chapters, once, and run here)."""

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


def checked_by_page() -> dict[str, set[str]]:
    """Each page's checked exercises: the checkers its worked solutions name."""
    return {path.stem: {name for name, _ in solutions(path)} for path in PAGES}


def test_chapters_one_to_six_have_two_checked_exercises_each():
    checked: dict[str, set[str]] = {}
    for page, names in checked_by_page().items():
        checked.setdefault(chapter_of(BOOK / page), set()).update(names)
    for chapter in ("01", "02", "03", "04", "05", "06"):
        assert len(checked.get(chapter, ())) >= 2, f"chapter {chapter}: checked exercises {checked.get(chapter)}"


#: Chapter 7's pages each have two checked exercises, the appendices one each.
CHECKED_PER_PAGE = {
    "07_1_tuning": 2,
    "07_2_transfer": 2,
    "07_3_handwriting": 2,
    "appendix_speed": 1,
    "appendix_long_runs": 1,
}


@pytest.mark.parametrize("page, least", CHECKED_PER_PAGE.items())
def test_chapter_seven_pages_and_appendices_have_checked_exercises(page, least):
    checked = checked_by_page()
    assert page in checked, f"{page}.ipynb is missing"
    assert len(checked[page]) >= least, f"{page}: checked exercises {checked[page]}"


def test_every_checker_has_an_exercise_and_every_exercise_a_checker():
    used = set().union(*checked_by_page().values())
    checkers = set(exercises.__all__) - {"Verdict"}
    assert used <= checkers, f"solutions name unknown checkers: {used - checkers}"
    assert checkers <= used, f"checkers without an exercise: {checkers - used}"


CASES = [(path, name, code) for path in PAGES for name, code in solutions(path)]
TWO_PART_ANSWERS = {"check_pixel_stats", "check_checkpoint"}  # (mean, std) and (save, load)


@pytest.mark.parametrize("path, checker, code", CASES, ids=[f"{p.stem}-{name}" for p, name, _ in CASES] or None)
def test_worked_solution_passes_its_checker(path, checker, code):
    namespace = {"torch": torch, "nn": nn, "F": F, "np": np, "math": math}
    exec(code, namespace)
    answer = namespace["answer"]
    check = getattr(exercises, checker)
    verdict = check(*answer) if checker in TWO_PART_ANSWERS else check(answer)
    assert verdict, f"{path.name}: the worked solution for {checker} fails: {verdict}"
