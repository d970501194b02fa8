"""``mnist_book.scratch`` against ``torch.nn.functional``: forward values, gradients and errors.

Hypothesis draws batch size, channels, input sizes, kernel shapes, strides, paddings and
dilations (ints and (height, width) pairs). Everything runs on ``get_device()``
(``pytest --device cuda`` for the GPU). ``SCRATCH_TEST_SCALE=20 pytest tests/test_scratch.py``
multiplies the number of random cases for a long run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mnist_book.data import load_split
from mnist_book.devices import get_device
from mnist_book.scratch import (
    conv2d,
    conv2d_loops,
    conv_output_size,
    hand_made_kernels,
    learn_kernel,
    max_pool2d,
    max_pool2d_loops,
    sliding_windows,
)

DEVICE = get_device()
SCALE = int(os.environ.get("SCRATCH_TEST_SCALE", "1"))


def examples(n: int) -> settings:
    return settings(max_examples=n * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.fixture(autouse=True, scope="module")
def exact_float32():
    """cuDNN and cuBLAS may round float32 products to TF32 on recent GPUs; the oracle must not."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def tolerances(dtype: torch.dtype) -> dict:
    return {"atol": 1e-4, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-10}


def randn(shape, seed: int, dtype=torch.float64, grad: bool = False) -> torch.Tensor:
    """Reproducible normal numbers (drawn on the CPU, whatever the device) on DEVICE."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x.to(device=DEVICE, dtype=dtype).requires_grad_(grad)


# --------------------------------------------------------------------------- random cases


def _int_or_pair(pair: tuple[int, int], as_int: bool):
    """Pass an int when both dimensions agree (and hypothesis says so), else the pair."""
    return pair[0] if as_int and pair[0] == pair[1] else pair


@dataclass
class Case:
    batch: int
    channels: int
    out_channels: int
    size: tuple[int, int]
    kernel: tuple[int, int]
    args: dict  # stride, padding, dilation as given to the functions
    bias: bool
    seed: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels, *self.size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.channels, *self.kernel)


@st.composite
def cases(
    draw, pooling: bool = False, max_batch: int = 3, max_channels: int = 3, max_kernel: int = 4, max_extra: int = 6
):
    """A valid configuration: the dilated kernel fits the padded input (and pooling padding ≤ kernel // 2)."""
    square = draw(st.booleans())  # square kernels, strides, ... as ints (when they agree) or pairs
    two = (lambda s: s.map(lambda v: (v, v))) if square else (lambda s: st.tuples(s, s))
    kernel = draw(two(st.integers(1, max_kernel)))
    stride = draw(two(st.integers(1, 3)))
    dilation = draw(two(st.integers(1, 3)))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if pooling:
        padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    else:
        padding = tuple(draw(st.integers(0, 2)) for _ in spans)
    size = tuple(max(1, s - 2 * p) + draw(st.integers(0, max_extra)) for s, p in zip(spans, padding))
    as_int = draw(st.booleans())
    args = {
        "stride": _int_or_pair(stride, as_int),
        "padding": _int_or_pair(padding, as_int),
        "dilation": _int_or_pair(dilation, as_int),
    }
    return Case(
        batch=draw(st.integers(1, max_batch)),
        channels=draw(st.integers(1, max_channels)),
        out_channels=draw(st.integers(1, max_channels)),
        size=size,
        kernel=kernel,
        args=args,
        bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


small_cases = cases(max_batch=2, max_channels=2, max_kernel=3, max_extra=3)
small_pool_cases = cases(pooling=True, max_batch=2, max_channels=2, max_kernel=3, max_extra=3)
dtypes = st.sampled_from([torch.float32, torch.float64])


# --------------------------------------------------------------------------- convolution


@examples(100)
@given(case=cases(), dtype=dtypes)
def test_conv2d_matches_torch_forward_and_backward(case: Case, dtype):
    x = randn(case.input_shape, case.seed, dtype, grad=True)
    w = randn(case.weight_shape, case.seed + 1, dtype, grad=True)
    b = randn((case.out_channels,), case.seed + 2, dtype, grad=True) if case.bias else None
    ours, ref = conv2d(x, w, b, **case.args), F.conv2d(x, w, b, **case.args)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, **tolerances(dtype))

    leaves = [t for t in (x, w, b) if t is not None]
    upstream = randn(ref.shape, case.seed + 3, dtype)
    ours_grads = torch.autograd.grad(ours, leaves, upstream)
    ref_grads = torch.autograd.grad(ref, leaves, upstream)
    for g, g_ref in zip(ours_grads, ref_grads):
        torch.testing.assert_close(g, g_ref, **tolerances(dtype))


@examples(12)
@given(case=small_cases)
def test_conv2d_gradcheck_float64(case: Case):
    x = randn(case.input_shape, case.seed, grad=True)
    w = randn(case.weight_shape, case.seed + 1, grad=True)
    b = randn((case.out_channels,), case.seed + 2, grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: conv2d(x, w, b, **case.args), (x, w, b))


@examples(40)
@given(case=small_cases, dtype=dtypes)
def test_conv2d_loops_equal_vectorised(case: Case, dtype):
    x = randn(case.input_shape, case.seed, dtype)
    w = randn(case.weight_shape, case.seed + 1, dtype)
    b = randn((case.out_channels,), case.seed + 2, dtype) if case.bias else None
    loops = conv2d_loops(x, w, b, **case.args)
    assert loops.device == x.device and loops.dtype == dtype
    torch.testing.assert_close(loops, conv2d(x, w, b, **case.args), **tolerances(dtype))


def test_conv2d_by_hand():
    """A 3×3 input and a 2×2 kernel, summed on paper: nn.Conv2d's cross-correlation, no flip."""
    x = torch.arange(9.0, device=DEVICE).view(1, 1, 3, 3)  # 0 1 2 / 3 4 5 / 6 7 8
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=DEVICE).view(1, 1, 2, 2)
    expected = torch.tensor(
        [
            [0 * 1 + 1 * 2 + 3 * 3 + 4 * 4, 1 * 1 + 2 * 2 + 4 * 3 + 5 * 4],
            [3 * 1 + 4 * 2 + 6 * 3 + 7 * 4, 4 * 1 + 5 * 2 + 7 * 3 + 8 * 4],
        ],
        dtype=torch.float32,
        device=DEVICE,
    ).view(1, 1, 2, 2)
    torch.testing.assert_close(conv2d(x, w), expected)
    torch.testing.assert_close(conv2d_loops(x, w), expected)


def test_conv2d_on_real_digits_matches_torch():
    """The article's two convolutions on a batch of test digits."""
    from mnist_book.data import load_split, subset

    digits = subset(load_split("mnist", train=False, device=DEVICE), 64, seed=0).images  # (64, 1, 28, 28)
    w1, b1 = randn((32, 1, 3, 3), 1, torch.float32), randn((32,), 2, torch.float32)
    w2, b2 = randn((64, 32, 3, 3), 3, torch.float32) / 10, randn((64,), 4, torch.float32)
    ours = conv2d(conv2d(digits, w1, b1).relu(), w2, b2)  # (64, 64, 24, 24)
    ref = F.conv2d(F.conv2d(digits, w1, b1).relu(), w2, b2)
    assert ours.shape == (64, 64, 24, 24)
    torch.testing.assert_close(ours, ref, atol=1e-3, rtol=1e-4)


# --------------------------------------------------------------------------- max pooling


def _pairs(case: Case, default_stride: bool = False):
    """kernel, stride, padding, dilation of a case as (height, width) pairs."""
    pair = lambda a: (a, a) if isinstance(a, int) else tuple(a)  # noqa: E731
    stride = case.kernel if default_stride else pair(case.args["stride"])
    return pair(case.kernel), stride, pair(case.args["padding"]), pair(case.args["dilation"])


def has_window_of_padding_only(case: Case, default_stride: bool = False) -> bool:
    """Whether some pooling window misses the input (possible with dilation): its output is -inf.

    PyTorch's CPU backward then writes outside the input's gradient (heap corruption, seen with
    torch 2.14), so the tests only ever run our backward on such cases.
    """
    kernel, stride, padding, dilation = _pairs(case, default_stride)
    for n, k, s, p, d in zip(case.size, kernel, stride, padding, dilation):
        out = (n + 2 * p - d * (k - 1) - 1) // s + 1
        if any(all(not 0 <= i * s + u * d - p < n for u in range(k)) for i in range(out)):
            return True
    return False


def _pool_args(case: Case, default_stride: bool) -> dict:
    args = dict(case.args)
    if default_stride:
        del args["stride"]  # stride defaults to the window size
    return args


@examples(100)
@given(case=cases(pooling=True), dtype=dtypes, default_stride=st.booleans())
def test_max_pool2d_matches_torch_forward_and_backward(case: Case, dtype, default_stride: bool):
    args = _pool_args(case, default_stride)
    x = randn(case.input_shape, case.seed, dtype, grad=True)
    ours, ref = max_pool2d(x, case.kernel, **args), F.max_pool2d(x, case.kernel, **args)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, **tolerances(dtype))
    if has_window_of_padding_only(case, default_stride):
        assert torch.isinf(ours).any()  # -inf, as PyTorch; gradients: see the routing test
        return
    upstream = randn(ref.shape, case.seed + 1, dtype)
    (grad,) = torch.autograd.grad(ours, x, upstream)
    (grad_ref,) = torch.autograd.grad(ref, x, upstream)
    torch.testing.assert_close(grad, grad_ref, **tolerances(dtype))


@examples(40)
@given(case=cases(pooling=True), seed=st.integers(0, 2**31 - 1))
def test_max_pool2d_ties_route_the_gradient_like_torch(case: Case, seed: int):
    """Few distinct values, so windows hold several maxima: one of them (the first) gets the gradient."""
    values = torch.randint(0, 3, case.input_shape, generator=torch.Generator().manual_seed(seed))
    x = values.to(DEVICE, torch.float64).requires_grad_()
    ours, ref = max_pool2d(x, case.kernel, **case.args), F.max_pool2d(x, case.kernel, **case.args)
    torch.testing.assert_close(ours, ref)
    if has_window_of_padding_only(case):
        return
    upstream = randn(ref.shape, seed)
    torch.testing.assert_close(torch.autograd.grad(ours, x, upstream)[0], torch.autograd.grad(ref, x, upstream)[0])


@examples(12)
@given(case=small_pool_cases)
def test_max_pool2d_gradcheck_float64(case: Case):
    assume(not has_window_of_padding_only(case))  # an output of -inf has no finite difference
    x = randn(case.input_shape, case.seed, grad=True)
    assert torch.autograd.gradcheck(lambda x: max_pool2d(x, case.kernel, **case.args), (x,))


@examples(30)
@given(case=small_pool_cases)
def test_max_pool2d_sends_each_gradient_to_its_window_maximum(case: Case):
    """Independent of PyTorch: walk the windows, find each maximum, add the upstream gradient there."""
    x = randn(case.input_shape, case.seed, grad=True)
    y = max_pool2d(x, case.kernel, **case.args)
    upstream = randn(y.shape, case.seed + 1)
    (grad,) = torch.autograd.grad(y, x, upstream)

    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pairs(case)
    values, g = x.detach().cpu(), upstream.cpu()
    expected = torch.zeros_like(values)
    H, W = case.size
    for n in range(case.batch):
        for c in range(case.channels):
            for i in range(y.shape[2]):
                for j in range(y.shape[3]):
                    inside = [
                        (r, q)
                        for u in range(kh)
                        for v in range(kw)
                        if 0 <= (r := i * sh + u * dh - ph) < H and 0 <= (q := j * sw + v * dw - pw) < W
                    ]
                    if inside:  # a window of padding only has no maximum to reward
                        r, q = max(inside, key=lambda rq: values[n, c, rq[0], rq[1]].item())
                        assert values[n, c, r, q] == y[n, c, i, j].item()
                        expected[n, c, r, q] += g[n, c, i, j]
    torch.testing.assert_close(grad.cpu(), expected)


@examples(40)
@given(case=small_pool_cases, dtype=dtypes)
def test_max_pool2d_loops_equal_vectorised(case: Case, dtype):
    x = randn(case.input_shape, case.seed, dtype)
    loops = max_pool2d_loops(x, case.kernel, **case.args)
    assert loops.device == x.device and loops.dtype == dtype
    torch.testing.assert_close(loops, max_pool2d(x, case.kernel, **case.args))


def test_max_pool2d_by_hand():
    x = torch.tensor([[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 7, 2], [3, 2, 6, 1]], device=DEVICE).view(1, 1, 4, 4)
    expected = torch.tensor([[4.0, 5], [3, 7]], device=DEVICE).view(1, 1, 2, 2)
    torch.testing.assert_close(max_pool2d(x, 2), expected)
    torch.testing.assert_close(max_pool2d_loops(x, 2), expected)


def test_nan_propagates_through_max_pool2d_like_torch():
    x = torch.tensor([[1.0, float("nan")], [3.0, 2.0]], device=DEVICE).view(1, 1, 2, 2)
    assert math.isnan(F.max_pool2d(x, 2).item())
    assert math.isnan(max_pool2d(x, 2).item()) and math.isnan(max_pool2d_loops(x, 2).item())


# --------------------------------------------------------------------------- shapes


@examples(100)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    dilation=st.integers(1, 3),
)
def test_conv_output_size_matches_torch_layers(size, kernel, stride, padding, dilation):
    x = torch.zeros(1, 1, size, size, device=DEVICE)
    w = torch.zeros(1, 1, kernel, kernel, device=DEVICE)
    if dilation * (kernel - 1) + 1 > size + 2 * padding:
        with pytest.raises(RuntimeError):
            F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv_output_size(size, kernel, stride, padding, dilation)
        return
    expected = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation).shape[-1]
    assert conv_output_size(size, kernel, stride, padding, dilation) == expected
    assert conv_output_size(size, kernel, stride, padding, dilation) == math.floor(
        (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    )


def test_article_shapes():
    """The article's network: 28 → conv 26 → conv 24 → pool 12, and 64 · 12 · 12 = 9216 inputs to fc1."""
    assert conv_output_size(28, 3) == 26 and conv_output_size(26, 3) == 24
    assert conv_output_size(24, 2, stride=2) == 12 and 64 * 12 * 12 == 9216


def test_sliding_windows_is_a_view_of_every_window():
    x = torch.arange(5 * 6.0, device=DEVICE).view(1, 1, 5, 6)
    windows = sliding_windows(x, (2, 3), stride=(1, 2), dilation=(2, 1))  # (1, 1, Ho, Wo, 2, 3)
    assert windows.shape == (1, 1, 3, 2, 2, 3)
    assert windows.data_ptr() == x.data_ptr()  # no copy
    torch.testing.assert_close(windows[0, 0, 1, 1], x[0, 0, 1:4:2, 2:5])


def test_hand_made_kernels():
    kernels = hand_made_kernels()
    assert all(k.shape == (3, 3) for k in kernels.values())
    for name in ("vertical edge", "horizontal edge"):  # edge detectors ignore flat regions
        assert kernels[name].sum() == 0
    assert math.isclose(kernels["blur"].sum().item(), 1, rel_tol=1e-6) and kernels["sharpen"].sum() == 1
    # The vertical-edge kernel responds positively where the image gets brighter to the right.
    ramp = torch.arange(5.0).repeat(5, 1).view(1, 1, 5, 5)
    assert (conv2d(ramp, kernels["vertical edge"].view(1, 1, 3, 3)) > 0).all()


# --------------------------------------------------------------------------- refusing bad input

X = torch.zeros(2, 3, 8, 8, device=DEVICE)
W = torch.zeros(4, 3, 3, 3, device=DEVICE)

CONV_ERRORS = [
    (lambda f: f(X[0], W), r"4-D input \(batch, channels, height, width\).*3-D.*unsqueeze\(0\)"),
    (lambda f: f(X[None], W), r"4-D input.*5-D tensor of shape \(1, 2, 3, 8, 8\)"),
    (lambda f: f(X.long(), W), r"floating-point.*torch.int64"),
    (lambda f: f(X, W[0]), r"4-D weight \(out_channels, in_channels, kernel_height, kernel_width\)"),
    (lambda f: f(X, torch.zeros(4, 1, 3, 3)), r"input has 3 channels, but the weight .* expects 1"),
    (lambda f: f(X[:, :1], W), r"input has 1 channel, but the weight .* expects 3"),
    (lambda f: f(X, W.double()), r"same dtype and device"),
    (lambda f: f(X, W, torch.zeros(3)), r"one value per output channel, shape \(4,\).*\(3,\)"),
    (
        lambda f: f(X, torch.zeros(4, 3, 9, 3)),
        r"kernel is larger than the padded input along the height: it spans 9 pixels.*only 8",
    ),
    (
        lambda f: f(X, W, padding=(0, 1), dilation=(1, 5)),
        r"along the width: it spans 11 pixels \(size 3, dilation 5\).*only 10",
    ),
    (lambda f: f(X, W, stride=0), r"conv2d: stride must be positive.*got 0"),
    (lambda f: f(X, W, stride=(1, -2)), r"stride must be positive.*got \(1, -2\)"),
    (lambda f: f(X, W, dilation=0), r"dilation must be positive.*got 0"),
    (lambda f: f(X, W, padding=-1), r"padding must be 0 or more; got -1"),
    (lambda f: f(X, W, stride=(1, 2, 3)), r"stride must be an int or a pair of ints"),
    (lambda f: f(X, W, padding=1.5), r"padding must be an int or a pair of ints"),
]

POOL_ERRORS = [
    (lambda f: f(X[0], 2), r"4-D input.*3-D.*unsqueeze\(0\)"),
    (lambda f: f(X.int(), 2), r"floating-point.*torch.int32"),
    (lambda f: f(X, 9), r"larger than the padded input along the height: it spans 9 pixels.*only 8"),
    (lambda f: f(X, 3, stride=1, padding=1, dilation=(1, 5)), r"along the width: it spans 11 pixels.*only 10"),
    (lambda f: f(X, 2, stride=0), r"max_pool2d: stride must be positive.*got 0"),
    (lambda f: f(X, 2, dilation=(0, 1)), r"dilation must be positive.*got \(0, 1\)"),
    (lambda f: f(X, 0), r"kernel_size must be at least 1; got 0"),
    (lambda f: f(X, 3, padding=2), r"padding 2 along the height is more than half the pooling window.*at most 1"),
    (
        lambda f: f(X, 2, padding=2, dilation=3),
        r"padding 2 along the height is more than half.*kernel size 2, so at most 1",
    ),
    (lambda f: f(X, (2, 3), padding=(1, 2)), r"padding 2 along the width is more than half.*at most 1"),
    (lambda f: f(X, 2, padding=-1), r"padding must be 0 or more"),
]


@pytest.mark.parametrize("make_call, message", CONV_ERRORS)
@pytest.mark.parametrize("conv", [conv2d, conv2d_loops], ids=["vectorised", "loops"])
def test_conv2d_refuses_bad_input(conv, make_call, message):
    with pytest.raises(ValueError, match=message):
        make_call(conv)
    if make_call is CONV_ERRORS[0][0]:
        return  # PyTorch reads a 3-D input as one unbatched image; the book's functions ask for the batch
    with pytest.raises((RuntimeError, ValueError, TypeError)):  # PyTorch refuses all the others too
        make_call(F.conv2d)


@pytest.mark.parametrize("make_call, message", POOL_ERRORS)
@pytest.mark.parametrize("pool", [max_pool2d, max_pool2d_loops], ids=["vectorised", "loops"])
def test_max_pool2d_refuses_bad_input(pool, make_call, message):
    with pytest.raises(ValueError, match=message):
        make_call(pool)


@pytest.mark.parametrize(
    "args, message",
    [
        ((4, 3, 1, 0, 2), r"^The kernel is larger than the padded input: it spans 5 pixels \(size 3, dilation 2\)"),
        ((4, 0), r"kernel_size must be at least 1"),
        ((4, 3, 0), r"stride must be positive"),
        ((4, 3, 1, -1), r"padding must be 0 or more"),
        ((0, 3), r"size must be at least 1"),
        ((4.0, 3), r"size must be an int"),
    ],
)
def test_conv_output_size_refuses_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


@examples(150)
@given(
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_max_pool2d_refuses_exactly_what_torch_refuses(size, kernel, stride, padding, dilation):
    """Over valid and invalid configurations, ours raises ValueError exactly when PyTorch raises.

    With gradients on, as in training: without them PyTorch's CPU kernel allows padding up to half
    the *dilated* window, against its own documentation (padding ≤ kernel_size / 2).
    """
    x = torch.randn(1, 2, *size, device=DEVICE, requires_grad=True)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)
    try:
        ref = F.max_pool2d(x, **args)
    except RuntimeError:
        ref = None
    if ref is None:
        with pytest.raises(ValueError):
            max_pool2d(x, **args)
    else:
        torch.testing.assert_close(max_pool2d(x, **args), ref)


@examples(150)
@given(
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(0, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 3), st.integers(0, 3)),
)
def test_conv2d_refuses_exactly_what_torch_refuses(size, kernel, stride, padding, dilation):
    x, w = torch.randn(1, 2, *size, device=DEVICE), torch.randn(3, 2, *kernel, device=DEVICE)
    args = dict(stride=stride, padding=padding, dilation=dilation)
    try:
        ref = F.conv2d(x, w, **args)
    except RuntimeError:
        ref = None
    if ref is None:
        with pytest.raises(ValueError):
            conv2d(x, w, **args)
    else:
        torch.testing.assert_close(conv2d(x, w, **args), ref, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- learning a kernel (chapter 2)

VERTICAL_EDGE = hand_made_kernels()["vertical edge"].view(1, 1, 3, 3)


@pytest.fixture(scope="module")
def digit_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """Chapter 2's pairs: eight test digits (pixels in [0, 1]) and their vertical-edge maps, made by
    ``F.conv2d`` so that the targets do not depend on the code under test."""
    digits = load_split("mnist", train=False, normalize=False).images[:8]  # (8, 1, 28, 28)
    return digits, F.conv2d(digits, VERTICAL_EDGE)  # (8, 1, 26, 26)


def test_learn_kernel_recovers_the_vertical_edge_kernel(digit_pairs, one_thread):
    kernel, losses = learn_kernel(*digit_pairs, steps=500, lr=1.0)
    assert kernel.shape == (1, 1, 3, 3) and len(losses) == 500 and not kernel.requires_grad
    assert (kernel - VERTICAL_EDGE).abs().max().item() < 0.05  # the chapter's tolerance
    assert all(later <= earlier for earlier, later in zip(losses, losses[1:]))  # every step descends
    assert losses[-1] < 1e-4 * losses[0]
    # The same checks can fail: too few steps leave the kernel far off, too large a rate overshoots.
    early, _ = learn_kernel(*digit_pairs, steps=5, lr=1.0)
    assert (early - VERTICAL_EDGE).abs().max().item() > 0.05
    _, overshoot = learn_kernel(*digit_pairs, steps=20, lr=3.0)
    assert overshoot[-1] > overshoot[0]


def _mse_gradient(x: torch.Tensor, kernel: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂/∂kernel of mean((x ⋆ kernel − y)²) by its formula, (2/M) Σ residual · window: the cross-correlation
    of each input channel with the residual (batch and channels swapped), computed by ``F.conv2d``."""
    residual = F.conv2d(x, kernel) - y  # (N, 1, Ho, Wo)
    sums = F.conv2d(x.transpose(0, 1), residual.transpose(0, 1))  # (C, 1, k, k): Σ_n,i,j r · x[i+u, j+v]
    return 2 / residual.numel() * sums.transpose(0, 1)  # (1, C, k, k)


def test_learn_kernel_takes_plain_gradient_descent_steps():
    """Every step is θ ← θ − lr · ∇L with the gradient of the formula, and the first gradient is also
    the finite difference of the loss."""
    x, true = randn((3, 2, 7, 6), seed=1), randn((1, 2, 3, 3), seed=2)  # float64, two input channels
    y = F.conv2d(x, true)
    kernel, losses = learn_kernel(x, y, steps=4, lr=0.1)
    theta = torch.zeros_like(true)
    for step in range(4):
        assert losses[step] == pytest.approx(((F.conv2d(x, theta) - y) ** 2).mean().item(), rel=1e-12)
        theta = theta - 0.1 * _mse_gradient(x, theta, y)
    torch.testing.assert_close(kernel, theta, atol=1e-12, rtol=1e-12)

    (first,), _ = learn_kernel(x, y, steps=1, lr=1.0)  # from zero: −∇L(0)
    h, loss = 1e-6, lambda k: ((F.conv2d(x, k) - y) ** 2).mean().item()
    for index in [(0, 0, 0), (1, 2, 1), (0, 1, 2)]:
        bump = torch.zeros_like(true)
        bump[(0, *index)] = h
        finite_difference = (loss(bump) - loss(-bump)) / (2 * h)
        assert -first[index].item() == pytest.approx(finite_difference, rel=1e-6)
    assert torch.autograd.gradcheck(lambda k: ((conv2d(x, k) - y) ** 2).mean(), (theta.requires_grad_(),))


def test_learn_kernel_refuses_targets_of_the_wrong_shape():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"targets must be \(N, 1, H', W'\)"):
        learn_kernel(x, torch.rand(2, 3, 6, 6), steps=1, lr=0.1)  # one map per output channel: not a single kernel
