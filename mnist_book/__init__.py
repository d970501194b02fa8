"""Shared code of the MNIST CNN book: every chapter imports from here instead of pasting helpers."""

from mnist_book.settings import Settings, setup

__all__ = ["Settings", "setup"]
