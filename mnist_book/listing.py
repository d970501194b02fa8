"""Code listings for the chapters: the package's own source, specialised to one recipe.

The book trains every recipe with one loop, :func:`mnist_book.train.train_one_epoch`, whose few
``if`` statements switch on what a recipe asks for. :func:`specialise` shows the loop as one recipe
runs it: the branches it never takes removed, the ones it always takes kept without their ``if``,
and the recipe's settings written in as numbers. A diff of two such listings
(:func:`listing_diff`) is what a recipe changes in code.
"""

from __future__ import annotations

import difflib
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

from mnist_book.devices import PLAIN, Engine
from mnist_book.train import PER_BATCH_SCHEDULES, Recipe


def _namespace(recipe: Recipe, engine: Engine) -> dict[str, Any]:
    """What the loop's conditions can be decided from, before it runs."""
    return {
        "recipe": recipe,
        "engine": engine,
        "augment": object() if recipe.augment else None,
        "scheduler": object() if recipe.schedule != "constant" else None,
        "PER_BATCH_SCHEDULES": PER_BATCH_SCHEDULES,
    }


def _decide(condition: str, namespace: dict[str, Any]) -> bool | None:
    try:
        return bool(eval(condition, {}, dict(namespace)))  # our own source, with our own names
    except Exception:  # a condition on run-time values (a progress bar, the data): keep it
        return None


def _until_first_return(lines: list[str]) -> list[str]:
    """Drop what follows a ``return`` in the function's own body: the code after it cannot run."""
    body = None
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if body is None and k > 0 and not line.lstrip().startswith((")", "def ")) and indent > 0:
            body = indent
        if body is not None and indent == body and line.lstrip().startswith("return "):
            end, depth = k, 0
            while True:  # a return spread over several lines ends where its brackets close
                depth += sum(lines[end].count(c) for c in "([{") - sum(lines[end].count(c) for c in ")]}")
                end += 1
                if depth <= 0 or end == len(lines):
                    return lines[:end]
    return lines


def specialise(function: Callable, recipe: Recipe, engine: Engine = PLAIN, *, keep: tuple[str, ...] = ()) -> str:
    """``function``'s source as ``recipe`` (on ``engine``) runs it.

    An ``if`` whose condition depends only on the recipe and the engine disappears with its block
    when false, and leaves its block (dedented) when true; a ``with`` of the engine's autocast that
    does nothing goes the same way; ``recipe.x`` becomes the recipe's value. The docstring goes, and
    lines mentioning a name in ``keep`` are never removed.
    """
    lines = inspect.getsource(function).splitlines()
    namespace = _namespace(recipe, engine)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        match = re.fullmatch(r"if (.+):(\s*#.*)?", stripped)
        decided = _decide(match.group(1), namespace) if match and not any(k in stripped for k in keep) else None
        if stripped == "with engine.autocast_context(device):" and engine.autocast is None:
            decided = True
        if decided is None:
            out.append(line)
            i += 1
            continue
        j = i + 1  # the block: the lines indented deeper than the if
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        if decided:
            out += [b[4:] if b.strip() else b for b in lines[i + 1 : j]]
        i = j
    out = _until_first_return(out)
    text = "\n".join(out)
    text = re.sub(r'\n(\s*)"""(?:.|\n)*?"""\n', "\n", text, count=1)  # the docstring
    for name in Recipe.__dataclass_fields__:
        text = re.sub(rf"\brecipe\.{name}\b", repr(getattr(recipe, name)), text)
    return textwrap.dedent(text) + "\n"


def listing_diff(before: str, after: str, *, names: tuple[str, str] = ("before", "after")) -> str:
    """A unified diff of two listings, with the whole function as context."""
    diff = difflib.unified_diff(
        before.splitlines(), after.splitlines(), fromfile=names[0], tofile=names[1], lineterm="", n=1000
    )
    return "\n".join(list(diff)[2:])  # without the file-name header lines
