"""Checkers for the chapters' exercises: the reader's answer against PyTorch itself.

A reader writes a function (or computes a number) and passes it to a checker, e.g.
``check_conv2d(my_conv2d)``; the :class:`Verdict` says in words whether it is right and, if not,
on which input it differs and how. The truth is always PyTorch (``F.conv2d``, a real optimizer or
scheduler, layers on the ``meta`` device, which computes shapes without data, ``FlopCounterMode``)
or a direct computation, never this package's own version of the same thing. Each checker tries
the inputs a reader may not think of (non-square maps, logits that overflow ``exp``, another seed,
the dtype), so that an answer right only on the obvious inputs still fails.

A checker never raises because of the answer: a wrong type or shape, an exception inside the
reader's function, NaN... all become a failing verdict. It does raise for the book's own slips
(an unknown dataset name) and when the data cannot be had (:class:`~mnist_book.data.DataError`).
"""

from __future__ import annotations

import copy
import functools
import inspect
import io
import math
import numbers
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_book.data import DATASETS, DataError, load_split

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
    "check_one_cycle_lr",
    "check_trainable_parameters",
    "check_fit_in_box",
    "check_conv_multiply_adds",
    "check_checkpoint",
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
            with torch.random.fork_rng(devices=[]):  # building layers draws numbers: leave the reader's generator be
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
    got: float,
    truth: float,
    *,
    wrong: str,
    tol: float = 0.0,
    relative: bool = False,
    hints: Sequence[tuple[float, str]] = (),
) -> None:
    """Pass when ``got`` is within ``tol`` (absolute plus relative, or only ``relative``, for numbers
    near 0 such as a final learning rate) of ``truth``; else raise the hint of the first mistake it
    matches, or ``wrong``."""

    def near(a: float, b: float) -> bool:
        return abs(a - b) <= tol * (abs(b) if relative else 1 + abs(b))

    if near(got, truth):
        return
    raise _NotYet(next((hint for mistake, hint in hints if near(got, mistake)), wrong))


def _expect_count(got: int, truth: int, question: str, hints: Sequence[tuple[int, str]], how: str) -> None:
    """A counted answer (``got``) to ``question`` against ``truth``: the hint of the first mistake it
    matches, else "not it" and ``how`` to count it."""
    wrong = f"{question}, {got:,} is not it. {how}"
    _expect_number(got, truth, wrong=wrong, hints=[(v, f"{question}, {got:,}: {h}") for v, h in hints])


# --------------------------------------------------------------------------- chapter 1: data


@functools.cache
def _pixel_stats(dataset: str, train: bool = True) -> tuple[float, float, float]:
    """Mean, standard deviation and mean per-image standard deviation (float64) of a split's pixels in [0, 1]."""
    images = load_split(dataset, train=train, normalize=False).images.double()
    std, mean = torch.std_mean(images)
    return float(mean), float(std), float(images.std(dim=(1, 2, 3)).mean())


def _stat_miss(name: str, got: float, truth: float, per_image: float | None = None) -> str | None:
    """What is wrong with one statistic (within 5e-4 is right), or None."""
    if abs(got - truth) <= 5e-4:
        return None
    if abs(got / 255 - truth) <= 5e-4:
        return (
            f"your {name} {got:.4g} looks computed on pixels from 0 to 255: scale them to [0, 1] (divide by 255) first"
        )
    if per_image is not None and abs(got - per_image) <= 5e-4:
        return (
            f"your {name} {got:.4f} is the average of each image's own; compute one over all pixels together "
            f"(it is {truth:.4f})"
        )
    return f"your {name} {got:.4f} is off by {got - truth:+.4f}"


@_checker
def check_pixel_stats(mean: Any, std: Any, dataset: str = "fashion_mnist") -> str:
    """The mean and standard deviation of ``dataset``'s training pixels scaled to [0, 1], within 5e-4 each."""
    if dataset not in DATASETS:
        raise _Misuse(f"Unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}.")
    where = f"for the {dataset} training pixels scaled to [0, 1]"
    got = _as_number(mean, f"{where}, your mean"), _as_number(std, f"{where}, your standard deviation")
    truth_mean, truth_std, per_image = _pixel_stats(dataset)

    def pair_near(pair: tuple[float, float], tol: float) -> bool:
        return all(abs(a - b) <= tol for a, b in zip(got, pair))

    if not pair_near((truth_mean, truth_std), 5e-4):
        test_mean, test_std, _ = _pixel_stats(dataset, train=False)
        known = [
            ((truth_std, truth_mean), "you swapped them: the mean comes first, then the standard deviation.", 5e-4),
            (
                (test_mean, test_std),
                "these are the test split's; the constants are computed on the training split only.",
                1e-4,
            ),
            (
                (0.0, 1.0),
                "these are the statistics of normalised images (about 0 and 1): load the split with normalize=False.",
                1e-2,
            ),
        ]
        if dataset != "mnist":
            known.append(((0.1307, 0.3081), f"these are MNIST's constants; compute {dataset}'s own.", 5e-4))
        for pair, hint, tol in known:
            if pair_near(pair, tol):
                raise _NotYet(f"{where}, {hint}")
    misses = [
        _stat_miss("mean", got[0], truth_mean),
        _stat_miss("standard deviation", got[1], truth_std, per_image),
    ]
    if any(misses):
        raise _NotYet(f"{where}, " + "; ".join(m for m in misses if m) + ".")
    return f"the {dataset} training pixels have mean {truth_mean:.4f} and standard deviation {truth_std:.4f}."


def _dtype_name(value: Any, t: torch.Tensor) -> str:
    """The dtype the reader gave: NumPy's name for an array, PyTorch's otherwise."""
    if isinstance(value, np.ndarray):
        return f"NumPy {value.dtype}"
    return str(t.dtype).removeprefix("torch.")


@_checker
def check_one_hot(fn: Callable[..., Any]) -> str:
    """``fn(labels, num_classes)``: (N,) int64 labels to (N, num_classes) int64 one-hot rows, as ``F.one_hot``."""
    g = _generator()
    cases = [
        (torch.randint(0, 10, (7,), generator=g), 10),
        (torch.tensor([9, 0, 9, 4]), 10),  # the largest label, num_classes - 1
        (torch.tensor([1]), 3),  # one label, and no sample of the last class
        (torch.tensor([2, 0, 1, 2, 2]), 3),
    ]
    for labels, k in cases:
        where = f"for {_show('labels', labels)} and num_classes={k}"
        got = _call(fn, labels, k, where=where)
        _expect_close(got, F.one_hot(labels, k), where, by="F.one_hot's result")
        t = _as_tensor(got, f"{where}, your result")
        if t.dtype != torch.int64:
            raise _NotYet(
                f"{where}, your values are right, but their dtype is {_dtype_name(got, t)}; F.one_hot returns "
                "int64 (torch.long), as the exercise asks: convert with .long()."
            )
    return f"your one-hot encoding matches F.one_hot, values and dtype (int64), on {len(cases)} inputs."


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
    cases += [(28, 3, 1, 2, 2), (10, 3, 3, 0, 1), (7, 7, 1, 0, 1), (28, 5, 1, 0, 3), (9, 2, 4, 0, 1)]
    draw = random.Random(0)
    while len(cases) < 16:  # a few more, the same every time; only those PyTorch accepts
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
    shapes = [
        ((1, 1, 4, 4), (1, 1, 2, 2)),
        ((2, 3, 7, 6), (4, 3, 3, 2)),  # wider kernel than tall, input taller than wide; O != C
        ((1, 2, 5, 5), (3, 2, 5, 5)),  # the kernel as large as the input: one output
        ((2, 2, 6, 9), (3, 2, 2, 4)),  # the other way round
    ]
    flipped = "you computed a true convolution (the kernel flipped); nn.Conv2d computes a cross-correlation, chapter 2."
    for x_shape, w_shape in shapes:
        x, w = torch.randn(x_shape, generator=g), torch.randn(w_shape, generator=g)
        where = f"for an input of shape {x_shape} and a kernel of shape {w_shape}"
        got = _call(fn, x, w, where=where)
        hints = [(F.conv2d(x, w.flip(-1, -2)), flipped)]
        _expect_close(got, F.conv2d(x, w), where, by="F.conv2d's result", tol=1e-4, hints=hints)
    return f"your conv2d matches F.conv2d on {len(shapes)} inputs, up to float32 rounding."


def _moved(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``images`` moved ``dx`` pixels right and ``dy`` down (one pixel at most), zeros coming in."""
    out = images.roll((dy, dx), dims=(-2, -1))
    if dx:
        out[..., :, 0 if dx > 0 else -1] = 0
    if dy:
        out[..., 0 if dy > 0 else -1, :] = 0
    return out


@_checker
def check_shift_kernel(kernel: Any) -> str:
    """A 3x3 kernel that, as ``F.conv2d(img, k.view(1, 1, 3, 3), padding=1)``, moves an image one pixel right."""
    k = _as_tensor(kernel, "your kernel")
    if k.squeeze().shape != (3, 3):
        raise _NotYet(f"your kernel has shape {tuple(k.shape)}; it should be 3x3.")
    k = k.double().reshape(1, 1, 3, 3)
    images = torch.rand(3, 1, 1, 8, 11, generator=_generator(), dtype=torch.float64)  # not square: rows != columns
    for i, img in enumerate(images, 1):
        hints = [
            (img, "your kernel leaves the image where it is."),
            (_moved(img, -1, 0), "it moves the image left: flip it."),
            (_moved(img, 0, -1), "it moves the image up, not right."),
            (_moved(img, 0, 1), "it moves the image down, not right."),
        ]
        where = f"on random 8x11 image {i} (8 rows, 11 columns)"
        _expect_close(
            F.conv2d(img, k, padding=1),
            _moved(img, 1, 0),
            where,
            by="the image moved right",
            yours="your kernel's output",
            tol=1e-6,
            hints=hints,
        )
    return "your kernel moves the image one pixel right, zeros coming in on the left."


@_checker
def check_max_pool2d(fn: Callable[..., Any]) -> str:
    """``fn(x, kernel, stride)``: max pooling of x (B, C, H, W), square window, no padding, as ``F.max_pool2d``.

    H and W differ in most inputs, and some are odd, so that the last window does not fit."""
    g = _generator()
    cases = [
        ((1, 1, 4, 4), 2, 2),
        ((1, 2, 6, 9), 2, 2),  # wider than tall: a pool that uses H for both sides fails here
        ((2, 3, 9, 6), 3, 1),  # taller than wide
        ((2, 3, 7, 7), 2, 2),  # odd: the last row and column are dropped
        ((1, 2, 11, 8), 3, 2),  # stride smaller than the window, odd height
        ((1, 1, 9, 9), 3, 3),
    ]
    for shape, k, s in cases:
        x = torch.randn(shape, generator=g)
        where = f"for an input of shape {shape}, kernel={k}, stride={s}"
        hints = [(F.avg_pool2d(x, k, s), "you averaged each window; max pooling keeps its largest value.")]
        _expect_close(
            _call(fn, x, k, s, where=where), F.max_pool2d(x, k, s), where, by="F.max_pool2d's result", hints=hints
        )
    return f"your max_pool2d matches F.max_pool2d exactly on {len(cases)} inputs, square or not."


# --------------------------------------------------------------------------- chapter 4: the network


def _convolutions(paddings: tuple[int, int] = (0, 0), conv2_kernel: int = 3) -> nn.Sequential:
    """The article's conv1 (1->32, 3x3) and conv2 (32->64), with these changes, on the meta device (shapes only)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=paddings[0], device="meta"),
        nn.ReLU(),
        nn.Conv2d(32, 64, conv2_kernel, padding=paddings[1], device="meta"),
        nn.ReLU(),
    )


def _flat_features(convs: nn.Sequential, pool: int, stride: int | None = None, ceil_mode: bool = False) -> int:
    """Features entering fc1: a 28x28 meta input through ``convs`` and a max-pool (window ``pool``, ``stride``)."""
    x = convs(torch.empty(1, 1, 28, 28, device="meta"))
    return torch.flatten(F.max_pool2d(x, pool, stride or pool, ceil_mode=ceil_mode), 1).shape[1]


def _network_parameters(paddings: tuple[int, int], *, pool: int = 2, biases: bool = True) -> int:
    """Trainable parameters of the article's network with these ``paddings`` on its two convolutions."""
    convs = _convolutions(paddings)
    fc = [nn.Linear(_flat_features(convs, pool), 128, device="meta"), nn.Linear(128, 10, device="meta")]
    params = nn.ModuleList([convs, *fc]).named_parameters()
    return sum(p.numel() for name, p in params if p.requires_grad and (biases or not name.endswith("bias")))


@_checker
def check_fc1_inputs(n: Any) -> str:
    """The features entering fc1 with conv2 5x5 and a 3x3 pool of stride 3 (conv1 as it was, input 28x28)."""
    question = "with conv2's kernel 5x5 and a 3x3 pool of stride 3"
    got = _as_count(n, f"{question}, your answer")
    convs = _convolutions(conv2_kernel=5)
    truth = _flat_features(convs, 3)
    side = math.isqrt(truth // 64)
    hints = [
        (
            _flat_features(_convolutions(), 2),
            "that is the article's network as it is; with a 5x5 kernel conv2's maps are smaller.",
        ),
        (_flat_features(convs, 1), "that is before the pool: the 3x3 window with stride 3 shrinks each map too."),
        (
            _flat_features(convs, 3, ceil_mode=True),
            "that is 64 maps of 8x8: conv1 and a 5x5 conv2 leave maps of 22x22, and a 3x3 window with stride 3 "
            "fits 7 times in 22 (a window that does not fit is dropped).",
        ),
        (_flat_features(convs, 3, 1), "that moves the 3x3 window by 1 pixel; the stride is 3."),
        (_flat_features(convs, 2), "that pools 2x2, as the article does; the pool here is 3x3 with stride 3."),
        (side * side, f"that is one map ({side}x{side}); fc1 gets all 64 of conv2's maps, flattened."),
        (32 * side * side, "conv2 has 64 output channels; 32 is conv1's."),
    ]
    how = "Follow one map's size: 28, after conv1, after conv2, after the pool; then C x H x W."
    _expect_count(got, truth, question, hints, how)
    return f"{truth:,} features enter fc1 (64 maps of {side}x{side})."


@_checker
def check_softmax(fn: Callable[..., Any]) -> str:
    """``fn(z)``: probabilities along dim 1 of logits z (N, K), as ``torch.softmax(z, 1)``, within 1e-5.

    Some logits overflow ``exp``: rows around ±1000, and rows whose entries are 1000 apart (a shift by
    the row's mean or minimum overflows there; only the row's maximum is safe)."""
    g = _generator()
    large = torch.tensor([[1000.0], [-1000.0], [990.0]]) + 5 * torch.randn(3, 10, generator=g)
    cases = [
        (torch.randn(4, 10, generator=g), f"for logits of shape {(4, 10)}"),
        (3 * torch.randn(1, 3, generator=g), f"for logits of shape {(1, 3)}"),
        (large, f"for logits of shape {(3, 10)} around ±1000"),
        (torch.tensor([[0.0, 1000.0]]), "for logits=[[0.0, 1000.0]]"),
        (torch.tensor([[-1000.0, 0.0]]), "for logits=[[-1000.0, 0.0]]"),
        (
            torch.tensor([[0.0, 1000.0, 2.0], [-1000.0, 0.0, -3.0]]),
            "for logits=[[0.0, 1000.0, 2.0], [-1000.0, 0.0, -3.0]]",
        ),
    ]
    for z, where in cases:
        got = _call(fn, z, where=where)
        t = _as_tensor(got, f"{where}, your result")
        if t.shape == z.shape and not t.isfinite().all():
            i = [int(j) for j in torch.unravel_index((~t.isfinite()).flatten().nonzero()[0, 0], t.shape)]
            raise _NotYet(
                f"{where}, your result holds NaN or infinity (at index {i}): exp overflows for large logits: "
                "subtract each row's maximum first (softmax does not change, and the largest exp is then 1)."
            )
        hints = [
            (
                torch.softmax(z.double(), 0),
                "you normalised each column (dim 0); a sample's probabilities are a row: dim=1.",
            ),
            (torch.log_softmax(z.double(), 1), "these are log-probabilities (log_softmax); take their exp."),
        ]
        _expect_close(got, torch.softmax(z.double(), 1), where, by="torch.softmax's result", tol=1e-5, hints=hints)
    return f"your softmax matches torch.softmax on {len(cases)} inputs, logits that overflow exp included."


@_checker
def check_parameter_count(n: Any) -> str:
    """Trainable parameters of the article's network with padding=1 on both convolutions."""
    question = "for the article's network with padding=1 on both convolutions"
    got = _as_count(n, f"{question}, your answer")
    truth = _network_parameters((1, 1))
    hints = [
        (_network_parameters((0, 0)), "that is the network without padding."),
        (_network_parameters((1, 1), biases=False), "that leaves out the biases (one per output channel or unit)."),
        (_network_parameters((1, 0)), "that pads only one of the two convolutions."),
        (_network_parameters((1, 1), pool=1), "that leaves out the pool, which halves 28x28 to 14x14 before fc1."),
        (
            truth - 64 * 32 * 3 * 3 + 64 * 3 * 3,
            "conv2 has a 3x3 kernel for every pair of input and output channel: 64 x 32 x 3 x 3 weights.",
        ),
    ]
    how = (
        "A convolution has out x in x kh x kw weights plus out biases, a linear layer out x in weights plus "
        "out biases; padding changes only the size of fc1's input."
    )
    _expect_count(got, truth, question, hints, how)
    return f"the padded network has {truth:,} trainable parameters."


# --------------------------------------------------------------------------- chapter 5: training


@_checker
def check_sgd_momentum_step(fn: Callable[..., Any]) -> str:
    """``fn(param, grad, velocity, lr, momentum) -> (new_param, new_velocity)``, as ``torch.optim.SGD``.

    Three steps each with two settings (so that a function with 0.1 and 0.9 written in, or the two swapped,
    fails), on a vector and on a matrix."""
    g = _generator()
    settings = [(0.1, 0.9, (5,)), (0.05, 0.5, (2, 3))]
    for lr, momentum, shape in settings:
        p = torch.randn(shape, generator=g).requires_grad_()
        grads = torch.randn(3, *shape, generator=g)
        optimizer = torch.optim.SGD([p], lr=lr, momentum=momentum)
        velocity = None
        for step, grad in enumerate(grads, 1):
            where = f"with lr={lr}, momentum={momentum}, on step {step}" + (
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
            hints = [
                (
                    lr * velocity,
                    "your velocity includes the learning rate; PyTorch's is momentum * velocity + grad, and the "
                    "step subtracts lr times it.",
                )
            ]
            _expect_close(answer[1], velocity, where, by="PyTorch's", yours="your new velocity", tol=1e-6, hints=hints)
            _expect_close(answer[0], p.detach(), where, by="torch.optim.SGD's", yours="your new parameter", tol=1e-6)
    return f"your step matches torch.optim.SGD over three steps, with {len(settings)} settings of lr and momentum."


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
    cases = [(1.0, 0.7, epoch) for epoch in range(1, 6)] + [(0.01, 0.5, 3), (0.1, 0.9, 12), (0.5, 0.1, 2)]
    for lr0, gamma, epoch in cases:
        rates = _step_lr_rates(lr0, gamma, epoch + 1)
        where = f"for lr0={lr0}, gamma={gamma}, epoch={epoch}"
        got = _as_number(_call(fn, lr0, gamma, epoch, where=where), f"{where}, your function's result")
        off = "your function is off by one epoch: epoch 1 runs at lr0 itself, and the scheduler steps after each epoch."
        hints = [(rates[epoch], f"{where}, {off}"), (rates[epoch - 1] / gamma, f"{where}, {off}")]
        wrong = f"{where}, your function gives {got:.6g}; StepLR uses {rates[epoch - 1]:.6g}."
        _expect_number(got, rates[epoch - 1], tol=1e-6, relative=True, wrong=wrong, hints=hints)
    return f"your learning rates match StepLR's in all {len(cases)} cases."


# --------------------------------------------------------------------------- chapter 6: evaluation


def _classified(n: int, right: int, g: torch.Generator, margin: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (n, 10) and labels (n,) such that exactly ``right`` argmaxes equal their label; the predicted
    class's logit is ``margin`` above the row's largest other (a small margin: a probability far below 0.5)."""
    labels = torch.randint(0, 10, (n,), generator=g)
    wrong = torch.randperm(n, generator=g)[: n - right]
    predicted = labels.clone()
    predicted[wrong] = (labels[wrong] + torch.randint(1, 10, (len(wrong),), generator=g)) % 10  # any other class
    logits = torch.randn(n, 10, generator=g)
    logits[torch.arange(n), predicted] = logits.max(dim=1).values + margin
    return logits, labels


@_checker
def check_accuracy(fn: Callable[..., Any]) -> str:
    """``fn(logits, labels)``: the fraction (in [0, 1]) of rows whose largest logit is at the label."""
    g = _generator()
    cases = [
        (_classified(10_000, 9_912, g), ""),
        (_classified(7, 4, g), ""),
        (_classified(50, 31, g, margin=0.3), " (by small margins: no probability above 0.5)"),
    ]
    for (logits, labels), margins in cases:
        count, n = int((logits.argmax(1) == labels).sum()), len(labels)
        truth = count / n
        where = f"for {n:,} samples, {count:,} of them classified right{margins}"
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
        rows = expected.sum(dim=1, keepdim=True)
        hints = [
            (expected.T, "rows and columns are swapped: rows are the true classes."),
            (
                (expected > 0).long(),
                "your counts are all 0 or 1: `m[labels, predicted] += 1` counts a repeated pair once; "
                "add them up (a loop, index_put_ with accumulate=True, or bincount).",
            ),
            (
                expected / rows.clamp(min=1),
                "your rows are fractions (normalised); the matrix holds counts.",
            ),
        ]
        _expect_close(_call(fn, true, predicted, k, where=where), expected, where, by="the true counts", hints=hints)
    return f"your confusion matrix is right on {len(cases)} inputs."


# --------------------------------------------------------------------------- chapter 7: tuning, transfer, handwriting (first exercises)


@_checker
def check_smoothed_targets(fn: Callable[..., Any]) -> str:
    """``fn(labels, num_classes, eps)``: targets (1 - eps) * one_hot + eps / K, which ``label_smoothing=eps`` uses."""
    g = _generator()
    cases = [(torch.randint(0, 10, (6,), generator=g), 10, 0.1), (torch.tensor([2, 0, 1, 2]), 3, 0.2)]
    cases += [(torch.tensor([4, 1]), 5, 0.0), (torch.tensor([0, 1]), 4, 0.3)]  # the last: classes 2 and 3 absent
    for labels, k, eps in cases:
        where = f"for {_show('labels', labels)}, num_classes={k}, eps={eps}"
        one_hot = torch.eye(k, dtype=torch.float64)[labels]
        expected = (1 - eps) * one_hot + eps / k
        got = _as_tensor(_call(fn, labels, k, eps, where=where), f"{where}, your result")
        if got.shape == expected.shape and not torch.allclose(
            got.double().sum(1), torch.ones(len(labels), dtype=torch.float64)
        ):
            sums = [round(v, 6) for v in got.double().sum(1).tolist()]
            raise _NotYet(f"{where}, your rows sum to {sums}; each should sum to 1.")
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


def _positions(fn: Callable[..., Any], labels: torch.Tensor, n: int, seed: int, where: str) -> torch.Tensor:
    """The reader's subset for (n, seed) as a 1-D integer tensor, or a _NotYet that says what is wrong with it."""
    idx = _as_tensor(_call(fn, labels, n, seed, where=where), f"{where}, your indices")
    if idx.dim() != 1 or idx.is_floating_point() or idx.dtype == torch.bool:
        raise _NotYet(
            f"{where}, your indices should be a list or 1-D tensor of integer positions, "
            f"not {_kind(idx)} of {idx.dtype}."
        )
    return idx


@_checker
def check_stratified_subset(fn: Callable[..., Any]) -> str:
    """``fn(labels, n, seed)``: n distinct positions into labels, class counts within 1, drawn at random: the
    same for the same seed, others for another seed."""
    g = _generator()
    labels = torch.cat([torch.full((50 + 7 * k,), k) for k in range(10)])  # unequal classes: 50, 57, ..., 113
    labels = labels[torch.randperm(len(labels), generator=g)]
    on = f"on {len(labels)} labels of 10 unequal classes"
    picked = {}
    for n, seed in ((95, 7), (100, 3), (100, 4)):
        where = f"for n={n}, seed={seed} ({on})"
        idx = _positions(fn, labels, n, seed, where)
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
        if not torch.equal(_positions(fn, labels, n, seed, where), idx):
            raise _NotYet(
                f"{where}, a second call with the same seed picked other positions: "
                "draw them from a generator seeded with seed."
            )
        picked[seed] = set(idx.tolist())
    if picked[3] == picked[4]:
        raise _NotYet(
            f"for n=100 ({on}), seed=3 and seed=4 gave the same positions: the seed must decide which positions "
            "are drawn from each class (taking, say, the first ones of each class ignores it)."
        )
    return (
        "your subsets are stratified, distinct, of the right size, the same for the same seed and others for another."
    )


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
    """``fn(image) -> (row, col)``: the centre of mass of a 2-D tensor of non-negative ink values (any H x W)."""
    dot = torch.zeros(10, 10)
    dot[3, 5] = 1.0
    wide = torch.zeros(6, 10)
    wide[1, 2], wide[4, 8], wide[5, 3] = 1.0, 3.0, 0.5  # unequal ink: neither the box's middle nor the plain mean
    cases = [
        (dot, "for a 10x10 image whose only ink is the pixel at row 3, column 5"),
        (_first_test_digit(), "for the first MNIST test digit"),
        (wide, "for a 6x10 image (6 rows, 10 columns) with ink 1 at (1, 2), 3 at (4, 8) and 0.5 at (5, 3)"),
        (torch.rand(12, 20, generator=_generator()), "for a random 12x20 image (12 rows, 20 columns)"),
    ]
    for image, where in cases:
        got = _call(fn, image, where=where)
        t = _as_tensor(got, f"{where}, your result").flatten()
        if t.numel() != 2:
            raise _NotYet(f"{where}, your function should return a pair (row, col), not {_kind(got)}.")
        expected = torch.tensor(_centre_of_mass(image.numpy()))
        inked = image.nonzero().double()  # (n, 2): the rows and columns of the pixels with ink
        box_middle = (inked.amin(0) + inked.amax(0)) / 2
        hints = [
            (expected.flip(0), "rows and columns are swapped: give (row, col), the row first."),
            (box_middle, "that is the middle of the box around the ink; weight every pixel by its ink."),
            (inked.mean(0), "you averaged the positions of the inked pixels; weight each by its ink."),
        ]
        _expect_close(t, expected, where, by="the true (row, col)", yours="your (row, col)", tol=1e-4, hints=hints)
    return f"your centre of mass is right on {len(cases)} images, square and not."


# --------------------------------------------------------------------------- chapter 7.1: the one-cycle schedule


def _one_cycle_rates(total: int, max_lr: float, pct_start: float, div_factor: float, final_div: float) -> list[float]:
    """The learning rate of each of ``total`` steps under a real OneCycleLR, stepped after every step."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=max_lr,
        total_steps=total,
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div,
    )
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradient: nothing moves, but PyTorch wants the optimizer to step first
        scheduler.step()
    return rates


def _one_cycle_mistake(
    step: int,
    total: int,
    max_lr: float,
    pct_start: float,
    div_factor: float,
    final_div: float,
    *,
    linear: bool = False,
    peak: float | None = None,
    first: float | None = None,
    last: float | None = None,
) -> float:
    """One-cycle's rate at ``step`` by its formula with one thing changed, as a reader might get it wrong: straight
    lines, the peak at another step, another first or last rate (with no change: what PyTorch computes)."""
    first = max_lr / div_factor if first is None else first
    last = max_lr / div_factor / final_div if last is None else last
    peak = pct_start * total - 1 if peak is None else peak

    def anneal(start: float, end: float, fraction: float) -> float:
        if linear:
            return start + (end - start) * fraction
        return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2

    if step <= peak:
        return anneal(first, max_lr, step / peak)
    return anneal(max_lr, last, (step - peak) / (total - 1 - peak))


@_checker
def check_one_cycle_lr(fn: Callable[..., Any]) -> str:
    """``fn(step, total_steps, max_lr, pct_start, div_factor, final_div_factor)``: the learning rate of step
    ``step`` (counted from 0) under ``OneCycleLR`` with these settings (cosine annealing), stepped after every step."""
    settings = [  # (total_steps, max_lr, pct_start, div_factor, final_div_factor), steps to try
        ((100, 0.05, 0.25, 25.0, 1e4), [0, 1, 12, 23, 24, 25, 60, 98, 99]),  # the page's warm-up and peak
        ((10, 1.0, 0.3, 10.0, 100.0), range(10)),
        ((7, 0.4, 0.5, 4.0, 1000.0), range(7)),  # the warm-up ends between two steps, at 2.5
        ((1000, 0.05, 0.25, 25.0, 1e4), [0, 150, 248, 249, 250, 650, 999]),  # the page's figure
    ]
    off = "your rates are off by one step: step 0 runs at max_lr / div_factor, the scheduler moves after every step."
    for (total, max_lr, pct, div, final), steps in settings:
        rates = _one_cycle_rates(total, max_lr, pct, div, final)
        for step in steps:
            where = (
                f"for step={step}, total_steps={total}, max_lr={max_lr}, pct_start={pct}, div_factor={div:g}, "
                f"final_div_factor={final:g}"
            )
            got = _as_number(
                _call(fn, step, total, max_lr, pct, div, final, where=where), f"{where}, your function's result"
            )
            mistake = functools.partial(_one_cycle_mistake, step, total, max_lr, pct, div, final)
            mistakes = [
                (rates[min(step + 1, total - 1)], off),
                (rates[max(step - 1, 0)], off),
                (mistake(first=0.0), "your warm-up starts at 0; OneCycleLR starts at max_lr / div_factor."),
                (
                    mistake(peak=pct * total),
                    "your rate peaks at step pct_start * total_steps; PyTorch's peaks one step earlier, at "
                    "pct_start * total_steps - 1 (steps count from 0), and anneals from there to step total_steps - 1.",
                ),
                (mistake(linear=True), "you moved in straight lines; OneCycleLR follows half a cosine each way."),
                (mistake(last=0.0), "your rate ends at 0; it ends at max_lr / div_factor / final_div_factor."),
                (
                    mistake(last=max_lr / div),
                    "your rate ends where it started, at max_lr / div_factor; final_div_factor divides that once more.",
                ),
                (
                    mistake(last=max_lr / final),
                    "your rate ends at max_lr / final_div_factor; the end is the start, max_lr / div_factor, divided "
                    "by final_div_factor.",
                ),
            ]
            _expect_number(
                got,
                rates[step],
                tol=1e-6,
                relative=True,
                wrong=f"{where}, your function gives {got:.6g}; OneCycleLR uses {rates[step]:.6g}.",
                hints=[(value, f"{where}, {hint}") for value, hint in mistakes],
            )
    tried = sum(len(steps) for _, steps in settings)
    return f"your rates match OneCycleLR's at all {tried} steps tried, with {len(settings)} settings."


# --------------------------------------------------------------------------- chapter 7.2: transfer


def _shared_weight_net() -> nn.Module:
    """Two 6 -> 6 layers that use one and the same weight (a tied weight), each with its own bias."""
    first, second = nn.Linear(6, 6), nn.Linear(6, 6)
    second.weight = first.weight
    return nn.Sequential(first, nn.ReLU(), second)


def _transfer_cases() -> list[tuple[nn.Module, tuple[int, ...], str]]:
    """Models with frozen parts, buffers or a shared weight; an input shape for each; and a description."""

    def article_convolutions() -> list[nn.Module]:
        return [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]

    probe = nn.Sequential(*article_convolutions(), nn.Linear(9216, 10))
    probe[:4].requires_grad_(False)
    top = nn.Sequential(*article_convolutions(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10))
    top[:4].requires_grad_(False)
    normed = nn.Sequential(
        nn.Conv2d(1, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    normed[:2].requires_grad_(False)
    frozen_bias = nn.Linear(10, 5)
    frozen_bias.bias.requires_grad_(False)
    return [
        (
            probe,
            (1, 1, 28, 28),
            "for a linear probe (the article's conv1 and conv2, frozen, under a new Linear(9216, 10))",
        ),
        (top, (1, 1, 28, 28), "for the top layers (the article's network with conv1 and conv2 frozen)"),
        (normed, (2, 1, 10, 10), "for a small network with batch norm (its first convolution and batch norm frozen)"),
        (frozen_bias, (3, 10), "for a Linear(10, 5) whose bias alone is frozen"),
        (_shared_weight_net(), (3, 6), "for two Linear(6, 6) layers that share one weight (a tied weight)"),
    ]


def _trained_scalars(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """The scalars a training step changes: those of every tensor that gets a gradient, each tensor once."""
    model(torch.randn(input_shape)).sum().backward()
    tensors = {id(p): p for _, p in model.named_parameters(remove_duplicate=False) if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return sum(p.numel() for p in tensors.values())


@_checker
def check_trainable_parameters(fn: Callable[..., Any]) -> str:
    """``fn(model)``: the number of scalar parameters that training changes: frozen ones (``requires_grad=False``)
    and buffers (batch norm's running statistics) excluded, a weight shared by two layers counted once."""
    cases = _transfer_cases()
    for model, input_shape, where in cases:
        truth = _trained_scalars(model, input_shape)
        duplicated = [p for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad]
        hints = [
            (
                sum(p.numel() for p in model.parameters()),
                "you counted the frozen parameters too; a parameter with requires_grad=False is not trained.",
            ),
            (sum(p.numel() for p in duplicated), "a weight shared by two layers is one tensor: count it once."),
            (
                truth + sum(b.numel() for b in model.buffers()),
                "you counted the buffers too (batch norm's running statistics): they are not parameters.",
            ),
            (
                sum(t.numel() for t in model.state_dict().values()),
                "you counted everything in state_dict(): buffers (batch norm's running statistics) are not "
                "parameters, and frozen parameters are not trained.",
            ),
            (
                len({id(p) for p in duplicated}),
                "that is the number of parameter tensors; count their elements (numel).",
            ),
        ]
        got = _as_count(_call(fn, model, where=where), f"{where}, your function's result")
        _expect_number(
            got,
            truth,
            wrong=f"{where}, your function gives {got:,}; training changes {truth:,} parameters.",
            hints=[(value, f"{where}, your {got:,}: {hint}") for value, hint in hints],
        )
    return f"your counts are right on {len(cases)} models, with frozen layers, buffers and a shared weight."


# --------------------------------------------------------------------------- chapter 7.3: your handwriting


def _oriented(height: int, width: int, longer: int, shorter: int) -> tuple[int, int]:
    """(height, width) with ``longer`` on the side that is longer in ``height`` x ``width``."""
    return (longer, shorter) if height >= width else (shorter, longer)


def _fitted_size(height: int, width: int, box: int = 20) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is ``box``, proportions kept, the shorter side rounded to
    the nearest whole pixel (at least 1), in exact fractions."""
    longer, shorter = max(height, width), min(height, width)
    return _oriented(height, width, box, max(1, math.floor(Fraction(shorter * box, longer) + Fraction(1, 2))))


@_checker
def check_fit_in_box(fn: Callable[..., Any]) -> str:
    """``fn(height, width) -> (new_height, new_width)``: the size of an ink box of ``height`` x ``width`` pixels
    fitted into 20 x 20 keeping its proportions, as MNIST's digits were: the longer side becomes 20, the shorter
    is scaled by the same factor and rounded to the nearest pixel, at least 1. Small boxes are scaled up."""
    cases = [(100, 50), (50, 100), (13, 29), (7, 3), (33, 57), (300, 2), (41, 10), (20, 11), (40, 40), (3, 1)]
    for height, width in cases:
        where = f"for an ink box of height {height} and width {width}"
        got = _call(fn, height, width, where=where)
        t = _as_tensor(got, f"{where}, your result").flatten()
        if t.numel() != 2:
            raise _NotYet(f"{where}, your function should return a pair (height, width), not {_kind(got)}.")
        if t.is_floating_point() and not torch.equal(t, t.round()):
            raise _NotYet(f"{where}, your sizes {t.tolist()} should be whole numbers of pixels.")
        size = tuple(int(v) for v in t.tolist())
        truth = _fitted_size(height, width)
        if size == truth:
            continue
        longer, shorter = max(height, width), min(height, width)
        exact = shorter * 20 / longer
        hints = [
            ((20, 20), "you stretched it to 20x20; keep its proportions: only the longer side becomes 20."),
            (truth[::-1], "you gave (width, height); give the height first, as an image's shape is (rows, columns)."),
            (
                _oriented(height, width, 20, 0),
                f"a side of 0 pixels is no image ({exact:.3g} rounds to 0): keep at least 1 (max(1, ...)).",
            ),
            (
                _oriented(height, width, 20, math.floor(exact)),
                f"you rounded {exact:.3g} down; round to the nearest pixel.",
            ),
            (
                _oriented(height, width, 20, math.ceil(exact)),
                f"you rounded {exact:.3g} up; round to the nearest pixel.",
            ),
            (
                _oriented(height, width, round(longer * 20 / shorter), 20),
                "you scaled the shorter side to 20; the longer side must fit into the box.",
            ),
        ]
        if longer < 20:
            hints.append(
                ((height, width), "you left it as it was: a small digit is scaled up too, to a longer side of 20.")
            )
        hint = next((h for value, h in hints if value == size), None)
        raise _NotYet(
            f"{where}, "
            + (hint or f"your function gives (height, width) = {size}; fitted into 20x20, proportions kept: {truth}.")
        )
    return f"your sizes are right for all {len(cases)} ink boxes, wide, tall, tiny and square."


# --------------------------------------------------------------------------- appendix: speed


@_checker
def check_conv_multiply_adds(fn: Callable[..., Any]) -> str:
    """``fn(conv, height, width)``: the multiply-adds of ``nn.Conv2d`` ``conv`` on one image of
    ``conv.in_channels`` x ``height`` x ``width``, as ``FlopCounterMode`` counts them (its operations / 2,
    the bias not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    cases = [  # the layer's settings, and the input's height and width
        ({"in_channels": 32, "out_channels": 64, "kernel_size": 3}, 26, 26),  # the article's conv2
        ({"in_channels": 1, "out_channels": 16, "kernel_size": 5, "stride": 2, "padding": 2, "bias": False}, 28, 28),
        ({"in_channels": 3, "out_channels": 8, "kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0)}, 7, 9),
        ({"in_channels": 4, "out_channels": 6, "kernel_size": 5, "padding": 2}, 10, 6),
        ({"in_channels": 2, "out_channels": 3, "kernel_size": 1}, 5, 4),
    ]
    for settings, height, width in cases:
        conv = nn.Conv2d(**settings)
        c, o, (kh, kw) = conv.in_channels, conv.out_channels, conv.kernel_size
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            ho, wo = conv(torch.zeros(1, c, height, width)).shape[-2:]
        truth = counter.get_total_flops() // 2
        where = f"for {conv!r} on one input of {c}x{height}x{width}"
        got = _as_count(_call(fn, conv, height, width, where=where), f"{where}, your function's result")
        hints = [
            (
                2 * truth,
                "that counts floating-point operations, as FlopCounterMode's total does: a multiply-add is two.",
            ),
            (
                o * kh * kw * ho * wo,
                "you left out the input channels: each output value sums in_channels x kh x kw products.",
            ),
            (
                o * c * kh * kw * height * width,
                "you placed a kernel at every input pixel; count one per output pixel, which stride and padding decide.",
            ),
            (truth + o * ho * wo, "you counted the bias too; FlopCounterMode counts only the kernel's multiply-adds."),
            (o * c * kh * kh * ho * wo, f"your kernel is square; this one is {kh} x {kw}."),
        ]
        _expect_number(
            got,
            truth,
            wrong=f"{where}, your function gives {got:,}; FlopCounterMode counts {truth:,} multiply-adds.",
            hints=[(value, f"{where}, your {got:,}: {hint}") for value, hint in hints],
        )
    return f"your counts match FlopCounterMode's on {len(cases)} layers, strided, padded and not square."


# --------------------------------------------------------------------------- appendix: long runs

_RUN_STEPS, _SAVED_AT = 7, 3  # a tiny run of seven steps, interrupted after the third


def _tiny_run(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """A small network with dropout, SGD with momentum, and a StepLR that halves the rate every second step."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def _train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, steps: range) -> None:
    """Steps ``steps`` of the tiny run: fixed batches, dropout masks from PyTorch's global generator."""
    data = _generator(1)
    x, y = torch.randn(_RUN_STEPS, 8, 4, generator=data), torch.randint(0, 3, (_RUN_STEPS, 8), generator=data)
    model.train()
    for i in steps:
        loss = F.cross_entropy(model(x[i]), y[i])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


@_checker
def check_checkpoint(save: Callable[..., Any], load: Callable[..., Any]) -> str:
    """``save(model, optimizer, scheduler) -> state`` and ``load(state, model, optimizer, scheduler)``: a checkpoint
    that resumes a run bit for bit. The state goes through ``torch.save`` and ``torch.load`` (a file), and ``load``
    gets a new network, optimiser and scheduler, and PyTorch's generator somewhere else, as in a new process."""
    where = (
        f"resuming a tiny run (SGD with momentum, a StepLR halving the rate every 2 steps, dropout) after step "
        f"{_SAVED_AT} of {_RUN_STEPS}"
    )
    for function, name in ((save, "save"), (load, "load")):
        if not callable(function):
            raise _NotYet(
                f"this checker wants your functions save and load themselves, but {name} is {_kind(function)}."
            )
    straight, *rest = _tiny_run(0)
    _train_steps(straight, *rest, range(_RUN_STEPS))

    model, optimizer, scheduler = _tiny_run(0)
    _train_steps(model, optimizer, scheduler, range(_SAVED_AT))
    weights, rng = copy.deepcopy(model.state_dict()), torch.get_rng_state()
    velocities = [optimizer.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    position = scheduler.last_epoch
    state = _call(save, model, optimizer, scheduler, where=f"{where}, in save")
    file = io.BytesIO()
    try:
        torch.save(state, file)
    except Exception as err:
        raise _NotYet(f"{where}, torch.save cannot write your state to a file ({_error(err)}).") from None

    model, optimizer, scheduler = _tiny_run(1)  # a new process: other weights, a fresh optimiser and scheduler
    torch.manual_seed(2)  # ... and the generator somewhere else
    file.seek(0)
    _call(load, torch.load(file, weights_only=False), model, optimizer, scheduler, where=f"{where}, in load")
    after = f"{where}, after your load"
    for name, tensor in model.state_dict().items():
        if not torch.equal(tensor, weights[name]):
            raise _NotYet(f"{after} the model's {name} is not the one saved: save and load model.state_dict().")
    buffers = [optimizer.state.get(p, {}).get("momentum_buffer") for p in model.parameters()]
    if any(b is None or not torch.equal(b, v) for b, v in zip(buffers, velocities)):
        how = "missing" if any(b is None for b in buffers) else "not the ones saved"
        raise _NotYet(
            f"{after} the optimiser's momentum buffers are {how}: the velocity built up over the first {_SAVED_AT} "
            "steps is lost. Save and load optimizer.state_dict() too."
        )
    if scheduler.last_epoch != position:
        raise _NotYet(
            f"{after} the scheduler has counted {scheduler.last_epoch} steps, where the run had taken {position}: "
            "it would change the rate at the wrong steps. Save and load scheduler.state_dict() too."
        )
    if not torch.equal(torch.get_rng_state(), rng):
        raise _NotYet(
            f"{after} PyTorch's random generator is not where it was at the save, so the remaining steps draw other "
            "dropout masks: save torch.get_rng_state() and put it back with torch.set_rng_state()."
        )
    _train_steps(model, optimizer, scheduler, range(_SAVED_AT, _RUN_STEPS))
    for (name, a), b in zip(straight.state_dict().items(), model.state_dict().values()):
        if not torch.equal(a, b):
            raise _NotYet(
                f"{where}, the resumed run's {name} differs from an uninterrupted run's by up to "
                f"{float((a - b).abs().max()):.3g} after step {_RUN_STEPS}."
            )
    return f"your checkpoint resumes the run bit for bit: after {_RUN_STEPS} steps its weights equal an uninterrupted run's."
