"""Small tables for the chapters: HTML for Jupyter and the HTML book, Markdown as the plain-text form."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence
from typing import Any

_RULE = {"l": ":--", "c": ":-:", "r": "--:"}
_ALIGN = {"l": "left", "c": "center", "r": "right"}


def _check(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None) -> str:
    if align is None:
        first = rows[0] if rows else [""] * len(headers)
        align = "".join("r" if isinstance(v, (int, float)) else "l" for v in first)
    if len(align) != len(headers) or any(len(r) != len(headers) for r in rows) or set(align) - set(_RULE):
        raise ValueError(f"every row and the alignment need {len(headers)} columns, one per header (l, c or r).")
    return align


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    """A Markdown table; ``align`` gives one of ``l``, ``c``, ``r`` per column (default: text left, numbers right)."""
    align = _check(headers, rows, align)

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "| " + " | ".join(_RULE[a] for a in align) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


class Table:
    """A table that Jupyter and the HTML book show as HTML (``display(Table(...))`` or as a cell's value)."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> None:
        self.headers, self.rows = list(headers), [list(r) for r in rows]
        self.align = _check(self.headers, self.rows, align)

    def _repr_html_(self) -> str:
        def row(cells: Sequence[Any], tag: str) -> str:
            return (
                "<tr>"
                + "".join(
                    f'<{tag} style="text-align: {_ALIGN[a]}">{html.escape(str(c))}</{tag}>'
                    for c, a in zip(cells, self.align)
                )
                + "</tr>"
            )

        head = row(self.headers, "th")
        body = "".join(row(r, "td") for r in self.rows)
        return f'<table class="table"><thead>{head}</thead><tbody>{body}</tbody></table>'

    def _repr_markdown_(self) -> str:
        return markdown_table(self.headers, self.rows, align=self.align)

    def __repr__(self) -> str:
        return self._repr_markdown_()


def changes_table(before: Any, after: Any, *, names: tuple[str, str] = ("before", "after")) -> Table:
    """Every field in which two dataclass instances of the same type differ (two recipes, say), in the
    order the class declares them: the field's name, then its value in ``before`` and in ``after``,
    written as Python would (``0.01``, ``'onecycle'``, ``{}``)."""
    if type(before) is not type(after) or not dataclasses.is_dataclass(before):
        raise TypeError(f"changes_table compares two instances of one dataclass, not {type(before)} and {type(after)}.")
    rows = [
        (f.name, repr(getattr(before, f.name)), repr(getattr(after, f.name)))
        for f in dataclasses.fields(before)
        if getattr(before, f.name) != getattr(after, f.name)
    ]
    return Table(["setting", *names], rows, align="lll")
