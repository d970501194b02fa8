"""The book's convolutional network (chapter 4): the article's layers, with its two mistakes fixed.

``Net`` is what the book trains. ``ArticleNet`` is the source article's code kept verbatim, so
chapter 4 can run it and show what goes wrong (the ``Dropout2d`` warning, ``log_softmax`` fed to
``CrossEntropyLoss``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Features entering ``fc1``: 64 channels of 12x12 after two 3x3 convolutions and a 2x2 pool.
FLAT_FEATURES = 64 * 12 * 12  # 9216


class Net(nn.Module):
    """conv 1->32 3x3, conv 32->64 3x3, max-pool 2, dropout, fc 9216->128, dropout, fc 128->10.

    Returns logits (no softmax): pair it with ``F.cross_entropy``, which applies log-softmax itself.
    """

    def __init__(self, p_conv: float = 0.25, p_fc: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        # Plain Dropout, as in PyTorch's own MNIST example: the article's Dropout2d on the flat
        # (B, 128) tensor is deprecated (PyTorch warns, and will refuse it).
        self.dropout1 = nn.Dropout(p_conv)
        self.dropout2 = nn.Dropout(p_fc)
        self.fc1 = nn.Linear(FLAT_FEATURES, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = F.relu(self.conv1(x))  # (B, 32, 26, 26)
        x = F.relu(self.conv2(x))  # (B, 64, 24, 24)
        x = F.max_pool2d(x, 2)  # (B, 64, 12, 12)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)  # (B, 9216)
        x = F.relu(self.fc1(x))  # (B, 128)
        x = self.dropout2(x)
        return self.fc2(x)  # (B, 10) logits


class ArticleNet(nn.Module):
    """The source article's network, verbatim (only the docstring is ours): do not train this one.

    ``dropout2`` is a ``Dropout2d`` applied to a (B, 128) tensor, and ``forward`` returns
    ``log_softmax``, which the article then feeds to ``nn.CrossEntropyLoss``.
    """

    def __init__(self):
        super(ArticleNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = nn.functional.relu(x)
        x = self.conv2(x)
        x = nn.functional.relu(x)
        x = nn.functional.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = nn.functional.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = nn.functional.log_softmax(x, dim=1)
        return output


#: Architectures a checkpoint may name, by class name.
ARCHITECTURES: dict[str, type[nn.Module]] = {"Net": Net, "ArticleNet": ArticleNet}


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


class LayerRow(NamedTuple):
    """One line of :func:`layer_table`: a module, what it produced, and its own parameters."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    parameters: int


def layer_table(model: nn.Module, x: torch.Tensor) -> list[LayerRow]:
    """Run ``x`` through ``model`` (eval mode, no gradients); record each leaf module's input and output.

    Forward hooks see what really happens, so the table cannot disagree with the code. Functional
    calls (``F.relu``, ``F.max_pool2d``, ``torch.flatten``) are not modules and do not appear.
    """
    rows: list[LayerRow] = []
    handles = []
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue  # containers: their leaves report

        def hook(mod: nn.Module, inputs, output, name: str = name) -> None:
            rows.append(
                LayerRow(
                    name,
                    type(mod).__name__,
                    tuple(inputs[0].shape),
                    tuple(output.shape),
                    sum(p.numel() for p in mod.parameters()),
                )
            )

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return rows
