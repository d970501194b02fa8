"""Training: one recipe, one loop, for every chapter, the appendix and the benchmark.

- :class:`Recipe` says everything that decides a run: the network (by name, with its options),
  the optimiser and its settings, the learning-rate schedule, label smoothing, weight decay,
  augmentation, batch size, epochs and seed. The book's four recipes are constants:
  :data:`ARTICLE_RECIPE`, :data:`PYTORCH_EXAMPLE_RECIPE`, :data:`TUNED_RECIPE`, :data:`FAST_RECIPE`.
- :func:`train_one_epoch` is the loop chapter 5 explains line by line; what differs between
  recipes is data in the recipe, not code in a second loop.
- :func:`fit` runs a recipe for its epochs: it builds the network, optimiser and schedule,
  validates after every epoch, records a :class:`History` and saves a checkpoint
  (:mod:`mnist_book.checkpoints`) that resumes exactly.
- :class:`Engine` says how a model runs on its device (memory layout, bfloat16, ``torch.compile``).

The cache of runs and the book's named runs are in :mod:`mnist_book.runs`;
``python -m mnist_book.train --help`` (:mod:`mnist_book.train_cli`) trains from the command line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from mnist_book import checkpoints
from mnist_book.checkpoints import CheckpointError
from mnist_book.data import Batches, Split
from mnist_book.devices import PLAIN, Engine, get_device, sync
from mnist_book.evaluate import loss_and_accuracy
from mnist_book.files import atomic_save
from mnist_book.models import NETWORKS, Options, build_network
from mnist_book.perturb import Augment, background

OPTIMIZERS = ("sgd", "adadelta", "adam")
#: ``step`` moves the rate after every epoch; ``onecycle`` and ``cosine`` after every batch.
SCHEDULES = ("constant", "step", "onecycle", "cosine")
PER_BATCH_SCHEDULES = ("onecycle", "cosine")


# --------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class Recipe:
    """How to train: the network, the optimiser, the schedule, the regularisers, the data, the seed.

    ``lr`` is the constant rate, the peak of one-cycle (reached after ``warmup``, a fraction of all
    steps), or the start of ``step`` (times ``gamma`` after every epoch) and ``cosine``.
    ``momentum`` and ``nesterov`` apply to SGD. ``augment``: every training image moved by up to
    ``max_shift`` pixels and turned by up to ``max_degrees``, afresh in every epoch.
    ``drop_last``: skip a last, incomplete batch (batch norm cannot normalise a batch of one).
    """

    network: str = "Net"
    network_options: Mapping[str, Any] = Options()  # read-only: see Options
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    gamma: float = 0.7
    warmup: float = 0.25
    label_smoothing: float = 0.0
    augment: bool = False
    max_shift: int = 2
    max_degrees: float = 10.0
    batch_size: int = 64
    drop_last: bool = False
    epochs: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "network_options", Options(self.network_options))
        problems = []
        if self.network not in NETWORKS:
            problems.append(f"network must be one of {', '.join(NETWORKS)}, not {self.network!r}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if not self.lr > 0:
            problems.append(f"the learning rate must be positive, not {self.lr}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), not {self.momentum}")
        if not 0 < self.gamma <= 1:
            problems.append(f"gamma must be in (0, 1], not {self.gamma}")
        if not 0 < self.warmup < 1:
            problems.append(f"warmup is a fraction of the steps in (0, 1), not {self.warmup}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must not be negative, not {self.weight_decay}")
        if self.batch_size < 1 or self.epochs < 1:
            problems.append(f"batch_size and epochs must be at least 1 (got {self.batch_size}, {self.epochs})")
        if problems:
            raise ValueError("Not a valid recipe: " + "; ".join(problems) + ".")

    def changed(self, **changes: Any) -> Recipe:
        """A copy with ``changes``. ``network_options`` are merged into the current ones, unless the
        network itself changes: a new network starts from its own defaults."""
        if "network_options" in changes:
            same_network = changes.get("network", self.network) == self.network
            base = self.network_options if same_network else {}
            changes["network_options"] = {**base, **changes["network_options"]}
        elif changes.get("network", self.network) != self.network:
            changes["network_options"] = {}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data (the network options as a dict): for checkpoints and JSON."""
        return {**asdict(self), "network_options": dict(self.network_options)}

    def __str__(self) -> str:
        """The settings that differ from a plain recipe, e.g. ``Recipe(lr=0.05, schedule='onecycle')``."""
        default = Recipe()
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return f"Recipe({', '.join(shown)})"


#: The source article: ``Net``, SGD with learning rate 0.01 and momentum 0.9, batch 64, 10 epochs.
ARTICLE_RECIPE = Recipe()
#: PyTorch's MNIST example (github.com/pytorch/examples, mnist/main.py): Adadelta, lr 1.0,
#: StepLR(step_size=1, gamma=0.7), batch 64, 14 epochs.
PYTORCH_EXAMPLE_RECIPE = Recipe(optimizer="adadelta", lr=1.0, momentum=0.0, schedule="step", gamma=0.7, epochs=14)
#: Chapter 7.1's recipe: every change of its ablation, on the network built for the budget
#: (``mnist_book.finetune.BUDGET_NETWORK``: FastNet with 32, 64 and 128 channels, batch norm, no
#: dropout), SGD with Nesterov momentum, one-cycle to 0.2, augmentation, label smoothing 0.1, weight
#: decay 5e-4, batches of 128, 16 epochs.
TUNED_RECIPE = Recipe(
    network="FastNet",
    network_options={"widths": (32, 64, 128)},
    lr=0.2,
    nesterov=True,
    weight_decay=5e-4,
    schedule="onecycle",
    label_smoothing=0.1,
    augment=True,
    batch_size=128,
    drop_last=True,
    epochs=16,
)
#: The appendix's fast recipe: ``FastNet``, one epoch, batch 128, SGD with Nesterov momentum,
#: one-cycle to 0.2, label smoothing 0.1, weight decay 5e-4.
FAST_RECIPE = Recipe(
    network="FastNet",
    lr=0.2,
    nesterov=True,
    weight_decay=5e-4,
    schedule="onecycle",
    label_smoothing=0.1,
    batch_size=128,
    drop_last=True,
    epochs=1,
)
#: The named recipes, as the command line knows them.
RECIPES: dict[str, Recipe] = {
    "article": ARTICLE_RECIPE,
    "pytorch-example": PYTORCH_EXAMPLE_RECIPE,
    "tuned": TUNED_RECIPE,
    "fast": FAST_RECIPE,
}


def build_model(recipe: Recipe) -> nn.Module:
    """A new network as ``recipe`` names it (its weights drawn from torch's generator)."""
    return build_network(recipe.network, **recipe.network_options)


def make_optimizer(params: Iterable[Any], recipe: Recipe) -> torch.optim.Optimizer:
    """The optimiser ``recipe`` names, over ``params`` (parameters, or parameter groups with their own rates)."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov, weight_decay=recipe.weight_decay
        )
    if recipe.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The recipe's learning-rate schedule, or ``None`` for a constant rate.

    ``step``: ``StepLR``, times ``gamma`` after every epoch. ``onecycle`` (Smith 2018): warm up from
    lr/25 to the peak over ``warmup`` of all steps, then anneal (cosine) to lr/25e4, while momentum
    moves the other way between 0.95 and 0.85. ``cosine``: from lr down to 0 over all steps.
    """
    total = recipe.epochs * steps_per_epoch
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=recipe.gamma)
    if recipe.schedule == "onecycle":
        if recipe.warmup * total < 2:  # OneCycleLR needs at least a step up and a step down
            raise ValueError(
                f"A one-cycle schedule needs at least {int(2 / recipe.warmup) + 1} steps in all, got {total}: "
                f"train on more images or for more epochs (a batch is {recipe.batch_size} images)."
            )
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=total, pct_start=recipe.warmup
        )
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return None


def learning_rates(recipe: Recipe, steps_per_epoch: int) -> list[float]:
    """The learning rate of every step of a run of ``recipe`` (for plotting a schedule)."""
    probe = nn.Linear(1, 1)
    optimizer = make_optimizer(probe.parameters(), recipe)
    scheduler = make_scheduler(optimizer, recipe, steps_per_epoch)
    rates = []
    for _ in range(recipe.epochs):
        for _ in range(steps_per_epoch):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()  # no gradients: nothing moves, but the scheduler wants a step first
            if scheduler is not None and recipe.schedule in PER_BATCH_SCHEDULES:
                scheduler.step()
        if scheduler is not None and recipe.schedule not in PER_BATCH_SCHEDULES:
            scheduler.step()
    return rates


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """Per epoch: training and validation loss and accuracy (fractions), the learning rate at its
    start, its seconds (validation included) and its training seconds alone."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.train_loss)

    @property
    def epochs(self) -> list[int]:
        return list(range(1, len(self) + 1))

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> History:
        return cls(**{k: list(v) for k, v in d.items()})


# --------------------------------------------------------------------------- the loop


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device | str,
    recipe: Recipe = ARTICLE_RECIPE,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    engine: Engine = PLAIN,
    bar: tqdm | None = None,
) -> tuple[float, float]:
    """One pass over ``batches``; returns the mean training loss and accuracy (dropout on).

    ``recipe`` gives the label smoothing and says whether ``scheduler`` moves after every batch;
    ``augment`` changes each batch before the model sees it; ``bar`` advances by one per batch.
    """
    device = torch.device(device)
    model.train()  # dropout on; batch norm normalises with the batch's own statistics
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)  # (B, 1, 28, 28), (B,)
        if augment is not None:
            x = augment(x)  # a freshly moved and turned copy of every image
        if engine.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad()  # gradients accumulate: clear the previous batch's
        with engine.autocast_context(device):
            logits = model(x)  # forward pass, (B, 10)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)  # mean over the batch
        loss.backward()  # d loss / d parameter, into every parameter's .grad
        optimizer.step()  # move every parameter against its gradient
        if scheduler is not None and recipe.schedule in PER_BATCH_SCHEDULES:
            scheduler.step()  # one-cycle and cosine move the rate after every batch
        # The sums stay on the device: reading a number back (.item()) would make it wait every batch.
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        if bar is not None:
            bar.update()
    if seen == 0:
        raise ValueError("train_one_epoch() got no batches: the training set is empty.")
    return (loss_sum / seen).item(), correct.item() / seen


# --------------------------------------------------------------------------- fitting


#: Anything that yields (images, labels) batches: the in-memory Batches, or a DataLoader.
BatchSource = Iterable[tuple[torch.Tensor, torch.Tensor]]


class Trained(NamedTuple):
    """What :func:`fit` returns: the trained model (on its device) and its history."""

    model: nn.Module
    history: History


def fit(
    recipe: Recipe,
    train: Split | BatchSource,
    val: Split | None = None,
    *,
    model: nn.Module | None = None,
    param_groups: list[dict[str, Any]] | None = None,
    device: torch.device | str | None = None,
    engine: Engine = PLAIN,
    checkpoint_path: str | Path | None = None,
    resume_from: str | Path | dict[str, Any] | None = None,
    stop_after: int | None = None,
    stop_when: Callable[[History], bool] | None = None,
    around_training: Callable[[], contextlib.AbstractContextManager] | None = None,
    mode: str = "",
    progress: bool = True,
    desc: str = "training",
    extra: dict[str, Any] | None = None,
) -> Trained:
    """Train with ``recipe`` on ``train`` for its epochs; validate on ``val`` after each one.

    ``train``: a :class:`~mnist_book.data.Split` (cut into the recipe's shuffled batches) or
    anything that yields ``(images, labels)`` batches (``Batches``, a ``DataLoader``).

    First seeds torch's generator with ``recipe.seed``, then builds the recipe's network unless
    ``model`` is given, so the initial weights and the dropout masks follow from the seed. When
    resuming (``resume_from``, a checkpoint or its path) every generator's state is restored
    instead. ``param_groups``: parameter groups for the optimiser (default: all parameters).
    Saves a checkpoint to ``checkpoint_path`` after every epoch. ``stop_after`` ends after that
    epoch (as an interruption would), ``stop_when(history)`` once it returns true.
    ``around_training()``: a context entered around each epoch's training (e.g. a memory meter).
    """
    device = torch.device(device) if device is not None else get_device()
    split = train if isinstance(train, Split) else getattr(train, "split", None)
    if isinstance(train, Split):
        drop_last = recipe.drop_last and len(train) >= recipe.batch_size
        train = Batches(train.to(device), recipe.batch_size, seed=recipe.seed, drop_last=drop_last)
    if len(train) == 0:
        raise ValueError("fit() got an empty training set.")
    if resume_from is None:
        torch.manual_seed(recipe.seed)
    if model is None:
        model = build_model(recipe)
    model.to(device)
    if engine.channels_last:
        model.to(memory_format=torch.channels_last)
    # Train through the compiled module; evaluate with the plain one (it shares the weights, and eval
    # mode would make compile build a second graph).
    step_model = torch.compile(model) if engine.compile else model
    optimizer = make_optimizer(param_groups if param_groups is not None else model.parameters(), recipe)
    scheduler = make_scheduler(optimizer, recipe, len(train))
    augment = None
    if recipe.augment:
        if split is None:
            raise ValueError("Augmentation needs the training data in memory (a Split or Batches), not a DataLoader.")
        augment = Augment(recipe.max_shift, recipe.max_degrees, background(split.images), recipe.seed)
    history, start = History(), 0
    if resume_from is not None:
        ckpt = resume_from if isinstance(resume_from, dict) else checkpoints.load_checkpoint(resume_from)
        if ckpt["recipe"] != recipe.to_dict():
            raise CheckpointError(
                f"The checkpoint was trained with {ckpt['recipe']}, not with {recipe.to_dict()}: "
                "resume it with the recipe it was started with."
            )
        checkpoints.restore_model(ckpt, model)
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        checkpoints.restore_rng_state(ckpt["rng"], train, augment)
        history, start = History.from_dict(ckpt["history"]), ckpt["epoch"]
    last = recipe.epochs if stop_after is None else min(stop_after, recipe.epochs)
    # One bar for the whole run, counting batches: it reads well in Jupyter and in the HTML book.
    bar = tqdm(total=len(train) * (last - start), desc=desc, unit="batch", disable=not progress, mininterval=0.5)
    for epoch in range(start + 1, last + 1):
        tic = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        bar.set_description(f"{desc} (epoch {epoch}/{recipe.epochs})")
        with around_training() if around_training is not None else contextlib.nullcontext():
            sync(device)
            started = time.perf_counter()
            train_loss, train_acc = train_one_epoch(
                step_model,
                train,
                optimizer,
                device=device,
                recipe=recipe,
                scheduler=scheduler,
                augment=augment,
                engine=engine,
                bar=bar,
            )
            sync(device)
            train_seconds = time.perf_counter() - started
        if scheduler is not None and recipe.schedule not in PER_BATCH_SCHEDULES:
            scheduler.step()  # StepLR: once per epoch
        val_loss, val_acc = loss_and_accuracy(model, val, device=device) if val is not None else (float("nan"),) * 2
        for name, value in zip(
            ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "train_seconds"),
            (train_loss, train_acc, val_loss, val_acc, lr, time.perf_counter() - tic, train_seconds),
        ):
            getattr(history, name).append(value)
        bar.set_postfix(loss=f"{train_loss:.4f}", **({"val_acc": f"{val_acc:.4f}"} if val is not None else {}))
        if checkpoint_path is not None:
            checkpoint = checkpoints.make_checkpoint(
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                epoch=epoch,
                recipe=recipe,
                history=history,
                rng=checkpoints.rng_state(train, augment),
                mode=mode,
                **(extra or {}),
            )
            atomic_save(checkpoint, checkpoint_path)
        if stop_when is not None and stop_when(history):
            break
    bar.close()
    return Trained(model, history)


if __name__ == "__main__":  # python -m mnist_book.train: the command line lives in train_cli
    from mnist_book.train_cli import cli

    cli()
