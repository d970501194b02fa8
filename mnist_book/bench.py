"""Side-by-side training benchmark (appendix *Speed*): ``python -m mnist_book.bench --help``.

Recipes, each with a fixed schedule, trained one after the other in the same process:

- ``a``: PyTorch's MNIST example as published: ``Net``, Adadelta lr 1.0, StepLR gamma 0.7, batch 64,
  PIL images through ``ToTensor`` + ``Normalize`` in a ``DataLoader``;
- ``b``: the source article's recipe (``Net``, SGD lr 0.01, momentum 0.9, batch 64) on the fast
  data path (the whole split in memory, :class:`~mnist_book.data.Batches`);
- ``b-loader``: the same recipe through the ``DataLoader``, with the same batches in the same order;
- ``c``: the book's fast recipe (:mod:`mnist_book.fast`).

Only training is timed: after each epoch the test accuracy is measured with the clock stopped.
*Time to target* is the training time up to the end of the first epoch whose test accuracy
reaches the target. A warm-up of a few steps per recipe (and ``torch.compile``'s compilation)
runs before the clock starts and is reported separately.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from mnist_book.data import MNIST_MEAN, MNIST_STD, Batches, DataError, load_split, mnist, subset
from mnist_book.evaluate import predict
from mnist_book.fast import (
    FAST_RECIPE,
    Engine,
    FastNet,
    FastRecipe,
    engine_for,
    make_fast_optimizer,
    make_one_cycle,
    prepare,
    train_fast_epoch,
)
from mnist_book.models import Net
from mnist_book.profiling import PeakMemory, sync
from mnist_book.settings import get_device, is_fast
from mnist_book.tables import markdown_table
from mnist_book.train import ARTICLE_RECIPE, PYTORCH_EXAMPLE_RECIPE, Recipe, make_optimizer, make_scheduler, train_one_epoch

SCHEMA = "mnist_book.bench/1"
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"

#: The smoke configuration (CI, fast mode): this many training and test images, one epoch each.
SMOKE_TRAIN, SMOKE_TEST = 2048, 500


# --------------------------------------------------------------------------- the recipes


@dataclass(frozen=True)
class BenchRecipe:
    """One contestant: a network, a data path and a training recipe."""

    key: str
    title: str
    network: str  # "Net" (chapter 4) or "FastNet" (mnist_book.fast)
    data_path: str  # "loader": torchvision DataLoader; "batches": the split in memory
    recipe: Recipe | FastRecipe
    summary: str

    @property
    def is_fast(self) -> bool:
        return isinstance(self.recipe, FastRecipe)

    def describe(self) -> dict[str, Any]:
        r = self.recipe
        return {
            "key": self.key,
            "title": self.title,
            "network": self.network,
            "data_path": self.data_path,
            "recipe": self.summary,
            "batch_size": r.batch_size,
            "published_epochs": r.epochs,
        }


RECIPES: dict[str, BenchRecipe] = {
    "a": BenchRecipe(
        "a", "PyTorch example", "Net", "loader", PYTORCH_EXAMPLE_RECIPE,
        "Adadelta lr 1.0, StepLR gamma 0.7, batch 64, ToTensor + Normalize in a DataLoader",
    ),
    "b": BenchRecipe(
        "b", "article, fast data path", "Net", "batches", ARTICLE_RECIPE,
        "SGD lr 0.01 momentum 0.9, batch 64, the split in memory (Batches)",
    ),
    "b-loader": BenchRecipe(
        "b-loader", "article, DataLoader", "Net", "loader", ARTICLE_RECIPE,
        "SGD lr 0.01 momentum 0.9, batch 64, ToTensor + Normalize in a DataLoader",
    ),
    "c": BenchRecipe(
        "c", "the book's fast recipe", "FastNet", "batches", FAST_RECIPE,
        f"FastNet, SGD Nesterov, one-cycle to lr {FAST_RECIPE.lr}, label smoothing "
        f"{FAST_RECIPE.label_smoothing}, batch {FAST_RECIPE.batch_size}, the split on the device",
    ),
}  # fmt: skip


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
        if spec.is_fast:
            return self.fast_epochs or spec.recipe.epochs
        return min(spec.recipe.epochs, self.baseline_epochs or spec.recipe.epochs)

    def seed_count(self, spec: BenchRecipe) -> int:
        return self.seeds if spec.is_fast else self.baseline_seeds

    def what_runs(self) -> str:
        """One line: each recipe with its seeds and epochs, e.g. ``a (1 seed, up to 3 of 14 epochs)``."""
        parts = []
        for key in self.recipes:
            spec = RECIPES[key]
            n, epochs = self.seed_count(spec), self.epochs(spec)
            upto = "up to " if not spec.is_fast and self.stop_at_target else ""
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
    plan = Plan(
        seeds=1, baseline_epochs=1, fast_epochs=1, train_size=SMOKE_TRAIN, test_size=SMOKE_TEST, smoke=True
    )
    return replace(plan, **changes)


# --------------------------------------------------------------------------- measuring


def time_to_target(
    epoch_seconds: Sequence[float], accuracies: Sequence[float], target: float
) -> tuple[float | None, int | None]:
    """Training seconds up to the end of the first epoch whose accuracy reaches ``target``, and that epoch.

    ``(None, None)`` when no epoch does. Accuracies and target are fractions (0.99, not 99).
    """
    if len(epoch_seconds) != len(accuracies):
        raise ValueError(f"{len(epoch_seconds)} epoch times but {len(accuracies)} accuracies: one of each per epoch.")
    total = 0.0
    for epoch, (seconds, accuracy) in enumerate(zip(epoch_seconds, accuracies), start=1):
        if seconds < 0:
            raise ValueError(f"epoch {epoch} took {seconds} s: times cannot be negative.")
        total += seconds
        if accuracy >= target - 1e-12:  # 9900/10000 must count as 99.0%
            return total, epoch
    return None, None


@dataclass
class Run:
    """One recipe trained once (one seed): per-epoch training seconds and test accuracy."""

    seed: int
    epoch_seconds: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    images: int = 0
    peak_mib: float = 0.0
    peak_extra_mib: float = 0.0
    time_to_target: float | None = None
    epoch_to_target: int | None = None

    @property
    def seconds(self) -> float:
        return sum(self.epoch_seconds)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "epochs_run": len(self.epoch_seconds),
            "epoch_seconds": self.epoch_seconds,
            "test_accuracy": self.test_accuracy,
            "final_accuracy": self.test_accuracy[-1] if self.test_accuracy else None,
            "training_seconds": self.seconds,
            "train_images_seen": self.images,
            "images_per_second": self.images_per_second,
            "time_to_target_s": self.time_to_target,
            "epoch_to_target": self.epoch_to_target,
            "peak_memory_mib": self.peak_mib,
            "peak_extra_memory_mib": self.peak_extra_mib,
        }


# --------------------------------------------------------------------------- data


class ShuffleLikeBatches(torch.utils.data.Sampler[int]):
    """A new random order every epoch, drawn exactly as :class:`~mnist_book.data.Batches` draws it.

    (``RandomSampler`` shuffles just as well, but it takes more from its generator per epoch, so
    from the second epoch on its order would differ from ``Batches``'.)
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


class BenchData:
    """The training and test images on the device, and (made when first needed) the DataLoader's dataset."""

    def __init__(self, device: torch.device, train_size: int | None = None, test_size: int | None = None) -> None:
        self.device = device
        train = load_split("mnist", train=True, device=device)
        # The same images for both paths: the DataLoader gets a Subset with these indices.
        self.indices = None
        if train_size is not None and train_size < len(train):
            self.indices = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:train_size]
            train = train.take(self.indices)
        self.train = train
        self.test = subset(load_split("mnist", train=False, device=device), test_size or 10000, seed=0)
        self._dataset: torch.utils.data.Dataset | None = None

    def dataset(self) -> torch.utils.data.Dataset:
        """The torchvision dataset: PIL images through ``ToTensor`` and ``Normalize``, one at a time."""
        if self._dataset is None:
            from torchvision import transforms

            to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
            dataset: torch.utils.data.Dataset = mnist(True, transform=to_tensor)
            if self.indices is not None:
                dataset = torch.utils.data.Subset(dataset, self.indices.tolist())
            self._dataset = dataset
        return self._dataset

    def loader(self, batch_size: int, seed: int) -> torch.utils.data.DataLoader:
        """A shuffling DataLoader that draws the same order as ``Batches(train, batch_size, seed=seed)``.

        Settings as in PyTorch's example: in the main process on a CPU; one worker and pinned memory on CUDA.
        """
        dataset = self.dataset()
        sampler = ShuffleLikeBatches(len(dataset), seed)
        extra = {"num_workers": 1, "pin_memory": True} if self.device.type == "cuda" else {}
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, generator=torch.Generator().manual_seed(seed), **extra
        )


# --------------------------------------------------------------------------- training one recipe


def batches_per_epoch(spec: BenchRecipe, n_images: int) -> int:
    """How many steps an epoch of ``spec`` takes on ``n_images`` (the fast recipe drops a last partial batch)."""
    size = spec.recipe.batch_size
    return n_images // size if spec.is_fast else -(-n_images // size)


def _trainer(
    spec: BenchRecipe, seed: int, epochs: int, data: BenchData, engine: Engine, bar: tqdm
) -> tuple[Callable[[int], int], torch.nn.Module]:
    """A function that trains one epoch (returns images seen, advances ``bar`` per batch), and the model to evaluate."""
    device = engine.device
    torch.manual_seed(seed)  # initial weights, dropout masks
    if isinstance(spec.recipe, FastRecipe):
        recipe = replace(spec.recipe, seed=seed, epochs=epochs)
        model, step_model = prepare(FastNet(recipe.widths), engine)
        optimizer = make_fast_optimizer(model, recipe)
        # Whole batches only: one batch shape, so cuDNN and torch.compile tune it once.
        batches = Batches(data.train, recipe.batch_size, drop_last=True, seed=seed)
        scheduler = make_one_cycle(optimizer, recipe, len(batches))

        def fast_epoch(epoch: int) -> int:
            seen = train_fast_epoch(step_model, batches, optimizer, scheduler, recipe=recipe, engine=engine)
            bar.update(len(batches))  # per epoch: on a GPU a whole epoch takes a fraction of a second
            return seen

        return fast_epoch, model

    recipe = replace(spec.recipe, seed=seed)
    net = Net().to(device)
    optimizer_net = make_optimizer(net, recipe)
    step_lr = make_scheduler(optimizer_net, recipe)
    train_data = Batches(data.train, recipe.batch_size, seed=seed) if spec.data_path == "batches" else data.loader(
        recipe.batch_size, seed
    )

    def net_epoch(epoch: int) -> int:
        train_one_epoch(net, train_data, optimizer_net, device=device, bar=bar)
        if step_lr is not None:
            step_lr.step()
        return len(data.train)

    return net_epoch, net


def warm_up(spec: BenchRecipe, data: BenchData, engine: Engine, steps: int) -> tuple[float, Engine, str | None]:
    """A few untimed training steps on a throw-away model: kernel choice, caches, ``torch.compile``.

    Returns the seconds it took, the engine to use (compile switched off if compiling failed) and the error.
    """
    sync(engine.device)
    tic = time.perf_counter()
    error = None
    try:
        _warm_steps(spec, data, engine, steps)
    except Exception as err:  # noqa: BLE001 - a failed compile must not cost the whole run
        if not (spec.is_fast and engine.compile):
            raise
        error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        engine = replace(engine, compile=False)
        _warm_steps(spec, data, engine, steps)
    sync(engine.device)
    return time.perf_counter() - tic, engine, error


def _warm_steps(spec: BenchRecipe, data: BenchData, engine: Engine, steps: int) -> None:
    torch.manual_seed(12345)
    if isinstance(spec.recipe, FastRecipe):
        recipe = replace(spec.recipe, epochs=1)
        model, step_model = prepare(FastNet(recipe.widths), engine)
        optimizer = make_fast_optimizer(model, recipe)
        batches = Batches(data.train, recipe.batch_size, drop_last=True, seed=12345)
        scheduler = make_one_cycle(optimizer, recipe, max(steps, 10))  # a schedule longer than the warm-up
        train_fast_epoch(
            step_model, itertools.islice(batches, steps), optimizer, scheduler, recipe=recipe, engine=engine
        )
        predict(model, subset(data.test, 1000, seed=0), device=engine.device)
    else:
        net = Net().to(engine.device)
        optimizer = make_optimizer(net, spec.recipe)
        batches = Batches(data.train, spec.recipe.batch_size, seed=12345)
        train_one_epoch(net, itertools.islice(batches, steps), optimizer, device=engine.device)


def run_recipe(
    spec: BenchRecipe, plan: Plan, data: BenchData, engine: Engine, *, progress: bool = True
) -> dict[str, Any]:
    """Train ``spec`` once per seed with the plan's schedule; per-run curves and a summary."""
    device = engine.device
    if device.type == "cuda":
        # cuDNN's autotuner is part of the book's engine, not of the published recipes.
        torch.backends.cudnn.benchmark = spec.is_fast
    warm_steps = (30 if spec.is_fast else 10) if device.type == "cuda" else 3
    warmup_seconds, engine, compile_error = warm_up(spec, data, engine, warm_steps)
    epochs = plan.epochs(spec)
    stop = plan.stop_at_target and not spec.is_fast
    runs: list[Run] = []
    memory = PeakMemory(device)  # one per seed (below); this one only says how it measures
    seeds = plan.seed_count(spec)
    # One bar per recipe, counting batches over all its seeds and epochs.
    bar = tqdm(
        total=seeds * epochs * batches_per_epoch(spec, len(data.train)), desc=f"{spec.key}: {spec.title}",
        unit="batch", disable=not progress, mininterval=1,
    )  # fmt: skip
    for seed in range(seeds):
        run = Run(seed)
        train_epoch, model = _trainer(spec, seed, epochs, data, engine, bar)
        memory = PeakMemory(device)
        for epoch in range(1, epochs + 1):
            with memory:
                sync(device)
                tic = time.perf_counter()
                run.images += train_epoch(epoch)
                sync(device)
                run.epoch_seconds.append(time.perf_counter() - tic)
            # The clock is stopped: evaluation is not training time.
            run.test_accuracy.append(predict(model, data.test, device=device, batch_size=1000).accuracy)
            bar.set_postfix(seed=seed, epoch=epoch, test_acc=f"{run.test_accuracy[-1]:.2%}", train_s=f"{run.seconds:.1f}")
            if stop and run.test_accuracy[-1] >= plan.target - 1e-12:
                break
        run.time_to_target, run.epoch_to_target = time_to_target(run.epoch_seconds, run.test_accuracy, plan.target)
        run.peak_mib = memory.peak_bytes / 2**20
        run.peak_extra_mib = memory.peak_extra_bytes / 2**20
        runs.append(run)
        del model, train_epoch
    bar.close()
    return {
        **spec.describe(),
        "epochs_planned": epochs,
        "stops_at_target": stop,
        "engine": engine.describe() if spec.is_fast else {"device": str(device), "as_published": True},
        "warmup_steps": warm_steps,
        "warmup_seconds": warmup_seconds,
        "compile_error": compile_error,
        "memory_measure": memory.how,
        "runs": [r.to_dict() for r in runs],
        "summary": summarize(runs, plan.target),
    }


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def summarize(runs: Sequence[Run], target: float) -> dict[str, Any]:
    """Mean and spread over seeds: final accuracy, time to target, images per second, peak memory.

    ``time_to_target_s`` is the mean when every run reached the target, else None; then
    ``time_to_target_at_least_s`` is a lower bound (runs that missed count with all their time).
    """
    reached = [r.time_to_target for r in runs if r.time_to_target is not None]
    all_reached = len(reached) == len(runs) and bool(runs)
    bound = [r.time_to_target if r.time_to_target is not None else r.seconds for r in runs]
    return {
        "seeds": len(runs),
        "target": target,
        "reached_target": len(reached),
        "time_to_target_s": statistics.fmean(reached) if all_reached else None,
        "time_to_target_at_least_s": statistics.fmean(bound) if bound else None,
        "time_to_target_spread": _spread(reached),
        "epoch_to_target": [r.epoch_to_target for r in runs],
        "final_accuracy": _spread([r.test_accuracy[-1] for r in runs if r.test_accuracy]),
        "epochs_run": [len(r.epoch_seconds) for r in runs],
        "training_seconds": statistics.fmean([r.seconds for r in runs]) if runs else None,
        "images_per_second": statistics.fmean([r.images_per_second for r in runs]) if runs else None,
        "peak_memory_mib": max((r.peak_mib for r in runs), default=None),
        "peak_extra_memory_mib": max((r.peak_extra_mib for r in runs), default=None),
    }


# --------------------------------------------------------------------------- the whole bench


def choose_threads(requested: int | None = None) -> tuple[int, str]:
    """How many CPU threads PyTorch should time with, and why.

    ``requested`` wins. Otherwise PyTorch's default (one per core), except on a machine that is
    already busy (1-minute load average at least the number of usable cores): then one, because
    threads that keep waiting for each other at every operation lose many times what they gain.
    """
    if requested is not None:
        return requested, f"{requested} (asked for)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    default = torch.get_num_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if default > 1 and load >= cores:
        return 1, f"1 (the machine is busy: load average {load:.1f} on {cores} cores)"
    return default, f"{default} (PyTorch's default; load average {load:.1f} on {cores} cores)"


def machine_info(device: torch.device) -> dict[str, Any]:
    """Hardware and software versions, so that a result says where it came from."""
    import numpy
    import torchvision

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_capability=f"{props.major}.{props.minor}",
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
    }
    return {"hardware": info, "versions": versions, "git_commit": _git_commit()}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def compare(recipes: dict[str, dict[str, Any]], target: float, device: torch.device) -> dict[str, Any]:
    """The issue's targets, each with its measured value and whether it was met (None: not measured)."""
    out: dict[str, Any] = {}
    s = {k: v["summary"] for k, v in recipes.items()}
    if "c" in s:
        acc = s["c"]["final_accuracy"]["mean"]
        out["fast_mean_accuracy"] = {"value": acc, "required": f">= {target}", "met": acc is not None and acc >= target}
    if "a" in s and "c" in s:
        c_time = s["c"]["time_to_target_s"]
        a_time = s["a"]["time_to_target_s"]
        bound = a_time is None
        speedup = _ratio(a_time if not bound else s["a"]["time_to_target_at_least_s"], c_time)
        out["fast_speedup_vs_a"] = {
            "value": speedup,
            "a_time_is_lower_bound": bound,
            "required": ">= 10 (aim 15)",
            "met": speedup is not None and speedup >= 10,
        }
    if "b" in s and "b-loader" in s:
        ratio = _ratio(s["b"]["images_per_second"], s["b-loader"]["images_per_second"])
        out["article_images_per_second_ratio"] = {"value": ratio, "required": ">= 2", "met": ratio is not None and ratio >= 2}
        diffs = []
        for rb, rl in zip(recipes["b"]["runs"], recipes["b-loader"]["runs"]):
            diffs += [abs(x - y) for x, y in zip(rb["test_accuracy"], rl["test_accuracy"])]
        worst = max(diffs) if diffs else None
        out["article_accuracy_difference"] = {
            "value": worst,
            "required": "<= 0.001 (epoch by epoch, same seed)",
            "met": worst is not None and worst <= 0.001,
        }
    if device.type == "cuda" and "c" in s:
        t = s["c"]["time_to_target_s"]
        out["gpu_fast_time_to_target"] = {"value": t, "required": "<= 1.0 s (aim 0.5 s)", "met": t is not None and t <= 1.0}
    return out


def run_bench(
    plan: Plan, device: torch.device | str, *, compile: bool | None = None, progress: bool = True,
    on_recipe: Callable[[dict[str, Any]], None] | None = None, data: BenchData | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run every recipe of ``plan`` on ``device``; return the whole result (what ``--json`` writes).

    ``on_recipe(result)`` is called after each recipe, with the result so far. ``data``: images
    already loaded (as many as the plan asks for), instead of loading them again.
    """
    device = torch.device(device)
    if data is not None and (len(data.train), len(data.test)) != (plan.train_size or 60000, plan.test_size or 10000):
        raise ValueError(
            f"data holds {len(data.train)} training and {len(data.test)} test images; the plan asks for "
            f"{plan.train_size or 60000} and {plan.test_size or 10000}."
        )
    engine = engine_for(device, compile=compile)
    started = _dt.datetime.now(_dt.timezone.utc)
    info = machine_info(device)
    data = data if data is not None else BenchData(device, plan.train_size, plan.test_size)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "date": started.isoformat(timespec="seconds"),
        **info,
        "plan": plan.describe(),
        "timing": (
            "Training time only: test accuracy is measured after each epoch with the clock stopped; a warm-up "
            "of a few steps per recipe (and torch.compile's compilation) is excluded and reported as warmup_seconds."
        ),
        "recipes": {},
    }
    for key in plan.recipes:
        spec = RECIPES[key]
        result["recipes"][key] = run_recipe(spec, plan, data, engine, progress=progress)
        if on_recipe is not None:
            on_recipe(result)
    result["targets"] = None if plan.smoke else compare(result["recipes"], plan.target, device)
    result["hardware"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result["wall_seconds"] = (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds()
    return result


# --------------------------------------------------------------------------- reporting


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per recipe: what ran, time to target, final accuracy, images per second, memory."""
    rows = []
    for key, r in result["recipes"].items():
        s = r["summary"]
        epochs = s["epochs_run"]
        ran = f"{min(epochs)}" if min(epochs) == max(epochs) else f"{min(epochs)}-{max(epochs)}"
        ran += f" of {r['published_epochs']}"
        if s["time_to_target_s"] is not None:
            hit = sorted(set(s["epoch_to_target"]))
            when = f"{_seconds(s['time_to_target_s'])} (epoch {'/'.join(map(str, hit))})"
        elif s["reached_target"]:
            when = f"{s['reached_target']}/{s['seeds']} seeds"
        else:
            when = f"not reached (> {_seconds(s['time_to_target_at_least_s'])})"
        acc = s["final_accuracy"]
        accuracy = f"{acc['mean']:.2%}"
        if s["seeds"] > 1:
            accuracy += f" ± {100 * acc['std']:.2f} ({acc['min']:.2%}-{acc['max']:.2%})"
        rows.append(
            [
                f"{key}: {r['title']}",
                f"{r['network']}, {'DataLoader' if r['data_path'] == 'loader' else 'in memory'}",
                ran,
                str(s["seeds"]),
                when,
                accuracy,
                f"{s['images_per_second']:,.0f}",
                f"{s['peak_extra_memory_mib']:,.0f}",
            ]
        )
    return rows


def format_table(result: dict[str, Any], *, last_row_only: bool = False) -> str:
    """The result as a Markdown table (readable as plain text too); or just its last row."""
    target = result["plan"]["target"]
    headers = [
        "recipe", "network, data", "epochs run", "seeds", f"time to {target:.1%}", "test accuracy",
        "train images/s", "peak memory (MiB)",
    ]  # fmt: skip
    rows = table_rows(result)
    if last_row_only:
        return markdown_table(headers, rows[-1:], align="llrrlrrr").splitlines()[-1]
    return markdown_table(headers, rows, align="llrrlrrr")


def format_targets(result: dict[str, Any]) -> str:
    """The targets, one line each: measured value, requirement, met or not."""
    lines = []
    for name, t in (result.get("targets") or {}).items():
        value = t["value"]
        shown = "n/a" if value is None else f"{value:.4g}"
        if t.get("a_time_is_lower_bound"):
            shown = f">= {shown} (a did not reach the target; its time is a lower bound)"
        lines.append(f"{name}: {shown} (required {t['required']}): {'met' if t['met'] else 'NOT met'}")
    return "\n".join(lines)


def load_results(folder: str | Path = RESULTS_DIR, device_type: str | None = None) -> list[dict[str, Any]]:
    """Saved bench results (``bench/results/*.json``), newest first; only one device type if given."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if result.get("schema") != SCHEMA:
            continue
        if device_type is None or result["hardware"]["device"].startswith(device_type):
            result["_path"] = str(path)
            found.append(result)
    return sorted(found, key=lambda r: r.get("date", ""), reverse=True)


# --------------------------------------------------------------------------- command line


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 99.0, got {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be a percentage in (0, 100], got {text}")
    return value


def _recipe_list(text: str) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in keys if k not in RECIPES]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown recipe {', '.join(unknown) or text!r}; choose from {', '.join(RECIPES)} (comma-separated)"
        )
    return keys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mnist_book.bench",
        description=(
            "Train the PyTorch example's recipe (a), the article's (b: in memory; b-loader: through a "
            "DataLoader) and the book's fast recipe (c) side by side; report time to the target test "
            "accuracy, final accuracy, images per second and peak memory."
        ),
        epilog=(
            "MNIST_BOOK_FAST=1 makes --smoke the default. Full run: c with --seeds seeds and its whole "
            "schedule; a and b with --baseline-seeds seeds, at most --baseline-epochs epochs of their "
            "published schedules, stopping once they reach the target."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--recipes", type=_recipe_list, default=tuple(RECIPES), help="comma-separated: " + ",".join(RECIPES))
    p.add_argument("--seeds", type=_positive_int, default=None, help="seeds for the fast recipe (default: 3; smoke 1)")
    p.add_argument("--baseline-seeds", type=_positive_int, default=1, help="seeds for a, b and b-loader")
    p.add_argument(
        "--baseline-epochs", type=_positive_int, default=None,
        help="at most this many epochs of a's and b's published schedules (default: 3; smoke 1)",
    )  # fmt: skip
    p.add_argument("--no-stop", action="store_true", help="a and b run all their capped epochs, even after the target")
    p.add_argument("--target", type=_percent, default=99.0, help="test accuracy to reach, in percent")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the full result here")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help=f"{SMOKE_TRAIN} training images, {SMOKE_TEST} test images, one epoch")
    mode.add_argument("--full", action="store_true", help="the full run even when MNIST_BOOK_FAST=1")
    p.add_argument(
        "--threads", type=_positive_int, default=None,
        help="CPU threads for PyTorch (default: one per core, or 1 when the load average says the machine is "
        "already busy; 1 in a smoke run, which only checks that everything runs)",
    )  # fmt: skip
    p.add_argument(
        "--compile", choices=["auto", "on", "off"], default="auto",
        help="torch.compile the fast recipe's model (auto: on CUDA only)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the result it printed (and wrote with ``--json``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        device = get_device(args.device)
    except RuntimeError:
        parser.exit(2, f"{parser.prog}: error: --device cuda, but PyTorch sees no CUDA GPU here; use --device cpu.\n")
    if args.json is not None and args.json.is_dir():
        parser.error(f"argument --json: {args.json} is a folder; give a file name such as {args.json / 'bench.json'}")
    try:
        smoke = args.smoke or (is_fast() and not args.full)
    except ValueError as err:
        parser.error(str(err))
    threads, threads_choice = choose_threads(args.threads if args.threads is not None else (1 if smoke else None))
    torch.set_num_threads(threads)
    make_plan = smoke_plan if smoke else full_plan
    changes: dict[str, Any] = {
        "recipes": args.recipes,
        "baseline_seeds": args.baseline_seeds,
        "stop_at_target": not args.no_stop,
        "target": args.target / 100,
    }
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    if args.baseline_epochs is not None:
        changes["baseline_epochs"] = args.baseline_epochs
    plan = make_plan(**changes)
    compile_choice = {"auto": None, "on": True, "off": False}[args.compile]
    print(
        f"{parser.prog}: {'smoke' if smoke else 'full'} run on {device}, CPU threads: {threads_choice}.\n"
        f"{plan.what_runs()}; target {args.target:.1f}% test accuracy.",
        flush=True,
    )
    def report(partial: dict[str, Any]) -> None:
        tqdm.write(format_table(partial, last_row_only=True), file=sys.stdout)

    empty = {"plan": plan.describe(), "recipes": {}}
    print("\n".join(format_table(empty).splitlines()[:2]), flush=True)  # the header; rows follow as they finish
    try:
        result = run_bench(plan, device, compile=compile_choice, progress=not args.no_progress, on_recipe=report)
    except DataError as err:
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    result["hardware"]["threads_choice"] = threads_choice
    print("\nAll together:")
    print(format_table(result))
    if result["targets"]:
        print()
        print(format_targets(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nWrote {args.json}")
    return result


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
