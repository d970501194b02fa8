"""The book's run-time settings, read in one place: the device, fast or full mode, the data cache,
the dataset mirrors, retraining; and seeding.

Environment variables steer every chapter, test and command line; this is the only module that
reads them:

- ``MNIST_BOOK_DEVICE``: ``auto`` (the default: CUDA when PyTorch sees it, else the CPU),
  ``cpu`` or ``cuda``.
- ``MNIST_BOOK_FAST``: ``1`` runs small subsets and short schedules so that a notebook finishes
  in seconds; unset (or ``0``) runs the real thing. :data:`FAST_SIZES` is the one table of the
  sizes fast mode shrinks.
- ``MNIST_BOOK_DATA``: the data cache folder (default ``data/`` in the repository).
- ``MNIST_BOOK_MIRROR``: where to look for the dataset files before torchvision's download
  (:mod:`mnist_book.data`).
- ``MNIST_BOOK_RETRAIN``: ``1`` trains every model afresh instead of loading the run the data
  cache holds from an earlier build (:mod:`mnist_book.runs`).
- ``MNIST_BOOK_RUN_LOG``: set by the book's build for each page it runs (``book/_ext/run_times.py``),
  not by hand: a file where the page notes the runs it loaded from the data cache, so that the page
  can say how long it would take with an empty cache.

Chapters start with ``cfg = setup()`` and ask ``cfg`` for the device and for schedules,
e.g. ``epochs = cfg.pick(fast=1, full=10)`` or ``cfg.size("budget")``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

ENV_DEVICE = "MNIST_BOOK_DEVICE"
ENV_FAST = "MNIST_BOOK_FAST"
ENV_RETRAIN = "MNIST_BOOK_RETRAIN"
ENV_DATA = "MNIST_BOOK_DATA"
ENV_MIRROR = "MNIST_BOOK_MIRROR"
ENV_RUN_LOG = "MNIST_BOOK_RUN_LOG"
REPO_ROOT = Path(__file__).resolve().parent.parent

#: The sizes fast mode shrinks, as (fast, full); ``None`` means "all of it". Chapters, the command
#: lines and the benchmark ask for them by name (:meth:`Settings.size`), so that fast mode is
#: described once.
FAST_SIZES: dict[str, tuple[int | None, int | None]] = {
    "train": (5_000, None),  # chapter 5's run (and the runs built on it): every image not held out
    "val": (1_000, 5_000),  # validation images, out of the 5,000 held out
    "epochs": (1, None),  # a named recipe's epochs (None: the recipe's own)
    "budget": (1_000, 10_000),  # a small training set for side-by-side comparisons
    "short_epochs": (1, 3),  # the epochs of such a comparison
    "cli_train": (2_000, None),  # python -m mnist_book.train --fast
    "cli_test": (1_000, None),
    "bench_train": (2_048, None),  # python -m mnist_book.bench --smoke
    "bench_test": (500, None),
}

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """What a chapter needs to know about how it is being run."""

    device: torch.device
    fast: bool

    def pick(self, *, fast: T, full: T) -> T:
        """Return ``fast`` in fast mode and ``full`` otherwise (schedules, subset sizes)."""
        return fast if self.fast else full

    def size(self, name: str) -> int | None:
        """The size :data:`FAST_SIZES` gives ``name`` in this mode (``None``: all of it)."""
        return fast_size(name, self.fast)

    @property
    def mode(self) -> str:
        """``"fast"`` or ``"full"``: part of the name of every cached run."""
        return "fast" if self.fast else "full"

    def __str__(self) -> str:
        mode = "fast mode (small subsets, short schedules)" if self.fast else "full mode"
        return f"device: {self.device}, {mode}"


def fast_size(name: str, fast: bool) -> int | None:
    """:data:`FAST_SIZES`' entry ``name`` for fast (or full) mode."""
    if name not in FAST_SIZES:
        raise KeyError(f"No size named {name!r}; FAST_SIZES has {', '.join(FAST_SIZES)}.")
    return FAST_SIZES[name][0 if fast else 1]


def device_setting() -> str:
    """``MNIST_BOOK_DEVICE`` as given (``auto`` when unset): :func:`mnist_book.devices.get_device` reads it."""
    return os.environ.get(ENV_DEVICE, "auto")


def _switch(name: str, meaning: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be 1 ({meaning}) or 0/unset, not {value!r}.")


def is_fast() -> bool:
    """Whether ``MNIST_BOOK_FAST`` asks for fast mode."""
    return _switch(ENV_FAST, "fast mode")


def retrain() -> bool:
    """Whether ``MNIST_BOOK_RETRAIN`` asks to train every model afresh, ignoring cached runs."""
    return _switch(ENV_RETRAIN, "train every model afresh")


def data_root() -> Path:
    """The data cache folder: ``MNIST_BOOK_DATA`` if set, else ``data/`` at the repository root."""
    return Path(os.environ.get(ENV_DATA) or REPO_ROOT / "data").expanduser()


def mirror_setting() -> str:
    """``MNIST_BOOK_MIRROR`` as given (empty when unset): :func:`mnist_book.data.mirror_sources` splits it."""
    return os.environ.get(ENV_MIRROR, "")


def run_log_path() -> Path | None:
    """The file ``MNIST_BOOK_RUN_LOG`` names (None when unset): :func:`mnist_book.runs.note_loaded` writes it."""
    value = os.environ.get(ENV_RUN_LOG, "")
    return Path(value) if value else None


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def settings() -> Settings:
    """Read the environment into a :class:`Settings`, without side effects."""
    from mnist_book.devices import get_device  # devices reads its setting from here

    return Settings(device=get_device(), fast=is_fast())


def setup(seed: int = 0, *, verbose: bool = True) -> Settings:
    """Read the settings, seed every generator with ``seed``, and (by default) print one line saying
    how we run. (Training runs seed themselves from their recipe: see :func:`mnist_book.train.fit`.)"""
    cfg = settings()
    seed_everything(seed)
    if verbose:
        print(cfg)
    return cfg
