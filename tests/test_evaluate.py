"""Evaluation metrics against hand-computed cases and independent loops in NumPy/Python."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_book.data import Split
from mnist_book.devices import get_device
from mnist_book.evaluate import (
    Predictions,
    accuracy_under_shift,
    binomial_se,
    calibration,
    clearly_worse,
    confusion_matrix,
    difference_se,
    inference_throughput,
    most_confident_mistakes,
    per_class_metrics,
    predict,
)
from mnist_book.models import Net

# ----------------------------------------------------------------------------- independent versions


def confusion_loop(labels, predicted, k):
    cm = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(labels, predicted):
        cm[t][p] += 1
    return cm


def metrics_loop(labels, predicted, k):
    rows = []
    for c in range(k):
        tp = sum(1 for t, p in zip(labels, predicted) if t == c and p == c)
        fp = sum(1 for t, p in zip(labels, predicted) if t != c and p == c)
        fn = sum(1 for t, p in zip(labels, predicted) if t == c and p != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        rows.append((prec, rec, f1, tp + fn))
    return rows


def ece_loop(probs, labels, n_bins):
    probs = np.asarray(probs, dtype=np.float64)
    total, n = 0.0, len(labels)
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i in range(n) if (lo < probs[i].max() <= hi) or (b == 0 and probs[i].max() == 0)]
        if not members:
            continue
        conf = sum(probs[i].max() for i in members) / len(members)
        acc = sum(1 for i in members if probs[i].argmax() == labels[i]) / len(members)
        total += len(members) / n * abs(acc - conf)
    return total


# ----------------------------------------------------------------------------- accuracy


def test_accuracy_is_exact_not_truncated():
    labels = torch.zeros(10000, dtype=torch.long)
    logits = torch.zeros(10000, 10)
    logits[:9912, 0] = 1.0  # 9,912 right
    logits[9912:, 3] = 1.0
    p = Predictions(logits, labels)
    assert p.correct == 9912
    assert p.accuracy == 0.9912
    assert "%d" % (100 * p.accuracy) == "99"  # noqa: UP031 - what the article prints


def test_probs_sum_to_one_and_ignore_log_softmax():
    logits = torch.randn(7, 10)
    a = Predictions(logits, torch.zeros(7, dtype=torch.long)).probs
    b = Predictions(torch.log_softmax(logits, 1), torch.zeros(7, dtype=torch.long)).probs
    torch.testing.assert_close(a.sum(1), torch.ones(7))
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0])
    cm = confusion_matrix(labels, predicted, num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 0]]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=200))
def test_confusion_matrix_against_loop(pairs):
    labels, predicted = zip(*pairs)
    cm = confusion_matrix(torch.tensor(labels), torch.tensor(predicted))
    np.testing.assert_array_equal(cm.numpy(), confusion_loop(labels, predicted, 10))
    assert int(cm.sum()) == len(pairs)


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="0..9"):
        confusion_matrix(torch.tensor([0, 10]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]))


# ----------------------------------------------------------------------------- per-class metrics


def test_per_class_metrics_by_hand():
    # Class 0: TP 1, FP 1 (the 2 predicted 0), FN 1 -> P 1/2, R 1/2, F1 1/2.
    # Class 1: TP 2, FP 1, FN 1 -> P 2/3, R 2/3.  Class 2: TP 0, FP 1, FN 1 -> all 0.
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0])
    m = per_class_metrics(confusion_matrix(labels, predicted, 3))
    torch.testing.assert_close(m.precision, torch.tensor([1 / 2, 2 / 3, 0.0], dtype=torch.float64))
    torch.testing.assert_close(m.recall, torch.tensor([1 / 2, 2 / 3, 0.0], dtype=torch.float64))
    torch.testing.assert_close(m.f1, torch.tensor([1 / 2, 2 / 3, 0.0], dtype=torch.float64))
    assert m.support.tolist() == [2, 3, 1]


def test_per_class_metrics_unequal_precision_recall():
    # Class 0: TP 3, FP 0, FN 1 -> P 1, R 3/4, F1 = 2*0.75/1.75 = 6/7.
    labels = torch.tensor([0, 0, 0, 0, 1])
    predicted = torch.tensor([0, 0, 0, 1, 1])
    m = per_class_metrics(confusion_matrix(labels, predicted, 2))
    assert m.precision[0].item() == 1.0
    assert m.recall[0].item() == 0.75
    assert math.isclose(m.f1[0].item(), 6 / 7)
    assert math.isclose(m.precision[1].item(), 0.5)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=100))
def test_per_class_metrics_against_loop(pairs):
    labels, predicted = zip(*pairs)
    m = per_class_metrics(confusion_matrix(torch.tensor(labels), torch.tensor(predicted), 5))
    for c, (prec, rec, f1, support) in enumerate(metrics_loop(labels, predicted, 5)):
        assert math.isclose(m.precision[c].item(), prec, abs_tol=1e-12)
        assert math.isclose(m.recall[c].item(), rec, abs_tol=1e-12)
        assert math.isclose(m.f1[c].item(), f1, abs_tol=1e-12)
        assert m.support[c].item() == support


# ----------------------------------------------------------------------------- mistakes, calibration


def test_most_confident_mistakes_by_hand():
    probs = torch.tensor(
        [
            [0.9, 0.1, 0.0],  # right (label 0)
            [0.2, 0.7, 0.1],  # wrong, 0.7
            [0.05, 0.05, 0.9],  # wrong, 0.9
            [0.6, 0.4, 0.0],  # wrong, 0.6
            [0.0, 0.99, 0.01],  # right (label 1)
        ]
    )
    labels = torch.tensor([0, 0, 1, 2, 1])
    assert most_confident_mistakes(probs, labels, k=10).tolist() == [2, 1, 3]
    assert most_confident_mistakes(probs, labels, k=2).tolist() == [2, 1]


def test_calibration_by_hand():
    # Two bins: (0, 0.5] and (0.5, 1]. Bin 2 holds 0.6 (right), 0.8 (wrong), 1.0 (right):
    # confidence 0.8, accuracy 2/3. Bin 1 holds 0.5 (wrong): confidence 0.5, accuracy 0.
    probs = torch.tensor([[0.6, 0.4], [0.2, 0.8], [1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])
    cal = calibration(probs, labels, n_bins=2)
    assert cal.count.tolist() == [1, 3]
    torch.testing.assert_close(cal.confidence, torch.tensor([0.5, 0.8], dtype=torch.float64))
    torch.testing.assert_close(cal.accuracy, torch.tensor([0.0, 2 / 3], dtype=torch.float64))
    assert math.isclose(cal.ece, 1 / 4 * 0.5 + 3 / 4 * abs(2 / 3 - 0.8))


def test_perfectly_confident_and_right_is_calibrated():
    probs = torch.eye(10)
    cal = calibration(probs, torch.arange(10))
    assert cal.ece == 0.0
    assert torch.isnan(cal.accuracy[:-1]).all()  # empty bins are NaN, not 0


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 60), st.integers(1, 20), st.integers(0, 10_000))
def test_ece_against_loop(n, n_bins, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(n, 10, generator=g, dtype=torch.float64), 1)
    labels = torch.randint(0, 10, (n,), generator=g)
    cal = calibration(probs, labels, n_bins=n_bins)
    assert math.isclose(cal.ece, ece_loop(probs.numpy(), labels.tolist(), n_bins), abs_tol=1e-12)
    assert int(cal.count.sum()) == n


# ----------------------------------------------------------------------------- predict, shift, rotate


def test_predict_uses_eval_mode_and_restores_it():
    device = get_device()
    torch.manual_seed(0)
    model = Net().to(device).train()
    split = Split(torch.randn(37, 1, 28, 28), torch.randint(0, 10, (37,)))
    a = predict(model, split, batch_size=10)
    b = predict(model, split, batch_size=37)
    assert model.training
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-5)  # no dropout noise
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*split), batch_size=8)
    torch.testing.assert_close(predict(model, loader).logits, a.logits, rtol=1e-5, atol=1e-5)
    assert a.labels.tolist() == split.labels.tolist()


def test_zero_shift_accuracy_equals_plain_accuracy():
    torch.manual_seed(0)
    model = Net().to(get_device())
    split = Split(torch.randn(50, 1, 28, 28), torch.randint(0, 10, (50,)))
    assert accuracy_under_shift(model, split, [(0, 0)], fill=0.0) == [predict(model, split).accuracy]


def test_inference_throughput_agrees_with_a_plain_clock_and_restores_mode():
    import time

    device = get_device()
    model = Net().to(device).train()
    images = torch.randn(64, 1, 28, 28)
    rate = inference_throughput(model, images, batch_size=32, min_seconds=0.2)
    assert model.training
    model.eval()
    batch = images[:32].to(device)
    with torch.no_grad():
        model(batch)  # warm-up
        tic = time.perf_counter()
        for _ in range(10):
            model(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        plain = 10 * 32 / (time.perf_counter() - tic)
    assert plain / 3 < rate < plain * 3  # the same order of magnitude: on a busy machine, no closer


def test_standard_errors_by_hand():
    assert binomial_se(0.99, 10_000) == pytest.approx(math.sqrt(0.99 * 0.01 / 10_000))
    assert binomial_se(1.0, 100) == 0.0
    assert difference_se(0.99, 0.98, 5000) == pytest.approx(math.sqrt(0.99 * 0.01 / 5000 + 0.98 * 0.02 / 5000))
    # 98.0% against 99.0% on 5,000 images: a difference of 4.1 standard errors, clearly worse;
    # on 1,000 images only 1.8 standard errors: not.
    assert clearly_worse(0.99, 0.98, 5000) and not clearly_worse(0.99, 0.98, 1000)
    assert not clearly_worse(0.98, 0.99, 5000)  # better is never worse


# ----------------------------------------------------------------------------- the chapter's browser and tables


def test_probability_browser_can_show_only_the_mistakes():
    from mnist_book.widgets import probability_browser

    images = torch.zeros(4, 1, 28, 28)
    labels = torch.tensor([0, 1, 2, 3])
    probs = torch.eye(10)[[0, 5, 2, 7]]  # digits #1 and #3 are wrong
    browser = probability_browser(images, labels, probs)
    assert browser.index() == 0 and browser.position.max == 3
    browser.which.value = "mistakes only"
    assert browser.position.max == 1
    browser.position.value = 1
    assert browser.index() == 3
    # The picture says in words what it shows (its alternative text).
    assert 'alt="Test digit #3, a 3, and the model&#x27;s ten probabilities: it reads 7 with probability 100.0%"' in (
        browser.view.value
    )


def test_markdown_table():
    from mnist_book.tables import markdown_table

    text = markdown_table(["digit", "F1"], [(0, "99.1%"), (1, "a|b")], align="rr")
    assert text.splitlines() == ["| digit | F1 |", "| --: | --: |", "| 0 | 99.1% |", "| 1 | a\\|b |"]
    with pytest.raises(ValueError, match="2 columns"):
        markdown_table(["digit", "F1"], [(0,)])


def test_table_renders_html_escaped():
    from mnist_book.tables import Table

    t = Table(["digit", "note"], [(7, "<b>")], align="rl")
    assert '<td style="text-align: right">7</td>' in t._repr_html_()
    assert "&lt;b&gt;" in t._repr_html_()
    assert t._repr_markdown_().splitlines()[1] == "| --: | :-- |"


# ----------------------------------------------------------------------------- what the kernels learned


def stripe_fit_loop(kernel):
    """The best direction's share by least squares: the kernel (about its mean) fitted by one value per stripe,
    with the stripes written out pixel by pixel, for each of the four directions."""
    k = np.asarray(kernel, dtype=np.float64).reshape(3, 3)
    k = k - k.mean()
    lines = [
        lambda r, c: r,  # rows: horizontal stripes
        lambda r, c: c,  # columns: vertical stripes
        lambda r, c: min(max(r + c, 1), 3) - 1,  # / stripes: the corner with its two neighbours, the diagonal, ...
        lambda r, c: min(max(r - c + 2, 1), 3) - 1,  # \ stripes
    ]
    shares = []
    for stripe in lines:
        design = np.zeros((9, 3))
        for r in range(3):
            for c in range(3):
                design[3 * r + c, stripe(r, c)] = 1
        fitted = design @ np.linalg.lstsq(design, k.flatten(), rcond=None)[0]
        shares.append(1 - ((k.flatten() - fitted) ** 2).sum() / (k**2).sum())
    return max(shares), int(np.argmax(shares))


def test_orientation_scores_by_hand():
    from mnist_book.evaluate import STRIPE_DIRECTIONS, orientation_scores

    edge = torch.tensor([[1.0, 1, 1], [-1, -1, -1], [0, 0, 0]])  # a positive row above a negative one
    bar = torch.tensor([[-1.0, 2, -1]] * 3)  # a vertical stroke between two negative columns
    rising = torch.tensor([[1.0, 1, 0], [1, 0, -1], [0, -1, -1]])  # the / diagonal between two stripes
    blur = torch.full((3, 3), 1 / 9) + 0.01 * torch.eye(3)
    checker = torch.tensor([[1.0, -1, 1], [-1, 1, -1], [1, -1, 1]])  # varies along every direction
    o = orientation_scores(torch.stack([edge, bar, rising, edge.T + 5, checker, blur]).unsqueeze(1))
    assert o.score[:4].tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])
    assert [STRIPE_DIRECTIONS[d] for d in o.direction[:4]] == ["horizontal", "vertical", "rising diagonal", "vertical"]
    assert o.contrast.tolist()[:4] == [True, True, True, False]  # edge.T + 5: stripes, all positive
    assert o.score[4] < 0.5 and not o.contrast[5]  # the checkerboard: far from stripes; the blur: no negative
    assert orientation_scores((3 * edge).unsqueeze(0)).score.item() == pytest.approx(1.0)  # the scale does not matter


def test_orientation_scores_against_least_squares():
    from mnist_book.evaluate import orientation_scores, random_kernels

    kernels = random_kernels(200, seed=3)
    o = orientation_scores(kernels)
    for k, score, direction in zip(kernels, o.score, o.direction):
        share, best = stripe_fit_loop(k)
        assert score.item() == pytest.approx(share, abs=1e-6) and direction.item() == best
    # each direction's stripes span 2 of a kernel's 8 dimensions of variation: a quarter of it, on average
    shares = [stripe_fit_loop(k)[0] for k in kernels]
    assert 0.35 < np.mean(shares) < 0.65 and np.mean(shares) > 0.25  # the best of four, not one
    assert random_kernels(5, seed=1).abs().max() <= 0.5 and torch.equal(
        random_kernels(5, seed=1), random_kernels(5, seed=1)
    )
