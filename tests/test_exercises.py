"""The exercise checkers (mnist_book.exercises): a right answer, written here independently of the
checker's oracle, passes; at least three wrong answers a reader would write (transposed axes,
square-only shapes, overflow, a wrong dtype, an ignored seed, off by one...) fail, each with a message
that names the input and says how the answer differs; a function that raises, or an answer of the
wrong type, gives a failing verdict and never an exception."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnist_book import exercises as ex
from mnist_book.data import fashion_mnist
from mnist_book.exercises import Verdict


def passes(verdict: Verdict) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict, verdict.message
    assert verdict.message.startswith("Right: ")


def fails(verdict: Verdict, *phrases: str) -> None:
    """Not ok, and the message says each of ``phrases``."""
    assert isinstance(verdict, Verdict)
    assert not verdict, verdict.message
    assert verdict.message.startswith("Not yet: ")
    for phrase in phrases:
        assert phrase in verdict.message


# --------------------------------------------------------------------------- Verdict


def test_verdict_is_true_when_right_and_shows_as_markdown():
    right, wrong = Verdict(True, "Right: your conv2d matches."), Verdict(False, "Not yet: for a*b, label_smoothing.")
    assert bool(right) and not bool(wrong)
    assert str(right) == repr(right) == "Right: your conv2d matches."
    assert right._repr_markdown_() == "**Right.** Your conv2d matches."
    assert wrong._repr_markdown_() == r"**Not yet.** For a\*b, label\_smoothing."


def test_checkers_return_verdicts_and_say_so():
    assert ex.check_step_lr.__signature__.return_annotation == "Verdict"
    assert set(ex.__all__) == {"Verdict"} | {name for name in dir(ex) if name.startswith("check_")}


# --------------------------------------------------------------------------- any answer gives a verdict

FUNCTION_CHECKERS = [
    ex.check_one_hot,
    ex.check_output_size,
    ex.check_conv2d,
    ex.check_max_pool2d,
    ex.check_softmax,
    ex.check_sgd_momentum_step,
    ex.check_step_lr,
    ex.check_accuracy,
    ex.check_confusion_matrix,
    ex.check_smoothed_targets,
    ex.check_stratified_subset,
    ex.check_centre_of_mass,
    ex.check_one_cycle_lr,
    ex.check_trainable_parameters,
    ex.check_fit_in_box,
    ex.check_conv_multiply_adds,
]
VALUE_CHECKERS = [ex.check_fc1_inputs, ex.check_parameter_count, ex.check_shift_kernel]


def boom(*args):
    raise ValueError("something broke\nsecond line of the message")


class Weird:
    """An answer nothing can convert: every conversion raises."""

    def __float__(self):
        raise RuntimeError("no")

    def __len__(self):
        raise RuntimeError("no")

    def __repr__(self):
        return "Weird()"


@pytest.mark.parametrize("check", FUNCTION_CHECKERS, ids=lambda c: c.__name__)
def test_a_function_that_raises_fails_with_the_error(check):
    verdict = check(boom)
    fails(verdict, "your function raised ValueError: something broke")
    assert "second line" not in verdict.message


@pytest.mark.parametrize("answer", ["hello", None, Weird(), [[1, 2], [3]]], ids=["str", "None", "weird", "ragged"])
@pytest.mark.parametrize("check", FUNCTION_CHECKERS, ids=lambda c: c.__name__)
def test_a_result_of_the_wrong_type_fails(check, answer):
    fails(check(lambda *args: answer))


@pytest.mark.parametrize("check", FUNCTION_CHECKERS, ids=lambda c: c.__name__)
def test_a_value_instead_of_a_function_fails(check):
    fails(check(42), "wants your function itself")


@pytest.mark.parametrize("answer", ["3136", None, Weird(), [1, 2], True, float("nan")])
@pytest.mark.parametrize("check", VALUE_CHECKERS, ids=lambda c: c.__name__)
def test_a_value_of_the_wrong_type_fails(check, answer):
    fails(check(answer))


# --------------------------------------------------------------------------- chapter 1


@pytest.fixture(scope="module")
def fashion_pixels() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's training and test pixels in [0, 1], read through torchvision (not the checker's load_split)."""
    return tuple(fashion_mnist(train=t).data.numpy().astype(np.float64) / 255 for t in (True, False))


def test_pixel_stats(fashion_pixels):
    train, test = fashion_pixels
    mean, std = train.mean(), train.std()
    passes(ex.check_pixel_stats(mean, std))
    passes(ex.check_pixel_stats(torch.tensor(mean), np.float32(std)))
    where = "for the fashion_mnist training pixels scaled to [0, 1], "
    fails(ex.check_pixel_stats(mean * 255, std * 255), where, "mean", "0 to 255", "standard deviation")
    verdict = ex.check_pixel_stats(0.1307, std)  # MNIST's mean, not Fashion-MNIST's
    fails(verdict, where + "your mean 0.1307 is off by -0.15")
    assert "standard deviation" not in verdict.message
    fails(ex.check_pixel_stats(0.1307, 0.3081), where, "MNIST's constants")
    fails(ex.check_pixel_stats(std, mean), where, "swapped")
    fails(ex.check_pixel_stats(test.mean(), test.std()), where, "test split's")
    normalised = (train - 0.2860) / 0.3530  # load_split without normalize=False
    fails(ex.check_pixel_stats(normalised.mean(), normalised.std()), where, "normalize=False")
    per_image = train.std(axis=(1, 2)).mean()  # the average of every image's own standard deviation
    fails(ex.check_pixel_stats(mean, per_image), where, "average of each image's own")
    fails(ex.check_pixel_stats(mean, "0.35"), "standard deviation should be a number")
    with pytest.raises(ValueError, match="Unknown dataset"):
        ex.check_pixel_stats(mean, std, dataset="cifar")  # the book's slip, not the reader's


def test_one_hot():
    def one_hot(labels, k):
        return (labels[:, None] == torch.arange(k)).long()

    passes(ex.check_one_hot(one_hot))
    passes(ex.check_one_hot(lambda labels, k: np.eye(k, dtype=np.int64)[labels.numpy()]))  # NumPy int64 is fine
    # the right 0s and 1s in another dtype: the exercise asks for F.one_hot's int64
    fails(ex.check_one_hot(lambda labels, k: torch.eye(k)[labels]), "labels=", "dtype is float32", "int64")
    fails(ex.check_one_hot(lambda labels, k: labels[:, None] == torch.arange(k)), "dtype is bool", "int64")
    fails(ex.check_one_hot(lambda labels, k: one_hot(labels, k).to(torch.uint8)), "dtype is uint8")
    fails(ex.check_one_hot(lambda labels, k: np.eye(k)[labels.numpy()]), "dtype is NumPy float64")
    fails(ex.check_one_hot(lambda labels, k: F.one_hot(labels)), "labels=[1]", "shape (1, 2)", "(1, 3)")

    def every_label_in_every_row(labels, k):  # the chapter's placeholder
        out = torch.zeros(len(labels), k, dtype=torch.long)
        out[:, labels] = 1
        return out

    fails(ex.check_one_hot(every_label_in_every_row), "for labels=", "differs from F.one_hot's result")
    fails(ex.check_one_hot(lambda labels, k: one_hot(labels - 1, k)), "differs")


# --------------------------------------------------------------------------- chapters 2 and 3


def test_output_size():
    def size(n, k, stride=1, padding=0, dilation=1):
        return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1

    passes(ex.check_output_size(size))
    passes(ex.check_output_size(lambda *args: np.int64(size(*args))))
    fails(
        ex.check_output_size(lambda n, k, s=1, p=0, d=1: n + 2 * p - d * (k - 1)),  # forgot the stride
        "for size=28, kernel=5, stride=2, padding=2, dilation=1, your function gives 28; PyTorch's layer gives 14.",
    )
    fails(ex.check_output_size(lambda n, k, s=1, p=0, d=1: (n + 2 * p - k) // s + 1), "dilation=2")
    fails(ex.check_output_size(lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) / s + 1), "whole number")
    fails(
        ex.check_output_size(lambda n, k, s=1, p=0, d=1: math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1),
        "for size=28, kernel=5, stride=2, padding=2, dilation=1, your function gives 15; PyTorch's layer gives 14.",
    )
    fails(ex.check_output_size(lambda n, k, s=1, p=0, d=1: (n + p - d * (k - 1) - 1) // s + 1), "padding=2")


def cross_correlation(x, w):
    """conv2d by its formula: every window times the kernel, summed (no F.conv2d)."""
    kh, kw = w.shape[-2:]
    windows = x.unfold(2, kh, 1).unfold(3, kw, 1)  # (B, C, Ho, Wo, kh, kw)
    return torch.einsum("bchwij,ocij->bohw", windows, w)


def conv_square_output(x, w):
    """Loops over an output whose side is the height's: right for square inputs and kernels only."""
    kh, kw = w.shape[-2:]
    n = x.shape[2] - kh + 1
    y = torch.zeros(x.shape[0], w.shape[0], n, n)
    for i in range(n):
        for j in range(n):
            y[:, :, i, j] = torch.einsum("bcij,ocij->bo", x[:, :, i : i + kh, j : j + kw], w)
    return y


def test_conv2d():
    passes(ex.check_conv2d(cross_correlation))
    passes(ex.check_conv2d(lambda x, w: cross_correlation(x.double(), w.double()).numpy()))
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w.flip(-1, -2))), "true convolution", "chapter 2")
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w)[..., 1:, 1:]), "shape (1, 1, 2, 2)", "(1, 1, 3, 3)")
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w) + 1e-3), "differs from F.conv2d's result by up to 0.001")
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w) * np.nan), "holds nan")
    fails(
        ex.check_conv2d(conv_square_output),
        "for an input of shape (2, 2, 6, 9) and a kernel of shape (3, 2, 2, 4)",
        "has shape (2, 3, 5, 5), but F.conv2d's result has shape (2, 3, 5, 6)",
    )
    first_channel = ex.check_conv2d(lambda x, w: cross_correlation(x[:, :1], w[:, :1]))  # forgot the sum over C
    fails(first_channel, "for an input of shape (2, 3, 7, 6) and a kernel of shape (4, 3, 3, 2)", "differs")
    first_image = ex.check_conv2d(lambda x, w: cross_correlation(x[:1], w))  # the batch of one image
    fails(first_image, "(2, 3, 7, 6)", "has shape (1, 4, 5, 5)")


def test_shift_kernel():
    right = [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
    passes(ex.check_shift_kernel(right))
    passes(ex.check_shift_kernel(np.array(right)))
    passes(ex.check_shift_kernel(torch.tensor(right, dtype=torch.float32).view(1, 1, 3, 3)))
    fails(ex.check_shift_kernel(np.fliplr(right).copy()), "on random 8x11 image 1", "it moves the image left: flip it")
    fails(ex.check_shift_kernel([[0, 0, 0], [0, 0, 0], [0, 1, 0]]), "moves the image up")
    fails(ex.check_shift_kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), "leaves the image where it is")
    fails(ex.check_shift_kernel([[0, 1, 0], [0, 0, 0], [0, 0, 0]]), "moves the image down")
    fails(ex.check_shift_kernel(np.eye(3)[::-1].copy()), "differs from the image moved right")
    fails(ex.check_shift_kernel([[0, 0, 0], [2, 0, 0], [0, 0, 0]]), "differs from the image moved right")
    fails(ex.check_shift_kernel(torch.zeros(2, 2)), "shape (2, 2); it should be 3x3")


def max_pool(x, k, s):
    return x.unfold(2, k, s).unfold(3, k, s).amax(dim=(-2, -1))


def pool_square_output(x, k, s):
    """Loops over an output whose side is the height's: the pool "uses H for both sides"."""
    n = (x.shape[2] - k) // s + 1
    out = torch.empty(*x.shape[:2], n, n)
    for i in range(n):
        for j in range(n):
            out[:, :, i, j] = x[:, :, i * s : i * s + k, j * s : j * s + k].amax(dim=(-2, -1))
    return out


def test_max_pool2d():
    passes(ex.check_max_pool2d(max_pool))
    fails(
        ex.check_max_pool2d(pool_square_output),
        "for an input of shape (1, 2, 6, 9), kernel=2, stride=2",
        "has shape (1, 2, 3, 3), but F.max_pool2d's result has shape (1, 2, 3, 4)",
    )
    fails(ex.check_max_pool2d(lambda x, k, s: max_pool(x, k, k)), "shape (2, 3, 9, 6), kernel=3, stride=1")  # no stride
    ceil = ex.check_max_pool2d(lambda x, k, s: F.max_pool2d(x, k, s, ceil_mode=True))  # keeps the half window
    fails(ceil, "(1, 2, 6, 9), kernel=2, stride=2", "has shape (1, 2, 3, 5)")
    fails(ex.check_max_pool2d(lambda x, k, s: x.unfold(2, k, s).unfold(3, k, s).mean((-2, -1))), "you averaged")
    over_channels = ex.check_max_pool2d(lambda x, k, s: max_pool(x, k, s).amax(dim=1, keepdim=True))
    fails(over_channels, "for an input of shape (1, 2, 6, 9)", "has shape (1, 1, 3, 4)")


# --------------------------------------------------------------------------- chapter 4


def test_fc1_inputs():
    conv1 = 28 - 3 + 1  # 26
    conv2 = conv1 - 5 + 1  # 22
    pooled = (conv2 - 3) // 3 + 1  # 7
    passes(ex.check_fc1_inputs(64 * pooled * pooled))
    passes(ex.check_fc1_inputs(torch.tensor(3136.0)))
    question = "with conv2's kernel 5x5 and a 3x3 pool of stride 3"
    fails(ex.check_fc1_inputs(9216), question, "the article's network as it is")
    fails(ex.check_fc1_inputs(64 * 22 * 22), question, "before the pool")
    fails(ex.check_fc1_inputs(64 * math.ceil(22 / 3) ** 2), question, "fits 7 times in 22")  # rounded up
    fails(ex.check_fc1_inputs(64 * 20 * 20), question, "moves the 3x3 window by 1 pixel")  # stride 1
    fails(ex.check_fc1_inputs(64 * 11 * 11), question, "pools 2x2")
    fails(ex.check_fc1_inputs(pooled * pooled), question, "one map (7x7)")
    fails(ex.check_fc1_inputs(32 * pooled * pooled), question, "32 is conv1's")
    fails(ex.check_fc1_inputs(3136.5), "whole number")
    fails(ex.check_fc1_inputs(3137), question, "3,137 is not it")


def test_parameter_count():
    conv1, conv2 = 32 * 1 * 3 * 3 + 32, 64 * 32 * 3 * 3 + 64
    fc1, fc2 = 64 * 14 * 14 * 128 + 128, 128 * 10 + 10  # padding 1 keeps 28x28 until the pool halves it
    passes(ex.check_parameter_count(conv1 + conv2 + fc1 + fc2))
    question = "for the article's network with padding=1 on both convolutions"
    fails(ex.check_parameter_count(1_199_882), question, "that is the network without padding")
    fails(ex.check_parameter_count(conv1 + conv2 + fc1 + fc2 - 32 - 64 - 128 - 10), question, "biases")
    fails(ex.check_parameter_count(conv1 + conv2 + 64 * 13 * 13 * 128 + 128 + fc2), question, "only one")
    fails(ex.check_parameter_count(conv1 + conv2 + 64 * 28 * 28 * 128 + 128 + fc2), question, "leaves out the pool")
    no_in_channels = conv1 + 64 * 3 * 3 + 64 + fc1 + fc2  # a 3x3 kernel per output channel only
    fails(ex.check_parameter_count(no_in_channels), question, "64 x 32 x 3 x 3")
    fails(ex.check_parameter_count(12), question, "12 is not it")


def softmax(z):
    e = (z - z.max(dim=1, keepdim=True).values).exp()
    return e / e.sum(dim=1, keepdim=True)


def test_softmax():
    passes(ex.check_softmax(softmax))
    passes(ex.check_softmax(lambda z: softmax(z).tolist()))
    naive = ex.check_softmax(lambda z: z.exp() / z.exp().sum(dim=1, keepdim=True))
    fails(naive, "around ±1000", "NaN or infinity", "exp overflows for large logits: subtract each row's maximum first")

    def shifted_by(shift):
        return lambda z: (lambda e: e / e.sum(dim=1, keepdim=True))((z - shift(z)).exp())

    row_mean = shifted_by(lambda z: z.mean(dim=1, keepdim=True))  # right around ±1000, NaN for [[0, 1000]]
    fails(ex.check_softmax(row_mean), "for logits=[[0.0, 1000.0]]", "NaN or infinity")
    row_min = shifted_by(lambda z: z.min(dim=1, keepdim=True).values)
    fails(ex.check_softmax(row_min), "for logits=[[0.0, 1000.0]]", "NaN or infinity")
    overall_max = shifted_by(lambda z: z.max())  # one shift for the whole batch: rows around -1000 underflow
    fails(ex.check_softmax(overall_max), "for logits of shape (3, 10) around ±1000", "NaN or infinity")
    clamped = ex.check_softmax(lambda z: softmax(z.clamp(-80, 80)))  # no NaN, but every logit above 80 is equal
    fails(clamped, "around ±1000", "differs from torch.softmax's result")
    fails(ex.check_softmax(lambda z: softmax(z.T).T), "for logits of shape (4, 10)", "dim=1")
    fails(ex.check_softmax(lambda z: torch.log_softmax(z, dim=1)), "log-probabilities")
    fails(ex.check_softmax(lambda z: softmax(z)[:, :-1]), "shape")


# --------------------------------------------------------------------------- chapter 5


def sgd_momentum(param, grad, velocity, lr, momentum):
    velocity = grad.clone() if velocity is None else momentum * velocity + grad
    return param - lr * velocity, velocity


def test_sgd_momentum_step():
    passes(ex.check_sgd_momentum_step(sgd_momentum))
    passes(ex.check_sgd_momentum_step(lambda *args: list(sgd_momentum(*args))))
    fails(ex.check_sgd_momentum_step(lambda p, g, v, lr, m: (p - lr * g, g)), "on step 2", "velocity")  # plain SGD

    def damped(p, g, v, lr, m):  # an exponential average: v <- m v + (1 - m) g
        v = g.clone() if v is None else m * v + (1 - m) * g
        return p - lr * v, v

    fails(ex.check_sgd_momentum_step(damped), "with lr=0.1, momentum=0.9, on step 2")

    def old_velocity(p, g, v, lr, m):  # moves with the velocity from before this step
        new = g.clone() if v is None else m * v + g
        return p - lr * (g if v is None else v), new

    fails(ex.check_sgd_momentum_step(old_velocity), "on step 2", "your new parameter")
    fails(ex.check_sgd_momentum_step(lambda p, g, v, lr, m: (p - lr * (m * v + g), m * v + g)), "velocity=None")
    fails(ex.check_sgd_momentum_step(lambda *args: sgd_momentum(*args)[0]), "should return a pair")

    def written_in(p, g, v, lr, m):  # the chapter's 0.1 and 0.9 in place of the arguments
        return sgd_momentum(p, g, v, 0.1, 0.9)

    fails(ex.check_sgd_momentum_step(written_in), "with lr=0.05, momentum=0.5, on step 1")
    swapped = ex.check_sgd_momentum_step(lambda p, g, v, lr, m: sgd_momentum(p, g, v, m, lr))
    fails(swapped, "with lr=0.1, momentum=0.9, on step 1", "your new parameter")

    def sutskever(p, g, v, lr, m):  # the learning rate inside the velocity: v <- m v + lr g, p <- p - v
        v = lr * g if v is None else m * v + lr * g
        return p - v, v

    fails(ex.check_sgd_momentum_step(sutskever), "on step 1", "your velocity includes the learning rate")


def test_step_lr():
    passes(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * gamma ** (epoch - 1)))
    passes(ex.check_step_lr(lambda lr0, gamma, epoch: torch.tensor(lr0 * gamma ** (epoch - 1))))
    fails(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * gamma**epoch), "epoch=1", "off by one epoch")
    fails(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * gamma ** (epoch - 2)), "off by one epoch")
    linear = ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * (1 - (1 - gamma) * (epoch - 1)))  # right until epoch 2
    fails(linear, "epoch=3, your function gives 0.4; StepLR uses 0.49.")
    fails(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * 0.7 ** (epoch - 1)), "for lr0=0.01, gamma=0.5, epoch=3")
    fails(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * gamma * (epoch - 1)), "epoch=1, your function gives 0")


# --------------------------------------------------------------------------- chapter 6


def accuracy(logits, labels):
    return float(np.mean(logits.numpy().argmax(axis=1) == labels.numpy()))


def test_accuracy():
    passes(ex.check_accuracy(accuracy))
    passes(ex.check_accuracy(lambda logits, labels: (logits.argmax(1) == labels).float().mean()))  # float32 is fine
    fails(ex.check_accuracy(lambda *args: 100 * accuracy(*args)), "99.12 is a percentage; give a fraction")
    fails(ex.check_accuracy(lambda *args: int(100 * accuracy(*args)) / 100), "0.99 is truncated, as the article's %d")
    fails(ex.check_accuracy(lambda *args: int(100 * accuracy(*args))), "truncated")
    fails(ex.check_accuracy(lambda *args: accuracy(*args) * 10_000), "the number right")
    per_10000 = ex.check_accuracy(lambda logits, labels: (logits.argmax(1) == labels).sum().item() / 10_000)
    fails(per_10000, "for 7 samples, 4 of them classified right, your function gives 0.0004")
    sure = ex.check_accuracy(
        lambda logits, labels: (logits.softmax(1)[range(len(labels)), labels] > 0.5).float().mean()
    )
    fails(sure, "for 50 samples, 31 of them classified right (by small margins", "your function gives 0")
    floor = ex.check_accuracy(lambda logits, labels: (logits.argmax(1) == labels).sum().item() // len(labels))
    fails(floor, "for 10,000 samples, 9,912 of them classified right, your function gives 0;")


def confusion(labels, predicted, num_classes=10):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for true, guess in zip(labels.tolist(), predicted.tolist()):
        matrix[true, guess] += 1
    return matrix


def test_confusion_matrix():
    passes(ex.check_confusion_matrix(confusion))
    fails(ex.check_confusion_matrix(lambda *args: confusion(*args).T), "labels of shape (200,)", "rows and columns")
    no_minlength = ex.check_confusion_matrix(
        lambda labels, predicted, k: torch.bincount(labels * k + predicted).view(k, k)
    )
    fails(no_minlength, "num_classes=4", "your function raised RuntimeError")

    def by_indexing(labels, predicted, k):  # a repeated (label, prediction) pair is written once, not added
        m = torch.zeros(k, k, dtype=torch.long)
        m[labels, predicted] += 1
        return m

    fails(ex.check_confusion_matrix(by_indexing), "labels of shape (200,)", "all 0 or 1")
    fails(
        ex.check_confusion_matrix(lambda *args: (lambda m: m / m.sum(1, keepdims=True))(confusion(*args))), "fractions"
    )
    as_large_as_needed = ex.check_confusion_matrix(
        lambda labels, predicted, k: confusion(labels, predicted, int(max(labels.max(), predicted.max())) + 1)
    )
    fails(as_large_as_needed, "num_classes=4", "has shape (2, 2)")


# --------------------------------------------------------------------------- chapter 7


def smoothed(labels, num_classes, eps):
    targets = torch.full((len(labels), num_classes), eps / num_classes)
    targets[torch.arange(len(labels)), labels] += 1 - eps
    return targets


def test_smoothed_targets():
    passes(ex.check_smoothed_targets(smoothed))
    passes(ex.check_smoothed_targets(lambda *args: smoothed(*args).double().numpy()))

    def spread_over_others(labels, k, eps):
        one_hot = torch.eye(k)[labels]
        return (1 - eps) * one_hot + eps / (k - 1) * (1 - one_hot)

    fails(ex.check_smoothed_targets(spread_over_others), "eps/(K-1)")

    def true_class_left_out(labels, k, eps):
        one_hot = torch.eye(k)[labels]
        return (1 - eps) * one_hot + eps / k * (1 - one_hot)

    fails(ex.check_smoothed_targets(true_class_left_out), "each should sum to 1")
    fails(ex.check_smoothed_targets(lambda labels, k, eps: torch.eye(k)[labels]), "differs from the formula's targets")
    ten = ex.check_smoothed_targets(lambda labels, k, eps: (1 - eps) * torch.eye(k)[labels] + eps / 10)
    fails(ten, "num_classes=3, eps=0.2", "each should sum to 1")
    sized_by_labels = ex.check_smoothed_targets(lambda labels, k, eps: (1 - eps) * F.one_hot(labels).float() + eps / k)
    fails(sized_by_labels, "for labels=", "shape")


def stratified(labels, n, seed):
    """n // K of every class, one more of n % K classes picked at random; all draws from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    classes = sorted(set(labels.tolist()))
    extra = set(torch.randperm(len(classes), generator=g)[: n % len(classes)].tolist())
    picked = []
    for i, c in enumerate(classes):
        positions = [j for j, label in enumerate(labels.tolist()) if label == c]
        order = torch.randperm(len(positions), generator=g).tolist()
        picked += [positions[o] for o in order[: n // len(classes) + (i in extra)]]
    return picked


def first_of_each_class(labels, n, seed):
    """Stratified, but not drawn: the first positions of every class, whatever the seed."""
    share, extra = divmod(n, 10)
    return [int(j) for c in range(10) for j in (labels == c).nonzero().flatten()[: share + (c < extra)]]


def test_stratified_subset():
    passes(ex.check_stratified_subset(stratified))
    random_pick = ex.check_stratified_subset(lambda labels, n, seed: torch.randperm(len(labels))[:n])
    fails(random_pick, "class counts are")
    fails(ex.check_stratified_subset(lambda labels, n, seed: stratified(labels, n // 10 * 10, seed)), "exactly 95")
    first_twice = ex.check_stratified_subset(lambda *args: (lambda p: [p[0], *p[:-1]])(stratified(*args)))
    fails(first_twice, "appear more than once")
    fails(
        ex.check_stratified_subset(lambda labels, n, seed: [p + 10_000 for p in stratified(labels, n, seed)]), "outside"
    )
    unseeded = ex.check_stratified_subset(lambda labels, n, seed: stratified(labels, n, int(torch.randint(10**6, ()))))
    fails(unseeded, "a second call with the same seed picked other positions")
    fails(ex.check_stratified_subset(lambda *args: torch.tensor(stratified(*args), dtype=torch.float32)), "integer")
    fails(ex.check_stratified_subset(first_of_each_class), "for n=100", "seed=3 and seed=4 gave the same positions")
    fixed_seed = ex.check_stratified_subset(lambda labels, n, seed: stratified(labels, n, 0))  # the seed ignored
    fails(fixed_seed, "seed=3 and seed=4 gave the same positions")

    def proportional(labels, n, seed):  # each class in proportion to its size: a plain random draw's expectation
        g = torch.Generator().manual_seed(seed)
        return [
            int(j)
            for c in range(10)
            for j in (labels == c)
            .nonzero()
            .flatten()[torch.randperm(int((labels == c).sum()), generator=g)][
                : round(n * float((labels == c).float().mean()))
            ]
        ]

    fails(ex.check_stratified_subset(proportional), "for n=95, seed=7", "class counts are")


def centre_of_mass(image):
    w = torch.as_tensor(image, dtype=torch.float64)
    total = w.sum()
    rows, cols = torch.arange(w.shape[0], dtype=torch.float64), torch.arange(w.shape[1], dtype=torch.float64)
    return float(w.sum(1) @ rows / total), float(w.sum(0) @ cols / total)


def box_middle(image):  # the chapter's placeholder
    ink = np.asarray(image)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2


def test_centre_of_mass():
    passes(ex.check_centre_of_mass(centre_of_mass))
    passes(ex.check_centre_of_mass(lambda image: torch.tensor(centre_of_mass(image))))
    fails(ex.check_centre_of_mass(lambda image: centre_of_mass(image)[::-1]), "rows and columns are swapped")
    fails(ex.check_centre_of_mass(lambda image: centre_of_mass(image)[0]), "a pair (row, col)")
    fails(ex.check_centre_of_mass(lambda image: tuple(c + 0.5 for c in centre_of_mass(image))), "differs")
    fails(ex.check_centre_of_mass(box_middle), "for the first MNIST test digit", "middle of the box")
    unweighted = ex.check_centre_of_mass(lambda image: tuple(image.nonzero().double().mean(0).tolist()))
    fails(unweighted, "for the first MNIST test digit", "averaged the positions of the inked pixels")

    def square_only(image):  # one index range for both sides
        w = torch.as_tensor(image, dtype=torch.float64)
        index = torch.arange(w.shape[0], dtype=torch.float64)
        return float(w.sum(1) @ index / w.sum()), float(w.sum(0) @ index / w.sum())

    fails(ex.check_centre_of_mass(square_only), "for a 6x10 image (6 rows, 10 columns)", "raised")


def one_cycle(step, total_steps, max_lr, pct_start, div_factor, final_div_factor):
    """Smith's one-cycle, as PyTorch places it: up from max_lr / div_factor along half a cosine until step
    pct_start * total_steps - 1, then down to that divided by final_div_factor at the last step."""
    first = max_lr / div_factor
    last = first / final_div_factor
    peak = pct_start * total_steps - 1
    if step <= peak:
        start, end, fraction = first, max_lr, step / peak
    else:
        start, end, fraction = max_lr, last, (step - peak) / (total_steps - 1 - peak)
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


def test_one_cycle_lr():
    passes(ex.check_one_cycle_lr(one_cycle))
    passes(ex.check_one_cycle_lr(lambda *args: torch.tensor(one_cycle(*args), dtype=torch.float64)))

    def straight(step, total, max_lr, pct, div, final):  # the chapter's placeholder: straight lines
        first, peak = max_lr / div, pct * total - 1
        if step <= peak:
            return first + (max_lr - first) * step / peak
        return max_lr + (first / final - max_lr) * (step - peak) / (total - 1 - peak)

    where = "for step=1, total_steps=100, max_lr=0.05, pct_start=0.25, div_factor=25, final_div_factor=10000"
    fails(ex.check_one_cycle_lr(straight), where, "straight lines")
    fails(ex.check_one_cycle_lr(lambda step, *rest: one_cycle(step + 1, *rest)), "for step=0,", "off by one step")

    def from_zero(step, total, max_lr, pct, div, final):  # the warm-up from 0, not from max_lr / div_factor
        peak = pct * total - 1
        if step <= peak:
            return max_lr * (1 - math.cos(math.pi * step / peak)) / 2
        return one_cycle(step, total, max_lr, pct, div, final)

    fails(ex.check_one_cycle_lr(from_zero), "for step=0,", "starts at 0")
    ends_where_it_started = ex.check_one_cycle_lr(lambda s, t, m, p, d, f: one_cycle(s, t, m, p, d, 1.0))
    fails(ends_where_it_started, "total_steps=100,", "final_div_factor divides that once more")
    to_zero = ex.check_one_cycle_lr(lambda s, t, m, p, d, f: one_cycle(s, t, m, p, d, math.inf))
    fails(to_zero, "total_steps=100,", "ends at 0")


def test_one_cycle_lr_knows_the_peak_step():
    """A warm-up that peaks at step pct_start * total_steps (one late) is named as such."""

    def late_peak(step, total, max_lr, pct, div, final):
        first, last, peak = max_lr / div, max_lr / div / final, pct * total
        start, end, fraction = (
            (first, max_lr, step / peak) if step <= peak else (max_lr, last, (step - peak) / (total - 1 - peak))
        )
        return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2

    fails(ex.check_one_cycle_lr(late_peak), "for step=1, total_steps=100", "peaks one step earlier")


# --------------------------------------------------------------------------- chapter 7.2: trainable parameters


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_trainable_parameters():
    passes(ex.check_trainable_parameters(trainable))
    probe = "for a linear probe (the article's conv1 and conv2, frozen, under a new Linear(9216, 10))"
    everything = ex.check_trainable_parameters(lambda model: sum(p.numel() for p in model.parameters()))
    fails(everything, probe, "your 110,986", "counted the frozen parameters too")
    state = ex.check_trainable_parameters(lambda model: sum(t.numel() for t in model.state_dict().values()))
    fails(state, probe, "frozen")
    buffers_too = ex.check_trainable_parameters(
        lambda model: trainable(model) + sum(b.numel() for b in model.buffers())
    )
    fails(buffers_too, "for a small network with batch norm", "your 1,404", "buffers too")
    tensors = ex.check_trainable_parameters(lambda model: len([p for p in model.parameters() if p.requires_grad]))
    fails(tensors, probe, "number of parameter tensors")

    def per_layer(model):  # every layer's own parameters: a weight two layers share is counted twice
        return sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False) if p.requires_grad)

    fails(ex.check_trainable_parameters(per_layer), "that share one weight", "count it once")

    def by_layer_flag(model):  # frozen layers found by their weight only: a frozen bias slips through
        return sum(
            sum(p.numel() for p in m.parameters(recurse=False))
            for m in model.modules()
            if getattr(m, "weight", None) is not None and m.weight.requires_grad
        )

    fails(ex.check_trainable_parameters(by_layer_flag), "whose bias alone is frozen")


# --------------------------------------------------------------------------- chapter 7.3: fitting into 20 x 20


def fitted(height, width):
    scale = 20 / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def test_fit_in_box():
    passes(ex.check_fit_in_box(fitted))
    passes(ex.check_fit_in_box(lambda h, w: torch.tensor(fitted(h, w), dtype=torch.float32)))
    fails(ex.check_fit_in_box(lambda h, w: (20, 20)), "for an ink box of height 100 and width 50", "stretched")
    fails(ex.check_fit_in_box(lambda h, w: fitted(h, w)[::-1]), "height 100 and width 50", "(width, height)")
    floor = ex.check_fit_in_box(lambda h, w: (int(h * 20 / max(h, w)), int(w * 20 / max(h, w))))
    fails(floor, "for an ink box of height 13 and width 29", "rounded 8.97 down")
    no_minimum = ex.check_fit_in_box(lambda h, w: (round(h * 20 / max(h, w)), round(w * 20 / max(h, w))))
    fails(no_minimum, "height 300 and width 2", "keep at least 1")
    cover = ex.check_fit_in_box(lambda h, w: (round(h * 20 / min(h, w)), round(w * 20 / min(h, w))))
    fails(cover, "height 100 and width 50", "shorter side to 20")
    shrink_only = ex.check_fit_in_box(lambda h, w: fitted(h, w) if max(h, w) > 20 else (h, w))
    fails(shrink_only, "height 7 and width 3", "scaled up too")
    by_height = ex.check_fit_in_box(lambda h, w: (20, max(1, round(w * 20 / h))))
    fails(by_height, "height 50 and width 100", "shorter side to 20")
    fails(ex.check_fit_in_box(lambda h, w: (h * 20 / max(h, w), w * 20 / max(h, w))), "whole numbers")


# --------------------------------------------------------------------------- appendix: speed


def conv_macs(conv, height, width):
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    out_h, out_w = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    return conv.out_channels * out_h * out_w * conv.in_channels * kh * kw


def test_conv_multiply_adds():
    passes(ex.check_conv_multiply_adds(conv_macs))
    article = "for Conv2d(32, 64, kernel_size=(3, 3), stride=(1, 1)) on one input of 32x26x26"
    fails(ex.check_conv_multiply_adds(lambda *args: 2 * conv_macs(*args)), article, "floating-point operations")
    no_channels = ex.check_conv_multiply_adds(lambda conv, h, w: conv_macs(conv, h, w) // conv.in_channels)
    fails(no_channels, article, "left out the input channels")

    def at_input_size(conv, h, w):
        (kh, kw) = conv.kernel_size
        return conv.out_channels * h * w * conv.in_channels * kh * kw

    fails(ex.check_conv_multiply_adds(at_input_size), article, "every input pixel")

    def with_bias(conv, h, w):
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        out_h, out_w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        return conv_macs(conv, h, w) + conv.out_channels * out_h * out_w

    fails(ex.check_conv_multiply_adds(with_bias), article, "bias")

    def square(conv, h, w):  # the kernel's, stride's and padding's first number for both sides
        k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
        out = (h + 2 * p - k) // s + 1
        return conv.out_channels * out * out * conv.in_channels * k * k

    fails(
        ex.check_conv_multiply_adds(square), "kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)) on one input of 3x7x9"
    )

    def no_stride(conv, h, w):
        (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
        return conv.out_channels * (h + 2 * ph - kh + 1) * (w + 2 * pw - kw + 1) * conv.in_channels * kh * kw

    fails(ex.check_conv_multiply_adds(no_stride), "stride=(2, 2), padding=(2, 2), bias=False) on one input of 1x28x28")


# --------------------------------------------------------------------------- appendix: long runs


def save(model, optimizer, scheduler):
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
    }


def load(state, model, optimizer, scheduler, *, skip=()):
    """Everything back, except the parts named in ``skip`` (the mistakes below)."""
    if "model" not in skip:
        model.load_state_dict(state["model"])
    if "optimizer" not in skip:
        optimizer.load_state_dict(state["optimizer"])
    if "scheduler" not in skip:
        scheduler.load_state_dict(state["scheduler"])
    if "rng" not in skip:
        torch.set_rng_state(state["rng"])


def test_checkpoint():
    passes(ex.check_checkpoint(save, load))
    where = (
        "resuming a tiny run (SGD with momentum, a StepLR halving the rate every 2 steps, dropout) after step 3 of 7"
    )

    def model_only(model, optimizer, scheduler):
        return {"model": model.state_dict()}

    def load_model(state, model, optimizer, scheduler):
        model.load_state_dict(state["model"])

    fails(ex.check_checkpoint(model_only, load_model), where, "momentum buffers are missing")
    skipping = {part: functools.partial(load, skip=(part,)) for part in ("model", "optimizer", "scheduler", "rng")}
    fails(ex.check_checkpoint(save, skipping["model"]), where, "the model's 0.weight is not the one saved")
    fails(ex.check_checkpoint(save, skipping["optimizer"]), where, "momentum buffers are missing")
    fails(ex.check_checkpoint(save, skipping["scheduler"]), where, "the scheduler has counted 0 steps")
    fails(ex.check_checkpoint(save, skipping["rng"]), where, "random generator", "dropout masks")

    def load_and_reseed(state, model, optimizer, scheduler):  # a fresh seed is not the generator's state
        load(state, model, optimizer, scheduler, skip=("rng",))
        torch.manual_seed(0)

    fails(ex.check_checkpoint(save, load_and_reseed), where, "random generator")

    def load_at_first_rate(state, model, optimizer, scheduler):  # everything back, then the rate reset by hand
        load(state, model, optimizer, scheduler)
        for group in optimizer.param_groups:
            group["lr"] = 0.1

    fails(ex.check_checkpoint(save, load_at_first_rate), where, "differs from an uninterrupted run's")
    fails(ex.check_checkpoint(lambda *parts: {"resume": lambda: parts}, load), where, "torch.save cannot write")


def test_checkpoint_gives_a_verdict_for_any_answer():
    fails(ex.check_checkpoint(boom, load), "in save, your function raised ValueError: something broke")
    fails(ex.check_checkpoint(save, boom), "in load, your function raised ValueError: something broke")
    fails(ex.check_checkpoint(save, 42), "wants your functions save and load themselves, but load is an int (42)")
    fails(ex.check_checkpoint(lambda *parts: None, load))


@pytest.mark.parametrize(
    "check, answer",
    [(ex.check_trainable_parameters, trainable), (ex.check_conv_multiply_adds, conv_macs), (ex.check_checkpoint, None)],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_checkers_leave_the_readers_random_generator_alone(check, answer):
    before = torch.get_rng_state()
    passes(check(save, load) if answer is None else check(answer))
    assert torch.equal(torch.get_rng_state(), before)
