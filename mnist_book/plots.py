"""Figures the chapters share (matplotlib). Each function returns its ``Figure``."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch


def show_digits(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 10,
    size: float = 1.1,
    cmap: str = "gray_r",
):
    """A grid of digits, (N, 28, 28) or (N, 1, 28, 28), each titled by its label or ``titles``."""
    images = images.detach().cpu()
    if images.dim() == 4:
        images = images[:, 0]
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
        elif labels is not None:
            ax.set_title(str(int(labels[i])), fontsize=10)
    fig.tight_layout()
    return fig
