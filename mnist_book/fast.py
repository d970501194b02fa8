"""The book's fast recipe (appendix *Speed*): a small network, the data in memory, a one-cycle schedule.

The book's ``Net`` (chapter 4) spends about 12 million multiply-adds on every image, most of them in ``conv2``
at full 24x24 resolution. ``FastNet`` does the same job with about 1.9 million: it halves the
resolution in its first layer and pools after every convolution. With batch normalisation,
a one-cycle learning rate, label smoothing and batches of 128 it passes 99% test accuracy after
a single epoch (``FAST_RECIPE``). How it runs is a separate question (:class:`Engine`): channels-last
memory on every device; on CUDA also bfloat16 autocast and, optionally, ``torch.compile``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class FastRecipe:
    """How the fast recipe trains: a fixed schedule of ``epochs`` with a one-cycle learning rate.

    ``lr`` is the peak rate, reached after ``warmup`` (a fraction) of all steps; SGD with Nesterov
    momentum; ``widths`` are ``FastNet``'s three convolutions' output channels.
    """

    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup: float = 0.25
    widths: tuple[int, int, int] = (16, 32, 64)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be at least 1 (got {self.epochs}, {self.batch_size}).")
        if not self.lr > 0:
            raise ValueError(f"The learning rate must be positive, not {self.lr}.")
        if not 0 <= self.momentum < 1 or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"momentum and label_smoothing must be in [0, 1) (got {self.momentum}, {self.label_smoothing}).")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must not be negative, not {self.weight_decay}.")
        if not 0 < self.warmup < 1:
            raise ValueError(f"warmup is a fraction of the steps in (0, 1), not {self.warmup}.")
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"widths must be three positive channel counts, not {self.widths}.")


#: One epoch of FastNet, batch 128, SGD + Nesterov, one-cycle to lr 0.2, label smoothing 0.1.
FAST_RECIPE = FastRecipe()


class FastNet(nn.Module):
    """conv 5x5 stride 2 -> BN -> ReLU, then twice conv 3x3 -> max-pool 2 -> BN -> ReLU, then fc to 10.

    Returns logits. Pooling comes before batch norm and ReLU so that both run on a quarter of the
    values (ReLU commutes with max-pooling; batch norm learns its statistics after the pool).
    """

    def __init__(self, widths: tuple[int, int, int] = FAST_RECIPE.widths) -> None:
        super().__init__()
        c1, c2, c3 = widths
        # A strided first convolution instead of conv + pool: a quarter of the work at full resolution.
        self.conv1 = nn.Conv2d(1, c1, 5, stride=2, padding=2, bias=False)  # BN's shift makes a bias redundant
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(c3)
        self.fc = nn.Linear(c3 * 3 * 3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 16, 14, 14)
        x = F.relu(self.bn2(F.max_pool2d(self.conv2(x), 2)))  # (B, 32, 7, 7)
        x = F.relu(self.bn3(F.max_pool2d(self.conv3(x), 2)))  # (B, 64, 3, 3): the pool drops row/column 7
        return self.fc(torch.flatten(x, 1))  # (B, 576) -> (B, 10) logits


def multiply_adds(model: nn.Module, image_size: int = 28) -> int:
    """Multiply-adds of one forward pass on one image, counted over convolutions and linear layers."""
    total = 0
    hooks = []

    def count(mod: nn.Module, inputs, output) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            per_output = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            total += output[0].numel() * per_output
        elif isinstance(mod, nn.Linear):
            total += mod.in_features * mod.out_features

    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            hooks.append(mod.register_forward_hook(count))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 1, image_size, image_size, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total


# --------------------------------------------------------------------------- how it runs


@dataclass(frozen=True)
class Engine:
    """How a model runs on ``device``: memory layout, autocast precision, ``torch.compile``."""

    device: torch.device
    channels_last: bool = True
    autocast: torch.dtype | None = None
    compile: bool = False

    def autocast_context(self) -> contextlib.AbstractContextManager:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def describe(self) -> dict[str, object]:
        return {
            "device": str(self.device),
            "channels_last": self.channels_last,
            "autocast": str(self.autocast).removeprefix("torch.") if self.autocast is not None else None,
            "compile": self.compile,
        }


def engine_for(device: torch.device | str, *, compile: bool | None = None) -> Engine:
    """The book's choice per device: channels-last everywhere; bf16 autocast and compile on CUDA.

    The CPU stays in float32 (not every CPU has fast bfloat16); ``compile=None`` means "on CUDA
    only" because on a CPU the compilation takes longer than it saves in one epoch.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    return Engine(
        device=device,
        channels_last=True,
        autocast=torch.bfloat16 if cuda else None,
        compile=cuda if compile is None else compile,
    )


def prepare(model: nn.Module, engine: Engine) -> tuple[nn.Module, nn.Module]:
    """Move ``model`` to the engine's device and layout; return it and the module to train with.

    The second is ``torch.compile(model)`` when the engine compiles (it shares the parameters),
    else ``model`` itself. Evaluate with the first: eval mode would make compile build a second graph.
    """
    model = model.to(engine.device)
    if engine.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, torch.compile(model) if engine.compile else model


def make_fast_optimizer(model: nn.Module, recipe: FastRecipe) -> torch.optim.SGD:
    """SGD with Nesterov momentum and weight decay, at the recipe's peak rate (the schedule scales it)."""
    return torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=True, weight_decay=recipe.weight_decay
    )


def make_one_cycle(
    optimizer: torch.optim.Optimizer, recipe: FastRecipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.OneCycleLR:
    """Warm up to ``recipe.lr`` over the first ``recipe.warmup`` of all steps, then anneal to almost 0."""
    total = recipe.epochs * steps_per_epoch
    if recipe.warmup * total < 2:  # OneCycleLR needs at least a step up and a step down
        raise ValueError(
            f"The fast recipe needs at least {math.ceil(2 / recipe.warmup)} steps in all, got {total}: "
            f"train on more images or for more epochs (a batch is {recipe.batch_size} images)."
        )
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total, pct_start=recipe.warmup)


def train_fast_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    recipe: FastRecipe,
    engine: Engine,
) -> int:
    """One epoch of the fast recipe; returns the number of images seen.

    Unlike :func:`mnist_book.train.train_one_epoch` it keeps no running loss or accuracy: on a GPU,
    every number read back is a wait, so nothing leaves the device during the epoch.
    """
    model.train()
    seen = 0
    for x, y in batches:
        x = x.to(engine.device, non_blocking=True)  # (B, 1, 28, 28)
        y = y.to(engine.device, non_blocking=True)
        if engine.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with engine.autocast_context():
            logits = model(x)  # (B, 10); bf16 under autocast
        loss = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
        loss.backward()
        optimizer.step()
        scheduler.step()  # one-cycle moves the rate every step, not every epoch
        seen += len(y)
    return seen

