"""Figures the chapters share (matplotlib). Each function returns its ``Figure``."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch


def _finish(fig, title: str | None, *, tight: bool = True):
    """The figure's title (if any) and layout: the last step of every plot here."""
    if title:
        fig.suptitle(title)
    if tight:
        fig.tight_layout()
    return fig


def show_digits(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 10,
    size: float = 1.1,
    cmap: str = "gray_r",
    title: str | None = None,
):
    """A grid of digits, (N, 28, 28) or (N, 1, 28, 28), each titled by its label or ``titles``."""
    images = images.detach().cpu()
    if images.dim() == 4:
        images = images[:, 0]
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, size * nrows * 1.15 + (0.35 if title else 0)),
        squeeze=False,
        layout="constrained",
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
        elif labels is not None:
            ax.set_title(str(int(labels[i])), fontsize=10)
    return _finish(fig, title, tight=False)


# --------------------------------------------------------------------------- convolution and pooling (chapters 2, 3)


def plot_receptive_fields(
    image: torch.Tensor, fields: Sequence[tuple[str, int]], origin: tuple[int, int], *, title=None
):
    """A digit with the receptive field of one output of each layer: ``fields`` are ``(layer name,
    side length)`` pairs; the output at position ``(r, c)`` of a stack without padding sees the square
    whose top-left corner is at ``origin`` (row, col) in the input."""
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    ax.imshow(_as_2d(image), cmap="gray_r")
    row, col = origin
    for k, (name, side) in enumerate(fields):
        ax.add_patch(
            Rectangle(
                (col - 0.5, row - 0.5),
                side,
                side,
                fill=False,
                edgecolor=f"C{k}",
                linewidth=2.2 - 0.3 * k,
                label=f"{name}: {side}×{side} pixels",
            )
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    ax.set(xticks=[], yticks=[])
    return _finish(fig, title)


def _as_2d(x) -> torch.Tensor:
    """A map as a 2-D CPU float tensor: drops leading dimensions of size 1."""
    x = torch.as_tensor(x).detach().cpu().float()
    while x.dim() > 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2:
        raise ValueError(f"expected a 2-D map (or one with leading dimensions of size 1), got shape {tuple(x.shape)}")
    return x


def _draw_map(
    ax, x: torch.Tensor, *, cmap: str, symmetric: bool, annotate: bool, fmt: str = "{:g}", vmax: float | None = None
) -> None:
    """One map on ``ax``: colours centred on 0 when ``symmetric``, each value written when ``annotate``.

    ``vmax`` fixes the top of the colour scale (and the bottom: 0, or -vmax when symmetric).
    """
    finite = x[torch.isfinite(x)]
    if vmax is not None:
        vmin = -vmax if symmetric else 0.0
    elif symmetric:
        vmax = (float(finite.abs().max()) if finite.numel() else 1.0) or 1.0
        vmin = -vmax
    else:
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 1.0)
        vmax = vmax if vmax > vmin else vmin + 1
    ax.imshow(x.numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])
    if annotate:
        colormap = plt.get_cmap(cmap)
        for (r, c), value in zip(
            torch.cartesian_prod(torch.arange(x.shape[0]), torch.arange(x.shape[1])).tolist(), x.flatten().tolist()
        ):
            red, green, blue, _ = colormap((value - vmin) / (vmax - vmin) if abs(value) < float("inf") else 0.0)
            dark_cell = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # white text on dark cells
            label = fmt.format(value)
            if label.startswith("-") and not label.strip("-0.,"):  # "-0.00": a sign with no digit to carry
                label = label[1:]
            ax.text(c, r, label, ha="center", va="center", fontsize=9, color="white" if dark_cell else "black")


def show_maps(
    maps: Sequence,
    titles: Sequence[str] | None = None,
    *,
    annotate: bool | None = None,
    cmap: str | Sequence[str] = "gray_r",
    symmetric: bool = False,
    fmt: str = "{:g}",
    vmax: float | Sequence[float | None] | None = None,
    ncols: int | None = None,
    size: float = 2.4,
):
    """Maps side by side (images, kernels, feature maps, gradients); small ones get their values written in.

    ``symmetric`` centres the colours on 0 (use a diverging ``cmap`` such as ``"RdBu_r"``).
    ``cmap`` and ``vmax`` (top of the colour scale, e.g. to put two maps on one scale) may be
    one value for all maps or one per map.
    """
    maps = [_as_2d(m) for m in maps]
    n = len(maps)
    cmaps = [cmap] * n if isinstance(cmap, str) else list(cmap)
    vmaxs = list(vmax) if isinstance(vmax, (list, tuple)) else [vmax] * n
    ncols = ncols or n
    nrows = -(-n // ncols)
    title_lines = max((t.count("\n") + 1 for t in titles), default=1) if titles is not None else 1
    height = size * nrows * (1.0 + 0.1 * title_lines)  # room for titles of one or more lines
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, height), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        small = maps[i].numel() <= 100
        _draw_map(
            ax,
            maps[i],
            cmap=cmaps[i],
            symmetric=symmetric,
            annotate=small if annotate is None else annotate,
            fmt=fmt,
            vmax=vmaxs[i],
        )
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    fig.tight_layout()
    return fig


def show_kernel_gallery(images, kernels: dict, maps, *, row_titles: Sequence[str] | None = None, size: float = 1.9):
    """Kernels (top row, values written in) and the feature map each gives on each image (one row per image).

    ``images``: (N, H, W) or (N, 1, H, W); ``kernels``: name -> (kh, kw); ``maps``: (N, K, H', W').
    """
    images = torch.as_tensor(images).detach().cpu().float()
    images = images[:, 0] if images.dim() == 4 else images
    maps = torch.as_tensor(maps).detach().cpu().float()
    names = list(kernels)
    n, k = len(images), len(names)
    fig, axes = plt.subplots(n + 1, k + 1, figsize=(size * (k + 1), size * (n + 1) * 1.08), squeeze=False)
    axes[0, 0].axis("off")
    axes[0, 0].text(
        0.5, 0.5, "kernel →\n\nfeature map ↓", ha="center", va="center", fontsize=10, transform=axes[0, 0].transAxes
    )
    for j, name in enumerate(names):
        _draw_map(axes[0, j + 1], _as_2d(kernels[name]), cmap="RdBu_r", symmetric=True, annotate=True, fmt="{:.2g}")
        axes[0, j + 1].set_title(name, fontsize=10)
    for i in range(n):
        _draw_map(axes[i + 1, 0], images[i], cmap="gray_r", symmetric=False, annotate=False)
        axes[i + 1, 0].set_title(row_titles[i] if row_titles else "input", fontsize=10)
        for j in range(k):
            _draw_map(axes[i + 1, j + 1], maps[i, j], cmap="RdBu_r", symmetric=True, annotate=False)
    fig.tight_layout()
    return fig


def show_pooling(
    feature_map,
    pooled,
    kernel_size: int,
    stride: int,
    *,
    title: str = "max pooling",
    input_title: str = "input",
    highlight: tuple[int, int] | None = None,
    annotate: bool | None = None,
    size: float = 3.2,
):
    """A map and its pooled version; windows outlined (every one on small non-overlapping maps, else one).

    ``highlight``: the output position (row, column) whose window is outlined; default its largest value.
    """
    from matplotlib.patches import Rectangle

    x, y = _as_2d(feature_map), _as_2d(pooled)
    annotate = x.numel() <= 64 if annotate is None else annotate
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(2 * size, size * 1.05))
    _draw_map(ax_in, x, cmap="Blues" if annotate else "gray_r", symmetric=False, annotate=annotate)
    _draw_map(ax_out, y, cmap="Blues" if annotate else "gray_r", symmetric=False, annotate=annotate)
    ax_in.set_title(f"{input_title} {x.shape[0]}×{x.shape[1]}", fontsize=10)
    ax_out.set_title(f"{title} ({kernel_size}×{kernel_size}, stride {stride}): {y.shape[0]}×{y.shape[1]}", fontsize=10)

    def outline(i: int, j: int, color, width: float) -> None:
        ax_in.add_patch(
            Rectangle((j * stride - 0.5, i * stride - 0.5), kernel_size, kernel_size, fill=False, ec=color, lw=width)
        )
        ax_out.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=color, lw=width))

    if annotate and stride >= kernel_size:
        colors = plt.get_cmap("tab10").colors
        for n, (i, j) in enumerate(torch.cartesian_prod(torch.arange(y.shape[0]), torch.arange(y.shape[1])).tolist()):
            outline(i, j, colors[n % len(colors)], 2.5)
    else:
        if highlight is None:
            flat = int(torch.nan_to_num(y, neginf=-1e30).argmax())
            highlight = divmod(flat, y.shape[1])
        outline(*highlight, "tab:red", 2.0)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- network, training, evaluation (chapters 4-6)


def draw_network(stages: Sequence[tuple[str, tuple[int, ...]]], *, params: Sequence[int] | None = None):
    """A drawing of a network from its stages: ``(name, shape without the batch)`` each, e.g.
    ``("conv1 + ReLU", (32, 26, 26))``. Maps (C, H, W) are drawn as stacks, vectors as bars whose
    height grows with the logarithm of their length. ``params``: written under each stage."""
    import math

    from matplotlib.patches import FancyArrowPatch, Rectangle

    fig, ax = plt.subplots(figsize=(1.9 * len(stages) + 0.5, 4.4))
    x, centres = 0.0, []
    for i, (name, shape) in enumerate(stages):
        if len(shape) == 3:
            c, h, w = shape
            side = 2.6 * h / 28  # 28 pixels: 2.6 units tall
            layers = max(1, min(8, round(math.log2(c)) + 1))  # more channels, deeper stack
            step = 0.09
            for k in range(layers - 1, -1, -1):
                shade = 0.92 - 0.5 * k / max(layers, 1)
                ax.add_patch(
                    Rectangle(
                        (x + k * step, -side / 2 + k * step),
                        side * w / h,
                        side,
                        facecolor=(shade, shade, 1.0),
                        edgecolor="navy",
                        lw=0.7,
                    )
                )
            width = side * w / h + (layers - 1) * step
            label = f"{c}×{h}×{w}"
        else:
            (n,) = shape
            height = 0.45 * math.log10(n) + 0.3
            width = 0.28
            ax.add_patch(
                Rectangle((x, -height / 2), width, height, facecolor="#ffe2b8", edgecolor="darkorange", lw=0.9)
            )
            label = f"{n:,}"
        centres.append((x, x + width))
        ax.text(x + width / 2, 1.75, name, ha="center", va="bottom", fontsize=9, fontweight="bold")
        ax.text(x + width / 2, -1.75, label, ha="center", va="top", fontsize=9)
        if params is not None and params[i]:
            ax.text(
                x + width / 2, -2.15, f"{params[i]:,}\nparameters", ha="center", va="top", fontsize=8, color="dimgray"
            )
        x += max(width, 0.9) + 0.85  # bars are thin: leave room for their labels
    for (_, right), (left, _) in zip(centres, centres[1:]):
        ax.add_patch(
            FancyArrowPatch((right + 0.08, 0), (left - 0.08, 0), arrowstyle="-|>", mutation_scale=12, color="gray")
        )
    ax.set_xlim(-0.3, x - 0.5)
    ax.set_ylim(-2.9, 2.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def plot_history(histories, *, title: str | None = None):
    """Loss and accuracy per epoch, training (dashed) and validation (solid), for one ``History`` or
    a dict ``{name: History}`` of runs to compare."""
    if not isinstance(histories, dict):
        histories = {"": histories}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, (name, h) in enumerate(histories.items()):
        colour = f"C{k}"
        prefix = f"{name}: " if name else ""
        ax_loss.plot(h.epochs, h.train_loss, "--", color=colour, marker=".", label=f"{prefix}training")
        ax_loss.plot(h.epochs, h.val_loss, "-", color=colour, marker="o", label=f"{prefix}validation")
        ax_acc.plot(h.epochs, [100 * a for a in h.train_acc], "--", color=colour, marker=".", label=f"{prefix}training")
        ax_acc.plot(h.epochs, [100 * a for a in h.val_acc], "-", color=colour, marker="o", label=f"{prefix}validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    return _finish(fig, title)


def plot_lr_sweep(
    lrs: Sequence[float], val_loss: Sequence[float], val_acc: Sequence[float], *, title: str | None = None
):
    """Validation loss and accuracy against the learning rate (log axis)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.4))
    ax_loss.plot(lrs, val_loss, "o-")
    ax_acc.plot(lrs, [100 * a for a in val_acc], "o-", color="C1")
    ax_loss.set(xscale="log", xlabel="learning rate", ylabel="validation loss", title="Loss after training")
    ax_acc.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy (%)", title="Accuracy after training")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3, which="both")
    return _finish(fig, title)


def plot_confusion_matrix(cm: torch.Tensor, *, title: str = "Confusion matrix"):
    """Counts of (true, predicted) pairs. Colours show the off-diagonal mistakes only: the diagonal
    (the right answers, hundreds each) would otherwise wash every mistake out."""
    import numpy as np

    cm = torch.as_tensor(cm).cpu()
    k = cm.shape[0]
    mistakes = cm.double().numpy().copy()
    np.fill_diagonal(mistakes, np.nan)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    image = ax.imshow(mistakes, cmap="Reds", vmin=0, vmax=max(1.0, float(np.nanmax(mistakes))))
    for i in range(k):
        for j in range(k):
            value = int(cm[i, j])
            if i == j:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, color="#d8ecd8"))
            if value or i == j:
                ax.text(
                    j, i, str(value), ha="center", va="center", fontsize=8, fontweight="bold" if i == j else "normal"
                )
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="mistakes")
    fig.tight_layout()
    return fig


def plot_reliability(cal, *, title: str = "Reliability diagram"):
    """Accuracy against confidence per bin (bars), the diagonal of perfect calibration, and how
    many predictions fall in each bin (below, log scale). ``cal``: ``evaluate.calibration(...)``."""
    import numpy as np

    edges = cal.edges.numpy()
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    acc = np.nan_to_num(cal.accuracy.numpy())
    conf = np.nan_to_num(cal.confidence.numpy())
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(5.5, 6), height_ratios=[3, 1.2], sharex=True)
    ax.bar(centres, acc, width=width, edgecolor="navy", color="#9ec5fe", label="accuracy in the bin")
    gap_bottom = np.minimum(acc, conf)
    ax.bar(
        centres,
        np.abs(conf - acc),
        bottom=gap_bottom,
        width=width,
        facecolor=(1, 0, 0, 0.15),
        edgecolor="red",
        hatch="//",
        lw=0.5,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=f"{title} (ECE {100 * cal.ece:.2f}%)")
    ax.legend(fontsize=8, loc="upper left")
    ax_count.bar(centres, cal.count.numpy(), width=width, color="gray")
    ax_count.set(yscale="log", xlabel="confidence (top-class probability)", ylabel="predictions")
    fig.tight_layout()
    return fig


def plot_accuracy_curves(
    x: Sequence[float], curves: dict[str, Sequence[float]], *, xlabel: str, title: str = "", ax=None
):
    """Accuracy (fractions, drawn in %) against a perturbation's size, one line per curve."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, ys in curves.items():
        ax.plot(list(x), [100 * y for y in ys], "o-", label=name)
    ax.set(xlabel=xlabel, ylabel="accuracy (%)", title=title, xticks=list(x))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig if fig is not None else ax.figure


def plot_prediction(
    image: torch.Tensor, probs: torch.Tensor, label: int | None = None, *, title: str | None = None, axes=None
):
    """One digit beside a bar chart of the model's ten probabilities (true class green, a wrong top
    guess red)."""
    probs = torch.as_tensor(probs).detach().cpu().float()
    fig = None
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(6, 2.4), width_ratios=[1, 1.6])
    ax_img, ax_bar = axes
    ax_img.imshow(image.detach().cpu().reshape(image.shape[-2:]).numpy(), cmap="gray_r")
    ax_img.axis("off")
    predicted = int(probs.argmax())
    colours = ["#9aa7b8"] * len(probs)
    if label is not None and predicted != label:
        colours[predicted] = "crimson"
    if label is not None:
        colours[label] = "seagreen"
    ax_bar.bar(range(len(probs)), probs.numpy(), color=colours)
    ax_bar.set(xticks=range(len(probs)), ylim=(0, 1.05), ylabel="probability")
    ax_bar.tick_params(labelsize=8)
    if title is None:
        title = f"predicted {predicted} ({probs[predicted]:.1%})" + ("" if label is None else f", true {label}")
    ax_bar.set_title(title, fontsize=9)
    return fig if fig is not None else ax_img.figure


def plot_predictions(
    images: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor, indices: Sequence[int], *, ncols: int = 3
):
    """:func:`plot_prediction` for several test digits in a grid: the static twin of the browser widget."""
    n = len(indices)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, 2 * ncols, figsize=(4.2 * ncols, 2.2 * nrows), width_ratios=[1, 1.6] * ncols, squeeze=False
    )
    for k, ax_pair in enumerate(zip(axes.flat[0::2], axes.flat[1::2])):
        if k >= n:
            for ax in ax_pair:
                ax.axis("off")
            continue
        i = int(indices[k])
        probs_i = probs[i]
        predicted = int(probs_i.argmax())
        plot_prediction(
            images[i],
            probs_i,
            int(labels[i]),
            axes=ax_pair,
            title=f"#{i}: true {int(labels[i])}, predicted {predicted}",
        )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- fine-tuning (chapter 7)


def plot_ablation(names: Sequence[str], val_acc: Sequence[float], n_val: int, *, title: str = "Ablation"):
    """Validation error (%) of each step of an ablation, with ± one binomial standard error
    (sqrt(p (1 - p) / n) for ``n_val`` validation images): differences inside the bars are noise."""
    import math

    err = [100 * (1 - a) for a in val_acc]
    se = [100 * math.sqrt(a * (1 - a) / n_val) for a in val_acc]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    y = list(range(len(names)))[::-1]
    ax.barh(y, err, xerr=se, color="#9ec5fe", edgecolor="navy", capsize=3)
    for yi, e, s in zip(y, err, se):
        ax.text(e + s, yi, f"  {e:.2f}%", va="center", ha="left", fontsize=8)
    ax.set(yticks=y, yticklabels=list(names), xlabel="validation error (%)", title=title)
    ax.set_xlim(0, max(e + s for e, s in zip(err, se)) * 1.3)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def plot_transfer(
    budgets: Sequence[int],
    accuracy: dict[str, Sequence[float]],
    *,
    title: str = "",
    ylabel: str = "test accuracy (%)",
    reference: dict[str, float] | None = None,
):
    """Accuracy (fractions, drawn in %) against the number of labelled training images (log axis),
    one line per method; ``reference``: horizontal dashed lines, e.g. a model before fine-tuning."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, (name, acc) in enumerate(accuracy.items()):
        ax.plot(list(budgets), [100 * a for a in acc], "o-", color=f"C{k}", label=name)
    for k, (name, value) in enumerate((reference or {}).items()):
        ax.axhline(100 * value, ls="--", lw=1, color=f"C{7 + k}", label=name)
    ax.set_xscale("log")
    ax.set_xticks(list(budgets), [f"{b:,}" for b in budgets])
    ax.minorticks_off()
    ax.set(xlabel="labelled training images (log scale)", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_transfer_curves(curves: dict[int, dict[str, tuple[int, Sequence[float], int]]], *, title: str = ""):
    """Validation accuracy against training steps, one panel per label budget and one line per method:
    ``curves[budget][name] = (eval_every, val_acc, best_step)``; a circle marks the best validation."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.2), squeeze=False)
    for ax, (budget, runs) in zip(axes[0], curves.items()):
        for k, (name, (every, acc, best)) in enumerate(runs.items()):
            steps = [every * (i + 1) for i in range(len(acc))]
            ax.plot(steps, [100 * a for a in acc], "-", lw=1.2, color=f"C{k}", label=name)
            ax.plot(best, 100 * acc[best // every - 1], "o", color=f"C{k}", mfc="none")
        ax.set(title=f"{budget:,} labels", xlabel="training steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    axes[0][-1].legend(fontsize=8)
    return _finish(fig, title)


def plot_preprocessing(
    steps: dict, probs: torch.Tensor | None = None, *, titles: dict[str, str] | None = None, title: str | None = None
):
    """The pictures of each preprocessing step side by side (``preprocess_image(...).steps``: ink
    bright), then, given ``probs``, the model's ten probabilities."""
    names = list(steps)
    n = len(names) + (probs is not None)
    fig, axes = plt.subplots(
        1,
        n,
        figsize=(2.1 * n + (1.2 if probs is not None else 0), 2.5),
        width_ratios=[1] * len(names) + ([1.8] if probs is not None else []),
    )
    for ax, name in zip(axes, names):
        image = steps[name]
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        h, w = image.shape[:2]
        ax.set_title(f"{(titles or {}).get(name, name)}\n{w}×{h}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if probs is not None:
        probs = torch.as_tensor(probs).detach().cpu().float()
        ax = axes[-1]
        top = int(probs.argmax())
        ax.bar(range(10), probs.numpy(), color=["crimson" if k == top else "#9aa7b8" for k in range(10)])
        ax.set(xticks=range(10), ylim=(0, 1.05), title=f"reads {top} ({probs[top]:.1%})")
        ax.tick_params(labelsize=8)
    return _finish(fig, title)


def plot_readings(
    photos: Sequence,
    inputs: Sequence,
    probs: Sequence[torch.Tensor],
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 3,
):
    """For each sample: the image as uploaded, the 28x28 input the model saw, and its ten
    probabilities (top class red). ``photos``: PIL images or arrays; ``inputs``: (28, 28) arrays."""
    import numpy as np

    n = len(photos)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, 3 * ncols, figsize=(4.6 * ncols, 1.9 * nrows), squeeze=False, width_ratios=[1, 1, 1.6] * ncols
    )
    for k in range(nrows * ncols):
        ax_photo, ax_input, ax_bar = axes.flat[3 * k : 3 * k + 3]
        for ax in (ax_photo, ax_input):
            ax.set_xticks([])
            ax.set_yticks([])
        if k >= n:
            for ax in (ax_photo, ax_input, ax_bar):
                ax.axis("off")
            continue
        photo = np.asarray(photos[k])
        ax_photo.imshow(
            photo, cmap="gray" if photo.ndim == 2 else None, vmin=0, vmax=255 if photo.dtype == np.uint8 else 1
        )
        ax_input.imshow(inputs[k], cmap="gray", vmin=0, vmax=1)
        p = torch.as_tensor(probs[k]).detach().cpu().float()
        top = int(p.argmax())
        ax_bar.bar(range(10), p.numpy(), color=["crimson" if j == top else "#9aa7b8" for j in range(10)])
        ax_bar.set(xticks=range(10), ylim=(0, 1.05), yticks=[0, 0.5, 1])
        ax_bar.tick_params(labelsize=7)
        ax_bar.set_title(f"reads {top} ({p[top]:.0%})", fontsize=9)
        if titles is not None:
            ax_photo.set_title(titles[k], fontsize=8)
        ax_input.set_title("28×28 input", fontsize=8)
    fig.tight_layout()
    return fig


def plot_step_phases(phases: dict[str, object], *, title: str = "Where a training step's time goes"):
    """Microseconds per training image in each phase (data, forward, backward, optimizer), one bar per setup.

    ``phases``: ``{name: StepTimes}`` from ``mnist_book.profiling.time_phases``.
    """
    names = list(phases)
    parts = ["data", "forward", "backward", "optimizer"]
    colours = {"data": "crimson", "forward": "#4c72b0", "backward": "#8da0cb", "optimizer": "#b3b3b3"}
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(names) + 1.4))
    left = [0.0] * len(names)
    for part in parts:
        widths = [1e6 * getattr(phases[n], part) / phases[n].batch_size for n in names]
        ax.barh(names, widths, left=left, color=colours[part], label=part)
        left = [a + b for a, b in zip(left, widths)]
    for y, total in enumerate(left):
        ax.text(total, y, f"  {total:,.0f} µs", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="microseconds per training image", title=title, xlim=(0, 1.18 * max(left)))
    ax.legend(fontsize=8, ncols=4, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def plot_throughput(names: Sequence[str], images_per_second: Sequence[float], *, title: str = "Training throughput"):
    """Training images per second per setup, labelled with the speed-up over the first."""
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.3))
    ax.barh(list(names), list(images_per_second), color="#4c72b0")
    base = images_per_second[0]
    for y, v in enumerate(images_per_second):
        ax.text(v, y, f"  {v:,.0f}/s  (×{v / base:.1f})", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="training images per second (log scale)", xscale="log", title=title)
    ax.set_xlim(min(images_per_second) / 1.5, max(images_per_second) * 6)
    ax.grid(alpha=0.3, axis="x", which="both")
    fig.tight_layout()
    return fig


def plot_loss_curve(losses: Sequence[float], *, ylabel: str = "loss", title: str | None = None):
    """The loss at each step of an optimisation, on a log scale so that every order of magnitude shows."""
    fig, ax = plt.subplots(figsize=(6, 3.0))
    ax.plot(range(1, len(losses) + 1), list(losses))
    ax.set(yscale="log", xlabel="step", ylabel=ylabel)
    ax.grid(alpha=0.3, which="both")
    return _finish(fig, title)


def plot_lr_schedule(
    lrs: Sequence[float],
    *,
    steps_per_epoch: int | None = None,
    constant: float | None = None,
    title: str = "Learning rate per step",
):
    """A learning-rate schedule, step by step (:func:`mnist_book.train.learning_rates`); dotted lines at
    epoch boundaries when ``steps_per_epoch`` is given, a dashed line at a ``constant`` rate to compare with."""
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(range(1, len(lrs) + 1), list(lrs), label="the schedule")
    if steps_per_epoch:
        for boundary in range(steps_per_epoch, len(lrs), steps_per_epoch):
            ax.axvline(boundary, color="grey", linestyle=":", linewidth=1)
    if constant is not None:
        ax.axhline(constant, color="C1", linestyle="--", label=f"the article's constant {constant:g}")
        ax.legend(fontsize=8)
    ax.set(xlabel="training step", ylabel="learning rate", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
