"""Numbers in the book's prose come from the run (myst-nb ``glue``), never typed by hand.

A markdown cell that states an accuracy or a timing as a literal (``98.7%``, ``12.3 s``) would go
stale the moment the code changes. Published figures and targets the book quotes on purpose are
listed in ``REFERENCE_FIGURES``; anything else fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"

#: Figures quoted from elsewhere or set as targets, not measured by the book.
REFERENCE_FIGURES = {
    "99.0%",  # the benchmark's target accuracy: a setting, not a measurement
    "99.5%",  # chapter 7.1's goal, set before any run
    "0.95%",  # LeNet-5's test error (LeCun et al. 1998, lecun1998gradient)
    "0.8%",  # LeNet-5's test error when trained with distortions (ibid.)
    "99.2%",  # the same, as an accuracy
    "99.185%",  # PyTorch's MNIST example, 14 epochs, mean of two runs (oikarinen2021mnistfast)
    "0.76 s",  # a laptop-GPU time to 99% (oikarinen2021mnistfast)
    "100%",  # "100% of ..." as a plain statement, not a measurement
}

_HIDDEN = [
    re.compile(r"```.*?```", re.S),  # code blocks and directives' code
    re.compile(r"`[^`\n]*`"),  # inline code, glue roles' targets
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"\$[^$\n]+\$"),  # inline math
    re.compile(r"https?://\S+"),
]
_FIGURE = re.compile(
    r"(?<![\w.])(?:"
    r"\d+(?:[.,]\d+)*\s?(?:%|(?:ms|µs|seconds?|milliseconds?|minutes?|min)\b)"
    r"|\d+(?:\.\d+)?\ss\b|\d+\.\d+s\b"  # "12 s", "12.5s"; not "the 7s" (sevens)
    r")"
)


def literal_figures(markdown: str) -> list[str]:
    """The accuracy-like (``N%``) and timing-like (``N s``) literals in ``markdown``'s prose."""
    for pattern in _HIDDEN:
        markdown = pattern.sub(" ", markdown)
    return [m.group(0) for m in _FIGURE.finditer(markdown) if m.group(0) not in REFERENCE_FIGURES]


def _markdown_sources() -> list[tuple[str, str]]:
    sources = []
    for path in sorted(BOOK.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                sources.append((f"{path.name} cell {i}", "".join(cell["source"])))
            else:  # glue_all(...) cells: sentences written into the prose, typed numbers included
                text = "".join(cell["source"])
                if "glue_all(" in text:
                    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
                    sources.append((f"{path.name} cell {i} (glued text)", " ".join(s for s in strings if "{" not in s)))
    for path in sorted(BOOK.glob("*.md")):
        sources.append((path.name, path.read_text()))
    return sources


def test_scanner_finds_typed_figures():
    text = "The model reaches 98.7% accuracy in 12.5 s (4.5s a pass), or 3 minutes on a laptop."
    assert literal_figures(text) == ["98.7%", "12.5 s", "4.5s", "3 minutes"]
    assert literal_figures("Of the real 7s, how many does it find?") == []


def test_scanner_ignores_glue_code_and_math():
    text = (
        "It reaches {glue:text}`acc:.2%` in {glue:text}`secs:.1f` s; `x = 0.5 s` is code; "
        "$p = 50\\%$ is math; LeNet-5 with distortions reaches 99.2%."
    )
    assert literal_figures(text) == []


@pytest.mark.parametrize("where, markdown", _markdown_sources() or [("(no chapters)", "")])
def test_no_literal_accuracy_or_timing_in_prose(where, markdown):
    found = literal_figures(markdown)
    assert found == [], (
        f"{where} states {found} as typed text: glue the measured value instead "
        "(or add a published figure to REFERENCE_FIGURES with its source)"
    )
