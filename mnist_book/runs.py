"""The cache of runs and results, and the book's named runs.

A rebuild of the book loads its training runs instead of repeating them. Every run or result is
kept under ``<data cache>/checkpoints/runs/`` by a key that :func:`run_key` computes from
everything that decides it, so that a stale run can never be loaded:

- what the caller passes: the recipe, the data (by content: every pixel and label), the starting
  weights, the settings of the run;
- the code: the source of the modules that train it and of every ``mnist_book`` module they import,
  parsed, so that docstrings, comments and formatting do not count (:func:`code_fingerprint`);
- PyTorch's version and :data:`CACHE_VERSION`.

:func:`cached_fit` is :func:`~mnist_book.train.fit` through the cache (finishing an interrupted
run from its checkpoint), :func:`cached` the same for any result. ``MNIST_BOOK_RETRAIN=1`` ignores
the cache. Each load is noted in the page's run log when the book's build asks for one
(:func:`note_loaded`), so that a page can say how long it would take with an empty cache. The book's named runs: :func:`reference_run` (chapter 5's model, which chapters 6 and 7
load) and :func:`tuned_run` (chapter 7.1's, which reads handwriting in 7.3).
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import hashlib
import importlib.util
import inspect
import json
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn as nn

from mnist_book import checkpoints
from mnist_book.checkpoints import CheckpointError
from mnist_book.data import Split, load_split, subset, train_val_split
from mnist_book.devices import PLAIN, Engine, engine_for, get_device
from mnist_book.files import atomic_save, atomic_write
from mnist_book.settings import data_root, fast_size, retrain, run_log_path
from mnist_book.train import ARTICLE_RECIPE, TUNED_RECIPE, History, Recipe, build_model, fit

#: Part of every key. Raise it when what a cached file holds, or how keys are made, changes in a way
#: the key cannot see: every run is then made again.
CACHE_VERSION = 2

#: The modules whose code (with every ``mnist_book`` module they import) keys a training run.
TRAINING_MODULES = ("mnist_book.train",)


# --------------------------------------------------------------------------- the key


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` with the docstring of every module, class and function removed (comments are not in an AST)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def code_of(source: str) -> str:
    """What counts in ``source``: its syntax tree without docstrings, so that comments, docstrings,
    line breaks and quotes can change without changing it."""
    return ast.dump(_without_docstrings(ast.parse(textwrap.dedent(source))))


def _imported_book_modules(tree: ast.AST) -> set[str]:
    """The ``mnist_book`` modules a module imports (at the top or inside a function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mnist_book"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mnist_book":
            found.add(node.module)
            # `from mnist_book import checkpoints`: the names may be modules themselves
            found |= {f"{node.module}.{a.name}" for a in node.names if _source_file(f"{node.module}.{a.name}")}
    return found


@functools.cache
def _source_file(module: str) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _read_module(module: str) -> str:
    return Path(_source_file(module)).read_text()


def code_fingerprint(*roots: str, read: Callable[[str], str] = _read_module) -> str:
    """A hash of the code of the modules ``roots`` and of every ``mnist_book`` module they import,
    directly or not (``read(module)`` gives a module's source)."""
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        tree = ast.parse(read(module))
        seen[module] = ast.dump(_without_docstrings(tree))
        todo += sorted(_imported_book_modules(tree) - seen.keys())
    return fingerprint(sorted(seen.items()))


def fingerprint(*parts: Any) -> str:
    """A short hash of ``parts``: numbers, strings, lists, mappings, dataclasses, tensors (every
    value), data splits, modules (their weights), and functions and classes (their code)."""
    digest = hashlib.sha1()

    def add(x: Any) -> None:
        if isinstance(x, nn.Module):
            for name, tensor in x.state_dict().items():
                digest.update(name.encode())
                add(tensor)
        elif isinstance(x, torch.Tensor):
            digest.update(str((x.dtype, tuple(x.shape))).encode())
            digest.update(x.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        elif inspect.isfunction(x) or inspect.isclass(x):
            digest.update(code_of(inspect.getsource(x)).encode())
        elif is_dataclass(x) and not isinstance(x, type):
            add({f.name: getattr(x, f.name) for f in fields(x)})
        elif isinstance(x, Mapping):
            for key in sorted(x, key=str):
                digest.update(json.dumps(str(key)).encode())
                add(x[key])
        elif isinstance(x, (list, tuple)):  # a Split is a tuple of tensors: hashed by content
            digest.update(f"[{len(x)}".encode())
            for item in x:
                add(item)
            digest.update(b"]")
        else:
            digest.update(json.dumps(x, sort_keys=True, default=str).encode())

    for part in parts:
        add(part)
    return digest.hexdigest()[:12]


def run_key(name: str, mode: str, *parts: Any, code: tuple[str, ...] = TRAINING_MODULES) -> str:
    """The cache key of a run or result: ``<name>_<mode>_<hash>``. The hash covers ``parts`` (what the
    caller knows decides the result: recipe, data, starting weights, settings), the code of the
    modules ``code`` and of every ``mnist_book`` module they import, PyTorch's version and
    :data:`CACHE_VERSION`."""
    return f"{name}_{mode}_{fingerprint(CACHE_VERSION, torch.__version__, code_fingerprint(*code), *parts)}"


# --------------------------------------------------------------------------- the cache


def cache_dir() -> Path:
    """Where runs and results are cached: ``<data cache>/checkpoints/runs``."""
    return data_root() / "checkpoints" / "runs"


def cache_path(key: str) -> Path:
    """The file of the cached run or result ``key``."""
    return cache_dir() / f"{key}.pt"


def cached(key: str, compute: Callable[[], dict[str, Any]], *, verbose: bool = True) -> dict[str, Any]:
    """The result stored under ``key``, or ``compute()``'s, stored first (with the seconds it took).

    Results are plain data (tensors, numbers, strings, lists, dicts), read back with
    ``weights_only=True``; an unreadable file is computed again, and so is everything when
    ``MNIST_BOOK_RETRAIN=1``. A load is noted in the page's run log (:func:`note_loaded`).
    """
    path = cache_path(key)
    if path.is_file() and not retrain():
        try:
            result = torch.load(path, map_location="cpu", weights_only=True)
            if verbose:
                print(f"Loaded {path.name} from the data cache.")
            note_loaded(key, _stored_seconds(key))
            return result
        except Exception as err:  # a truncated or foreign file: recompute
            print(f"Ignoring unreadable {path.name} ({type(err).__name__}); computing it again.")
    started = time.perf_counter()
    result = compute()
    atomic_save(result, path)
    with atomic_write(_seconds_path(key)) as tmp:
        tmp.write_text(json.dumps({"seconds": time.perf_counter() - started}))
    return result


def _seconds_path(key: str) -> Path:
    return cache_dir() / f"{key}.seconds.json"


def _stored_seconds(key: str) -> float | None:
    """How long computing the cached result ``key`` took, when it was recorded."""
    try:
        return float(json.loads(_seconds_path(key).read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- what a page loaded


class Loaded(NamedTuple):
    """A run or result a page loaded from the cache, and the seconds making it took (None: not recorded)."""

    key: str
    seconds: float | None


def note_loaded(key: str, seconds: float | None) -> None:
    """Note in the run log (``MNIST_BOOK_RUN_LOG``, which the book's build sets for each page it runs)
    that ``key`` was loaded from the cache rather than made, and how long making it took; nothing
    when no run log is asked for."""
    path = run_log_path()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps({"key": key, "seconds": seconds}) + "\n")


def read_run_log(path: Path) -> list[Loaded]:
    """What :func:`note_loaded` wrote to ``path`` (nothing loaded when there is no such file)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Loaded(entry["key"], entry["seconds"]) for entry in map(json.loads, filter(None, lines))]


class CachedRun(NamedTuple):
    """A run from :func:`cached_fit`: the model, its history, its checkpoint (and its file), and
    whether it was loaded from the cache rather than trained."""

    model: nn.Module
    history: History
    checkpoint: dict[str, Any]
    path: Path
    loaded: bool


def fit_key(
    name: str,
    mode: str,
    recipe: Recipe,
    train: Split,
    val: Split | None,
    model: nn.Module | None = None,
    engine: Engine = PLAIN,
) -> str:
    """The key of a :func:`cached_fit` run: :func:`run_key` of its recipe, its data, its starting
    model (its class's code and its weights, when given) and its engine (when not the plain one)."""
    start = (type(model), model.state_dict()) if model is not None else None
    layout = engine.describe() if engine != PLAIN else None
    return run_key(name, mode, recipe, train, val, start, layout)


def cached_fit(
    name: str,
    recipe: Recipe,
    train: Split,
    val: Split | None = None,
    *,
    mode: str,
    model: nn.Module | None = None,
    device: torch.device | str | None = None,
    engine: Engine = PLAIN,
    progress: bool = True,
    verbose: bool = True,
) -> CachedRun:
    """:func:`~mnist_book.train.fit`, kept in the data cache: the stored run when the same run
    (:func:`fit_key`) was made before, finished from its checkpoint when it was interrupted, trained
    otherwise.

    ``MNIST_BOOK_RETRAIN=1`` trains afresh whatever the cache holds. Returns the model in eval mode.
    """
    device = torch.device(device) if device is not None else get_device()
    path = cache_path(fit_key(name, mode, recipe, train, val, model, engine))
    say = print if verbose else (lambda *a, **k: None)
    ckpt = None
    if path.is_file() and not retrain():
        try:
            ckpt = checkpoints.load_checkpoint(path)
        except CheckpointError as err:
            say(f"{err}\nTraining {name} again.")
    if ckpt is not None and ckpt["epoch"] >= recipe.epochs:
        model = checkpoints.restore_model(ckpt, model).to(device).eval()
        trained = ckpt.get("trained", "an earlier build")
        seconds = sum(ckpt["history"]["seconds"])
        minutes = seconds / 60
        note_loaded(path.stem, seconds)
        say(
            f"Loaded {name} from the data cache: trained {trained} ({minutes:.1f} minutes); "
            "MNIST_BOOK_RETRAIN=1 trains it again."
        )
        return CachedRun(model, History.from_dict(ckpt["history"]), ckpt, path, loaded=True)
    if ckpt is not None:
        say(f"{name} stopped after epoch {ckpt['epoch']} of {recipe.epochs}: finishing it.")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    extra = {
        "name": name,
        "trained": stamp,
        "device": str(device),
        "train_size": len(train),
        "val_size": len(val) if val is not None else 0,
    }
    model, history = fit(
        recipe,
        train,
        val,
        model=model,
        device=device,
        engine=engine,
        checkpoint_path=path,
        resume_from=ckpt,
        mode=mode,
        progress=progress,
        desc=name,
        extra=extra,
    )
    return CachedRun(model.eval(), history, checkpoints.load_checkpoint(path), path, loaded=False)


# --------------------------------------------------------------------------- chapter 5's model, and 7.1's


#: Training images held out for validation (the same 5,000 in every chapter: seed 0).
HELD_OUT = 5000


@dataclass(frozen=True)
class RunPlan:
    """One of the book's runs that several chapters use: its mode, recipe and data sizes."""

    mode: str  # "fast" or "full"
    recipe: Recipe
    train_size: int | None  # None: every training image not held out
    val_size: int  # validation images used (out of the 5,000 held out)


def reference_plan(fast: bool, recipe: Recipe = ARTICLE_RECIPE) -> RunPlan:
    """``recipe`` on the 55,000 training images not held out (full), or one epoch on a few thousand
    (fast: :data:`~mnist_book.settings.FAST_SIZES`)."""
    epochs = fast_size("epochs", fast)
    return RunPlan(
        "fast" if fast else "full",
        recipe.changed(epochs=epochs) if epochs is not None else recipe,
        train_size=fast_size("train", fast),
        val_size=fast_size("val", fast),
    )


def reference_data(plan: RunPlan, device: torch.device | str = "cpu") -> tuple[Split, Split]:
    """The training and validation splits of ``plan``: MNIST's training set minus 5,000 held out."""
    train, val = train_val_split(load_split("mnist", train=True, device=device), HELD_OUT, seed=0)
    return subset(train, plan.train_size, seed=0), subset(val, plan.val_size, seed=0)


def reference_run(fast: bool, *, device: torch.device | str | None = None, progress: bool = True) -> CachedRun:
    """Chapter 5's run, which chapters 6 and 7 load: from the data cache when it is there, else trained."""
    device = torch.device(device) if device is not None else get_device()
    plan = reference_plan(fast)
    train, val = reference_data(plan, device)
    torch.manual_seed(plan.recipe.seed)  # the initial weights (fit seeds again for the dropout masks)
    model = build_model(plan.recipe)
    return cached_fit(
        "chapter5", plan.recipe, train, val, mode=plan.mode, model=model, device=device, progress=progress
    )


def tuned_run(fast: bool, *, device: torch.device | str | None = None, progress: bool = True) -> CachedRun:
    """Chapter 7.1's final model, which 7.3 reads handwriting with: :data:`~mnist_book.train.TUNED_RECIPE`
    on the same data as chapter 5's run, on the book's engine (channels-last; bfloat16 on a GPU), from
    the data cache when it is there, else trained."""
    device = torch.device(device) if device is not None else get_device()
    plan = reference_plan(fast, TUNED_RECIPE)
    train, val = reference_data(plan, device)
    engine = engine_for(device, compile=False)
    return cached_fit("tuned", plan.recipe, train, val, mode=plan.mode, device=device, engine=engine, progress=progress)


def load_reference_model(
    fast: bool, *, device: torch.device | str | None = None, progress: bool = True
) -> tuple[nn.Module, dict[str, Any]]:
    """Chapter 5's model (eval mode) and its checkpoint: see :func:`reference_run`."""
    run = reference_run(fast, device=device, progress=progress)
    return run.model, run.checkpoint
