"""How the benchmark runs: the data, an untimed warm-up, then each recipe trained by
:func:`~mnist_book.train.fit` with the clock on training only and the memory measured.

*Time to target* is the training time up to the end of the first epoch whose test accuracy
reaches the target (:func:`time_to_target`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from mnist_book.bench.plan import RECIPES, BenchRecipe, Plan
from mnist_book.data import load_split, mnist_loader, subset, subset_indices
from mnist_book.devices import PLAIN, Engine, engine_for, sync
from mnist_book.profiling import PeakMemory, machine_info
from mnist_book.train import History, fit

SCHEMA = "mnist_book.bench/1"


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


# --------------------------------------------------------------------------- data


class BenchData:
    """The training and test images on the device, and the ``DataLoader`` over the same training images."""

    def __init__(self, device: torch.device, train_size: int | None = None, test_size: int | None = None) -> None:
        self.device = torch.device(device)
        train = load_split("mnist", train=True, device=self.device)
        # The same images for both paths: the DataLoader gets these indices.
        self.indices = None
        if train_size is not None and train_size < len(train):
            self.indices = subset_indices(len(train), train_size, seed=0)
            train = train.take(self.indices)
        self.train = train
        self.test = subset(load_split("mnist", train=False, device=self.device), test_size or 10000, seed=0)

    def loader(self, batch_size: int, seed: int) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` that draws the same batches as ``Batches(train, batch_size, seed=seed)``.

        Settings as in PyTorch's example: in the main process on a CPU; one worker and pinned memory on CUDA.
        """
        extra = {"num_workers": 1, "pin_memory": True} if self.device.type == "cuda" else {}
        indices = self.indices.tolist() if self.indices is not None else None
        return mnist_loader(batch_size, indices=indices, seed=seed, **extra)


# --------------------------------------------------------------------------- training one recipe


def images_per_epoch(spec: BenchRecipe, n_images: int) -> int:
    """Training images an epoch of ``spec`` sees (a recipe that drops a last partial batch sees fewer)."""
    size = spec.recipe.batch_size
    return n_images // size * size if spec.recipe.drop_last else n_images


def warm_up(spec: BenchRecipe, data: BenchData, engine: Engine, steps: int) -> tuple[float, Engine, str | None]:
    """A few untimed training steps on a throw-away model: kernel choice, caches, ``torch.compile``.

    Returns the seconds it took, the engine to use (compile switched off if compiling failed) and the error.
    """
    recipe = spec.recipe.changed(epochs=1, schedule="constant", seed=12345)  # the schedule changes no kernel
    few = data.train.take(torch.arange(min(steps * recipe.batch_size, len(data.train))))

    def steps_of(engine: Engine) -> None:
        fit(recipe, few, subset(data.test, 1000), device=data.device, engine=engine, progress=False)

    sync(data.device)
    started = time.perf_counter()
    error = None
    try:
        steps_of(engine)
    except Exception as err:
        if not engine.compile:
            raise
        error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        engine = replace(engine, compile=False)
        steps_of(engine)
    sync(data.device)
    return time.perf_counter() - started, engine, error


def run_recipe(
    spec: BenchRecipe, plan: Plan, data: BenchData, *, compile: bool | None = None, progress: bool = True
) -> dict[str, Any]:
    """Train ``spec`` once per seed with the plan's schedule; per-run curves and a summary."""
    # cuDNN's autotuner is part of the book's engine, not of the published recipes.
    with cudnn_autotuner(spec.fast and data.device.type == "cuda"):
        return _run_recipe(spec, plan, data, compile=compile, progress=progress)


@contextlib.contextmanager
def cudnn_autotuner(on: bool) -> Iterator[None]:
    """cuDNN's autotuner (``torch.backends.cudnn.benchmark``) on or off inside the block, and as it was after it."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _run_recipe(
    spec: BenchRecipe, plan: Plan, data: BenchData, *, compile: bool | None, progress: bool
) -> dict[str, Any]:
    device = data.device
    cuda = device.type == "cuda"
    engine = engine_for(device, compile=compile) if spec.fast else PLAIN
    warm_steps = (30 if spec.fast else 10) if cuda else 3
    warmup_seconds, engine, compile_error = warm_up(spec, data, engine, warm_steps)
    epochs = plan.epochs(spec)
    runs: list[Run] = []
    memory = PeakMemory(device)  # one per seed (below); this one only says how it measures
    for seed in range(plan.seed_count(spec)):
        recipe = spec.recipe.changed(seed=seed, epochs=epochs)
        train = data.loader(recipe.batch_size, seed) if spec.data_path == "loader" else data.train
        memory = PeakMemory(device)
        stop = _reached(plan.target) if plan.stops_at_target(spec) else None
        # The test set is the "validation" here: its accuracy is measured after every epoch, off the clock.
        _, history = fit(
            recipe,
            train,
            data.test,
            device=device,
            engine=engine,
            around_training=lambda memory=memory: memory,
            stop_when=stop,
            progress=progress,
            desc=f"{spec.key}: {spec.title}, seed {seed}",
        )
        runs.append(_run_from(history, seed, images_per_epoch(spec, len(data.train)), memory, plan.target))
    return {
        **spec.describe(),
        "epochs_planned": epochs,
        "stops_at_target": plan.stops_at_target(spec),
        "engine": {"device": str(device), **engine.describe(), **({} if spec.fast else {"as_published": True})},
        "warmup_steps": warm_steps,
        "warmup_seconds": warmup_seconds,
        "compile_error": compile_error,
        "memory_measure": memory.how,
        "runs": [r.to_dict() for r in runs],
        "summary": summarize(runs, plan.target),
    }


def _reached(target: float) -> Callable[[History], bool]:
    return lambda history: history.val_acc[-1] >= target - 1e-12


def _run_from(history: History, seed: int, images_per_epoch: int, memory: PeakMemory, target: float) -> Run:
    run = Run(seed, list(history.train_seconds), list(history.val_acc), images_per_epoch * len(history))
    run.time_to_target, run.epoch_to_target = time_to_target(run.epoch_seconds, run.test_accuracy, target)
    run.peak_mib = memory.peak_bytes / 2**20
    run.peak_extra_mib = memory.peak_extra_bytes / 2**20
    return run


# --------------------------------------------------------------------------- the whole bench


def run_bench(
    plan: Plan,
    device: torch.device | str,
    *,
    compile: bool | None = None,
    progress: bool = True,
    on_recipe: Callable[[dict[str, Any]], None] | None = None,
    data: BenchData | None = None,
) -> dict[str, Any]:
    """Run every recipe of ``plan`` on ``device``; return the whole result (what ``--json`` writes).

    ``on_recipe(result)`` is called after each recipe, with the result so far. ``data``: images
    already loaded (as many as the plan asks for), instead of loading them again.
    """
    device = torch.device(device)
    want = (plan.train_size or 60000, plan.test_size or 10000)
    if data is not None and (len(data.train), len(data.test)) != want:
        raise ValueError(
            f"data holds {len(data.train)} training and {len(data.test)} test images; the plan asks for "
            f"{want[0]} and {want[1]}."
        )
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
        result["recipes"][key] = run_recipe(RECIPES[key], plan, data, compile=compile, progress=progress)
        if on_recipe is not None:
            on_recipe(result)
    result["hardware"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result["wall_seconds"] = (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds()
    return result
