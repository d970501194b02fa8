"""Import one of the book's Sphinx extensions (book/_ext/<name>.py) in a test, once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXTENSIONS = Path(__file__).resolve().parent.parent / "book" / "_ext"


def load(name: str) -> ModuleType:
    """The module book/_ext/``name``.py, registered under ``name`` as Sphinx registers it."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXTENSIONS / f"{name}.py")
        module = sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(module)
    return sys.modules[name]
