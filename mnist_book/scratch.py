"""Convolution and max pooling from first principles, equal to ``torch.nn.functional``'s.

Each operation comes twice:

- :func:`conv2d_loops` and :func:`max_pool2d_loops` write the formulas of chapters 2 and 3 as
  plain Python loops over plain numbers: slow, for reading and for tiny inputs checked by hand;
- :func:`conv2d` and :func:`max_pool2d` compute the same sums with tensor operations (every
  window as a strided view, then one matrix product or one max), so autograd differentiates
  them and they run on a batch of real digits on any device.

:func:`learn_kernel` then finds a kernel from examples of what it should do, by gradient descent
through :func:`conv2d` (chapter 2).

Both follow ``torch.nn.functional.conv2d`` / ``max_pool2d`` for 4-D floating-point tensors,
``(batch, channels, height, width)``, with int or (height, width) arguments. Not covered:
``groups``, string padding (``"same"``), ``ceil_mode`` and ``return_indices``.
``tests/test_scratch.py`` holds all four equal to PyTorch, forward and backward.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: An int for both spatial dimensions, or a (height, width) pair, as in ``torch.nn.functional``.
IntPair = int | Sequence[int]


# --------------------------------------------------------------------------- arguments and shapes


def _pair(value: IntPair, name: str) -> tuple[int, int]:
    """``value`` as a (height, width) pair of ints, or a ValueError naming the argument."""

    def is_int(v) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if is_int(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints (height, width), not {value!r}.")


def _check_hyperparameters(op: str, **pairs: tuple[tuple[int, int], object]) -> None:
    """Check ``name=(pair, value as the caller gave it)``; the error starts with ``op`` and quotes the value."""
    rules = {
        "kernel_size": (1, "at least 1"),
        "stride": (1, "positive (1 or more): the window moves by `stride` pixels from one output to the next"),
        "dilation": (1, "positive (1 or more): 1 means neighbouring taps, 2 leaves one pixel out between taps"),
        "padding": (0, "0 or more"),
    }
    for name, (pair, given) in pairs.items():
        lowest, rule = rules[name]
        if min(pair) < lowest:
            raise ValueError(f"{op}{name} must be {rule}; got {given!r}.")


def _output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, where: str = "") -> int:
    span = dilation * (kernel - 1) + 1  # pixels between the first and the last tap, both included
    padded = size + 2 * padding
    if span > padded:
        spans = f"spans {span} pixels" if dilation == 1 else f"spans {span} pixels (size {kernel}, dilation {dilation})"
        raise ValueError(
            f"the kernel is larger than the padded input{where}: it {spans}, but the input has only "
            f"{padded} ({size} + 2 × padding {padding}), so it fits nowhere."
        )
    return (padded - span) // stride + 1


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one dimension: ⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1.

    The same for convolution and pooling. ValueError if an argument is out of range or the
    (dilated) kernel is larger than the padded input.
    """
    for name, value in (
        ("size", size),
        ("kernel", kernel),
        ("stride", stride),
        ("padding", padding),
        ("dilation", dilation),
    ):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ValueError(f"{name} must be an int, not {value!r}.")
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}.")
    _check_hyperparameters(
        "",
        kernel_size=((kernel, kernel), kernel),
        stride=((stride, stride), stride),
        padding=((padding, padding), padding),
        dilation=((dilation, dilation), dilation),
    )
    try:
        return _output_size(size, kernel, stride, padding, dilation)
    except ValueError as err:
        raise ValueError(str(err)[0].upper() + str(err)[1:]) from None


def _output_shape(
    op: str,
    input: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """(out_height, out_width), with an error that names the operation and the dimension."""
    try:
        return (
            _output_size(input.shape[2], kernel[0], stride[0], padding[0], dilation[0], " along the height"),
            _output_size(input.shape[3], kernel[1], stride[1], padding[1], dilation[1], " along the width"),
        )
    except ValueError as err:
        raise ValueError(f"{op}: {err}") from None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _check_input(op: str, input) -> None:
    if not isinstance(input, torch.Tensor):
        raise ValueError(f"{op} expects a torch.Tensor as input, not {type(input).__name__}.")
    if input.dim() != 4:
        hint = (
            " For a single image of shape (channels, height, width), pass input.unsqueeze(0)."
            if input.dim() == 3
            else ""
        )
        raise ValueError(
            f"{op} expects a 4-D input (batch, channels, height, width), but got a {input.dim()}-D "
            f"tensor of shape {tuple(input.shape)}.{hint}"
        )
    if not input.is_floating_point():
        raise ValueError(f"{op} works on floating-point tensors, but the input is {input.dtype}: use input.float().")


def _check_conv_args(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntPair,
    padding: IntPair,
    dilation: IntPair,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate conv2d's arguments; return (stride, padding, dilation, output shape) as pairs."""
    _check_input("conv2d", input)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(
            "conv2d expects a 4-D weight (out_channels, in_channels, kernel_height, kernel_width), "
            f"but got {shape}. A single 3×3 kernel k is k.view(1, 1, 3, 3)."
        )
    if weight.shape[1] != input.shape[1]:
        raise ValueError(
            f"conv2d: the input has {_count(input.shape[1], 'channel')}, but the weight of shape {tuple(weight.shape)} "
            f"expects {weight.shape[1]} (its second dimension is the number of input channels)."
        )
    if weight.dtype != input.dtype or weight.device != input.device:
        raise ValueError(
            f"conv2d: input and weight must have the same dtype and device, but the input is "
            f"{input.dtype} on {input.device} and the weight {weight.dtype} on {weight.device}."
        )
    if bias is not None and (not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (weight.shape[0],)):
        shape = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
        raise ValueError(
            f"conv2d: bias must hold one value per output channel, shape ({weight.shape[0]},), but has shape {shape}."
        )
    stride_, padding_, dilation_ = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    kernel = (weight.shape[2], weight.shape[3])
    _check_hyperparameters(
        "conv2d: ",
        kernel_size=(kernel, kernel),
        stride=(stride_, stride),
        padding=(padding_, padding),
        dilation=(dilation_, dilation),
    )
    stride, padding, dilation = stride_, padding_, dilation_
    out_shape = _output_shape("conv2d", input, kernel, stride, padding, dilation)
    return stride, padding, dilation, out_shape


def _check_pool_args(
    input: torch.Tensor, kernel_size: IntPair, stride: IntPair | None, padding: IntPair, dilation: IntPair
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate max_pool2d's arguments; return (kernel, stride, padding, dilation, output shape) as pairs."""
    _check_input("max_pool2d", input)
    kernel = _pair(kernel_size, "kernel_size")
    # PyTorch's default: windows side by side, stride = window size.
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    stride_ = kernel if no_stride else _pair(stride, "stride")
    padding_, dilation_ = _pair(padding, "padding"), _pair(dilation, "dilation")
    _check_hyperparameters(
        "max_pool2d: ",
        kernel_size=(kernel, kernel_size),
        stride=(stride_, stride),
        padding=(padding_, padding),
        dilation=(dilation_, dilation),
    )
    stride, padding, dilation = stride_, padding_, dilation_
    for dim, k, p in zip(("height", "width"), kernel, padding):
        # nn.MaxPool2d's documented rule (and PyTorch's when it tracks gradients): more padding
        # than this would let windows hold mostly, or only, padding.
        if p > k // 2:
            raise ValueError(
                f"max_pool2d: padding {p} along the {dim} is more than half the pooling window "
                f"(kernel size {k}, so at most {k // 2})."
            )
    out_shape = _output_shape("max_pool2d", input, kernel, stride, padding, dilation)
    return kernel, stride, padding, dilation, out_shape


# --------------------------------------------------------------------------- plain loops (teaching)


def conv2d_loops(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Convolution (cross-correlation, as ``nn.Conv2d``) written as loops over plain numbers: slow, for tiny inputs."""
    (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = _check_conv_args(input, weight, bias, stride, padding, dilation)
    B, C, H, W = input.shape
    O, _, kh, kw = weight.shape
    x, w = input.tolist(), weight.tolist()  # nested lists of Python floats
    b = bias.tolist() if bias is not None else [0.0] * O
    y = [[[[0.0] * Wo for _ in range(Ho)] for _ in range(O)] for _ in range(B)]
    for n in range(B):  # image in the batch
        for o in range(O):  # output channel
            for i in range(Ho):  # output row
                for j in range(Wo):  # output column
                    total = b[o]
                    for c in range(C):  # input channel
                        for u in range(kh):  # kernel row
                            for v in range(kw):  # kernel column
                                r = i * sh + u * dh - ph  # input pixel under tap (u, v)
                                q = j * sw + v * dw - pw
                                if 0 <= r < H and 0 <= q < W:  # outside the image = zero padding
                                    total += w[o][c][u][v] * x[n][c][r][q]
                    y[n][o][i][j] = total
    return torch.tensor(y, dtype=input.dtype, device=input.device)  # (B, O, Ho, Wo)


def max_pool2d_loops(
    input: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Max pooling written as loops over plain numbers: slow, for tiny inputs."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = _check_pool_args(input, kernel_size, stride, padding, dilation)
    B, C, H, W = input.shape
    x = input.tolist()
    y = [[[[0.0] * Wo for _ in range(Ho)] for _ in range(C)] for _ in range(B)]
    for n in range(B):
        for c in range(C):  # each channel is pooled on its own
            for i in range(Ho):
                for j in range(Wo):
                    best = -math.inf  # padding counts as -inf: it never wins
                    for u in range(kh):
                        for v in range(kw):
                            r = i * sh + u * dh - ph
                            q = j * sw + v * dw - pw
                            if 0 <= r < H and 0 <= q < W:
                                value = x[n][c][r][q]
                                if value > best or math.isnan(value):  # NaN propagates, as in PyTorch
                                    best = value
                    y[n][c][i][j] = best
    return torch.tensor(y, dtype=input.dtype, device=input.device)  # (B, C, Ho, Wo)


# --------------------------------------------------------------------------- vectorised


def sliding_windows(x: torch.Tensor, kernel_size: IntPair, stride: IntPair = 1, dilation: IntPair = 1) -> torch.Tensor:
    """Every window of ``x`` (B, C, H, W) as a view (B, C, Ho, Wo, kh, kw): no data is copied."""
    (kh, kw), (sh, sw), (dh, dw) = (
        _pair(kernel_size, "kernel_size"),
        _pair(stride, "stride"),
        _pair(dilation, "dilation"),
    )
    x = x.unfold(2, dh * (kh - 1) + 1, sh)  # (B, C, Ho, W, span_h): a window of rows every sh rows
    x = x.unfold(3, dw * (kw - 1) + 1, sw)  # (B, C, Ho, Wo, span_h, span_w)
    return x[..., ::dh, ::dw]  # (B, C, Ho, Wo, kh, kw): keep every dh-th row, dw-th column of a span


def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """``F.conv2d`` from scratch: windows as a strided view, then one matrix product (differentiable)."""
    (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = _check_conv_args(input, weight, bias, stride, padding, dilation)
    B, C, _, _ = input.shape
    O, _, kh, kw = weight.shape
    x = F.pad(input, (pw, pw, ph, ph))  # (B, C, H + 2ph, W + 2pw), zeros around
    windows = sliding_windows(x, (kh, kw), (sh, sw), (dh, dw))  # (B, C, Ho, Wo, kh, kw)
    # One row per output pixel holding its window over all channels ("im2col"); this copies.
    patches = windows.permute(0, 2, 3, 1, 4, 5).reshape(B, Ho, Wo, C * kh * kw)  # (B, Ho, Wo, C·kh·kw)
    y = patches @ weight.reshape(O, C * kh * kw).T  # (B, Ho, Wo, O): every sum of the formula at once
    if bias is not None:
        y = y + bias
    return y.permute(0, 3, 1, 2).contiguous()  # (B, O, Ho, Wo)


def max_pool2d(
    input: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """``F.max_pool2d`` from scratch: windows as a strided view, then a max over each (differentiable)."""
    kernel, stride, padding, dilation, (Ho, Wo) = _check_pool_args(input, kernel_size, stride, padding, dilation)
    B, C, _, _ = input.shape
    (ph, pw), (kh, kw) = padding, kernel
    x = F.pad(input, (pw, pw, ph, ph), value=-math.inf)  # (B, C, H + 2ph, W + 2pw); -inf never wins
    windows = sliding_windows(x, kernel, stride, dilation)  # (B, C, Ho, Wo, kh, kw)
    # max (not amax): its gradient goes to one maximum per window, as PyTorch's does, even on ties.
    return windows.reshape(B, C, Ho, Wo, kh * kw).max(dim=-1).values  # (B, C, Ho, Wo)


def hand_made_kernels() -> dict[str, torch.Tensor]:
    """Classic 3×3 image-processing kernels by name (float32), for ``nn.Conv2d``'s cross-correlation."""
    return {
        "identity": torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        "vertical edge": torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]),  # Sobel: brighter to the right > 0
        "horizontal edge": torch.tensor([[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]),  # brighter below > 0
        "blur": torch.full((3, 3), 1 / 9),  # mean of the 3×3 neighbourhood
        "sharpen": torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),  # the pixel plus its contrast to neighbours
    }


def learn_kernel(
    inputs: torch.Tensor, targets: torch.Tensor, steps: int, lr: float
) -> tuple[torch.Tensor, list[float]]:
    """A kernel with ``conv2d(inputs, kernel) ≈ targets``, for inputs (N, C, H, W) and
    targets (N, 1, H', W'): plain gradient descent on the mean squared error from zeros.
    Returns the kernel (1, C, k, k) and the loss at each step, before its update."""
    if targets.dim() != 4 or tuple(targets.shape[:2]) != (inputs.shape[0], 1):
        raise ValueError(f"targets must be (N, 1, H', W'), not {tuple(targets.shape)}")
    k = inputs.shape[-1] - targets.shape[-1] + 1  # no padding: H' = H - k + 1
    kernel = inputs.new_zeros(1, inputs.shape[1], k, k).requires_grad_()  # θ, tracked
    losses = []
    for _ in range(steps):
        loss = ((conv2d(inputs, kernel) - targets) ** 2).mean()  # L(θ), recorded
        kernel.grad = None  # backward() adds to .grad: start each step from nothing
        loss.backward()  # kernel.grad = ∂L/∂θ, back through conv2d (chain rule)
        with torch.no_grad():  # the step is not part of L: do not record it
            kernel -= lr * kernel.grad  # θ ← θ − η ∇L(θ)
        losses.append(loss.item())
    return kernel.detach(), losses


def receptive_field_sizes(layers: Sequence[tuple[str, int, int]]) -> list[tuple[str, int]]:
    """The receptive field (side length, in input pixels) of one output of each layer of a stack of
    ``(name, kernel, stride)`` layers, convolutions or pools alike.

    A layer with kernel k on a grid whose neighbouring positions are j input pixels apart widens the
    field by (k - 1) * j; its stride s then spaces its own outputs s * j apart.
    """
    size, jump, out = 1, 1, []
    for name, kernel, stride in layers:
        size += (kernel - 1) * jump
        jump *= stride
        out.append((name, size))
    return out
