"""The book's run-time settings: which device, fast or full mode, and seeding.

Environment variables steer every chapter, test and command line:

- ``MNIST_BOOK_DEVICE``: ``auto`` (the default: CUDA when PyTorch sees it, else the CPU),
  ``cpu`` or ``cuda``.
- ``MNIST_BOOK_FAST``: ``1`` runs small subsets and short schedules so that a notebook finishes
  in seconds; unset (or ``0``) runs the real thing.
- ``MNIST_BOOK_RETRAIN``: ``1`` trains every model afresh instead of loading the run the data
  cache holds from an earlier build (:mod:`mnist_book.checkpoints`).

Chapters start with ``cfg = setup()`` and ask ``cfg`` for the device and for schedules,
e.g. ``epochs = cfg.pick(fast=1, full=10)``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

ENV_DEVICE = "MNIST_BOOK_DEVICE"
ENV_FAST = "MNIST_BOOK_FAST"
ENV_RETRAIN = "MNIST_BOOK_RETRAIN"

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """What a chapter needs to know about how it is being run."""

    device: torch.device
    fast: bool
    seed: int

    def pick(self, *, fast: T, full: T) -> T:
        """Return ``fast`` in fast mode and ``full`` otherwise (schedules, subset sizes)."""
        return fast if self.fast else full

    def __str__(self) -> str:
        mode = "fast mode (small subsets, short schedules)" if self.fast else "full mode"
        return f"device: {self.device}, {mode}, seed {self.seed}"


def get_device(name: str | None = None) -> torch.device:
    """The device named by ``name`` or ``MNIST_BOOK_DEVICE`` (``auto``, ``cpu`` or ``cuda``)."""
    from_env = name is None
    if from_env:
        name = os.environ.get(ENV_DEVICE, "auto")
    what = ENV_DEVICE if from_env else "The device"
    choice = name.strip().lower() or "auto"
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            fix = f"Unset {ENV_DEVICE} (or set it to 'auto' or 'cpu')" if from_env else "Choose 'auto' or 'cpu'"
            raise RuntimeError(
                f"{what + '=cuda' if from_env else 'The device cuda'} was asked for, but PyTorch sees no CUDA "
                f"device on this machine. {fix} to run on the CPU."
            )
        return torch.device("cuda")
    raise ValueError(f"{what} must be 'auto', 'cpu' or 'cuda', not {name!r}.")


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


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def settings(seed: int = 0) -> Settings:
    """Read the environment into a :class:`Settings`, without side effects."""
    return Settings(device=get_device(), fast=is_fast(), seed=seed)


def setup(seed: int = 0, *, verbose: bool = True) -> Settings:
    """Read the settings, seed every generator, and (by default) print one line saying how we run."""
    cfg = settings(seed)
    seed_everything(seed)
    if verbose:
        print(cfg)
    return cfg
