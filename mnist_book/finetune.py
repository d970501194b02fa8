"""Fine-tuning (chapter 7): tuning the recipe one change at a time, and transfer to Fashion-MNIST.

Part A, to the accuracy ceiling: :data:`ABLATION_STEPS` adds to the article's recipe, one at a
time, a one-cycle schedule, batch normalisation, augmentation, label smoothing and weight decay,
takes dropout away; :data:`BUDGET_NETWORK` then swaps the network for one that fits more epochs
in the same time; :func:`setting_checks` pits three of the tuned recipe's own settings against an
alternative each. Every step is a :class:`~mnist_book.train.Recipe` trained by the same
:func:`~mnist_book.train.fit` as chapter 5's.

Part B, to a new task: :func:`hold_out` sets validation images aside, :func:`stratified_subset`
draws a label budget from the rest, :func:`make_transfer_model` builds each of the four ways to
start (:data:`TRANSFER_METHODS`), :func:`train_transfer` trains it until its validation accuracy
stops improving (:class:`EarlyStopping`, validating every few steps through :class:`Rounds`) and
keeps its best weights, and :func:`with_old_head` puts the MNIST head back to measure forgetting.
:func:`run_transfer` keeps each result in the data cache.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn as nn

from mnist_book.data import Batches, Split
from mnist_book.evaluate import binomial_se, loss_and_accuracy
from mnist_book.models import FLAT_FEATURES, Net
from mnist_book.runs import cached, run_key
from mnist_book.tables import Table
from mnist_book.train import ARTICLE_RECIPE, History, Recipe, fit

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


#: How much stronger the stronger augmentation of :func:`setting_checks` is: shifts of up to 3
#: pixels instead of 2, turns of up to 15° instead of 10.
STRONGER_AUGMENTATION: dict[str, Any] = {"max_shift": 3, "max_degrees": 15.0}


def setting_checks(short: Recipe, long: Recipe) -> list[tuple[AblationStep, Recipe, Recipe]]:
    """Three of the tuned recipe's own settings, each against one alternative that changes only it:
    ``(what changes, the reference recipe, the alternative)``. Twice the peak learning rate and
    :data:`STRONGER_AUGMENTATION` against ``short``; three quarters of the epochs (as 12 would be to
    16) against ``long``, left out when ``long`` has a single epoch."""
    stronger = STRONGER_AUGMENTATION
    steps = [
        (
            AblationStep(
                f"peak rate {2 * short.lr:g}",
                f"one-cycle to a peak of {2 * short.lr:g} instead of {short.lr:g}",
                {"lr": 2 * short.lr},
                f"a peak learning rate of {2 * short.lr:g}",
            ),
            short,
        ),
        (
            AblationStep(
                "stronger augmentation",
                f"shifts of up to ±{stronger['max_shift']} pixels and turns of up to ±{stronger['max_degrees']:g}° "
                f"instead of ±{short.max_shift} and ±{short.max_degrees:g}°",
                stronger,
                "stronger shifts and turns",
            ),
            short,
        ),
    ]
    if long.epochs >= 2:
        fewer = min(long.epochs - 1, math.floor(long.epochs * 3 / 4 + 0.5))
        what = f"{fewer} epochs instead of {long.epochs}"
        steps.append((AblationStep(f"{fewer} epochs", what, {"epochs": fewer}, what), long))
    return [(step, reference, reference.changed(**step.change)) for step, reference in steps]


def runs_table(names: list[str], histories: list, n_val: int, *, first: str = "run") -> Table:
    """One row per run: its name, epochs, final validation accuracy with its standard error, final
    validation loss, and training seconds (validation not included)."""
    return Table(
        [first, "epochs", "validation accuracy", "± standard error", "validation loss", "training seconds"],
        [
            (
                name,
                len(h),
                f"{h.val_acc[-1]:.2%}",
                f"{100 * binomial_se(h.val_acc[-1], n_val):.2f}",
                f"{h.val_loss[-1]:.4f}",
                f"{sum(h.train_seconds):.0f}",
            )
            for name, h in zip(names, histories, strict=True)
        ],
        align="lrrrrr",
    )


def paired_table(names: list[str], pairs: list, *, against: str = "the step before", first: str = "change") -> Table:
    """The image-by-image comparisons (:class:`~mnist_book.evaluate.Paired`, ``against`` first) as a
    table: the images only one side gets right, and the sign test's p-value."""
    return Table(
        [first, f"only {against} right", "only this one right", "p (sign test)"],
        [(name, p.only_a, p.only_b, f"{p.p_value:.3f}") for name, p in zip(names, pairs, strict=True)],
        align="lrrr",
    )


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


def stratified_index(labels: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` positions into ``labels`` with the classes as equal as possible (``n // classes`` each,
    the remainder to the first classes), drawn at random: the same ones for the same seed. Shuffled."""
    labels = labels.cpu()
    classes = labels.unique()
    if not 0 < n <= len(labels):
        raise ValueError(f"A label budget must be between 1 and {len(labels):,} (the split's size), not {n:,}.")
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
    return index[torch.randperm(len(index), generator=gen)]


def stratified_subset(split: Split, n: int, *, seed: int = 0) -> Split:
    """``n`` samples of ``split``, the classes as equal as possible, drawn at random (see
    :func:`stratified_index`): a label budget."""
    return split.take(stratified_index(split.labels, n, seed=seed))


def hold_out(split: Split, n: int, *, seed: int = 0) -> tuple[Split, Split]:
    """``split`` cut in two: the samples label budgets are drawn from, and ``n`` held out for
    validation (stratified), which no budget can contain."""
    held = stratified_index(split.labels, n, seed=seed)
    keep = torch.ones(len(split), dtype=torch.bool)
    keep[held] = False
    return split.take(keep.nonzero().flatten()), split.take(held)


class LinearProbe(nn.Module):
    """A pretrained ``Net``'s convolutions, frozen, under one new linear layer: 9216 -> 10."""

    def __init__(self, pretrained: Net) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(pretrained).requires_grad_(False)
        del self.backbone.fc1, self.backbone.fc2  # only Net.features runs
        self.head = nn.Linear(FLAT_FEATURES, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        return self.head(self.backbone.features(x))  # (B, 9216) -> (B, 10)


#: How every method trains on the new task: Adam at its usual rate 0.001, the article's batches of 64.
TRANSFER_RECIPE = ARTICLE_RECIPE.changed(optimizer="adam", lr=1e-3, momentum=0.0)


@dataclass(frozen=True)
class TransferPlan:
    """Part B's plan: the label budgets; for each, how many steps pass between two validations
    (``eval_every``); the validations without a new best before a run stops (``patience``); the most
    steps any run may take (``max_steps``); the recipe; how much slower the pretrained layers learn
    when everything is fine-tuned; and the training images held out for validation."""

    budgets: tuple[int, ...]
    eval_every: tuple[int, ...]  # one per budget
    patience: int = 4
    max_steps: int = 3000
    recipe: Recipe = TRANSFER_RECIPE
    backbone_lr_factor: float = 0.1
    val_size: int = 1000

    def __post_init__(self) -> None:
        if len(self.budgets) != len(self.eval_every) or not self.budgets:
            raise ValueError("A transfer plan needs one validation interval (eval_every) per label budget.")
        if self.patience < 1 or min(self.eval_every) < 1 or self.max_steps < max(self.eval_every):
            raise ValueError("patience and eval_every must be at least 1, and max_steps at least one interval.")

    def rows(self) -> list[tuple[str, str, str]]:
        """The plan as table rows: budget, validation interval, and the patience in steps."""
        return [
            (f"{n:,}", f"every {e:,} steps", f"{self.patience * e:,} steps")
            for n, e in zip(self.budgets, self.eval_every)
        ]


class Rounds:
    """An endless stream of shuffled batches of ``split``, served ``steps`` batches at a time: what
    :func:`~mnist_book.train.fit` takes for an epoch becomes a round of ``steps`` steps, after which it
    validates. Every pass over the data draws a new order, whatever the rounds' length."""

    def __init__(self, split: Split, batch_size: int, steps: int, *, seed: int = 0) -> None:
        self.split, self.steps = split, steps
        self.batches = Batches(split, batch_size, seed=seed)
        self._stream = self._forever()

    def _forever(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self.batches

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.steps):
            yield next(self._stream)


class EarlyStopping:
    """A ``stop_when`` hook for :func:`~mnist_book.train.fit`: after every validation, keeps a copy of
    ``model``'s weights when the validation accuracy beats its best so far, and stops the run once
    ``patience`` validations in a row have not beaten it. :meth:`restore` puts the best weights back."""

    def __init__(self, model: nn.Module, patience: int) -> None:
        self.model, self.patience = model, patience
        self.best_acc, self.best_round = -math.inf, 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def __call__(self, history: History) -> bool:
        if history.val_acc[-1] > self.best_acc:
            self.best_acc, self.best_round = history.val_acc[-1], len(history)
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return self.plateaued(len(history))

    def plateaued(self, rounds: int) -> bool:
        """Whether ``patience`` validations have passed since the best one."""
        return rounds - self.best_round >= self.patience

    def restore(self) -> nn.Module:
        if self.best_state is None:
            raise RuntimeError("EarlyStopping saw no validation: nothing to restore.")
        self.model.load_state_dict(self.best_state)
        return self.model


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


class TransferRun(NamedTuple):
    """What :func:`train_transfer` returns: the model with its best weights (eval mode), the history
    of its validations, the step of the best one, the steps trained, and whether it stopped on a
    plateau (``patience`` validations without a new best) rather than at the plan's ``max_steps``."""

    model: nn.Module
    history: History
    best_step: int
    steps: int
    plateaued: bool


def train_transfer(
    method: str,
    pretrained: Net,
    train: Split,
    val: Split,
    plan: TransferPlan,
    *,
    eval_every: int,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> TransferRun:
    """Train ``method``'s model on ``train`` with the plan's recipe, validating on ``val`` every
    ``eval_every`` steps, until its validation accuracy plateaus or ``plan.max_steps``; keeps the
    weights of the best validation."""
    rounds = max(1, plan.max_steps // eval_every)
    recipe = plan.recipe.changed(epochs=rounds)
    model, groups = make_transfer_model(
        method, pretrained, seed=recipe.seed, backbone_lr_factor=plan.backbone_lr_factor
    )
    for group in groups:
        group["lr"] = recipe.lr * group.pop("lr_factor", 1.0)
    stopper = EarlyStopping(model, plan.patience)
    batches = Rounds(train.to(device), recipe.batch_size, eval_every, seed=recipe.seed)
    model, history = fit(
        recipe,
        batches,
        val,
        model=model,
        param_groups=groups,
        device=device,
        stop_when=stopper,
        progress=progress,
        desc=METHOD_NAMES[method],
    )
    stopper.restore()
    steps = len(history) * eval_every
    return TransferRun(model.eval(), history, stopper.best_round * eval_every, steps, stopper.plateaued(len(history)))


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
    val: Split,
    plan: TransferPlan,
    *,
    eval_every: int,
    test: Split,
    mnist_test: Split,
    mode: str,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """:func:`train_transfer`, measured and kept in the data cache: ``accuracy`` on the new task's
    ``test``; for methods that change the backbone, ``old_head_accuracy``, the fine-tuned backbone with
    the MNIST head put back, on ``mnist_test``; the run's ``steps``, ``best_step``, ``plateaued``, its
    validation accuracies ``val_acc`` (one every ``eval_every`` steps) and training ``seconds``."""

    def compute() -> dict[str, Any]:
        tic = time.perf_counter()
        run = train_transfer(method, pretrained, train, val, plan, eval_every=eval_every, device=device)
        seconds = time.perf_counter() - tic
        accuracy = loss_and_accuracy(run.model, test, device=device)[1]
        old_head = None
        if method in ("top_layers", "full"):
            old_head = loss_and_accuracy(with_old_head(run.model, pretrained), mnist_test, device=device)[1]
        return {
            "accuracy": accuracy,
            "old_head_accuracy": old_head,
            "seconds": seconds,
            "steps": run.steps,
            "best_step": run.best_step,
            "plateaued": run.plateaued,
            "eval_every": eval_every,
            "val_acc": list(run.history.val_acc),
        }

    # What decides this run: not the other budgets of the plan, nor their validation intervals.
    settings = {k: v for k, v in asdict(plan).items() if k not in ("budgets", "eval_every")}
    key = run_key(
        f"transfer_{method}_{len(train)}",
        mode,
        method,
        settings,
        eval_every,
        train,
        val,
        test,
        mnist_test,
        pretrained,
        code=("mnist_book.finetune",),  # its code and everything it imports: the training, the measuring
    )
    return cached(key, compute, verbose=False)


def transfer_table(results: dict[str, dict[int, dict[str, Any]]], budgets: Sequence[int]) -> Table:
    """The test accuracy of every method at every budget, with the step of its best validation
    (a star: stopped by the plan's ``max_steps`` before its validation accuracy plateaued)."""

    def cell(r: dict[str, Any]) -> str:
        return f"{100 * r['accuracy']:.2f}% ({r['best_step']:,}{'' if r['plateaued'] else '*'})"

    return Table(
        ["labelled images"] + [METHOD_NAMES[m] for m in results],
        [[f"{n:,}"] + [cell(results[m][n]) for m in results] for n in budgets],
        align="r" * (1 + len(results)),
    )


def forgetting_table(before: float, forget: dict[str, Sequence[float]], budgets: Sequence[int]) -> Table:
    """MNIST test accuracy with the old head put back, per fine-tuning method and budget."""
    return Table(
        ["labelled images"] + [f"{METHOD_NAMES[m]}: MNIST accuracy" for m in forget],
        [["none (before)"] + [f"{100 * before:.2f}%"] * len(forget)]
        + [[f"{n:,}"] + [f"{100 * forget[m][i]:.2f}%" for m in forget] for i, n in enumerate(budgets)],
        align="r" * (1 + len(forget)),
    )
