"""Measuring a training step: where its time goes (phase by phase, or op by op with ``torch.profiler``),
how much memory it needs, and the facts about the machine that a measurement depends on
(appendix *Speed*; :mod:`mnist_book.bench` uses these too).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import torch

from mnist_book.devices import sync
from mnist_book.settings import REPO_ROOT

# --------------------------------------------------------------------------- clocks and memory


def _rss_bytes() -> int | None:
    """The process's resident memory now (Linux), or None where /proc is not available."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _release_free_memory() -> None:
    """Give memory that is already freed back to the operating system (glibc only; elsewhere nothing).

    Without it the process keeps what earlier runs freed, and a later run's peak would not show in
    the resident set size.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory inside ``with`` blocks (the largest over all of them), and the peak above each block's start.

    CUDA: the caching allocator's ``max_memory_allocated``. CPU: the resident set size, sampled every
    few milliseconds by a thread (a spike shorter than that can be missed), after handing freed
    memory back to the system so that the block's own allocations show.
    """

    interval = 0.005

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.peak_bytes = 0
        self.peak_extra_bytes = 0
        self._start = 0
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._block_peak = 0

    @property
    def how(self) -> str:
        if self.device.type == "cuda":
            return "torch.cuda.max_memory_allocated"
        return "resident set size, sampled" if _rss_bytes() is not None else "ru_maxrss (whole process)"

    def _sample(self) -> None:
        assert self._stop is not None
        while not self._stop.wait(self.interval):
            self._block_peak = max(self._block_peak, _rss_bytes() or 0)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif _rss_bytes() is not None:
            _release_free_memory()
            self._start = self._block_peak = _rss_bytes() or 0
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self._thread is not None and self._stop is not None:
            self._stop.set()
            self._thread.join()
            peak = max(self._block_peak, _rss_bytes() or 0)
        else:  # no /proc: the process's lifetime peak is all there is (kilobytes on Linux, bytes on macOS)
            scale = 1 if sys.platform == "darwin" else 1024
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        self.peak_bytes = max(self.peak_bytes, peak)
        self.peak_extra_bytes = max(self.peak_extra_bytes, peak - self._start)


# --------------------------------------------------------------------------- where the time goes


class StepTimes(NamedTuple):
    """Mean seconds per training step in each phase, and the images per step."""

    data: float  # everything before the forward pass: getting the batch, moving it, augmenting it
    forward: float  # the model
    backward: float  # the loss, then the backward pass
    optimizer: float
    batch_size: float

    @property
    def total(self) -> float:
        return self.data + self.forward + self.backward + self.optimizer

    @property
    def images_per_second(self) -> float:
        return self.batch_size / self.total


def synced_clock(device: torch.device) -> float:
    """The time in seconds, read once ``device`` has finished the work queued on it."""
    sync(device)
    return time.perf_counter()


#: The phases of a training step, as :func:`time_phases` and :func:`profile_steps` split it.
PHASES = ("1 data", "2 forward", "3 loss + backward", "4 optimizer step")


@contextlib.contextmanager
def phase_boundaries(model: torch.nn.Module, optimizer: torch.optim.Optimizer, begin: Callable[[str], None]):
    """Inside the block, ``begin(phase)`` is called where each phase of a training step begins:
    hooks on the model mark the forward pass and what follows it (the loss and the backward pass),
    hooks on the optimiser its step and what follows it (the next batch's data)."""
    handles = [
        model.register_forward_pre_hook(lambda *_: begin(PHASES[1])),
        model.register_forward_hook(lambda *_: begin(PHASES[2])),
        optimizer.register_step_pre_hook(lambda *_: begin(PHASES[3])),
        optimizer.register_step_post_hook(lambda *_: begin(PHASES[0])),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def time_phases(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    device: torch.device | str,
    warmup: int = 1,
    **step_options: Any,
) -> StepTimes:
    """Time ``steps`` steps of :func:`~mnist_book.train.train_one_epoch` itself, after ``warmup``
    untimed ones, phase by phase (:func:`phase_boundaries`), and average each phase.

    ``step_options`` go to ``train_one_epoch`` (``recipe``, ``scheduler``, ``augment``, ``engine``):
    what is timed is the step the book trains with. The clock is read once the device has finished
    its queued work, so on a GPU the phases lose the overlap a real run would have.
    """
    from mnist_book.train import train_one_epoch  # (train imports nothing from here)

    device = torch.device(device)
    marks: list[float] = []
    sizes: list[int] = []

    def counted() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in itertools.islice(batches, warmup + steps):
            sizes.append(len(y))
            yield x, y

    with phase_boundaries(model, optimizer, lambda _: marks.append(synced_clock(device))):
        marks.append(synced_clock(device))  # the first step's data phase begins
        with contextlib.suppress(ValueError):  # no batches at all: train_one_epoch refuses
            train_one_epoch(model, counted(), optimizer, device=device, **step_options)
    # Four marks a step (data, forward, loss + backward, optimizer) and one more to close the last.
    timed = [[b - a for a, b in zip(marks[k : k + 4], marks[k + 1 : k + 5])] for k in range(0, len(marks) - 4, 4)]
    timed = timed[warmup:]
    if not timed:
        raise ValueError(f"time_phases() needs at least {warmup + 1} batches.")
    phases = [sum(step[i] for step in timed) / len(timed) for i in range(4)]
    return StepTimes(*phases, batch_size=sum(sizes[warmup : warmup + len(timed)]) / len(timed))


def time_interleaved(
    calls: dict[str, Callable[[], object]], *, rounds: int, warmup: int = 1, device: torch.device | str = "cpu"
) -> dict[str, list[float]]:
    """Seconds per call of each callable, ``rounds`` times, taking turns (the order reversed every other round:
    A B, B A, A B...), after ``warmup`` untimed rounds.

    Taking turns spreads the machine's other work, and its drift, over all the callables alike; the untimed
    round pays the one-time costs (first allocations, the math library's setup) that would land on whichever
    went first.
    """
    if rounds < 1 or not calls:
        raise ValueError(f"time_interleaved() needs at least one callable and one round, not {rounds} rounds.")
    device = torch.device(device)
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(warmup + rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            sync(device)
            start = time.perf_counter()
            calls[name]()
            sync(device)
            if r >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send what C++ code writes to file descriptor 2 to /dev/null for a while.

    The profiler's library logs its start and stop there, and on a machine without a GPU an
    ``ERROR`` line about counting GPUs, none of which is a problem. Python's own errors still show.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to redirect
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def profile_steps(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    device: torch.device | str,
    row_limit: int = 12,
    **step_options: Any,
) -> str:
    """``torch.profiler`` over ``steps`` steps of :func:`~mnist_book.train.train_one_epoch` itself
    (``step_options`` go to it), each phase labelled; its table of the costliest operations."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from mnist_book.train import train_one_epoch

    device = torch.device(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    labels: list[record_function] = []

    def begin(phase: str) -> None:  # close the running phase's label, open the next one's
        if labels:
            labels.pop().__exit__(None, None, None)
        labels.append(record_function(phase))
        labels[-1].__enter__()

    with _native_stderr_silenced(), profile(activities=activities) as prof:
        with phase_boundaries(model, optimizer, begin):
            begin(PHASES[0])
            train_one_epoch(model, itertools.islice(batches, steps), optimizer, device=device, **step_options)
            labels.pop().__exit__(None, None, None)
        sync(device)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=row_limit, max_name_column_width=40)


# --------------------------------------------------------------------------- the machine


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
