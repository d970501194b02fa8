"""Interactive explorers for Jupyter (ipywidgets). Each chapter that shows one also shows a
static figure of the same thing, so the HTML book, which has no kernel, loses nothing."""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from mnist_book.plots import show_digits


def data_browser(images: torch.Tensor, labels: torch.Tensor, *, names: list[str] | None = None) -> widgets.Widget:
    """An index slider over ``images`` (N, [1,] 28, 28) showing each image with its label."""
    def show(index: int) -> None:
        label = int(labels[index])
        title = f"#{index}: label {label}" + (f" ({names[label]})" if names else "")
        fig = show_digits(images[index : index + 1], titles=[title], size=3)
        plt.show(fig)

    slider = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="index", continuous_update=False)
    return widgets.interactive(show, index=slider)
