"""Fine-tuning (chapter 7): tuning the recipe one change at a time, and transfer to Fashion-MNIST.

Part A, to the accuracy ceiling: :class:`TuneRecipe` adds to the article's recipe a learning-rate
schedule, batch normalisation (:class:`NetBN`), random shifts and rotations (:func:`random_affine`),
label smoothing and weight decay; :data:`ABLATION_STEPS` switches them on one at a time and
:func:`train_tuned` trains any of them.

Part B, to a new task: :func:`stratified_subset` draws a label budget, :func:`make_transfer_model`
builds each of the four ways to start (:data:`TRANSFER_METHODS`), :func:`train_transfer` trains it
with the same budget, and :func:`with_old_head` puts the MNIST head back to measure forgetting.

Everything expensive is cached under ``<data cache>/checkpoints/chapter7/`` (:func:`cached`), keyed
by mode and by every setting that changes the result, so a second run of the chapter is quick.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from mnist_book.data import Batches, Split, data_root
from mnist_book.evaluate import loss_and_accuracy
from mnist_book.models import FLAT_FEATURES, Net
from mnist_book.train import History, train_one_epoch

SCHEDULES = ("constant", "onecycle", "cosine")
#: Bump to invalidate every cached result of this module (e.g. after changing a training loop).
CACHE_VERSION = 1


# =========================================================================== Part A: the recipe


class NetBN(nn.Module):
    """``Net`` with batch normalisation after ``conv1`` and ``conv2`` (before each ReLU).

    Not after ``fc1``: its input has just been through dropout, whose scaling differs between
    training and evaluation, so statistics collected in training would not fit at evaluation
    (the "variance shift" of dropout before batch norm). The layers ``Net`` has keep their names
    and shapes, so ``Net``'s weights load into it with ``load_state_dict(..., strict=False)``;
    only ``bn1`` and ``bn2`` are new.
    """

    def __init__(self, p_conv: float = 0.25, p_fc: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.bn2 = nn.BatchNorm2d(64)
        self.dropout1 = nn.Dropout(p_conv)
        self.dropout2 = nn.Dropout(p_fc)
        self.fc1 = nn.Linear(FLAT_FEATURES, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 32, 26, 26)
        x = F.relu(self.bn2(self.conv2(x)))  # (B, 64, 24, 24)
        x = F.max_pool2d(x, 2)  # (B, 64, 12, 12)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)  # (B, 9216)
        x = F.relu(self.fc1(x))  # (B, 128)
        x = self.dropout2(x)
        return self.fc2(x)  # (B, 10) logits


def affine_images(images: torch.Tensor, degrees: torch.Tensor, shifts: torch.Tensor, *, fill: float) -> torch.Tensor:
    """Rotate image ``i`` by ``degrees[i]`` counter-clockwise about its centre and move it by
    ``shifts[i]`` = (dx right, dy down) pixels, in one bilinear resampling; uncovered pixels get ``fill``.

    ``fill`` is the background value: ``-MNIST_MEAN / MNIST_STD`` for normalised MNIST.
    """
    _, _, h, w = images.shape  # (B, 1, 28, 28)
    # On screen (y pointing down) a counter-clockwise turn by a is the matrix R(-a).
    angle = -torch.as_tensor(degrees, dtype=torch.float64) * math.pi / 180  # (B,)
    shifts = torch.as_tensor(shifts, dtype=torch.float64)  # (B, 2)
    cos, sin = angle.cos(), angle.sin()
    # affine_grid maps each output position p (in [-1, 1] units: one pixel is 2 / size) to the input
    # position it samples: R(-a) (p - t) moves the content by t and turns it by a.
    tx, ty = shifts[:, 0] * 2 / w, shifts[:, 1] * 2 / h
    theta = torch.stack(
        [
            torch.stack([cos, sin, -(cos * tx + sin * ty)], 1),
            torch.stack([-sin, cos, sin * tx - cos * ty], 1),
        ],
        1,
    ).to(images)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, 28, 28, 2)
    # Resample with the background at 0, so that grid_sample's zero padding is the background.
    moved = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved + fill


def random_affine(
    images: torch.Tensor,
    *,
    max_shift: int,
    max_degrees: float,
    fill: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each image turned by a random angle in ±``max_degrees`` and moved by a random whole number of
    pixels in ±``max_shift`` along each axis (:func:`affine_images`)."""
    b = len(images)
    degrees = (torch.rand(b, generator=generator) * 2 - 1) * max_degrees  # (B,)
    shifts = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=generator)  # (B, 2) pixels
    return affine_images(images, degrees, shifts, fill=fill)


@dataclass(frozen=True)
class TuneRecipe:
    """The article's recipe plus the switches Part A turns on one at a time.

    ``lr`` is the constant rate, or the peak of a one-cycle schedule, or the start of a cosine one;
    both schedules move the rate after every step. ``augment``: random shifts of up to
    ``max_shift`` pixels and rotations of up to ``max_degrees``. ``p_conv``, ``p_fc``: the
    network's two dropout rates (the article's 0.25 and 0.5).
    """

    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 10
    schedule: str = "constant"
    batch_norm: bool = False
    augment: bool = False
    max_shift: int = 2
    max_degrees: float = 10.0
    label_smoothing: float = 0.0
    weight_decay: float = 0.0
    p_conv: float = 0.25
    p_fc: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}.")
        if not self.lr > 0:
            raise ValueError(f"The learning rate must be positive, not {self.lr}.")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"batch_size and epochs must be at least 1 (got {self.batch_size}, {self.epochs}).")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.momentum < 1:
            raise ValueError(
                f"label_smoothing and momentum must be in [0, 1) (got {self.label_smoothing}, {self.momentum})."
            )
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must not be negative, not {self.weight_decay}.")
        if not 0 <= self.p_conv < 1 or not 0 <= self.p_fc < 1:
            raise ValueError(f"Dropout rates must be in [0, 1) (got {self.p_conv}, {self.p_fc}).")


#: The source article's recipe in this module's terms: SGD lr 0.01, momentum 0.9, batch 64.
ARTICLE_TUNE = TuneRecipe()


@dataclass(frozen=True)
class AblationStep:
    """One row of the ablation: a name, what changes, the change itself (fields of TuneRecipe), and
    how prose refers to it."""

    name: str
    description: str
    change: dict[str, Any] = field(default_factory=dict)
    label: str = ""


#: Part A's ladder: each step keeps every change above it and adds one.
ABLATION_STEPS: tuple[AblationStep, ...] = (
    AblationStep("article", "the article's recipe: SGD, lr 0.01, momentum 0.9, batch 64, constant rate"),
    AblationStep("+ one-cycle", "one-cycle learning rate: warm up to a peak of 0.05, then anneal to ~0",
                 {"schedule": "onecycle", "lr": 0.05}, "the one-cycle schedule"),  # fmt: skip
    AblationStep("+ batch norm", "batch normalisation after conv1 and conv2", {"batch_norm": True}, "batch norm"),
    AblationStep("+ augmentation", "random shifts (±2 pixels) and rotations (±10°) of every training image",
                 {"augment": True}, "augmentation"),  # fmt: skip
    AblationStep("+ label smoothing", "label smoothing 0.1: the target puts 0.9 + 0.01 on the true class",
                 {"label_smoothing": 0.1}, "label smoothing"),  # fmt: skip
    AblationStep("+ weight decay", "weight decay 5e-4 (an L2 penalty on every weight, through SGD)",
                 {"weight_decay": 5e-4}, "weight decay"),  # fmt: skip
    AblationStep("− dropout", "no dropout: with batch norm and the three regularisers above, is it still needed?",
                 {"p_conv": 0.0, "p_fc": 0.0}, "removing dropout"),  # fmt: skip
)


def ablation_recipes(base: TuneRecipe = ARTICLE_TUNE, steps=ABLATION_STEPS) -> list[tuple[AblationStep, TuneRecipe]]:
    """Each step's recipe: ``base`` with the changes of that step and of every step before it."""
    out, recipe = [], base
    for step in steps:
        recipe = replace(recipe, **step.change)
        out.append((step, recipe))
    return out


def make_network(recipe: TuneRecipe) -> nn.Module:
    """``NetBN`` when the recipe asks for batch normalisation, else the article's ``Net``."""
    cls = NetBN if recipe.batch_norm else Net
    return cls(p_conv=recipe.p_conv, p_fc=recipe.p_fc)


def make_tune_optimizer(model: nn.Module, recipe: TuneRecipe) -> torch.optim.SGD:
    """SGD with momentum (and the recipe's weight decay) at the recipe's rate."""
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


def make_step_scheduler(
    optimizer: torch.optim.Optimizer, recipe: TuneRecipe, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The recipe's per-step schedule over ``total_steps`` (``None`` for a constant rate)."""
    if recipe.schedule == "onecycle":
        # Smith (2018): a quarter of the steps warming up from lr/25 to the peak, the rest annealing
        # (cosine) to lr/25e4; momentum moves the other way, between 0.95 and 0.85.
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total_steps, pct_start=0.25)
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return None


def train_tuned(
    recipe: TuneRecipe,
    train: Split,
    val: Split | None = None,
    *,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "epochs",
) -> tuple[nn.Module, History]:
    """Train a new network with ``recipe`` on ``train``; validate after every epoch on ``val``.

    Returns the model (in eval mode) and its :class:`~mnist_book.train.History`.
    """
    device = torch.device(device)
    torch.manual_seed(recipe.seed)  # the initial weights and the dropout masks
    model = make_network(recipe).to(device)
    # Batch norm cannot normalise a last batch of one image: drop an incomplete last batch.
    batches = Batches(train.to(device), recipe.batch_size, seed=recipe.seed, drop_last=len(train) >= recipe.batch_size)
    if len(batches) == 0:
        raise ValueError("train_tuned() got an empty training set.")
    optimizer = make_tune_optimizer(model, recipe)
    scheduler = make_step_scheduler(optimizer, recipe, recipe.epochs * len(batches))
    augment_rng = torch.Generator().manual_seed(recipe.seed + 1)
    fill = float(train.images.amin())  # the background: the smallest value of normalised images
    history = History()
    bar = tqdm(range(recipe.epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        tic = time.perf_counter()
        model.train()
        lr_at_start = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        for x, y in batches:  # (B, 1, 28, 28), (B,)
            if recipe.augment:
                x = random_affine(x, max_shift=recipe.max_shift, max_degrees=recipe.max_degrees, fill=fill,
                                  generator=augment_rng)  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)  # (B, 10)
            loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()  # per step, not per epoch
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
        val_loss, val_acc = loss_and_accuracy(model, val, device=device) if val is not None else (math.nan,) * 2
        history.train_loss.append((loss_sum / seen).item())
        history.train_acc.append(correct.item() / seen)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)
        history.lr.append(lr_at_start)
        history.seconds.append(time.perf_counter() - tic)
        bar.set_postfix(val_acc=f"{val_acc:.4f}")
    model.eval()
    return model, history


# =========================================================================== Part B: transfer


#: The four ways to start on the new task, in the order the chapter discusses them.
TRANSFER_METHODS: dict[str, str] = {
    "scratch": "from scratch: a new Net, every layer trained",
    "linear_probe": "linear probe: the MNIST convolutions frozen, one new linear layer on their 9,216 features",
    "top_layers": "top layers: the MNIST convolutions frozen; fc1 (from MNIST) and a new fc2 trained",
    "full": "everything: all layers trained, the MNIST ones at a tenth of the new head's rate",
}

#: How the chapter's prose and figures name the methods.
METHOD_NAMES: dict[str, str] = {
    "scratch": "from scratch",
    "linear_probe": "linear probe",
    "top_layers": "top layers",
    "full": "everything",
}


def stratified_subset(split: Split, n: int, *, seed: int = 0) -> Split:
    """``n`` samples with the classes as equal as possible (``n // classes`` each, the remainder to
    the first classes), drawn at random: the same ones for the same seed. Shuffled."""
    labels = split.labels.cpu()
    classes = labels.unique()
    if not 0 < n <= len(split):
        raise ValueError(f"A label budget must be between 1 and {len(split):,} (the split's size), not {n:,}.")
    gen = torch.Generator().manual_seed(seed)
    base, extra = divmod(n, len(classes))
    picked = []
    for k, c in enumerate(classes.tolist()):
        members = (labels == c).nonzero().flatten()
        want = base + (1 if k < extra else 0)
        if want > len(members):
            raise ValueError(f"Class {c} has only {len(members)} samples; a stratified subset of {n:,} needs {want}.")
        picked.append(members[torch.randperm(len(members), generator=gen)[:want]])
    index = torch.cat(picked)
    return split.take(index[torch.randperm(len(index), generator=gen)])


def conv_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``Net`` feeds ``fc1``: conv1, ReLU, conv2, ReLU, max-pool, flatten (dropout left out)."""
    x = F.relu(net.conv1(x))  # (B, 32, 26, 26)
    x = F.relu(net.conv2(x))  # (B, 64, 24, 24)
    return torch.flatten(F.max_pool2d(x, 2), 1)  # (B, 9216)


class LinearProbe(nn.Module):
    """A pretrained ``Net``'s convolutions, frozen, under one new linear layer: 9216 -> 10."""

    def __init__(self, pretrained: Net) -> None:
        super().__init__()
        self.conv1 = copy.deepcopy(pretrained.conv1).requires_grad_(False)
        self.conv2 = copy.deepcopy(pretrained.conv2).requires_grad_(False)
        self.head = nn.Linear(FLAT_FEATURES, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        return self.head(conv_features(self, x))  # (B, 10)


@dataclass(frozen=True)
class TransferPlan:
    """Part B's budgets: label budgets and the epochs each gets (the same for every method),
    SGD settings, and how much slower the pretrained layers learn when everything is fine-tuned."""

    budgets: tuple[int, ...]
    epochs: tuple[int, ...]  # one per budget
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    backbone_lr_factor: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.budgets) != len(self.epochs) or not self.budgets:
            raise ValueError("A transfer plan needs one number of epochs per label budget.")


def make_transfer_model(method: str, pretrained: Net, *, seed: int = 0) -> tuple[nn.Module, list[dict[str, Any]]]:
    """The model ``method`` starts from and its optimiser's parameter groups (with rate factors).

    Each group carries ``lr_factor``: 1 for new and retrained layers, ``backbone_lr_factor`` for
    pretrained ones under ``full`` (the caller multiplies). Frozen layers are in no group.
    """
    if method not in TRANSFER_METHODS:
        raise ValueError(f"method must be one of {', '.join(TRANSFER_METHODS)}, not {method!r}.")
    torch.manual_seed(seed)  # the new layers' initial weights
    device = next(pretrained.parameters()).device
    if method == "scratch":
        model = Net().to(device)
        return model, [{"params": list(model.parameters()), "lr_factor": 1.0}]
    if method == "linear_probe":
        model = LinearProbe(pretrained).to(device)
        return model, [{"params": list(model.head.parameters()), "lr_factor": 1.0}]
    model = copy.deepcopy(pretrained)
    model.fc2 = nn.Linear(128, 10).to(device)  # a new head: Fashion-MNIST's ten classes are not digits
    if method == "top_layers":
        model.conv1.requires_grad_(False)
        model.conv2.requires_grad_(False)
        return model, [{"params": [*model.fc1.parameters(), *model.fc2.parameters()], "lr_factor": 1.0}]
    backbone = [*model.conv1.parameters(), *model.conv2.parameters(), *model.fc1.parameters()]
    return model, [
        {"params": backbone, "lr_factor": "backbone"},
        {"params": list(model.fc2.parameters()), "lr_factor": 1.0},
    ]


def train_transfer(
    method: str,
    pretrained: Net,
    train: Split,
    epochs: int,
    plan: TransferPlan,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> nn.Module:
    """Train ``method``'s model on ``train`` for ``epochs`` with the plan's SGD; returns it in eval mode."""
    model, groups = make_transfer_model(method, pretrained, seed=plan.seed)
    for g in groups:
        factor = plan.backbone_lr_factor if g.pop("lr_factor") == "backbone" else 1.0
        g["lr"] = plan.lr * factor
    optimizer = torch.optim.SGD(groups, lr=plan.lr, momentum=plan.momentum)
    batches = Batches(train.to(device), plan.batch_size, seed=plan.seed)
    torch.manual_seed(plan.seed)  # dropout masks
    for epoch in tqdm(range(epochs), desc=method, disable=not progress, leave=False):
        train_one_epoch(model, batches, optimizer, device=device)
    return model.eval()


def with_old_head(model: nn.Module, pretrained: Net) -> Net:
    """A copy of a fine-tuned ``Net`` with the pretrained model's MNIST head (``fc2``) put back."""
    if not isinstance(model, Net):
        raise TypeError(f"with_old_head() needs a fine-tuned Net (top_layers or full), not a {type(model).__name__}.")
    old = copy.deepcopy(model)
    old.fc2.load_state_dict(pretrained.fc2.state_dict())
    return old.eval()


# =========================================================================== caching


def state_fingerprint(model: nn.Module) -> str:
    """A short hash of a model's weights: cached results that depend on it name it in their key."""
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def cache_key(name: str, mode: str, settings: Any) -> str:
    """``chapter7/<name>_<mode>_<hash of settings>``: any change of settings gives a new file."""
    text = json.dumps({"v": CACHE_VERSION, "settings": settings}, sort_keys=True, default=str)
    return f"{name}_{mode}_{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def cache_dir() -> Path:
    return data_root() / "checkpoints" / "chapter7"


def cached(key: str, compute: Callable[[], dict[str, Any]], *, verbose: bool = True) -> dict[str, Any]:
    """The result stored under ``key``, or ``compute()``'s, stored first (atomically).

    Results are plain data (tensors, numbers, strings, lists, dicts), read back with
    ``weights_only=True``; an unreadable file is computed again.
    """
    path = cache_dir() / f"{key}.pt"
    if path.is_file():
        try:
            result = torch.load(path, map_location="cpu", weights_only=True)
            if verbose:
                print(f"cached: {path.name}")
            return result
        except Exception as err:  # a truncated or foreign file: recompute
            print(f"Ignoring unreadable {path.name} ({type(err).__name__}); computing it again.")
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        torch.save(result, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return result


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A model's weights on the CPU, detached (what :func:`cached` results store)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def recipe_dict(recipe: TuneRecipe | TransferPlan) -> dict[str, Any]:
    return asdict(recipe)


# =========================================================================== runs the chapter caches


def train_tuned_cached(
    name: str,
    recipe: TuneRecipe,
    train: Split,
    val: Split | None,
    *,
    mode: str,
    device: torch.device | str = "cpu",
    use_cache: bool = True,
    progress: bool = True,
) -> tuple[nn.Module, History]:
    """:func:`train_tuned`, or its stored result when the same run (name, mode, recipe, data sizes
    and a fingerprint of the first images) was done before. Returns the model in eval mode."""
    settings = {
        "recipe": asdict(recipe),
        "train": [len(train), float(train.images[:256].sum())],
        "val": [len(val), float(val.images[:256].sum())] if val is not None else None,
    }

    def compute() -> dict[str, Any]:
        model, history = train_tuned(recipe, train, val, device=device, progress=progress, desc=name)
        return {"model": cpu_state(model), "history": history.to_dict()}

    result = cached(cache_key(name, mode, settings), compute) if use_cache else compute()
    model = make_network(recipe)
    model.load_state_dict(result["model"])
    return model.to(device).eval(), History.from_dict(result["history"])


def run_transfer(
    method: str,
    pretrained: Net,
    train: Split,
    epochs: int,
    plan: TransferPlan,
    test: Split,
    mnist_test: Split,
    *,
    mode: str,
    device: torch.device | str = "cpu",
    use_cache: bool = True,
) -> dict[str, Any]:
    """Train one method on one label budget and measure it: ``accuracy`` on the new task's ``test``,
    and (for methods that change the backbone) ``old_head_accuracy``, the fine-tuned backbone with
    the MNIST head put back, on ``mnist_test``; also ``seconds`` of training."""
    settings = {
        "method": method,
        "plan": asdict(plan),
        "epochs": epochs,
        "train": [len(train), float(train.images[:256].sum())],
        "test": [len(test), len(mnist_test)],
        "pretrained": state_fingerprint(pretrained),
    }

    def compute() -> dict[str, Any]:
        tic = time.perf_counter()
        model = train_transfer(method, pretrained, train, epochs, plan, device=device)
        seconds = time.perf_counter() - tic
        accuracy = loss_and_accuracy(model, test, device=device)[1]
        old_head = None
        if method in ("top_layers", "full"):
            old_head = loss_and_accuracy(with_old_head(model, pretrained), mnist_test, device=device)[1]
        return {"accuracy": accuracy, "old_head_accuracy": old_head, "seconds": seconds}

    key = cache_key(f"transfer_{method}_{len(train)}", mode, settings)
    return cached(key, compute, verbose=False) if use_cache else compute()


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` independent samples: sqrt(p (1 - p) / n)."""
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n)


def difference_se(a: float, b: float, n: int) -> float:
    """Standard error of the difference of two accuracies measured on ``n`` samples each, treated as
    independent (conservative when both are measured on the same samples)."""
    return math.hypot(binomial_se(a, n), binomial_se(b, n))


def clearly_worse(before: float, after: float, n: int, *, z: float = 2.0) -> bool:
    """Whether ``after`` is below ``before`` by more than ``z`` standard errors of the difference."""
    return before - after > z * difference_se(before, after, n)
