"""Code listings for the chapters: the package's own source, specialised to one recipe.

The book trains every recipe with one loop, :func:`mnist_book.train.train_one_epoch`, whose few
``if`` statements switch on what a recipe asks for. :func:`specialise` shows the loop as one recipe
runs it: the branches it never takes removed, the ones it always takes kept without their ``if``,
the recipe's settings written in as numbers, and what is left doing nothing (an argument at its
"off" value, a parameter nothing reads) taken out. A diff of two such listings
(:func:`listing_diff`) is what a recipe changes in code.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

import torch

from mnist_book.devices import PLAIN, Engine
from mnist_book.train import PER_BATCH_SCHEDULES, Recipe

_UNKNOWN = object()


def _namespace(recipe: Recipe, engine: Engine) -> dict[str, Any]:
    """What the loop's conditions can be decided from, before it runs."""
    return {
        "recipe": recipe,
        "engine": engine,
        "augment": object() if recipe.augment else None,
        "scheduler": object() if recipe.schedule != "constant" else None,
        "PER_BATCH_SCHEDULES": PER_BATCH_SCHEDULES,
        "bar": None,  # a listing shows the training, not the progress bar a caller may pass
    }


def _decide(condition: str, namespace: dict[str, Any]) -> bool | None:
    try:
        return bool(eval(condition, {}, dict(namespace)))  # our own source, with our own names
    except Exception:  # a condition on run-time values (the data): keep it
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


def _default(call: ast.Call, name: str, scope: dict[str, Any]) -> Any:
    """The default of the keyword ``name`` of the function ``call`` calls, if it can be named before the run."""
    try:
        target = eval(ast.unparse(call.func), dict(scope))  # e.g. F.cross_entropy, torch.optim.SGD
        return inspect.signature(target).parameters[name].default
    except Exception:  # a method of a run-time value (x.to), or no signature to read
        return _UNKNOWN


def _offsets(text: str) -> list[int]:
    """The byte offset where each line starts (the parser counts columns in UTF-8 bytes)."""
    starts, total = [], 0
    for line in text.encode().splitlines(keepends=True):
        starts.append(total)
        total += len(line)
    return starts


def _span(node: ast.AST, starts: list[int], last: ast.AST | None = None) -> tuple[int, int]:
    """Where ``node`` (through ``last``) sits in the text, in bytes."""
    last = last or node
    return starts[node.lineno - 1] + node.col_offset, starts[last.end_lineno - 1] + last.end_col_offset


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    """Remove each span of a comma-separated list (arguments, parameters) with its comma: the whole line
    when it stands on a line of its own, else the comma before it, else the comma after it."""
    data = text.encode()
    for start, end in sorted(spans, reverse=True):
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", end)
        line_end = len(data) if line_end < 0 else line_end
        if not data[line_start:start].strip() and data[end:line_end].strip() in (b"", b","):
            start, end = line_start, min(line_end + 1, len(data))
        elif data[:start].rstrip(b" ").endswith(b","):
            start = len(data[:start].rstrip(b" ")) - 1
        else:
            while data[end : end + 1] in (b",", b" "):
                end += 1
        data = data[:start] + data[end:]
    return data.decode()


def _without_noop_arguments(text: str, scope: dict[str, Any], device: torch.device, keep: tuple[str, ...]) -> str:
    """Drop keyword arguments that change nothing: an "off" value (0, False, None) that is also the
    callee's default (``label_smoothing=0.0``), and ``non_blocking=True`` when there is no GPU to overlap with."""
    starts, spans = _offsets(text), []
    for call in (node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)):
        for kw in call.keywords:
            if kw.arg is None or kw.arg in keep or not isinstance(kw.value, ast.Constant):
                continue
            value = kw.value.value
            idle_copy = kw.arg == "non_blocking" and device.type != "cuda"
            switched_off = not value and not isinstance(value, str) and _default(call, kw.arg, scope) == value
            if idle_copy or switched_off:
                spans.append(_span(kw, starts))
    return _cut(text, spans)


def _without_unused(text: str, keep: tuple[str, ...]) -> str:
    """Drop the parameters with defaults that the body never reads (a bare ``*`` left with nothing after
    it too), then the assignments without a call whose name is never read."""
    function = ast.parse(text).body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    read = [n.id for stmt in function.body for n in ast.walk(stmt) if isinstance(n, ast.Name)]
    args, starts = function.args, _offsets(text)
    defaults = dict(zip(args.args[len(args.args) - len(args.defaults) :], args.defaults))
    defaults.update((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
    unread = [arg for arg in defaults if arg.arg not in read and arg.arg not in keep]
    spans = [_span(arg, starts, defaults[arg]) for arg in unread]
    if args.kwonlyargs and not args.vararg and all(a in unread for a in args.kwonlyargs):
        after = max(
            [_span(a, starts)[1] for a in args.posonlyargs + args.args] + [_span(d, starts)[1] for d in args.defaults],
            default=0,
        )
        star = text.encode().index(b"*", after)
        spans.append((star, star + 1))
    text = _cut(text, spans)
    function = ast.parse(text).body[0]
    read = [n.id for stmt in function.body for n in ast.walk(stmt) if isinstance(n, ast.Name)]
    dead = [
        stmt
        for stmt in function.body
        if isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and not any(isinstance(n, ast.Call) for n in ast.walk(stmt.value))
        and read.count(stmt.targets[0].id) == 1  # only the assignment itself
    ]
    lines = text.splitlines()
    drop = {k for stmt in dead for k in range(stmt.lineno - 1, stmt.end_lineno)}
    return "\n".join(line for k, line in enumerate(lines) if k not in drop)


def specialise(
    function: Callable,
    recipe: Recipe,
    engine: Engine = PLAIN,
    *,
    device: torch.device | str = "cpu",
    keep: tuple[str, ...] = (),
) -> str:
    """``function``'s source as ``recipe`` runs it with ``engine`` on ``device``.

    An ``if`` whose condition depends only on the recipe and the engine disappears with its block
    when false, and leaves its block (dedented) when true; a ``with`` of the engine's autocast that
    does nothing goes the same way (and with it the ``.float()`` of its result); ``recipe.x`` becomes
    the recipe's value. Then what does nothing goes: keyword arguments at an "off" value that is the
    callee's default, ``non_blocking`` off a GPU, parameters with defaults that nothing reads (the
    progress bar among them), assignments nobody reads, and the checks of the input (an ``if`` that
    only raises): the listing shows what runs on good input. The docstring goes, and lines and
    arguments mentioning a name in ``keep`` are never removed.
    """
    lines = inspect.getsource(function).splitlines()
    namespace = _namespace(recipe, engine)
    out: list[str] = []
    uncast: list[str] = []  # results of an autocast that does nothing: already float32
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        match = re.fullmatch(r"if (.+):(\s*#.*)?", stripped)
        decided = _decide(match.group(1), namespace) if match and not any(k in stripped for k in keep) else None
        idle_autocast = stripped == "with engine.autocast_context(device):" and engine.autocast is None
        if idle_autocast:
            decided = True
        j = i + 1  # the block: the lines indented deeper than the if
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        if match and decided is None and not any(k in stripped for k in keep):
            body = [b.strip() for b in lines[i + 1 : j] if b.strip()]
            decided = False if body and body[0].startswith("raise ") else None  # a check of the input
        if decided is None:
            out.append(line)
            i += 1
            continue
        if idle_autocast:
            uncast += [m.group(1) for b in lines[i + 1 : j] if (m := re.match(r"\s*(\w+) = ", b))]
        # a block that always runs takes the if's place, dedented, and is read again (its own ifs too)
        lines[i:j] = [b[4:] if b.strip() else b for b in lines[i + 1 : j]] if decided else []
    out = _until_first_return(out)
    text = "\n".join(out)
    text = re.sub(r'\n(\s*)"""(?:.|\n)*?"""\n', "\n", text, count=1)  # the docstring
    for name in Recipe.__dataclass_fields__:
        text = re.sub(rf"\brecipe\.{name}\b", repr(getattr(recipe, name)), text)
    for name in uncast:
        text = re.sub(rf"\b{name}\.float\(\)", name, text)
    text = textwrap.dedent(text)
    text = _without_noop_arguments(text, function.__globals__, torch.device(device), keep)
    text = _without_unused(text, keep)
    return text + "\n"


def listing_diff(before: str, after: str, *, names: tuple[str, str] = ("before", "after")) -> str:
    """A unified diff of two listings, with the whole function as context."""
    diff = difflib.unified_diff(
        before.splitlines(), after.splitlines(), fromfile=names[0], tofile=names[1], lineterm="", n=1000
    )
    return "\n".join(list(diff)[2:])  # without the file-name header lines
