"""Every network the book trains, and what the book measures about a network.

- ``Net`` (chapter 4): the article's layers with its two mistakes fixed; ``Net(batch_norm=True)``
  adds batch normalisation after both convolutions (chapter 7). ``Net.features`` is everything
  before ``fc1``, ``Net.feature_maps`` the stages on the way there.
- ``ArticleNet``: the source article's code kept verbatim, so chapter 4 can run it and show what
  goes wrong (the ``Dropout2d`` warning, ``log_softmax`` fed to ``CrossEntropyLoss``).
- ``FastNet`` (appendix *Speed*): a small network that reaches 99% in one epoch.
- ``LeNet5`` (the design page after chapter 4): LeCun et al.'s classic layout, adapted to 28x28
  digits. It is not in :data:`NETWORKS` (which is part of every cached run's key): pass an instance
  to ``fit(..., model=LeNet5())``.

:func:`build_network` makes the registered ones by name (what a training recipe and a checkpoint store);
:func:`eval_mode` is the one way the book switches a model to evaluation for a while.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Features entering ``Net.fc1``: 64 channels of 12x12 after two 3x3 convolutions and a 2x2 pool.
FLAT_FEATURES = 64 * 12 * 12  # 9216


class Net(nn.Module):
    """conv 1->32 3x3, conv 32->64 3x3, max-pool 2, dropout, fc 9216->128, dropout, fc 128->10.

    Returns logits (no softmax): pair it with ``F.cross_entropy``, which applies log-softmax itself.
    ``batch_norm=True`` normalises after ``conv1`` and ``conv2``, before each ReLU. Not after
    ``fc1``: its input has just been through dropout, whose scaling differs between training and
    evaluation, so statistics collected in training would not fit at evaluation (the "variance
    shift" of dropout before batch norm). The other layers keep their names and shapes either way.
    """

    def __init__(self, p_conv: float = 0.25, p_fc: float = 0.5, batch_norm: bool = False) -> None:
        super().__init__()
        if not (0 <= p_conv < 1 and 0 <= p_fc < 1):
            raise ValueError(f"Dropout rates must be in [0, 1) (got {p_conv}, {p_fc}).")
        self.batch_norm = batch_norm
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        if batch_norm:
            self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        if batch_norm:
            self.bn2 = nn.BatchNorm2d(64)
        # Plain Dropout, as in PyTorch's own MNIST example: the article's Dropout2d on the flat
        # (B, 128) tensor is deprecated (PyTorch warns, and will refuse it).
        self.dropout1 = nn.Dropout(p_conv)
        self.dropout2 = nn.Dropout(p_fc)
        self.fc1 = nn.Linear(FLAT_FEATURES, 128)
        self.fc2 = nn.Linear(128, 10)

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The stages before ``fc1``, by name: ``conv1`` and ``conv2`` (after their ReLU), ``pool``."""
        x = self.conv1(x)  # (B, 32, 26, 26)
        conv1 = F.relu(self.bn1(x) if self.batch_norm else x)
        x = self.conv2(conv1)  # (B, 64, 24, 24)
        conv2 = F.relu(self.bn2(x) if self.batch_norm else x)
        return {"conv1": conv1, "conv2": conv2, "pool": F.max_pool2d(conv2, 2)}  # pool: (B, 64, 12, 12)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What ``fc1`` reads (before dropout): the pooled maps, flattened to (B, 9216)."""
        return torch.flatten(self.feature_maps(x)["pool"], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = self.feature_maps(x)["pool"]  # (B, 64, 12, 12)
        x = torch.flatten(self.dropout1(x), 1)  # (B, 9216): what fc1 reads
        x = F.relu(self.fc1(x))  # (B, 128)
        x = self.dropout2(x)
        return self.fc2(x)  # (B, 10) logits


class ArticleNet(nn.Module):
    """The source article's network, verbatim (only the docstring is ours): do not train this one.

    ``dropout2`` is a ``Dropout2d`` applied to a (B, 128) tensor, and ``forward`` returns
    ``log_softmax``, which the article then feeds to ``nn.CrossEntropyLoss``.
    """

    def __init__(self):
        super(ArticleNet, self).__init__()  # noqa: UP008 (verbatim)
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


class FastNet(nn.Module):
    """conv 5x5 stride 2 -> BN -> ReLU, then twice conv 3x3 -> max-pool 2 -> BN -> ReLU, then fc to 10.

    Returns logits. ``Net`` spends about 12 million multiply-adds on every image, most in ``conv2`` at
    24x24; ``FastNet`` about 1.9 million: it halves the resolution in its first layer and pools after
    every convolution, before batch norm and ReLU, so that both run on a quarter of the values.
    """

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"widths must be three positive channel counts, not {widths}.")
        c1, c2, c3 = widths
        # A strided first convolution instead of conv + pool: a quarter of the work at full resolution.
        self.conv1 = nn.Conv2d(1, c1, 5, stride=2, padding=2, bias=False)  # BN's shift makes a bias redundant
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(c3)
        self.fc = nn.Linear(c3 * 3 * 3, 10)

    def first_layer(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28) -> (B, 16, 14, 14)
        return F.relu(self.bn1(self.conv1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = self.first_layer(x)  # (B, 16, 14, 14)
        x = F.relu(self.bn2(F.max_pool2d(self.conv2(x), 2)))  # (B, 32, 7, 7)
        x = F.relu(self.bn3(F.max_pool2d(self.conv3(x), 2)))  # (B, 64, 3, 3): the pool drops row/column 7
        return self.fc(torch.flatten(x, 1))  # (B, 576) -> (B, 10) logits


class LeNet5(nn.Module):
    """LeNet-5's layout (LeCun et al., 1998): conv 6 5x5, pool, conv 16 5x5, pool, fc 120, 84, 10.

    Adapted as usual today: padding 2 turns 28x28 digits into the 32x32 input the paper assumed;
    ReLU and max-pooling replace its scaled tanh and trained subsampling; conv2 sees all six maps
    (not the paper's connection table); the last layer returns logits, not RBF distances.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, 6, 28, 28) -> (B, 6, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (B, 16, 10, 10) -> (B, 16, 5, 5)
        x = torch.flatten(x, 1)  # (B, 400)
        x = F.relu(self.fc1(x))  # (B, 120)
        x = F.relu(self.fc2(x))  # (B, 84)
        return self.fc3(x)  # (B, 10) logits


#: The networks a recipe or a checkpoint may name.
NETWORKS: dict[str, type[nn.Module]] = {"Net": Net, "FastNet": FastNet, "ArticleNet": ArticleNet}


class Options(Mapping[str, Any]):
    """A network's constructor options as a recipe keeps them (``Recipe.network_options``): a read-only
    mapping, hashable, equal to the dict with the same items (lists become tuples, so that every
    value can be hashed)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        pairs = dict(items).items()
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in pairs))
        object.__setattr__(self, "_items", frozen)

    def __getitem__(self, key: str) -> Any:
        return dict(self._items)[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("A recipe's network options cannot change: use Recipe.changed(network_options=...).")

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return Options, (dict(self._items),)

    def __repr__(self) -> str:
        return repr(dict(self._items))


def build_network(name: str, **options: Any) -> nn.Module:
    """A new network of class ``name`` (a key of :data:`NETWORKS`) with ``options`` for its constructor."""
    if name not in NETWORKS:
        raise ValueError(f"Unknown network {name!r}; choose one of {', '.join(NETWORKS)}.")
    return NETWORKS[name](**options)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block: evaluation mode (dropout off, batch norm on its running statistics) and no
    gradients. The model's own mode comes back afterwards, even after an error."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def multiply_adds(model: nn.Module, image_size: int = 28, in_channels: int = 1) -> int:
    """Multiply-adds of one forward pass on one image (``in_channels`` x ``image_size`` x ``image_size``),
    as PyTorch's ``FlopCounterMode`` counts them (convolutions and matrix products; a multiply-add is
    two floating-point operations)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    with eval_mode(model), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, in_channels, image_size, image_size, device=device))
    return counter.get_total_flops() // 2


class LayerRow(NamedTuple):
    """One line of :func:`layer_table`: a module, what it produced, and its own parameters."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    parameters: int


def layer_table(model: nn.Module, x: torch.Tensor) -> list[LayerRow]:
    """Run ``x`` through ``model`` (eval mode, no gradients); record each leaf module's input and output.

    Forward hooks (functions PyTorch calls after a module's ``forward``, with its input and output)
    see what really happens, so the table cannot disagree with the code. Functional calls
    (``F.relu``, ``F.max_pool2d``, ``torch.flatten``) are not modules and do not appear.
    """
    rows: list[LayerRow] = []

    def record(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor, name: str) -> None:
        params = sum(p.numel() for p in mod.parameters())
        rows.append(LayerRow(name, type(mod).__name__, tuple(inputs[0].shape), tuple(output.shape), params))

    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: record(mod, i, o, n)) for n, m in leaves]
    try:
        with eval_mode(model):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return rows
