"""Fine-tuning (chapter 7): tuning the recipe one change at a time, and transfer to Fashion-MNIST.

Part A, to the accuracy ceiling: :data:`ABLATION_STEPS` adds to the article's recipe, one at a
time, a one-cycle schedule, batch normalisation, augmentation, label smoothing and weight decay,
takes dropout away; :data:`BUDGET_NETWORK` then swaps the network for one that fits more epochs
in the same time. Every step is a :class:`~mnist_book.train.Recipe` trained by the same
:func:`~mnist_book.train.fit` as chapter 5's.

Part B, to a new task: :func:`stratified_subset` draws a label budget, :func:`make_transfer_model`
builds each of the four ways to start (:data:`TRANSFER_METHODS`), :func:`train_transfer` trains it
with the same budget, and :func:`with_old_head` puts the MNIST head back to measure forgetting.
:func:`run_transfer` keeps each result in the data cache.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from mnist_book.data import Split
from mnist_book.evaluate import loss_and_accuracy
from mnist_book.models import FLAT_FEATURES, Net
from mnist_book.runs import cached, run_key
from mnist_book.train import ARTICLE_RECIPE, Recipe, fit

# =========================================================================== Part A: the recipe

#: The ablation starts from the article's recipe, skipping a last incomplete batch in every step
#: (batch norm, switched on at the third step, cannot normalise a batch of one image).
ABLATION_BASE = ARTICLE_RECIPE.changed(drop_last=True)


@dataclass(frozen=True)
class AblationStep:
    """One row of the ablation: a name, what changes, the change itself (``Recipe`` fields;
    ``network_options`` are merged), and how prose refers to it."""

    name: str
    description: str
    change: dict[str, Any] = field(default_factory=dict)
    label: str = ""


#: Part A's ladder: each step keeps every change above it and adds one.
ABLATION_STEPS: tuple[AblationStep, ...] = (
    AblationStep("article", "the article's recipe: SGD, lr 0.01, momentum 0.9, batch 64, constant rate"),
    AblationStep(
        "+ one-cycle",
        "one-cycle learning rate: warm up to a peak of 0.05, then anneal to ~0",
        {"schedule": "onecycle", "lr": 0.05},
        "the one-cycle schedule",
    ),
    AblationStep(
        "+ batch norm",
        "batch normalisation after conv1 and conv2",
        {"network_options": {"batch_norm": True}},
        "batch norm",
    ),
    AblationStep(
        "+ augmentation",
        "random shifts (±2 pixels) and rotations (±10°) of every training image",
        {"augment": True},
        "augmentation",
    ),
    AblationStep(
        "+ label smoothing",
        "label smoothing 0.1: the target puts 0.9 + 0.01 on the true class",
        {"label_smoothing": 0.1},
        "label smoothing",
    ),
    AblationStep(
        "+ weight decay",
        "weight decay 5e-4 (an L2 penalty on every weight, through SGD)",
        {"weight_decay": 5e-4},
        "weight decay",
    ),
    AblationStep(
        "− dropout",
        "no dropout: with batch norm and the three regularisers above, is it still needed?",
        {"network_options": {"p_conv": 0.0, "p_fc": 0.0}},
        "removing dropout",
    ),
)


#: The last change, judged at equal training time rather than equal epochs: the appendix's FastNet,
#: widened to 32, 64 and 128 channels, with the batch size, optimiser and peak rate it trains best
#: with. It does fewer multiply-adds per image, at lower resolution, so more epochs fit in a budget.
BUDGET_NETWORK: dict[str, Any] = {
    "network": "FastNet",
    "network_options": {"widths": (32, 64, 128)},
    "batch_size": 128,
    "lr": 0.2,
    "nesterov": True,
}


def ablation_recipes(base: Recipe = ABLATION_BASE, steps=ABLATION_STEPS) -> list[tuple[AblationStep, Recipe]]:
    """Each step's recipe: ``base`` with the changes of that step and of every step before it."""
    out, recipe = [], base
    for step in steps:
        recipe = recipe.changed(**step.change)
        out.append((step, recipe))
    return out


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


class LinearProbe(nn.Module):
    """A pretrained ``Net``'s convolutions, frozen, under one new linear layer: 9216 -> 10."""

    def __init__(self, pretrained: Net) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(pretrained).requires_grad_(False)
        del self.backbone.fc1, self.backbone.fc2  # only Net.features runs
        self.head = nn.Linear(FLAT_FEATURES, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        return self.head(self.backbone.features(x))  # (B, 9216) -> (B, 10)


@dataclass(frozen=True)
class TransferPlan:
    """Part B's budgets: label budgets and the epochs each gets (the same for every method), the
    recipe they train with, and how much slower the pretrained layers learn when everything is
    fine-tuned."""

    budgets: tuple[int, ...]
    epochs: tuple[int, ...]  # one per budget
    recipe: Recipe = ARTICLE_RECIPE
    backbone_lr_factor: float = 0.1

    def __post_init__(self) -> None:
        if len(self.budgets) != len(self.epochs) or not self.budgets:
            raise ValueError("A transfer plan needs one number of epochs per label budget.")


def make_transfer_model(
    method: str, pretrained: Net, *, seed: int = 0, backbone_lr_factor: float = 0.1
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """The model ``method`` starts from and its optimiser's parameter groups.

    A group of pretrained layers under ``full`` carries its own ``lr_factor`` (the caller
    multiplies the recipe's rate by it); frozen layers are in no group.
    """
    if method not in TRANSFER_METHODS:
        raise ValueError(f"method must be one of {', '.join(TRANSFER_METHODS)}, not {method!r}.")
    torch.manual_seed(seed)  # the new layers' initial weights
    device = next(pretrained.parameters()).device
    if method == "scratch":
        model = Net().to(device)
        return model, [{"params": list(model.parameters())}]
    if method == "linear_probe":
        model = LinearProbe(pretrained).to(device)
        return model, [{"params": list(model.head.parameters())}]
    model = copy.deepcopy(pretrained)
    model.fc2 = nn.Linear(128, 10).to(device)  # a new head: Fashion-MNIST's ten classes are not digits
    if method == "top_layers":
        model.conv1.requires_grad_(False)
        model.conv2.requires_grad_(False)
        return model, [{"params": [*model.fc1.parameters(), *model.fc2.parameters()]}]
    backbone = [*model.conv1.parameters(), *model.conv2.parameters(), *model.fc1.parameters()]
    return model, [
        {"params": backbone, "lr_factor": backbone_lr_factor},
        {"params": list(model.fc2.parameters())},
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
    """Train ``method``'s model on ``train`` for ``epochs`` with the plan's recipe; returns it in eval mode."""
    recipe = plan.recipe.changed(epochs=epochs)
    model, groups = make_transfer_model(
        method, pretrained, seed=recipe.seed, backbone_lr_factor=plan.backbone_lr_factor
    )
    for group in groups:
        group["lr"] = recipe.lr * group.pop("lr_factor", 1.0)
    model, _ = fit(recipe, train, model=model, param_groups=groups, device=device, progress=progress, desc=method)
    return model.eval()


def with_old_head(model: nn.Module, pretrained: Net) -> Net:
    """A copy of a fine-tuned ``Net`` with the pretrained model's MNIST head (``fc2``) put back."""
    if not isinstance(model, Net):
        raise TypeError(f"with_old_head() needs a fine-tuned Net (top_layers or full), not a {type(model).__name__}.")
    old = copy.deepcopy(model)
    old.fc2.load_state_dict(pretrained.fc2.state_dict())
    return old.eval()


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
) -> dict[str, Any]:
    """Train one method on one label budget and measure it, through the data cache: ``accuracy`` on
    the new task's ``test``, and (for methods that change the backbone) ``old_head_accuracy``, the
    fine-tuned backbone with the MNIST head put back, on ``mnist_test``; also ``seconds`` of training."""

    def compute() -> dict[str, Any]:
        tic = time.perf_counter()
        model = train_transfer(method, pretrained, train, epochs, plan, device=device)
        seconds = time.perf_counter() - tic
        accuracy = loss_and_accuracy(model, test, device=device)[1]
        old_head = None
        if method in ("top_layers", "full"):
            old_head = loss_and_accuracy(with_old_head(model, pretrained), mnist_test, device=device)[1]
        return {"accuracy": accuracy, "old_head_accuracy": old_head, "seconds": seconds}

    key = run_key(
        f"transfer_{method}_{len(train)}",
        mode,
        method,
        plan,
        epochs,
        train,
        test,
        mnist_test,
        pretrained,
        code=("mnist_book.finetune",),
    )
    return cached(key, compute, verbose=False)
