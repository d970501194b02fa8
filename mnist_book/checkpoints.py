"""Checkpoints: what a training run leaves on disk, so that it can be resumed exactly.

A checkpoint (:func:`make_checkpoint`, :func:`load_checkpoint`, :func:`restore_model`) holds
weights, optimiser and scheduler state, epoch, recipe, history and the state of every random
generator the run draws from (:func:`rng_state`: torch's, the data order's, the augmentation's).
:func:`mnist_book.train.fit` writes one after every epoch with
:func:`~mnist_book.files.atomic_save`: a run interrupted while saving leaves the previous file (or
none), never a truncated one. The cache of finished runs is :mod:`mnist_book.runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mnist_book.models import build_network

#: Version 2 saves the data's and the augmentation's generators by their own state_dict (version 1
#: saved a DataLoader's generator instead of its sampler's, so a resume replayed epoch 1's order).
CHECKPOINT_FORMAT = "mnist_book.checkpoint/2"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the model or run it is loaded into."""


# --------------------------------------------------------------------------- random generators


def _data_state(source: Any) -> dict[str, Any]:
    """What decides the order of a batch source's next passes: its own ``state_dict()`` (``Batches``),
    or a ``DataLoader``'s sampler's (``ShuffleLikeBatches``) and the loader's own generator."""
    if hasattr(source, "state_dict"):
        return {"source": source.state_dict()}
    sampler, generator = getattr(source, "sampler", None), getattr(source, "generator", None)
    return {
        "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else None,
        "generator": generator.get_state() if isinstance(generator, torch.Generator) else None,
    }


def _restore_data_state(source: Any, state: dict[str, Any]) -> None:
    if "source" in state:
        source.load_state_dict(state["source"])
        return
    if state["sampler"] is not None:
        source.sampler.load_state_dict(state["sampler"])
    if state["generator"] is not None:
        source.generator.set_state(state["generator"])


def rng_state(data: Any, augment: Any = None) -> dict[str, Any]:
    """Every random generator a run draws from: torch's global ones (initial weights, dropout), the
    data's order (``Batches``, or a ``DataLoader``'s sampler and generator) and the augmentation's."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data": _data_state(data),
        "augment": augment.state_dict() if augment is not None else None,
    }


def restore_rng_state(state: dict[str, Any], data: Any, augment: Any = None) -> None:
    """Put back what :func:`rng_state` saved, into the same kinds of data source and augmentation."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    _restore_data_state(data, state["data"])
    if augment is not None and state["augment"] is not None:
        augment.load_state_dict(state["augment"])


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
        "recipe": recipe.to_dict(),
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
        if isinstance(found, str) and found.startswith(CHECKPOINT_FORMAT.split("/")[0] + "/"):
            raise CheckpointError(
                f"{path} was saved by another version of this book ({found}; this one reads "
                f"{CHECKPOINT_FORMAT}), whose random state cannot be restored exactly: train it again."
            )
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
