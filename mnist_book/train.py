"""Training (chapter 5): the loop, a recipe, a history, and checkpoints that resume exactly.

- :func:`train_one_epoch` is the loop the chapter explains line by line;
- :func:`fit` runs a :class:`Recipe` for its epochs, records a :class:`History`, validates, and
  saves a checkpoint (model, optimiser, scheduler, epoch, random-generator states) after each
  epoch, so that resuming gives the same weights as never stopping;
- :func:`load_reference_model` gives chapters 6 and 7 the model chapter 5 trains: from the data
  cache when it is there, trained (and saved) when it is not;
- ``python -m mnist_book.train --help``: the same from the command line.

Data may be a :class:`~mnist_book.data.Batches` (the in-memory fast path) or a ``DataLoader``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from mnist_book.data import Batches, DataError, Split, data_root, load_split, subset, train_val_split
from mnist_book.evaluate import Data, loss_and_accuracy, predict
from mnist_book.models import ARCHITECTURES, Net
from mnist_book.settings import get_device

OPTIMIZERS = ("sgd", "adadelta", "adam")
CHECKPOINT_FORMAT = "mnist_book.checkpoint/1"


# --------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser and its settings, batch size, epochs, learning-rate decay, seed.

    ``gamma``: multiply the learning rate by ``gamma`` after every epoch (``StepLR``); ``None``
    keeps it constant. ``momentum`` only applies to SGD.
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 10
    gamma: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}.")
        if not self.lr > 0:
            raise ValueError(f"The learning rate must be positive, not {self.lr}.")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), not {self.momentum}.")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"batch_size and epochs must be at least 1 (got {self.batch_size}, {self.epochs}).")
        if self.gamma is not None and not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1] or None, not {self.gamma}.")


#: The source article: SGD, learning rate 0.01, momentum 0.9, batch 64, 10 epochs.
ARTICLE_RECIPE = Recipe()
#: PyTorch's MNIST example (github.com/pytorch/examples, mnist/main.py): Adadelta, lr 1.0,
#: StepLR(step_size=1, gamma=0.7), batch 64, 14 epochs.
PYTORCH_EXAMPLE_RECIPE = Recipe(optimizer="adadelta", lr=1.0, momentum=0.0, batch_size=64, epochs=14, gamma=0.7)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The optimiser ``recipe`` names, over ``model``'s parameters."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    if recipe.optimizer == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=recipe.lr)
    return torch.optim.Adam(model.parameters(), lr=recipe.lr)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe) -> torch.optim.lr_scheduler.StepLR | None:
    """``StepLR`` decaying by ``recipe.gamma`` every epoch, or ``None`` for a constant rate."""
    if recipe.gamma is None:
        return None
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=recipe.gamma)


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """Per-epoch training and validation loss and accuracy (fractions), learning rate and seconds."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.train_loss)

    @property
    def epochs(self) -> list[int]:
        return list(range(1, len(self) + 1))

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> "History":
        return cls(**{k: list(v) for k, v in d.items()})


# --------------------------------------------------------------------------- the loop


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device | str,
    bar: tqdm | None = None,
) -> tuple[float, float]:
    """One pass over ``batches``; returns the mean training loss and accuracy (dropout on).

    ``bar``: a progress bar to advance by one per batch (``fit`` passes one for the whole run).
    """
    model.train()  # dropout on
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for step, (x, y) in enumerate(batches):
        x, y = x.to(device), y.to(device)  # (B, 1, 28, 28), (B,)
        optimizer.zero_grad()  # gradients accumulate: clear the previous batch's
        logits = model(x)  # forward pass, (B, 10)
        loss = F.cross_entropy(logits, y)  # mean over the batch
        loss.backward()  # d loss / d parameter, into every parameter's .grad
        optimizer.step()  # move every parameter against its gradient
        # Sums stay on the device: .item() each step would wait for the GPU every batch.
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        if bar is not None:
            bar.update()
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    if seen == 0:
        raise ValueError("train_one_epoch() got no batches: the training set is empty.")
    return (loss_sum / seen).item(), (correct.item() / seen)


# --------------------------------------------------------------------------- checkpoints


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the model or run it is loaded into."""


def _order_generator(data: Any) -> torch.Generator | None:
    # Batches and DataLoader both keep the generator that shuffles them in .generator; a
    # DataLoader without one shuffles from torch's global generator, which is saved anyway.
    gen = getattr(data, "generator", None)
    return gen if isinstance(gen, torch.Generator) else None


def _rng_state(data: Any) -> dict[str, Any]:
    gen = _order_generator(data)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data": gen.get_state() if gen is not None else None,
    }


def _restore_rng_state(state: dict[str, Any], data: Any) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen = _order_generator(data)
    if gen is not None and state["data"] is not None:
        gen.set_state(state["data"])


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        torch.save(checkpoint, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is an ordinary file
        os.replace(tmp, path)  # an interrupted save never leaves a truncated checkpoint behind
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def make_checkpoint(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    epoch: int,
    recipe: Recipe,
    history: History,
    data: Any = None,
    mode: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """Everything needed to resume: weights, optimiser and scheduler state, epoch, RNG states."""
    return {
        "format": CHECKPOINT_FORMAT,
        "architecture": type(model).__name__,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "recipe": asdict(recipe),
        "history": history.to_dict(),
        "rng": _rng_state(data),
        "mode": mode,
        **extra,
    }


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint saved by this module, or raise :class:`CheckpointError` saying why not."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"There is no checkpoint at {path}.")
    try:
        # weights_only: a checkpoint is data (tensors, numbers, strings); never run pickled code.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, pickled objects...
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint: it may be truncated (an interrupted copy "
            f"or download) or not a checkpoint at all. Delete it and train again. ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
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
        if arch not in ARCHITECTURES:
            raise CheckpointError(f"The checkpoint holds an unknown architecture {arch!r}.")
        model = ARCHITECTURES[arch]()
    if type(model).__name__ != arch:
        raise CheckpointError(
            f"The checkpoint holds a {arch}, not a {type(model).__name__}: load it into a {arch}."
        )
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:  # same class name, different layers or sizes
        raise CheckpointError(
            f"The checkpoint's weights do not fit this {arch} (different layers or sizes):\n{err}"
        ) from err
    return model


# --------------------------------------------------------------------------- fitting


def fit(
    model: nn.Module,
    train_data: Data,
    recipe: Recipe,
    *,
    val_data: Data | None = None,
    device: torch.device | str | None = None,
    checkpoint_path: str | Path | None = None,
    resume_from: str | Path | dict[str, Any] | None = None,
    stop_after: int | None = None,
    mode: str = "",
    progress: bool = True,
    desc: str = "training",
    extra: dict[str, Any] | None = None,
) -> History:
    """Train ``model`` in place with ``recipe`` on ``train_data`` (a ``Batches`` or a ``DataLoader``).

    Seeds torch's generator with ``recipe.seed`` (dropout masks; a ``DataLoader``'s order) unless
    resuming from a checkpoint, whose generator states are restored instead. Saves a checkpoint
    to ``checkpoint_path`` after every epoch; ``stop_after`` ends early (as an interruption would).
    """
    device = torch.device(device) if device is not None else get_device()
    if isinstance(train_data, Split):
        raise TypeError("fit() needs batches: wrap the split as Batches(split, recipe.batch_size, seed=...).")
    model.to(device)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe)
    history, start = History(), 0
    if resume_from is not None:
        ckpt = resume_from if isinstance(resume_from, dict) else load_checkpoint(resume_from)
        if ckpt["recipe"] != asdict(recipe):
            raise CheckpointError(
                f"The checkpoint was trained with {ckpt['recipe']}, not with {asdict(recipe)}: "
                "resume it with the recipe it was started with."
            )
        restore_model(ckpt, model)
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        _restore_rng_state(ckpt["rng"], train_data)
        history, start = History.from_dict(ckpt["history"]), ckpt["epoch"]
    else:
        torch.manual_seed(recipe.seed)
    last = recipe.epochs if stop_after is None else min(stop_after, recipe.epochs)
    # One bar for the whole run, counting batches: it reads well in Jupyter and in the HTML book.
    per_epoch = len(train_data) if hasattr(train_data, "__len__") else None
    total = per_epoch * (last - start) if per_epoch is not None else None
    bar = tqdm(total=total, desc=desc, unit="batch", disable=not progress, mininterval=0.5)
    for epoch in range(start + 1, last + 1):
        tic = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        bar.set_description(f"{desc} (epoch {epoch}/{recipe.epochs})")
        train_loss, train_acc = train_one_epoch(model, train_data, optimizer, device=device, bar=bar)
        if scheduler is not None:
            scheduler.step()
        val_loss, val_acc = (
            loss_and_accuracy(model, val_data, device=device) if val_data is not None else (float("nan"),) * 2
        )
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)
        history.lr.append(lr)
        history.seconds.append(time.perf_counter() - tic)
        if val_data is not None:
            bar.set_postfix(loss=f"{train_loss:.4f}", val_acc=f"{val_acc:.4f}")
        else:
            bar.set_postfix(loss=f"{train_loss:.4f}")
        if checkpoint_path is not None:
            save_checkpoint(
                checkpoint_path,
                make_checkpoint(
                    model=model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    epoch=epoch,
                    recipe=recipe,
                    history=history,
                    data=train_data,
                    mode=mode,
                    **(extra or {}),
                ),
            )
    bar.close()
    return history


# --------------------------------------------------------------------------- chapter 5's model


@dataclass(frozen=True)
class ReferencePlan:
    """What chapter 5 trains and chapters 6 and 7 load: recipe, data sizes, checkpoint name."""

    mode: str  # "fast" or "full"
    recipe: Recipe
    train_size: int | None  # None: every training image not held out
    val_size: int  # validation images used (out of the 5,000 held out)

    @property
    def path(self) -> Path:
        # Fast and full checkpoints get different names (and the mode is checked on loading).
        return data_root() / "checkpoints" / f"chapter5_net_{self.mode}.pt"


#: Training images held out for validation (the same 5,000 in every chapter: seed 0).
HELD_OUT = 5000


def reference_plan(fast: bool) -> ReferencePlan:
    """The article's recipe on 55,000 images (full), or one epoch on 5,000 (fast)."""
    if fast:
        return ReferencePlan("fast", replace(ARTICLE_RECIPE, epochs=1), train_size=5000, val_size=1000)
    return ReferencePlan("full", ARTICLE_RECIPE, train_size=None, val_size=HELD_OUT)


def reference_data(plan: ReferencePlan, device: torch.device | str = "cpu") -> tuple[Split, Split]:
    """The training and validation splits of ``plan``: MNIST's training set minus 5,000 held out."""
    train, val = train_val_split(load_split("mnist", train=True, device=device), HELD_OUT, seed=0)
    if plan.train_size is not None:
        train = subset(train, plan.train_size, seed=0)
    return train, subset(val, plan.val_size, seed=0)


def train_reference_model(
    fast: bool,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
    resume_from: dict[str, Any] | None = None,
    stop_after: int | None = None,
) -> tuple[Net, dict[str, Any]]:
    """Train chapter 5's model with :func:`reference_plan` and save it to the data cache.

    ``resume_from``: an unfinished checkpoint of the same plan to continue; ``stop_after``: as in :func:`fit`.
    """
    device = torch.device(device) if device is not None else get_device()
    plan = reference_plan(fast)
    train, val = reference_data(plan, device)
    torch.manual_seed(plan.recipe.seed)
    model = Net().to(device)
    batches = Batches(train, plan.recipe.batch_size, seed=plan.recipe.seed)
    fit(
        model, batches, plan.recipe, val_data=val, device=device, checkpoint_path=plan.path, mode=plan.mode,
        resume_from=resume_from, stop_after=stop_after, progress=progress,
        extra={"train_size": len(train), "val_size": len(val)},
    )  # fmt: skip
    return model, load_checkpoint(plan.path)


def load_reference_model(
    fast: bool, *, device: torch.device | str | None = None, progress: bool = True
) -> tuple[Net, dict[str, Any]]:
    """Chapter 5's model from the data cache; trained (or an interrupted run finished) when it is not there."""
    device = torch.device(device) if device is not None else get_device()
    plan = reference_plan(fast)
    try:
        ckpt = load_checkpoint(plan.path)
    except CheckpointError as err:
        print(f"{err}\nTraining chapter 5's model now ({plan.mode} mode).")
        return train_reference_model(fast, device=device, progress=progress)
    if ckpt.get("mode") != plan.mode:
        print(f"Not using {plan.path.name}: it was trained in {ckpt.get('mode')!r} mode, this is {plan.mode!r} mode.")
    elif ckpt["recipe"] != asdict(plan.recipe):
        print(f"Not using {plan.path.name}: it was trained with another recipe, {ckpt['recipe']}.")
    elif ckpt["epoch"] < plan.recipe.epochs:
        print(f"{plan.path.name} stopped after epoch {ckpt['epoch']} of {plan.recipe.epochs}: finishing it.")
        return train_reference_model(fast, device=device, progress=progress, resume_from=ckpt)
    else:
        model = restore_model(ckpt, Net()).to(device)
        epochs = f"{ckpt['epoch']} epoch" + ("s" if ckpt["epoch"] != 1 else "")
        print(f"Loaded chapter 5's model from {plan.path.name} in the data cache ({plan.mode} mode, {epochs}).")
        return model, ckpt
    print(f"Training chapter 5's model now ({plan.mode} mode).")
    return train_reference_model(fast, device=device, progress=progress)


# --------------------------------------------------------------------------- command line


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mnist_book.train",
        description="Train the book's MNIST network, save a checkpoint, and print the test accuracy.",
    )
    r = ARTICLE_RECIPE
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=r.optimizer, help="optimiser (default: %(default)s)")
    p.add_argument("--lr", type=_positive(float), default=r.lr, help="learning rate (default: %(default)s)")
    p.add_argument("--momentum", type=_fraction, default=r.momentum, help="SGD momentum (default: %(default)s)")
    p.add_argument(
        "--gamma", type=_positive(float), default=None,
        help="StepLR: multiply the learning rate by this after every epoch (default: constant)",
    )  # fmt: skip
    p.add_argument("--epochs", type=_positive(int), default=r.epochs, help="passes over the data (default: %(default)s)")
    p.add_argument(
        "--batch-size", type=_positive(int), default=r.batch_size, help="images per step (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="seeds weights, dropout, batch order (default: %(default)s)")
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto",
        help="auto (the default): CUDA if available, else the CPU",
    )  # fmt: skip
    p.add_argument(
        "--data", choices=["batches", "loader"], default="batches",
        help="in-memory Batches (fast, the default) or a torchvision DataLoader",
    )  # fmt: skip
    p.add_argument(
        "--subset", type=_positive(int), default=None, help="train on this many random images (default: all 60,000)"
    )
    p.add_argument(
        "--fast", action="store_true", help="a quick check: one epoch on 2,000 images (or --subset), tested on 1,000"
    )
    p.add_argument(
        "--output", type=Path, default=None,
        help="checkpoint file (default: <data cache>/checkpoints/cli_net.pt)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> float:
    """Command-line entry point; returns the test accuracy (a fraction)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.gamma is not None and args.gamma > 1:
        parser.error(f"argument --gamma: must be at most 1, got {args.gamma}")
    try:
        device = get_device(args.device)
    except RuntimeError as err:
        parser.error(f"argument --device: {err}")
    output = args.output if args.output is not None else data_root() / "checkpoints" / "cli_net.pt"
    if output.is_dir():
        parser.error(f"argument --output: {output} is a folder; give a file name such as {output / 'net.pt'}")
    epochs = 1 if args.fast else args.epochs
    train_size = args.subset if args.subset is not None else (2000 if args.fast else None)
    recipe = Recipe(args.optimizer, args.lr, args.momentum, args.batch_size, epochs, args.gamma, args.seed)

    try:
        train = load_split("mnist", train=True, device=device)
        test = load_split("mnist", train=False, device=device)
    except DataError as err:
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    if train_size is not None:
        train = subset(train, train_size, seed=args.seed)
    if args.fast:
        test = subset(test, 1000, seed=0)
    if args.data == "batches":
        train_data: Data = Batches(train, recipe.batch_size, seed=recipe.seed)
    else:
        train_data = _loader(train_size, recipe, args.seed)
    torch.manual_seed(recipe.seed)
    model = Net().to(device)
    mode = "fast" if args.fast else "full" if train_size is None else f"subset-{train_size}"
    print(f"Training {len(train):,} images, {recipe} on {device}.")
    fit(
        model, train_data, recipe, device=device, checkpoint_path=output, mode=mode,
        progress=not args.no_progress, extra={"train_size": len(train)},
    )  # fmt: skip
    result = predict(model, test, device=device)
    ckpt = load_checkpoint(output)
    ckpt["test_accuracy"] = result.accuracy
    save_checkpoint(output, ckpt)
    print(f"Saved checkpoint to {output}")
    print(f"Test accuracy: {100 * result.accuracy:.2f}% ({result.correct:,}/{len(result.labels):,})")
    return result.accuracy


def _loader(train_size: int | None, recipe: Recipe, seed: int) -> torch.utils.data.DataLoader:
    """The torchvision path: PIL images through ToTensor + Normalize, shuffled by a seeded generator."""
    from torchvision import transforms

    from mnist_book.data import MNIST_MEAN, MNIST_STD, mnist

    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    dataset = mnist(True, transform=to_tensor)
    if train_size is not None:
        # The same images subset() picks from the in-memory split.
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
        dataset = torch.utils.data.Subset(dataset, order[:train_size].tolist())
    return torch.utils.data.DataLoader(
        dataset, batch_size=recipe.batch_size, shuffle=True, generator=torch.Generator().manual_seed(recipe.seed)
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
