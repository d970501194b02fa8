"""The exercise checkers (mnist_book.exercises): a right answer, written here independently of the
checker's oracle, passes; the typical mistake fails with the message the checker promises; a
function that raises, or an answer of the wrong type, gives a failing verdict and never an exception."""

from __future__ import annotations

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
def fashion_pixels() -> np.ndarray:
    """Fashion-MNIST's training pixels in [0, 1], read through torchvision (not the checker's load_split)."""
    return fashion_mnist(train=True).data.numpy().astype(np.float64) / 255


def test_pixel_stats(fashion_pixels):
    mean, std = fashion_pixels.mean(), fashion_pixels.std()
    passes(ex.check_pixel_stats(mean, std))
    passes(ex.check_pixel_stats(torch.tensor(mean), np.float32(std)))
    fails(ex.check_pixel_stats(mean * 255, std * 255), "mean", "0 to 255", "standard deviation")
    verdict = ex.check_pixel_stats(0.1307, std)  # MNIST's mean, not Fashion-MNIST's
    fails(verdict, "your mean 0.1307 is off by -0.15")
    assert "standard deviation" not in verdict.message
    fails(ex.check_pixel_stats(mean, "0.35"), "standard deviation should be a number")
    with pytest.raises(ValueError, match="Unknown dataset"):
        ex.check_pixel_stats(mean, std, dataset="cifar")  # the book's slip, not the reader's


def test_one_hot():
    def one_hot(labels, k):
        return (labels[:, None] == torch.arange(k)).to(torch.uint8)

    passes(ex.check_one_hot(one_hot))
    passes(ex.check_one_hot(lambda labels, k: np.eye(k)[labels.numpy()]))  # a NumPy array of floats is fine
    fails(ex.check_one_hot(lambda labels, k: F.one_hot(labels)), "labels=[1]", "shape (1, 2)", "(1, 3)")
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


def cross_correlation(x, w):
    """conv2d by its formula: every window times the kernel, summed (no F.conv2d)."""
    kh, kw = w.shape[-2:]
    windows = x.unfold(2, kh, 1).unfold(3, kw, 1)  # (B, C, Ho, Wo, kh, kw)
    return torch.einsum("bchwij,ocij->bohw", windows, w)


def test_conv2d():
    passes(ex.check_conv2d(cross_correlation))
    passes(ex.check_conv2d(lambda x, w: cross_correlation(x.double(), w.double()).numpy()))
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w.flip(-1, -2))), "true convolution", "chapter 2")
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w)[..., 1:, 1:]), "shape (1, 1, 2, 2)", "(1, 1, 3, 3)")
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w) + 1e-3), "differs from F.conv2d's result by up to 0.001")
    fails(ex.check_conv2d(lambda x, w: cross_correlation(x, w) * np.nan), "holds nan")


def test_shift_kernel():
    right = [[0, 0, 0], [1, 0, 0], [0, 0, 0]]
    passes(ex.check_shift_kernel(right))
    passes(ex.check_shift_kernel(np.array(right)))
    passes(ex.check_shift_kernel(torch.tensor(right, dtype=torch.float32).view(1, 1, 3, 3)))
    fails(ex.check_shift_kernel(np.fliplr(right).copy()), "it moves the image left: flip it")
    fails(ex.check_shift_kernel([[0, 0, 0], [0, 0, 0], [0, 1, 0]]), "moves the image up")
    fails(ex.check_shift_kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), "leaves the image where it is")
    fails(ex.check_shift_kernel([[0, 1, 0], [0, 0, 0], [0, 0, 0]]), "moves the image down")
    fails(ex.check_shift_kernel(np.eye(3)[::-1].copy()), "differs from the image moved right")
    fails(ex.check_shift_kernel(torch.zeros(2, 2)), "shape (2, 2); it should be 3x3")


def max_pool(x, k, s):
    return x.unfold(2, k, s).unfold(3, k, s).amax(dim=(-2, -1))


def test_max_pool2d():
    passes(ex.check_max_pool2d(max_pool))
    fails(ex.check_max_pool2d(lambda x, k, s: max_pool(x, k, k)), "kernel=3, stride=1", "(1, 2, 4, 4)")  # no stride
    ceil = ex.check_max_pool2d(lambda x, k, s: F.max_pool2d(x, k, s, ceil_mode=True))  # keeps the half window
    fails(ceil, "(2, 3, 7, 7), kernel=2, stride=2", "shape (2, 3, 4, 4)")
    fails(ex.check_max_pool2d(lambda x, k, s: x.unfold(2, k, s).unfold(3, k, s).mean((-2, -1))), "you averaged")


# --------------------------------------------------------------------------- chapter 4


def test_fc1_inputs():
    conv1 = 28 - 3 + 1  # 26
    conv2 = conv1 - 5 + 1  # 22
    pooled = (conv2 - 3) // 3 + 1  # 7
    passes(ex.check_fc1_inputs(64 * pooled * pooled))
    passes(ex.check_fc1_inputs(torch.tensor(3136.0)))
    fails(ex.check_fc1_inputs(9216), "the article's network as it is")
    fails(ex.check_fc1_inputs(64 * 22 * 22), "before the pool")
    fails(ex.check_fc1_inputs(64 * 8 * 8), "rounds the pooled size up")
    fails(ex.check_fc1_inputs(3136.5), "whole number")
    fails(ex.check_fc1_inputs(3137), "3,137 is not it")


def test_parameter_count():
    conv1, conv2 = 32 * 1 * 3 * 3 + 32, 64 * 32 * 3 * 3 + 64
    fc1, fc2 = 64 * 14 * 14 * 128 + 128, 128 * 10 + 10  # padding 1 keeps 28x28 until the pool halves it
    passes(ex.check_parameter_count(conv1 + conv2 + fc1 + fc2))
    fails(ex.check_parameter_count(1_199_882), "that is the network without padding")
    fails(ex.check_parameter_count(conv1 + conv2 + fc1 + fc2 - 32 - 64 - 128 - 10), "biases")
    fails(ex.check_parameter_count(12), "12 is not it")


def softmax(z):
    e = (z - z.max(dim=1, keepdim=True).values).exp()
    return e / e.sum(dim=1, keepdim=True)


def test_softmax():
    passes(ex.check_softmax(softmax))
    passes(ex.check_softmax(lambda z: softmax(z).tolist()))
    naive = ex.check_softmax(lambda z: z.exp() / z.exp().sum(dim=1, keepdim=True))
    fails(naive, "exp overflows for large logits: subtract each row's maximum first")
    fails(ex.check_softmax(lambda z: softmax(z.T).T), "dim=1")
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

    fails(ex.check_sgd_momentum_step(damped), "on step 2")

    def old_velocity(p, g, v, lr, m):  # moves with the velocity from before this step
        new = g.clone() if v is None else m * v + g
        return p - lr * (g if v is None else v), new

    fails(ex.check_sgd_momentum_step(old_velocity), "on step 2", "your new parameter")
    fails(ex.check_sgd_momentum_step(lambda p, g, v, lr, m: (p - lr * (m * v + g), m * v + g)), "velocity=None")
    fails(ex.check_sgd_momentum_step(lambda *args: sgd_momentum(*args)[0]), "should return a pair")


def test_step_lr():
    passes(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * gamma ** (epoch - 1)))
    passes(ex.check_step_lr(lambda lr0, gamma, epoch: torch.tensor(lr0 * gamma ** (epoch - 1))))
    fails(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * gamma**epoch), "epoch=1", "off by one epoch")
    fails(ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * gamma ** (epoch - 2)), "off by one epoch")
    linear = ex.check_step_lr(lambda lr0, gamma, epoch: lr0 * (1 - (1 - gamma) * (epoch - 1)))  # right until epoch 2
    fails(linear, "epoch=3, your function gives 0.4; StepLR uses 0.49.")


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


def confusion(labels, predicted, num_classes=10):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for true, guess in zip(labels.tolist(), predicted.tolist()):
        matrix[true, guess] += 1
    return matrix


def test_confusion_matrix():
    passes(ex.check_confusion_matrix(confusion))
    fails(ex.check_confusion_matrix(lambda *args: confusion(*args).T), "rows and columns are swapped")
    no_minlength = ex.check_confusion_matrix(
        lambda labels, predicted, k: torch.bincount(labels * k + predicted).view(k, k)
    )
    fails(no_minlength, "num_classes=4", "your function raised RuntimeError")


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


def centre_of_mass(image):
    w = torch.as_tensor(image, dtype=torch.float64)
    total = w.sum()
    rows, cols = torch.arange(w.shape[0], dtype=torch.float64), torch.arange(w.shape[1], dtype=torch.float64)
    return float(w.sum(1) @ rows / total), float(w.sum(0) @ cols / total)


def test_centre_of_mass():
    passes(ex.check_centre_of_mass(centre_of_mass))
    passes(ex.check_centre_of_mass(lambda image: torch.tensor(centre_of_mass(image))))
    fails(ex.check_centre_of_mass(lambda image: centre_of_mass(image)[::-1]), "rows and columns are swapped")
    fails(ex.check_centre_of_mass(lambda image: centre_of_mass(image)[0]), "a pair (row, col)")
    fails(ex.check_centre_of_mass(lambda image: tuple(c + 0.5 for c in centre_of_mass(image))), "differs")
