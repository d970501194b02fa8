"""Writing files so that an interruption never leaves a half-written one behind.

Everything the book stores (dataset files copied into the cache, extracted dataset files,
checkpoints, cached results) goes through :func:`atomic_write`: the content is written to a
temporary name in the target's folder and renamed into place only when it is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    If the block raises, the temporary file is removed and ``path`` is left as it was. The folder
    is created if needed. A block that decides not to keep its file can delete the temporary path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary files
            os.replace(tmp, path)  # atomic on the same file system
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_write`: all of it, or nothing."""
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)
