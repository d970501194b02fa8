"""Evaluating a classifier honestly (chapter 6): exact accuracy, the confusion matrix, per-class
precision/recall/F1, the most confident mistakes, calibration, robustness to small shifts and
rotations (:mod:`mnist_book.perturb` moves the images), inference throughput, and the standard
error of an accuracy.

Everything works on a :class:`~mnist_book.data.Split` held in memory or on any iterable of
``(images, labels)`` batches, such as a ``DataLoader``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_book.data import Split
from mnist_book.models import eval_mode
from mnist_book.perturb import rotate_images, shift_images

#: Either a whole split in memory or anything that yields ``(images, labels)`` batches.
Data = Split | Iterable[tuple[torch.Tensor, torch.Tensor]]


class Predictions(NamedTuple):
    """A model's raw outputs on a data set, with the true labels (both on the CPU)."""

    logits: torch.Tensor  # (N, 10)
    labels: torch.Tensor  # (N,)

    @property
    def probs(self) -> torch.Tensor:
        """Softmax probabilities, (N, 10). Also right for log-probabilities: softmax ignores a shift."""
        return F.softmax(self.logits.double(), dim=1).float()

    @property
    def predicted(self) -> torch.Tensor:
        return self.logits.argmax(dim=1)

    @property
    def correct(self) -> int:
        return int((self.predicted == self.labels).sum())

    @property
    def accuracy(self) -> float:
        """Fraction correct, e.g. 0.9912 (not truncated to a whole percent)."""
        return self.correct / len(self.labels)


def _batches(data: Data, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, Split):
        for lo in range(0, len(data), batch_size):
            yield data.images[lo : lo + batch_size], data.labels[lo : lo + batch_size]
    else:
        yield from data


def predict(
    model: nn.Module, data: Data, *, device: torch.device | str | None = None, batch_size: int = 500
) -> Predictions:
    """Run ``model`` over ``data`` in eval mode (dropout off) without gradients; outputs on the CPU."""
    if device is None:
        device = next(model.parameters()).device
    logits, labels = [], []
    with eval_mode(model):
        for x, y in _batches(data, batch_size):
            logits.append(model(x.to(device)).float().cpu())
            labels.append(y.cpu())
    if not logits:
        raise ValueError("predict() got no batches: the data set is empty.")
    return Predictions(torch.cat(logits), torch.cat(labels))


def loss_and_accuracy(
    model: nn.Module, data: Data, *, device: torch.device | str | None = None, batch_size: int = 500
) -> tuple[float, float]:
    """Mean cross-entropy and fraction correct of ``model`` on ``data`` (eval mode)."""
    p = predict(model, data, device=device, batch_size=batch_size)
    return F.cross_entropy(p.logits, p.labels).item(), p.accuracy


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """``cm[i, j]`` = how many samples of true class ``i`` were predicted as ``j`` (int64)."""
    labels, predicted = labels.cpu().long(), predicted.cpu().long()
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and predictions {tuple(predicted.shape)} differ in shape.")
    for name, t in (("labels", labels), ("predictions", predicted)):
        if len(t) and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}; found {int(t.min())}..{int(t.max())}.")
    return torch.bincount(labels * num_classes + predicted, minlength=num_classes**2).view(num_classes, num_classes)


class ClassMetrics(NamedTuple):
    """Per-class precision, recall, F1 (0 where undefined) and support (true samples per class)."""

    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor
    support: torch.Tensor


def per_class_metrics(cm: torch.Tensor) -> ClassMetrics:
    """Precision = TP / predicted as the class, recall = TP / truly the class, F1 their harmonic mean."""
    cm = cm.double()
    tp = cm.diagonal()
    predicted, actual = cm.sum(0), cm.sum(1)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp))
    return ClassMetrics(precision, recall, f1, actual.long())


def most_confident_mistakes(probs: torch.Tensor, labels: torch.Tensor, k: int = 16) -> torch.Tensor:
    """Indices of the (at most ``k``) wrong predictions made with the highest probability, most confident first."""
    confidence, predicted = probs.max(dim=1)
    wrong = (predicted != labels).nonzero().flatten()
    order = confidence[wrong].argsort(descending=True, stable=True)
    return wrong[order[:k]]


class Calibration(NamedTuple):
    """Confidence binned into equal-width bins: per bin the mean confidence, the accuracy and the count."""

    edges: torch.Tensor  # (n_bins + 1,)
    confidence: torch.Tensor  # (n_bins,) NaN where the bin is empty
    accuracy: torch.Tensor  # (n_bins,) NaN where the bin is empty
    count: torch.Tensor  # (n_bins,)
    ece: float  # expected calibration error: sum over bins of count/N * |accuracy - confidence|


def calibration(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> Calibration:
    """Reliability statistics of the top-class probability (Guo et al., 2017: bins (lo, hi])."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, not {n_bins}.")
    confidence, predicted = probs.double().max(dim=1)
    hit = (predicted == labels).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    # bucketize(right=False) puts c in bin i when edges[i] < c <= edges[i+1]; a confidence of
    # exactly 0 cannot happen for a top-class probability (it is at least 1/10).
    which = (torch.bucketize(confidence, edges) - 1).clamp(0, n_bins - 1)
    count = torch.bincount(which, minlength=n_bins)
    conf_sum = torch.bincount(which, weights=confidence, minlength=n_bins)
    hit_sum = torch.bincount(which, weights=hit, minlength=n_bins)
    nonempty = count > 0
    nan = torch.full((n_bins,), math.nan, dtype=torch.float64)
    mean_conf = torch.where(nonempty, conf_sum / count.clamp(min=1), nan)
    mean_acc = torch.where(nonempty, hit_sum / count.clamp(min=1), nan)
    ece = float((hit_sum - conf_sum).abs().sum() / len(labels))  # = sum_b n_b/N |acc_b - conf_b|
    return Calibration(edges, mean_conf, mean_acc, count, ece)


# --------------------------------------------------------------------------- robustness


def accuracy_under_shift(
    model: nn.Module, split: Split, shifts: Iterable[tuple[int, int]], *, fill: float, batch_size: int = 500
) -> list[float]:
    """Accuracy on ``split`` with every image moved by each ``(dx, dy)`` in turn."""
    return [
        predict(model, Split(shift_images(split.images, dx, dy, fill), split.labels), batch_size=batch_size).accuracy
        for dx, dy in shifts
    ]


def accuracy_under_rotation(
    model: nn.Module, split: Split, angles: Iterable[float], *, fill: float, batch_size: int = 500
) -> list[float]:
    """Accuracy on ``split`` with every image rotated by each angle (degrees) in turn."""
    return [
        predict(model, Split(rotate_images(split.images, a, fill), split.labels), batch_size=batch_size).accuracy
        for a in angles
    ]


# --------------------------------------------------------------------------- what the kernels learned

#: The four directions along which a 3 × 3 kernel can be three parallel stripes of three pixels each.
STRIPE_DIRECTIONS = ("horizontal", "vertical", "rising diagonal", "falling diagonal")


def _stripes() -> torch.Tensor:
    """(4, 9, 3): for each direction, which of its three stripes each of the nine pixels lies in."""
    r, c = torch.meshgrid(torch.arange(3), torch.arange(3), indexing="ij")
    bands = [r, c, (r + c).clamp(1, 3) - 1, (r - c + 2).clamp(1, 3) - 1]  # rows, columns, / and \ stripes
    return torch.stack([F.one_hot(b.flatten(), 3).double() for b in bands])


class Orientation(NamedTuple):
    """How far each 3 × 3 kernel is an oriented pattern: three parallel stripes, constant along one direction."""

    score: torch.Tensor  # (N,) the share of the kernel's variation the best direction's stripes explain, 0..1
    direction: torch.Tensor  # (N,) that direction, an index into STRIPE_DIRECTIONS
    contrast: torch.Tensor  # (N,) whether those stripes, as they are, include a positive and a negative one


def orientation_scores(kernels: torch.Tensor) -> Orientation:
    """For each 3 × 3 kernel (``(N, 3, 3)`` or ``(N, 1, 3, 3)``): the share of its energy about its mean that
    is explained by a pattern of three parallel stripes (each stripe one value), in the best of four directions.

    A pure stripe pattern (a positive row next to a negative one, a bar between two) scores 1; a kernel
    that varies as much along the stripes as across them scores low. Every direction's stripes span 2 of
    the 8 dimensions of variation, so on random kernels each explains a quarter on average.
    """
    k = kernels.reshape(len(kernels), 9).double()  # (N, 9)
    centred = k - k.mean(1, keepdim=True)
    stripes = _stripes()
    means = torch.einsum("np,dps->nds", centred, stripes) / 3  # (N, 4, 3): each stripe's mean
    share = 3 * (means**2).sum(2) / (centred**2).sum(1, keepdim=True).clamp_min(1e-12)  # (N, 4)
    score, direction = share.max(1)
    raw = torch.einsum("np,dps->nds", k, stripes)[torch.arange(len(k)), direction] / 3  # (N, 3)
    return Orientation(score.float(), direction, (raw.max(1).values > 0) & (raw.min(1).values < 0))


def random_kernels(n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` random 3 × 3 kernels, ``(n, 3, 3)``, each weight independent and uniform, as PyTorch initialises
    a convolution (the scores above do not depend on the scale)."""
    return torch.rand(n, 3, 3, generator=torch.Generator().manual_seed(seed)) - 0.5


# --------------------------------------------------------------------------- speed


def inference_throughput(model: nn.Module, images: torch.Tensor, *, batch_size: int, min_seconds: float = 1.0) -> float:
    """Images per second for forward passes at ``batch_size`` (eval mode, no gradients).

    ``torch.utils.benchmark.Timer`` repeats the pass for at least ``min_seconds`` after a warm-up,
    waits for a GPU to finish before reading its clock, and keeps PyTorch's number of threads.
    """
    from torch.utils.benchmark import Timer

    device = next(model.parameters()).device
    batch = images[:batch_size].to(device)
    with eval_mode(model):
        timer = Timer("model(batch)", globals={"model": model, "batch": batch}, num_threads=torch.get_num_threads())
        measurement = timer.blocked_autorange(min_run_time=min_seconds)
    return len(batch) / measurement.median


# --------------------------------------------------------------------------- comparing accuracies


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


class Paired(NamedTuple):
    """Two models scored on the same images: the images only one of them gets right, and the exact
    two-sided p-value of a sign test on those (McNemar's test) under "both are equally good"."""

    only_a: int
    only_b: int
    p_value: float


def paired_comparison(a_correct: torch.Tensor, b_correct: torch.Tensor) -> Paired:
    """Compare two models on the same images from their right/wrong masks (bool tensors, one per image).

    Images both get right or both get wrong say nothing about which is better; of the others, each
    model should win about half if they are equally good, so ``only_a`` is Binomial(n, 1/2).
    """
    a_correct, b_correct = torch.as_tensor(a_correct).bool(), torch.as_tensor(b_correct).bool()
    if a_correct.shape != b_correct.shape:
        raise ValueError(f"Both models must be scored on the same images ({a_correct.shape} vs {b_correct.shape}).")
    only_a = int((a_correct & ~b_correct).sum())
    only_b = int((~a_correct & b_correct).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n  # P(X <= k), X ~ Binomial(n, 1/2)
    return Paired(only_a, only_b, min(1.0, 2 * tail))
