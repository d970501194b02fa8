"""What the book's command lines share: argument types with clear messages, and the settings.

``python -m mnist_book.train`` and ``python -m mnist_book.bench`` take ``--device`` and the fast
mode from :mod:`mnist_book.settings` (``MNIST_BOOK_DEVICE``, ``MNIST_BOOK_FAST``) unless a flag
says otherwise, so a setting means the same in a notebook, a test and a command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from mnist_book.devices import get_device
from mnist_book.settings import ENV_DEVICE, ENV_FAST, is_fast


def _number(kind: type, text: str) -> float:
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive(kind: type) -> Callable[[str], float]:
    """An argparse type: a positive ``int`` or ``float``."""

    def parse(text: str):
        value = _number(kind, text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"  # argparse names the type in its messages
    return parse


def in_range(
    low: float, high: float, *, include_low: bool = True, include_high: bool = False, unit: str = ""
) -> Callable[[str], float]:
    """An argparse type: a number between ``low`` and ``high`` (each included or not)."""
    interval = f"{'[' if include_low else '('}{low:g}, {high:g}{']' if include_high else ')'}"

    def parse(text: str) -> float:
        value = _number(float, text)
        above = value >= low if include_low else value > low
        below = value <= high if include_high else value < high
        if not (above and below):
            raise argparse.ArgumentTypeError(f"must be {unit}in {interval}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def add_settings_arguments(parser: argparse.ArgumentParser, *, fast_help: str, fast_flag: str = "--fast") -> None:
    """``--device`` and ``--fast`` (or ``fast_flag``) / ``--full``, each defaulting to the book's settings."""
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=None,
        help=f"where to train (default: {ENV_DEVICE}, else auto: CUDA if available, else the CPU)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(fast_flag, dest="fast", action="store_true", help=f"{fast_help} (the default when {ENV_FAST}=1)")
    mode.add_argument("--full", action="store_true", help=f"the real thing, even when {ENV_FAST}=1")


def settings_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[torch.device, bool]:
    """The device and fast mode the flags ask for, else the settings'; a bad value exits with its message."""
    try:
        device = get_device(args.device)
        fast = bool(args.fast) or (not args.full and is_fast())
    except (ValueError, RuntimeError) as err:
        where = "argument --device: " if args.device is not None else ""
        parser.exit(2, f"{parser.prog}: error: {where}{err}\n")
    return device, fast
