"""Checkers for the chapters' exercises: the reader's answer against PyTorch itself.

A reader writes a function (or computes a number) and passes it to a checker, e.g.
``check_conv2d(my_conv2d)``; the :class:`Verdict` says in words whether it is right and, if not,
on which input it differs and how. The truth is always PyTorch (``F.conv2d``, a real optimizer or
scheduler, layers on the ``meta`` device, which computes shapes without data) or a direct
computation, never this package's own version of the same thing.

A checker never raises because of the answer: a wrong type or shape, an exception inside the
reader's function, NaN... all become a failing verdict. It does raise for the book's own slips
(an unknown dataset name) and when the data cannot be had (:class:`~mnist_book.data.DataError`).
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_book.data import DATASETS, DataError, load_split
from mnist_book.perturb import shift_images

__all__ = [
    "Verdict",
    "check_pixel_stats",
    "check_one_hot",
    "check_output_size",
    "check_conv2d",
    "check_shift_kernel",
    "check_max_pool2d",
    "check_fc1_inputs",
    "check_softmax",
    "check_parameter_count",
    "check_sgd_momentum_step",
    "check_step_lr",
    "check_accuracy",
    "check_confusion_matrix",
    "check_smoothed_targets",
    "check_stratified_subset",
    "check_centre_of_mass",
]

_RIGHT, _NOT_YET = "Right: ", "Not yet: "


@dataclass(frozen=True, repr=False)
class Verdict:
    """A checker's answer: ``ok``, and a ``message`` that starts with "Right:" or "Not yet:".

    True when right, so ``assert check_conv2d(f)`` works; Jupyter shows it as Markdown.
    """

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def _repr_markdown_(self) -> str:
        """The verdict in bold, then the message without its own "Right:"/"Not yet:"."""
        body = self.message.removeprefix(_RIGHT if self.ok else _NOT_YET)
        # Backslash-escape Markdown's punctuation, so that label_smoothing or a*b stay as written.
        body = re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", body[:1].upper() + body[1:])
        return f"**{'Right' if self.ok else 'Not yet'}.** {body}"


class _NotYet(Exception):
    """The answer is wrong: the message (a sentence without "Not yet:") says where and how."""


class _Misuse(ValueError):
    """The book called a checker wrongly (not the reader's answer): this one propagates."""


def _checker(check: Callable[..., str]) -> Callable[..., Verdict]:
    """A check that returns the "Right" sentence or raises :class:`_NotYet`, made into one that returns a Verdict."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Verdict:
        try:
            return Verdict(True, _RIGHT + check(*args, **kwargs))
        except _NotYet as miss:
            return Verdict(False, _NOT_YET + str(miss))
        except (DataError, _Misuse):
            raise  # nothing to do with the answer; the message says what to do
        except Exception as err:  # an answer so odd that examining it failed: still a verdict, not a crash
            return Verdict(False, f"{_NOT_YET}your answer could not be examined ({_error(err)}).")

    # help() and Jupyter's signature tooltip should show what the reader gets back.
    run.__signature__ = inspect.signature(check).replace(return_annotation="Verdict")  # type: ignore[attr-defined]
    return run


# --------------------------------------------------------------------------- examining an answer


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _error(err: BaseException) -> str:
    """An exception as "TypeError: its first line", for a message."""
    lines = str(err).strip().splitlines()
    first = lines[0].rstrip(".") if lines else ""
    return f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__


def _kind(value: Any) -> str:
    """What ``value`` is, in a few words: "None", "a function", "a tensor of shape (3,)", "a str ('0.28')"."""
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if callable(value):
        return "a function"
    text = repr(value)
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name} ({text if len(text) <= 40 else text[:37] + '...'})"


def _show(name: str, t: torch.Tensor) -> str:
    """An input for a message: "labels=[3, 1]" when it is small, else "labels of shape (200,)"."""
    return f"{name}={t.tolist()}" if t.numel() <= 12 else f"{name} of shape {tuple(t.shape)}"


def _call(fn: Any, *args: Any, where: str) -> Any:
    """``fn(*args)`` on copies of the tensors (so the answer cannot alter the checker's own); an
    exception inside it becomes a :class:`_NotYet` that names the input (``where``)."""
    if not callable(fn):
        raise _NotYet(f"this checker wants your function itself, but got {_kind(fn)}.")
    copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    try:
        return fn(*copies)
    except Exception as err:
        raise _NotYet(f"{where}, your function raised {_error(err)}.") from None


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    """``value`` (a tensor, NumPy array, nested list or number) as a plain CPU tensor, or a _NotYet naming ``what``."""
    try:
        t = value.detach().cpu() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        converted = not isinstance(value, str) and not t.is_complex()
    except Exception:  # a ragged list, None, an object NumPy cannot read...
        converted = False
    if not converted:
        raise _NotYet(f"{what} should be a tensor (or an array of numbers), but it is {_kind(value)}.")
    return t.as_subclass(torch.Tensor)


def _as_number(value: Any, what: str) -> float:
    """``value`` (a Python or NumPy number, or a one-element tensor or array) as a float, or a _NotYet."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        t = _as_tensor(value, what)
        if t.numel() == 1 and t.dtype != torch.bool:
            return float(t.reshape(()))
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise _NotYet(f"{what} should be a number, but it is {_kind(value)}.")


def _as_count(value: Any, what: str) -> int:
    """``value`` as an int: anything ``int()`` takes without losing a fraction (9216, 9216.0, a tensor)."""
    x = _as_number(value, what)
    if not x.is_integer():
        raise _NotYet(f"{what} should be a whole number, but it is {x:g}.")
    return int(x)


def _close(t: torch.Tensor, expected: torch.Tensor, tol: float) -> bool:
    """Same shape and equal within ``tol``, absolute plus relative (NaN is never close)."""
    return t.shape == expected.shape and torch.allclose(t.double(), expected.double(), rtol=tol, atol=tol)


def _expect_close(
    got: Any,
    expected: torch.Tensor,
    where: str,
    *,
    by: str,
    yours: str = "your result",
    tol: float = 0.0,
    hints: Sequence[tuple[torch.Tensor, str]] = (),
) -> None:
    """Pass when ``got`` equals ``expected`` (``by`` names where that comes from) within ``tol``. Else
    raise a _NotYet: the hint of the first mistake ``got`` matches, or its shape, NaN, or largest difference."""
    t = _as_tensor(got, f"{where}, {yours}")
    if _close(t, expected, tol):
        return
    for mistake, hint in hints:
        if _close(t, mistake, max(tol, 1e-5)):  # a mistake computed another way is still that mistake
            raise _NotYet(f"{where}, {hint}")
    if t.shape != expected.shape:
        raise _NotYet(f"{where}, {yours} has shape {tuple(t.shape)}, but {by} has shape {tuple(expected.shape)}.")
    t, e = t.double(), expected.double()
    diff = (t - e).abs().nan_to_num(math.inf)  # NaN counts as the largest difference
    i = int(diff.flatten().argmax())
    at = f" at index {[int(j) for j in torch.unravel_index(torch.tensor(i), e.shape)]}" if e.dim() else ""
    a, b = float(t.flatten()[i]), float(e.flatten()[i])
    if not math.isfinite(a):
        raise _NotYet(f"{where}, {yours} holds {a}{at}, where {by} has {b:.6g}.")
    raise _NotYet(
        f"{where}, {yours} differs from {by} by up to {float(diff.flatten()[i]):.3g}{at} "
        f"(yours {a:.6g}, expected {b:.6g})."
    )


def _expect_number(
    got: float, truth: float, *, wrong: str, tol: float = 0.0, hints: Sequence[tuple[float, str]] = ()
) -> None:
    """Pass when ``got`` is within ``tol`` (absolute plus relative) of ``truth``; else raise the hint of
    the first mistake it matches, or ``wrong``."""

    def near(a: float, b: float) -> bool:
        return abs(a - b) <= tol * (1 + abs(b))

    if near(got, truth):
        return
    raise _NotYet(next((hint for mistake, hint in hints if near(got, mistake)), wrong))


# --------------------------------------------------------------------------- chapter 1: data


@functools.cache
def _pixel_stats(dataset: str) -> tuple[float, float]:
    """Mean and standard deviation (float64) of a training set's pixels scaled to [0, 1]."""
    images = load_split(dataset, train=True, normalize=False).images.double()
    std, mean = torch.std_mean(images)
    return float(mean), float(std)


def _stat_miss(name: str, got: float, truth: float) -> str | None:
    """What is wrong with one statistic (within 5e-4 is right), or None."""
    if abs(got - truth) <= 5e-4:
        return None
    if abs(got / 255 - truth) <= 5e-4:
        return (
            f"your {name} {got:.4g} looks computed on pixels from 0 to 255: scale them to [0, 1] (divide by 255) first"
        )
    return f"your {name} {got:.4f} is off by {got - truth:+.4f}"


@_checker
def check_pixel_stats(mean: Any, std: Any, dataset: str = "fashion_mnist") -> str:
    """The mean and standard deviation of ``dataset``'s training pixels scaled to [0, 1], within 5e-4 each."""
    if dataset not in DATASETS:
        raise _Misuse(f"Unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}.")
    got = _as_number(mean, "your mean"), _as_number(std, "your standard deviation")
    truth = _pixel_stats(dataset)
    misses = [m for m in map(_stat_miss, ("mean", "standard deviation"), got, truth) if m]
    if misses:
        raise _NotYet("; ".join(misses) + ".")
    return f"the {dataset} training pixels have mean {truth[0]:.4f} and standard deviation {truth[1]:.4f}."


@_checker
def check_one_hot(fn: Callable[..., Any]) -> str:
    """``fn(labels, num_classes)``: (N,) int64 labels to (N, num_classes) one-hot rows, as ``F.one_hot``."""
    g = _generator()
    cases = [
        (torch.randint(0, 10, (7,), generator=g), 10),
        (torch.tensor([9, 0, 9, 4]), 10),  # the largest label, num_classes - 1
        (torch.tensor([1]), 3),  # one label, and no sample of the last class
        (torch.tensor([2, 0, 1, 2, 2]), 3),
    ]
    for labels, k in cases:
        where = f"for {_show('labels', labels)} and num_classes={k}"
        _expect_close(_call(fn, labels, k, where=where), F.one_hot(labels, k), where, by="F.one_hot's result")
    return f"your one-hot encoding matches F.one_hot on {len(cases)} inputs."


# --------------------------------------------------------------------------- chapters 2 and 3: convolution, pooling


def _conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int | None:
    """One spatial size of ``F.conv2d``'s output, from PyTorch on the meta device; None where PyTorch refuses."""
    x, w = torch.empty(1, 1, size, size, device="meta"), torch.empty(1, 1, kernel, kernel, device="meta")
    try:
        return F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation).shape[-1]
    except RuntimeError:  # the (dilated) kernel is larger than the padded input
        return None


@_checker
def check_output_size(fn: Callable[..., Any]) -> str:
    """``fn(size, kernel, stride=1, padding=0, dilation=1)``: one spatial size of a convolution's output."""
    # (size, kernel, stride, padding, dilation): the defaults spelled out, so that a message names all five.
    cases = [(28, 3, 1, 0, 1), (26, 3, 1, 0, 1), (28, 5, 2, 2, 1), (28, 3, 2, 0, 1), (27, 3, 2, 1, 1)]
    cases += [(28, 3, 1, 2, 2), (10, 3, 3, 0, 1), (7, 7, 1, 0, 1), (28, 5, 1, 0, 3)]
    draw = random.Random(0)
    while len(cases) < 15:  # a few more, the same every time; only those PyTorch accepts
        case = tuple(draw.randint(lo, hi) for lo, hi in ((1, 40), (1, 7), (1, 4), (0, 3), (1, 3)))
        if _conv_output_size(*case) is not None:
            cases.append(case)
    for args in cases:
        truth = _conv_output_size(*args)
        where = "for size={}, kernel={}, stride={}, padding={}, dilation={}".format(*args)
        got = _as_count(_call(fn, *args, where=where), f"{where}, your function's result")
        _expect_number(got, truth, wrong=f"{where}, your function gives {got}; PyTorch's layer gives {truth}.")
    return f"your formula gives the output size of PyTorch's convolution in all {len(cases)} cases tried."


@_checker
def check_conv2d(fn: Callable[..., Any]) -> str:
    """``fn(x, w)``: x (B, C, H, W), w (O, C, kh, kw), stride 1, no padding, no bias, as ``F.conv2d(x, w)``."""
    g = _generator()
    shapes = [((1, 1, 4, 4), (1, 1, 2, 2)), ((2, 3, 7, 6), (4, 3, 3, 2)), ((1, 2, 5, 5), (3, 2, 5, 5))]
    for x_shape, w_shape in shapes:
        x, w = torch.randn(x_shape, generator=g), torch.randn(w_shape, generator=g)
        where = f"for an input of shape {x_shape} and a kernel of shape {w_shape}"
        flipped = (
            "you computed a true convolution (the kernel flipped); nn.Conv2d computes a cross-correlation, chapter 2."
        )
        got = _call(fn, x, w, where=where)
        hints = [(F.conv2d(x, w.flip(-1, -2)), flipped)]
        _expect_close(got, F.conv2d(x, w), where, by="F.conv2d's result", tol=1e-4, hints=hints)
    return f"your conv2d matches F.conv2d on {len(shapes)} inputs, up to float32 rounding."


@_checker
def check_shift_kernel(kernel: Any) -> str:
    """A 3x3 kernel that, as ``F.conv2d(img, k.view(1, 1, 3, 3), padding=1)``, moves an image one pixel right."""
    k = _as_tensor(kernel, "your kernel")
    if k.squeeze().shape != (3, 3):
        raise _NotYet(f"your kernel has shape {tuple(k.shape)}; it should be 3x3.")
    k = k.double().reshape(1, 1, 3, 3)
    images = torch.rand(3, 1, 1, 8, 8, generator=_generator(), dtype=torch.float64)
    for i, img in enumerate(images, 1):
        moves = {(dx, dy): shift_images(img, dx, dy, fill=0.0) for dx, dy in ((-1, 0), (0, -1), (0, 1))}
        hints = [
            (img, "your kernel leaves the image where it is."),
            (moves[-1, 0], "it moves the image left: flip it."),
            (moves[0, -1], "it moves the image up, not right."),
            (moves[0, 1], "it moves the image down, not right."),
        ]
        expected = shift_images(img, 1, 0, fill=0.0)
        where = f"on random 8x8 image {i}"
        _expect_close(
            F.conv2d(img, k, padding=1),
            expected,
            where,
            by="the image moved right",
            yours="your kernel's output",
            tol=1e-6,
            hints=hints,
        )
    return "your kernel moves the image one pixel right, zeros coming in on the left."


@_checker
def check_max_pool2d(fn: Callable[..., Any]) -> str:
    """``fn(x, kernel, stride)``: max pooling of x (B, C, H, W), square window, no padding, as ``F.max_pool2d``."""
    g = _generator()
    cases = [((1, 1, 4, 4), 2, 2), ((2, 3, 7, 7), 2, 2), ((1, 2, 6, 6), 3, 1), ((1, 1, 9, 9), 3, 3)]
    for shape, k, s in cases:
        x = torch.randn(shape, generator=g)
        where = f"for an input of shape {shape}, kernel={k}, stride={s}"
        hints = [(F.avg_pool2d(x, k, s), "you averaged each window; max pooling keeps its largest value.")]
        _expect_close(
            _call(fn, x, k, s, where=where), F.max_pool2d(x, k, s), where, by="F.max_pool2d's result", hints=hints
        )
    return f"your max_pool2d matches F.max_pool2d exactly on {len(cases)} inputs."


# --------------------------------------------------------------------------- chapter 4: the network


def _convolutions(padding: int = 0, conv2_kernel: int = 3) -> nn.Sequential:
    """The article's conv1 (1->32, 3x3) and conv2 (32->64), with these changes, on the meta device (shapes only)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=padding, device="meta"),
        nn.ReLU(),
        nn.Conv2d(32, 64, conv2_kernel, padding=padding, device="meta"),
        nn.ReLU(),
    )


def _flat_features(convs: nn.Sequential, pool: int, ceil_mode: bool = False) -> int:
    """Features entering fc1: a 28x28 meta input through ``convs`` and a max-pool (window and stride ``pool``)."""
    x = convs(torch.empty(1, 1, 28, 28, device="meta"))
    return torch.flatten(F.max_pool2d(x, pool, pool, ceil_mode=ceil_mode), 1).shape[1]


def _network_parameters(padding: int, *, biases: bool = True) -> int:
    """Trainable parameters of the article's network with ``padding`` on both convolutions."""
    convs = _convolutions(padding)
    fc = [nn.Linear(_flat_features(convs, 2), 128, device="meta"), nn.Linear(128, 10, device="meta")]
    params = nn.ModuleList([convs, *fc]).named_parameters()
    return sum(p.numel() for name, p in params if p.requires_grad and (biases or not name.endswith("bias")))


@_checker
def check_fc1_inputs(n: Any) -> str:
    """The features entering fc1 with conv2 5x5 and a 3x3 pool of stride 3 (conv1 as it was, input 28x28)."""
    got = _as_count(n, "your answer")
    convs = _convolutions(conv2_kernel=5)
    truth = _flat_features(convs, 3)
    hints = [
        (
            _flat_features(_convolutions(), 2),
            "that is the article's network as it is; with a 5x5 kernel conv2's maps are smaller.",
        ),
        (_flat_features(convs, 1), "that is before the pool: the 3x3 window with stride 3 shrinks each map too."),
        (
            _flat_features(convs, 3, ceil_mode=True),
            "that rounds the pooled size up: a window that does not fit is dropped.",
        ),
    ]
    wrong = f"{got:,} is not it. Follow one map's size: 28, after conv1, after conv2, after the pool; then C x H x W."
    _expect_number(got, truth, wrong=wrong, hints=hints)
    return f"{truth:,} features enter fc1 (64 maps of {math.isqrt(truth // 64)}x{math.isqrt(truth // 64)})."


@_checker
def check_softmax(fn: Callable[..., Any]) -> str:
    """``fn(z)``: probabilities along dim 1 of logits z (N, K), as ``torch.softmax(z, 1)``, within 1e-5."""
    g = _generator()
    large = torch.tensor([[1000.0], [-1000.0], [990.0]]) + 5 * torch.randn(3, 10, generator=g)
    cases = [torch.randn(4, 10, generator=g), 3 * torch.randn(1, 3, generator=g), large]
    for z in cases:
        where = f"for logits of shape {tuple(z.shape)}" + (" around ±1000" if z is large else "")
        got = _call(fn, z, where=where)
        if z is large and not _as_tensor(got, f"{where}, your result").isfinite().all():
            raise _NotYet(
                f"{where}, your result holds NaN or infinity: exp overflows for large logits: "
                "subtract each row's maximum first (softmax does not change)."
            )
        hints = [
            (
                torch.softmax(z.double(), 0),
                "you normalised each column (dim 0); a sample's probabilities are a row: dim=1.",
            )
        ]
        _expect_close(got, torch.softmax(z.double(), 1), where, by="torch.softmax's result", tol=1e-5, hints=hints)
    return f"your softmax matches torch.softmax on {len(cases)} inputs, large logits included."


@_checker
def check_parameter_count(n: Any) -> str:
    """Trainable parameters of the article's network with padding=1 on both convolutions."""
    got = _as_count(n, "your answer")
    truth = _network_parameters(padding=1)
    hints = [
        (_network_parameters(padding=0), "that is the network without padding."),
        (_network_parameters(padding=1, biases=False), "that leaves out the biases (one per output channel or unit)."),
    ]
    wrong = (
        f"{got:,} is not it. A convolution has out x in x kh x kw weights plus out biases, a linear layer "
        "out x in weights plus out biases; padding changes only the size of fc1's input."
    )
    _expect_number(got, truth, wrong=wrong, hints=hints)
    return f"the padded network has {truth:,} trainable parameters."


# --------------------------------------------------------------------------- chapter 5: training


@_checker
def check_sgd_momentum_step(fn: Callable[..., Any]) -> str:
    """``fn(param, grad, velocity, lr, momentum) -> (new_param, new_velocity)``, as ``torch.optim.SGD`` (3 steps)."""
    g = _generator()
    start, grads, lr, momentum = torch.randn(5, generator=g), torch.randn(3, 5, generator=g), 0.1, 0.9
    p = start.clone().requires_grad_()
    optimizer = torch.optim.SGD([p], lr=lr, momentum=momentum)
    velocity = None
    for step, grad in enumerate(grads, 1):
        where = f"on step {step}" + (
            " (velocity=None: PyTorch starts the velocity at the gradient)" if step == 1 else ""
        )
        answer = _call(fn, p.detach(), grad, velocity, lr, momentum, where=where)
        if isinstance(answer, torch.Tensor) or not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise _NotYet(
                f"{where}, your function should return a pair (new_param, new_velocity), not {_kind(answer)}."
            )
        p.grad = grad.clone()
        optimizer.step()
        velocity = optimizer.state[p]["momentum_buffer"].clone()
        _expect_close(answer[1], velocity, where, by="PyTorch's", yours="your new velocity", tol=1e-6)
        _expect_close(answer[0], p.detach(), where, by="torch.optim.SGD's", yours="your new parameter", tol=1e-6)
    return f"your step matches torch.optim.SGD(lr={lr}, momentum={momentum}) over {len(grads)} steps."


def _step_lr_rates(lr0: float, gamma: float, epochs: int) -> list[float]:
    """The learning rate during each of ``epochs`` epochs under a real StepLR(step_size=1) stepped after each."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=gamma)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # the epoch's training (without it PyTorch warns that the scheduler stepped first)
        scheduler.step()
    return rates


@_checker
def check_step_lr(fn: Callable[..., Any]) -> str:
    """``fn(lr0, gamma, epoch)``: the learning rate during epoch ``epoch`` (from 1) under StepLR(step_size=1, gamma)."""
    cases = [(1.0, 0.7, epoch) for epoch in range(1, 6)] + [(0.01, 0.5, 3)]
    for lr0, gamma, epoch in cases:
        rates = _step_lr_rates(lr0, gamma, epoch + 1)
        where = f"for lr0={lr0}, gamma={gamma}, epoch={epoch}"
        got = _as_number(_call(fn, lr0, gamma, epoch, where=where), f"{where}, your function's result")
        off = "your function is off by one epoch: epoch 1 runs at lr0 itself, and the scheduler steps after each epoch."
        hints = [(rates[epoch], f"{where}, {off}"), (rates[epoch - 1] / gamma, f"{where}, {off}")]
        wrong = f"{where}, your function gives {got:.6g}; StepLR uses {rates[epoch - 1]:.6g}."
        _expect_number(got, rates[epoch - 1], tol=1e-6, wrong=wrong, hints=hints)
    return f"your learning rates match StepLR's in all {len(cases)} cases."


# --------------------------------------------------------------------------- chapter 6: evaluation


def _classified(n: int, right: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (n, 10) and labels (n,) such that exactly ``right`` argmaxes equal their label."""
    labels = torch.randint(0, 10, (n,), generator=g)
    wrong = torch.randperm(n, generator=g)[: n - right]
    predicted = labels.clone()
    predicted[wrong] = (labels[wrong] + torch.randint(1, 10, (len(wrong),), generator=g)) % 10  # any other class
    logits = torch.randn(n, 10, generator=g)
    logits[torch.arange(n), predicted] += 100  # far above randn's range: the predicted class wins
    return logits, labels


@_checker
def check_accuracy(fn: Callable[..., Any]) -> str:
    """``fn(logits, labels)``: the fraction (in [0, 1]) of rows whose largest logit is at the label."""
    g = _generator()
    cases = [_classified(10_000, 9_912, g), _classified(7, 4, g)]
    for logits, labels in cases:
        count, n = int((logits.argmax(1) == labels).sum()), len(labels)
        truth = count / n
        where = f"for {n:,} samples, {count:,} of them classified right"
        got = _as_number(_call(fn, logits, labels, where=where), f"{where}, your function's result")
        truncated = f"{where}, your {got:g} is truncated, as the article's %d does; give the exact fraction."
        hints = [
            (100 * truth, f"{where}, your {got:g} is a percentage; give a fraction (between 0 and 1)."),
            (int(100 * truth), truncated),
            (int(100 * truth) / 100, truncated),
            (count, f"{where}, your {got:g} is the number right; divide by the number of samples."),
        ]
        _expect_number(
            got,
            truth,
            tol=1e-6,
            wrong=f"{where}, your function gives {got:.6g}; the accuracy is {truth:.6g}.",
            hints=hints,
        )
    return f"your accuracy is exact on {len(cases)} inputs."


@_checker
def check_confusion_matrix(fn: Callable[..., Any]) -> str:
    """``fn(labels, predicted, num_classes)``: (K, K) counts, entry [i, j] = samples of true class i predicted as j."""
    g = _generator()
    labels = torch.randint(0, 10, (200,), generator=g)
    guesses = torch.where(torch.rand(200, generator=g) < 0.7, labels, torch.randint(0, 10, (200,), generator=g))
    cases = [
        (labels, guesses, 10),
        (torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([1, 1, 1, 2, 0, 2]), 3),
        (torch.tensor([0, 1, 1]), torch.tensor([1, 1, 0]), 4),  # class 3 never appears: still a 4x4 matrix
    ]
    for true, predicted, k in cases:
        where = f"for {_show('labels', true)}, {_show('predicted', predicted)}, num_classes={k}"
        expected = torch.bincount(true * k + predicted, minlength=k * k).view(k, k)
        hints = [(expected.T, "rows and columns are swapped: rows are the true classes.")]
        _expect_close(_call(fn, true, predicted, k, where=where), expected, where, by="the true counts", hints=hints)
    return f"your confusion matrix is right on {len(cases)} inputs."


# --------------------------------------------------------------------------- chapter 7: tuning and data


@_checker
def check_smoothed_targets(fn: Callable[..., Any]) -> str:
    """``fn(labels, num_classes, eps)``: targets (1 - eps) * one_hot + eps / K, which ``label_smoothing=eps`` uses."""
    g = _generator()
    cases = [(torch.randint(0, 10, (6,), generator=g), 10, 0.1), (torch.tensor([2, 0, 1, 2]), 3, 0.2)]
    cases.append((torch.tensor([4, 1]), 5, 0.0))
    for labels, k, eps in cases:
        where = f"for {_show('labels', labels)}, num_classes={k}, eps={eps}"
        one_hot = torch.eye(k, dtype=torch.float64)[labels]
        expected = (1 - eps) * one_hot + eps / k
        got = _as_tensor(_call(fn, labels, k, eps, where=where), f"{where}, your result")
        if got.shape == expected.shape and not torch.allclose(
            got.double().sum(1), torch.ones(len(labels), dtype=torch.float64)
        ):
            raise _NotYet(f"{where}, your rows sum to {got.double().sum(1).tolist()}; each should sum to 1.")
        spread = (1 - eps) * one_hot + eps / (k - 1) * (1 - one_hot)
        hints = [
            (
                spread,
                "you spread eps/(K-1) over the wrong classes; the formula spreads eps/K over all K, the true one too.",
            )
        ]
        _expect_close(got, expected, where, by="the formula's targets", tol=1e-6, hints=hints)
        # A second opinion: PyTorch's own label smoothing must give the same loss as these targets.
        logits = torch.randn(len(labels), k, generator=g)
        ours = float(F.cross_entropy(logits, got.float()))
        torchs = float(F.cross_entropy(logits, labels, label_smoothing=eps))
        wrong = f"{where}, cross-entropy with your targets is {ours:.6g}, with label_smoothing={eps} {torchs:.6g}."
        _expect_number(ours, torchs, tol=1e-5, wrong=wrong)
    return f"your targets match the formula and F.cross_entropy's label_smoothing on {len(cases)} inputs."


@_checker
def check_stratified_subset(fn: Callable[..., Any]) -> str:
    """``fn(labels, n, seed)``: n distinct positions into labels, class counts within 1, the same for the same seed."""
    g = _generator()
    labels = torch.cat([torch.full((50 + 7 * k,), k) for k in range(10)])  # unequal classes: 50, 57, ..., 113
    labels = labels[torch.randperm(len(labels), generator=g)]
    for n, seed in ((95, 7), (100, 3)):
        where = f"for n={n}, seed={seed} (on {len(labels)} labels of 10 unequal classes)"
        idx = _as_tensor(_call(fn, labels, n, seed, where=where), f"{where}, your indices")
        if idx.dim() != 1 or idx.is_floating_point() or idx.dtype == torch.bool:
            raise _NotYet(
                f"{where}, your indices should be a list or 1-D tensor of integer positions, "
                f"not {_kind(idx)} of {idx.dtype}."
            )
        if len(idx) != n:
            raise _NotYet(f"{where}, you picked {len(idx)} positions; it should be exactly {n}.")
        if len(idx.unique()) != n:
            raise _NotYet(f"{where}, some positions appear more than once ({len(idx.unique())} distinct of {n}).")
        if idx.min() < 0 or idx.max() >= len(labels):
            raise _NotYet(
                f"{where}, your positions run from {int(idx.min())} to {int(idx.max())}, outside 0..{len(labels) - 1}."
            )
        # (Distinct positions in range cannot give a class more samples than it has.)
        counts = torch.bincount(labels[idx], minlength=10)
        if counts.max() - counts.min() > 1:
            raise _NotYet(
                f"{where}, the class counts are {counts.tolist()}; in a stratified subset they differ by at most 1."
            )
        again = _as_tensor(_call(fn, labels, n, seed, where=where), f"{where}, your indices")
        if not torch.equal(again, idx):
            raise _NotYet(
                f"{where}, a second call with the same seed picked other positions: "
                "draw them from a generator seeded with seed."
            )
    return "your subsets are stratified, distinct, of the right size, and the same for the same seed."


@functools.lru_cache(maxsize=1)
def _first_test_digit() -> torch.Tensor:
    return load_split("mnist", train=False, normalize=False).images[0, 0].clone()  # (28, 28) in [0, 1]


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, col): the ink-weighted mean of the row and column indices."""
    w = image.astype(np.float64)
    rows, cols = np.indices(w.shape)
    return float((rows * w).sum() / w.sum()), float((cols * w).sum() / w.sum())


@_checker
def check_centre_of_mass(fn: Callable[..., Any]) -> str:
    """``fn(image) -> (row, col)``: the centre of mass of a 2-D tensor of non-negative ink values."""
    dot = torch.zeros(10, 10)
    dot[3, 5] = 1.0
    cases = [
        (dot, "for a 10x10 image whose only ink is the pixel at row 3, column 5"),
        (torch.rand(28, 28, generator=_generator()), "for a random 28x28 image"),
        (_first_test_digit(), "for the first MNIST test digit"),
    ]
    for image, where in cases:
        got = _call(fn, image, where=where)
        t = _as_tensor(got, f"{where}, your result").flatten()
        if t.numel() != 2:
            raise _NotYet(f"{where}, your function should return a pair (row, col), not {_kind(got)}.")
        expected = torch.tensor(_centre_of_mass(image.numpy()))
        hints = [(expected.flip(0), "rows and columns are swapped: give (row, col), the row first.")]
        _expect_close(t, expected, where, by="the true (row, col)", yours="your (row, col)", tol=1e-4, hints=hints)
    return f"your centre of mass is right on {len(cases)} images."
