"""The book's run-time settings: which device, fast or full mode, and seeding.

Two environment variables steer every chapter, test and command line:

- ``MNIST_BOOK_DEVICE``: ``auto`` (the default: CUDA when PyTorch sees it, else the CPU),
  ``cpu`` or ``cuda``.
- ``MNIST_BOOK_FAST``: ``1`` runs small subsets and short schedules so that a notebook finishes
  in seconds; unset (or ``0``) runs the real thing.

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
    if name is None:
        name = os.environ.get(ENV_DEVICE, "auto")
    choice = name.strip().lower() or "auto"
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"{ENV_DEVICE}=cuda, but PyTorch sees no CUDA device on this machine. "
                f"Unset {ENV_DEVICE} (or set it to 'auto' or 'cpu') to run on the CPU."
            )
        return torch.device("cuda")
    raise ValueError(f"{ENV_DEVICE} must be 'auto', 'cpu' or 'cuda', not {name!r}.")


def is_fast() -> bool:
    """Whether ``MNIST_BOOK_FAST`` asks for fast mode."""
    value = os.environ.get(ENV_FAST, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{ENV_FAST} must be 1 (fast mode) or 0/unset (full mode), not {value!r}.")


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
