"""Devices: which one to run on, waiting for it, and how a model runs there (:class:`Engine`).

:func:`get_device` turns ``MNIST_BOOK_DEVICE`` (read by :mod:`mnist_book.settings`) or a name into a
``torch.device``; :func:`sync` waits for a GPU before a clock is read; :class:`Engine` says how a
model runs apart from what it computes (memory layout, bfloat16, ``torch.compile``), and
:func:`engine_for` is the book's fast engine for a device.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from mnist_book.settings import ENV_DEVICE, device_setting


def get_device(name: str | None = None) -> torch.device:
    """The device named by ``name`` or ``MNIST_BOOK_DEVICE`` (``auto``, ``cpu`` or ``cuda``)."""
    from_env = name is None
    if from_env:
        name = device_setting()
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


def sync(device: torch.device | str) -> None:
    """Wait for ``device`` to finish its queued work (a GPU runs ahead of Python), so that a clock
    read next measures it; nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Engine:
    """How a model runs, apart from what it computes: memory layout, autocast precision, ``torch.compile``."""

    channels_last: bool = False
    autocast: torch.dtype | None = None
    compile: bool = False

    def autocast_context(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast)

    def describe(self) -> dict[str, object]:
        autocast = str(self.autocast).removeprefix("torch.") if self.autocast is not None else None
        return {"channels_last": self.channels_last, "autocast": autocast, "compile": self.compile}


#: As published: float32, the default memory layout, no compilation.
PLAIN = Engine()


def engine_for(device: torch.device | str, *, compile: bool | None = None) -> Engine:
    """The book's fast engine: channels-last everywhere; bfloat16 autocast and ``torch.compile`` on CUDA.

    The CPU stays in float32 (not every CPU has fast bfloat16); ``compile=None`` means "on CUDA
    only" because on a CPU the compilation takes longer than it saves in one epoch.
    """
    cuda = torch.device(device).type == "cuda"
    return Engine(
        channels_last=True, autocast=torch.bfloat16 if cuda else None, compile=cuda if compile is None else compile
    )
