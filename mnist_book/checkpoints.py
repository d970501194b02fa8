"""Checkpoints and the cache of runs: what a training run leaves on disk, and how it is found again.

- A **checkpoint** (:func:`make_checkpoint`, :func:`load_checkpoint`, :func:`restore_model`) holds
  everything needed to resume a run exactly: weights, optimiser and scheduler state, epoch,
  recipe, history and the states of the random generators.
- The **cache** (:func:`cache_path`, :func:`cached`) keeps runs and results under
  ``<data cache>/checkpoints/runs/``, named by what produced them (:func:`cache_key`), so that a
  rebuild of the book loads them instead of training again. ``MNIST_BOOK_RETRAIN=1`` ignores it.

Every file is written with :func:`~mnist_book.files.atomic_save`: a run interrupted while saving
leaves the previous file (or none), never a truncated one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mnist_book.data import data_root
from mnist_book.files import atomic_save
from mnist_book.models import build_network
from mnist_book.settings import retrain

CHECKPOINT_FORMAT = "mnist_book.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the model or run it is loaded into."""


# --------------------------------------------------------------------------- random generators


def _generator(thing: Any) -> torch.Generator | None:
    # Batches, DataLoaders with a generator, and the augmentation keep theirs in .generator; a
    # DataLoader without one shuffles from torch's global generator, which is saved anyway.
    gen = getattr(thing, "generator", None)
    if gen is None:
        gen = getattr(getattr(thing, "sampler", None), "generator", None)
    return gen if isinstance(gen, torch.Generator) else None


def rng_state(*owners: Any) -> dict[str, Any]:
    """torch's global generators and the generators of ``owners`` (data, augmentation), in order."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "owners": [g.get_state() if (g := _generator(o)) is not None else None for o in owners],
    }


def restore_rng_state(state: dict[str, Any], *owners: Any) -> None:
    """Put back what :func:`rng_state` saved, into the same kinds of ``owners``."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for owner, saved in zip(owners, state["owners"]):
        gen = _generator(owner)
        if gen is not None and saved is not None:
            gen.set_state(saved)


# --------------------------------------------------------------------------- checkpoint files


def make_checkpoint(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    epoch: int,
    recipe: Any,
    history: Any,
    rng: dict[str, Any],
    mode: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """Everything needed to resume: weights, optimiser and scheduler state, epoch, generator states."""
    return {
        "format": CHECKPOINT_FORMAT,
        "architecture": type(model).__name__,
        "network_options": dict(recipe.network_options),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "recipe": asdict(recipe),
        "history": history.to_dict(),
        "rng": rng,
        "mode": mode,
        **extra,
    }


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint saved by this book, or raise :class:`CheckpointError` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"There is no checkpoint at {path}.")
    try:
        # weights_only: a checkpoint is data (tensors, numbers, strings); never run pickled code.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, pickled objects...
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint: it may be truncated (an interrupted copy "
            f"or download) or not a checkpoint at all. Delete it and train again. ({type(err).__name__}: "
            f"{first_line})"
        ) from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(
            f"{path} is a PyTorch file but not a checkpoint of this book (expected format "
            f"{CHECKPOINT_FORMAT!r}, found {found!r}). Save checkpoints with mnist_book.train."
        )
    return checkpoint


def restore_model(checkpoint: dict[str, Any], model: nn.Module | None = None) -> nn.Module:
    """Load the checkpoint's weights into ``model`` (by default a new one of the saved architecture)."""
    arch = checkpoint["architecture"]
    if model is None:
        try:
            model = build_network(arch, **checkpoint.get("network_options", {}))
        except (ValueError, TypeError) as err:
            raise CheckpointError(f"The checkpoint's network cannot be built: {err}") from err
    if type(model).__name__ != arch:
        raise CheckpointError(f"The checkpoint holds a {arch}, not a {type(model).__name__}: load it into a {arch}.")
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:  # same class name, different layers or sizes
        raise CheckpointError(
            f"The checkpoint's weights do not fit this {arch} (different layers or sizes):\n{err}"
        ) from err
    return model


# --------------------------------------------------------------------------- the cache


def cache_dir() -> Path:
    """Where runs and results are cached: ``<data cache>/checkpoints/runs``."""
    return data_root() / "checkpoints" / "runs"


def fingerprint(*parts: Any) -> str:
    """A short hash of ``parts``: numbers, strings, lists, dicts, dataclasses, tensors, functions and
    classes (by their source code), modules' weights (by their values)."""
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
            digest.update(inspect.getsource(x).encode())
        elif is_dataclass(x) and not isinstance(x, type):
            add(asdict(x))
        elif isinstance(x, (list, tuple)):
            for item in x:
                add(item)
        else:
            digest.update(json.dumps(x, sort_keys=True, default=str).encode())

    for part in parts:
        add(part)
    return digest.hexdigest()[:12]


def cache_key(name: str, mode: str, *parts: Any) -> str:
    """``<name>_<mode>_<fingerprint of parts>``: any change of what went into a run gives a new file."""
    return f"{name}_{mode}_{fingerprint(*parts)}"


def cache_path(key: str) -> Path:
    """The file of the cached run or result ``key``."""
    return cache_dir() / f"{key}.pt"


def cached(key: str, compute: Callable[[], dict[str, Any]], *, verbose: bool = True) -> dict[str, Any]:
    """The result stored under ``key``, or ``compute()``'s, stored first.

    Results are plain data (tensors, numbers, strings, lists, dicts), read back with
    ``weights_only=True``; an unreadable file is computed again, and so is everything when
    ``MNIST_BOOK_RETRAIN=1``.
    """
    path = cache_path(key)
    if path.is_file() and not retrain():
        try:
            result = torch.load(path, map_location="cpu", weights_only=True)
            if verbose:
                print(f"Loaded {path.name} from the data cache.")
            return result
        except Exception as err:  # a truncated or foreign file: recompute
            print(f"Ignoring unreadable {path.name} ({type(err).__name__}); computing it again.")
    result = compute()
    atomic_save(result, path)
    return result


def data_identity(split: Any) -> list[Any] | None:
    """What identifies a data set in a cache key: its size and sums over its first images and its labels."""
    if split is None:
        return None
    return [len(split), float(split.images[:256].double().sum()), int(split.labels.sum())]
