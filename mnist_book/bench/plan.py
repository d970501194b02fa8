"""What the benchmark runs: the contestants (:data:`RECIPES`) and how much of each (:class:`Plan`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mnist_book.settings import fast_size
from mnist_book.train import ARTICLE_RECIPE, FAST_RECIPE, PYTORCH_EXAMPLE_RECIPE, Recipe

#: The smoke configuration (CI, fast mode): this many training and test images, one epoch each.
SMOKE_TRAIN, SMOKE_TEST = fast_size("bench_train", True), fast_size("bench_test", True)


@dataclass(frozen=True)
class BenchRecipe:
    """One contestant: a training recipe, a data path, and whether it is the book's fast recipe.

    The baselines run as published (float32, default layout, no autotuner) and are capped in epochs;
    the fast recipe runs on the book's engine (:func:`~mnist_book.devices.engine_for`) with several seeds.
    """

    key: str
    title: str
    data_path: str  # "loader": torchvision DataLoader; "batches": the split in memory
    recipe: Recipe
    summary: str
    fast: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "network": self.recipe.network,
            "data_path": self.data_path,
            "recipe": self.summary,
            "batch_size": self.recipe.batch_size,
            "published_epochs": self.recipe.epochs,
        }


RECIPES: dict[str, BenchRecipe] = {
    "a": BenchRecipe(
        "a",
        "PyTorch example",
        "loader",
        PYTORCH_EXAMPLE_RECIPE,
        "Adadelta lr 1.0, StepLR gamma 0.7, batch 64, ToTensor + Normalize in a DataLoader",
    ),
    "b": BenchRecipe(
        "b",
        "article, fast data path",
        "batches",
        ARTICLE_RECIPE,
        "SGD lr 0.01 momentum 0.9, batch 64, the split in memory (Batches)",
    ),
    "b-loader": BenchRecipe(
        "b-loader",
        "article, DataLoader",
        "loader",
        ARTICLE_RECIPE,
        "SGD lr 0.01 momentum 0.9, batch 64, ToTensor + Normalize in a DataLoader",
    ),
    "c": BenchRecipe(
        "c",
        "the book's fast recipe",
        "batches",
        FAST_RECIPE,
        f"FastNet, SGD Nesterov, one-cycle to lr {FAST_RECIPE.lr}, label smoothing "
        f"{FAST_RECIPE.label_smoothing}, batch {FAST_RECIPE.batch_size}, the split on the device",
        fast=True,
    ),
}


@dataclass(frozen=True)
class Plan:
    """What one bench run trains: which recipes, how many seeds and epochs, on how much data."""

    recipes: tuple[str, ...] = ("a", "b", "b-loader", "c")
    seeds: int = 3  # the fast recipe (c)
    baseline_seeds: int = 1  # a, b, b-loader
    baseline_epochs: int | None = 3  # cap on a's and b's published schedules (None: all of it)
    stop_at_target: bool = True  # a and b stop once they reach the target (their time to it is known)
    fast_epochs: int | None = None  # None: the fast recipe's own schedule
    train_size: int | None = None  # None: all 60,000 training images
    test_size: int | None = None  # None: all 10,000 test images
    target: float = 0.99  # test accuracy, a fraction
    smoke: bool = False

    def __post_init__(self) -> None:
        unknown = [k for k in self.recipes if k not in RECIPES]
        if unknown or not self.recipes:
            raise ValueError(f"recipes must be some of {', '.join(RECIPES)}; got {', '.join(self.recipes) or 'none'}.")
        for name in ("seeds", "baseline_seeds", "baseline_epochs", "fast_epochs", "train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}.")
        if not 0 < self.target <= 1:
            raise ValueError(f"target is a test accuracy in (0, 1], not {self.target}.")

    def epochs(self, spec: BenchRecipe) -> int:
        if spec.fast:
            return self.fast_epochs or spec.recipe.epochs
        return min(spec.recipe.epochs, self.baseline_epochs or spec.recipe.epochs)

    def seed_count(self, spec: BenchRecipe) -> int:
        return self.seeds if spec.fast else self.baseline_seeds

    def stops_at_target(self, spec: BenchRecipe) -> bool:
        return self.stop_at_target and not spec.fast

    def what_runs(self) -> str:
        """One line: each recipe with its seeds and epochs, e.g. ``a (1 seed, up to 3 of 14 epochs)``."""
        parts = []
        for key in self.recipes:
            spec = RECIPES[key]
            n, epochs = self.seed_count(spec), self.epochs(spec)
            upto = "up to " if self.stops_at_target(spec) else ""
            parts.append(f"{key} ({n} seed{'s' * (n > 1)}, {upto}{epochs} of {spec.recipe.epochs} epochs)")
        return ", ".join(parts)

    def describe(self) -> dict[str, Any]:
        return {
            "what_ran": self.what_runs(),
            "smoke": self.smoke,
            "recipes": list(self.recipes),
            "seeds_fast_recipe": self.seeds,
            "seeds_baselines": self.baseline_seeds,
            "baseline_epoch_cap": self.baseline_epochs,
            "baselines_stop_at_target": self.stop_at_target,
            "fast_recipe_epochs": self.fast_epochs or FAST_RECIPE.epochs,
            "train_images": self.train_size or 60000,
            "test_images": self.test_size or 10000,
            "target": self.target,
        }


def full_plan(**changes: Any) -> Plan:
    """The full benchmark: every recipe; c with 3 seeds, a and b with 1 seed and at most 3 epochs."""
    return replace(Plan(), **changes)


def smoke_plan(**changes: Any) -> Plan:
    """A quick check that everything runs (CI, fast mode): small subsets, one epoch, one seed."""
    plan = Plan(seeds=1, baseline_epochs=1, fast_epochs=1, train_size=SMOKE_TRAIN, test_size=SMOKE_TEST, smoke=True)
    return replace(plan, **changes)
