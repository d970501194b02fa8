"""The book's network in the reader's browser: exported to ONNX, run by ONNX Runtime Web.

:func:`reader_run` trains the network the HTML book's digit pad runs (the fast recipe on all 60,000
training images, in seconds, in the fast build too); :func:`export_reader` writes it as an ONNX file
with two outputs, the class logits and the first convolution layer's activations (what the pad draws
as feature maps); :func:`load_reader` opens such a file with ONNX Runtime (Python), refusing with a
clear :class:`ReaderFileError` a file that is missing, truncated, or not the book's reader;
:func:`read_digits` runs it and :func:`compare_runtimes` scores it against PyTorch.

Chapter 7.3 exports to :func:`reader_path` (in the data cache); the book's Sphinx extension
(``book/_ext/offline_assets.py``) copies the file to the HTML book's ``_static/``, where
``book/_static/digit-pad.js`` runs it with the same preprocessing as :mod:`mnist_book.preprocess`.
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn as nn

from mnist_book.data import Split, load_split
from mnist_book.evaluate import predict
from mnist_book.files import atomic_write
from mnist_book.models import FastNet
from mnist_book.runs import CachedRun, cached_fit
from mnist_book.settings import data_root
from mnist_book.tables import Table
from mnist_book.train import FAST_RECIPE, build_model

#: The file name the page loads (from ``_static/``).
MODEL_NAME = "digit-reader.onnx"
#: The reader's contract with the page: one input, two outputs, these names and shapes.
INPUT, OUTPUTS = "image", ("logits", "conv1")


class ReaderFileError(ValueError):
    """An ONNX file that is missing, unreadable, or not the book's digit reader."""


class RuntimeMissingError(RuntimeError):
    """The ONNX tools (``onnx``, ``onnxscript``, ``onnxruntime``) are not installed, or ONNX Runtime
    cannot run the file: the message says which and what to do."""


def _onnx_module(name: str) -> Any:
    """``import name``, or a :class:`RuntimeMissingError` saying how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise RuntimeMissingError(
            f"Exporting and checking the digit reader needs the package {name!r}, which is not installed "
            f"({err}). Install the book's requirements (pip install -r requirements.txt), or just "
            f"pip install {name}."
        ) from None


def reader_path() -> Path:
    """Where chapter 7.3 exports the reader and the book's build picks it up: ``<data cache>/web/``."""
    return data_root() / "web" / MODEL_NAME


def reader_run(*, device: torch.device | str | None = None, progress: bool = True) -> CachedRun:
    """The network the digit pad runs: :data:`~mnist_book.train.FAST_RECIPE` (one epoch of
    ``FastNet``) on all 60,000 training images, from the data cache when it is there. The same run
    in the fast and the full build, so that every build serves the same pad."""
    train = load_split("mnist", train=True, device=device or "cpu")
    torch.manual_seed(FAST_RECIPE.seed)
    model = build_model(FAST_RECIPE)
    return cached_fit("digit-reader", FAST_RECIPE, train, mode="full", model=model, device=device, progress=progress)


class DigitReader(nn.Module):
    """A trained ``FastNet`` that also returns its first layer's feature maps:
    ``(B, 1, 28, 28)`` -> ``(logits (B, 10), conv1 (B, C, 14, 14))``, conv1 after batch norm and ReLU."""

    def __init__(self, net: FastNet) -> None:
        super().__init__()
        if not isinstance(net, FastNet):
            raise TypeError(f"The digit reader wraps a FastNet, not a {type(net).__name__}.")
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x), self.net.first_layer(x)  # maps (B, C, 14, 14): what the pad draws


def export_reader(net: FastNet, path: str | Path) -> Path:
    """Write ``net`` (in eval mode, on the CPU) as an ONNX file any batch size can run through; all of
    it or nothing (an interrupted export leaves the previous file as it was). ``net`` is not changed."""
    path = Path(path)
    for needed in ("onnx", "onnxscript"):  # torch.onnx's exporter imports them
        _onnx_module(needed)
    reader = DigitReader(copy.deepcopy(net)).cpu().eval()
    example = torch.zeros(2, 1, 28, 28)  # a batch of 2: 1 would be taken as a fixed size
    with atomic_write(path) as tmp:
        torch.onnx.export(  # traces the network with torch.export, writes the graph with ONNX Script
            reader,
            (example,),
            str(tmp),
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),  # any batch size
            opset_version=18,
            dynamo=True,
            external_data=False,  # one self-contained file: the weights inside
            verbose=False,
        )
    return path


def load_reader(path: str | Path) -> Any:
    """An ONNX Runtime session for the book's digit reader at ``path``; :class:`ReaderFileError` when
    the file is missing, damaged, or a network with other inputs or outputs."""
    onnx, onnxruntime = _onnx_module("onnx"), _onnx_module("onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise ReaderFileError(f"There is no ONNX file at {path}: export one with mnist_book.web.export_reader.")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as err:  # truncated protobuf, not ONNX at all, an invalid graph
        raise ReaderFileError(
            f"{path} is not a readable ONNX model: it may be truncated (an interrupted copy) or not ONNX at all. "
            f"Export it again. ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    inputs = [(i.name, [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim]) for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if [name for name, _ in inputs] != [INPUT] or tuple(outputs) != OUTPUTS or inputs[0][1][1:] != [1, 28, 28]:
        raise ReaderFileError(
            f"{path} is an ONNX model, but not the book's digit reader: it takes {inputs} and gives {outputs}, "
            f"where the page expects one input {INPUT!r} of shape (N, 1, 28, 28) and the outputs {list(OUTPUTS)}."
        )
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # an operator or opset this ONNX Runtime does not know, a broken install
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RuntimeMissingError(
            f"ONNX Runtime {getattr(onnxruntime, '__version__', '?')} could not open {path}: {first}. "
            "Install the version requirements.txt asks for, or export the reader again."
        ) from err


def read_digits(session: Any, images: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reader's logits (N, 10) and first-layer maps for normalised images (N, 1, 28, 28)."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    logits, maps = session.run(list(OUTPUTS), {INPUT: x.astype(np.float32)})
    return logits, maps


class RuntimeComparison(NamedTuple):
    """One network in PyTorch and, exported, in ONNX Runtime, on the same images."""

    images: int
    torch_accuracy: float
    onnx_accuracy: float
    disagreements: int  # images the two runtimes predict differently
    max_logit_difference: float

    def table(self) -> Table:
        return Table(
            ["runtime", "test accuracy", "predictions unlike PyTorch's", "largest logit difference"],
            [
                ["PyTorch", f"{self.torch_accuracy:.2%}", "", ""],
                [
                    "ONNX Runtime",
                    f"{self.onnx_accuracy:.2%}",
                    f"{self.disagreements:,} of {self.images:,}",
                    f"{self.max_logit_difference:.1e}",
                ],
            ],
            align="lrrr",
        )

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def compare_runtimes(model: nn.Module, session: Any, data: Split, *, batch_size: int = 1000) -> RuntimeComparison:
    """``model`` in PyTorch and its export (``session``) in ONNX Runtime on the same images: both
    accuracies, how many predictions differ, and the largest difference between their logits."""
    torch_logits = predict(model, data).logits.numpy()
    onnx_logits = np.concatenate(
        [read_digits(session, data.images[lo : lo + batch_size])[0] for lo in range(0, len(data), batch_size)]
    )
    labels = data.labels.cpu().numpy()
    torch_pred, onnx_pred = torch_logits.argmax(1), onnx_logits.argmax(1)
    return RuntimeComparison(
        images=len(labels),
        torch_accuracy=float((torch_pred == labels).mean()),
        onnx_accuracy=float((onnx_pred == labels).mean()),
        disagreements=int((torch_pred != onnx_pred).sum()),
        max_logit_difference=float(np.abs(torch_logits - onnx_logits).max()),
    )
