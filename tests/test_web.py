"""The digit pad's network (mnist_book.web): exported to ONNX, run by ONNX Runtime, held to PyTorch.

The page runs the file with ONNX Runtime Web, the same engine compiled to WebAssembly; the browser
tests (tests/test_html.py) check the page itself.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnist_book.data import load_split, subset
from mnist_book.devices import get_device
from mnist_book.models import FastNet, Net
from mnist_book.train import FAST_RECIPE, fit
from mnist_book.web import (
    INPUT,
    OUTPUTS,
    DigitReader,
    ReaderFileError,
    RuntimeMissingError,
    compare_runtimes,
    export_reader,
    load_reader,
    read_digits,
)

pytest.importorskip("onnxruntime")
DEVICE = get_device()


@pytest.fixture(scope="module")
def trained() -> FastNet:
    """A FastNet trained for one epoch on 6,000 images: enough to read most test digits."""
    train = subset(load_split("mnist", train=True, device=DEVICE), 6000, seed=0)
    torch.manual_seed(0)
    model, _ = fit(FAST_RECIPE, train, device=DEVICE, progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    return export_reader(trained, tmp_path_factory.mktemp("web") / "digit-reader.onnx")


@pytest.fixture(scope="module")
def test_images():
    return subset(load_split("mnist", train=False), 2000, seed=3)


def test_onnx_runtime_reads_test_digits_as_pytorch_does(trained, exported, test_images):
    session = load_reader(exported)
    scores = compare_runtimes(trained, session, test_images)
    assert scores.images == 2000
    assert scores.torch_accuracy > 0.9, "the fixture's network should read most digits"
    assert scores.disagreements == 0
    assert scores.onnx_accuracy == scores.torch_accuracy
    assert scores.max_logit_difference < 1e-4
    # The independent check of the logits themselves, and of the second output: the first layer's
    # maps after batch norm and ReLU, computed here from the layers' weights with torch.nn.functional.
    x = test_images.images[:64]
    logits, maps = read_digits(session, x)
    net = trained.cpu()
    with torch.no_grad():
        expected_maps = F.relu(
            F.batch_norm(
                F.conv2d(x, net.conv1.weight, stride=2, padding=2),
                net.bn1.running_mean,
                net.bn1.running_var,
                net.bn1.weight,
                net.bn1.bias,
                eps=net.bn1.eps,
            )
        )
        expected_logits = net(x)
    assert maps.shape == (64, 16, 14, 14)
    np.testing.assert_allclose(maps, expected_maps.numpy(), atol=1e-4)
    np.testing.assert_allclose(logits, expected_logits.numpy(), atol=1e-4)
    assert (maps >= 0).all()


def test_the_file_takes_any_batch_size(exported, test_images):
    session = load_reader(exported)
    one, _ = read_digits(session, test_images.images[:1])
    many, _ = read_digits(session, test_images.images[:7])
    assert one.shape == (1, 10) and many.shape == (7, 10)
    np.testing.assert_allclose(one[0], many[0], atol=1e-5)


def test_export_is_self_contained_and_leaves_the_network_alone(trained, exported, tmp_path):
    import onnx

    model = onnx.load(str(exported))
    assert [i.name for i in model.graph.input] == [INPUT]
    assert tuple(o.name for o in model.graph.output) == OUTPUTS
    assert not list(tmp_path.iterdir()) and len(list(exported.parent.iterdir())) == 1, "no side files"
    assert 30_000 < exported.stat().st_size < 1_000_000  # the weights are in the file (about 120 kB)
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    trained.train()
    export_reader(trained, tmp_path / "again.onnx")
    assert trained.training, "export_reader must not switch the caller's network to eval mode"
    trained.eval()
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())


def test_a_truncated_file_is_refused_clearly(exported, tmp_path):
    data = exported.read_bytes()
    for cut in (len(data) // 2, 100):
        broken = tmp_path / f"cut{cut}.onnx"
        broken.write_bytes(data[:cut])
        with pytest.raises(ReaderFileError, match="truncated"):
            load_reader(broken)


def test_not_onnx_and_missing_files_are_refused_clearly(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("Dear diary, today I exported a network.")
    with pytest.raises(ReaderFileError, match="not a readable ONNX model"):
        load_reader(text)
    with pytest.raises(ReaderFileError, match="There is no ONNX file"):
        load_reader(tmp_path / "nothing.onnx")


def test_another_network_is_refused_clearly(tmp_path):
    other = tmp_path / "net.onnx"
    torch.onnx.export(
        Net().eval(), (torch.zeros(1, 1, 28, 28),), str(other), output_names=["y"], dynamo=True, verbose=False
    )
    with pytest.raises(ReaderFileError, match="not the book's digit reader"):
        load_reader(other)


def test_only_fastnet_can_be_exported_and_a_failed_export_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="FastNet"):
        export_reader(Net(), tmp_path / "net.onnx")
    with pytest.raises(TypeError, match="FastNet"):
        DigitReader(Net())
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_tools_are_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: importing it fails
    with pytest.raises(RuntimeMissingError, match="needs the package 'onnxruntime'.*pip install"):
        load_reader(tmp_path / "reader.onnx")


def test_a_session_that_fails_is_one_clear_error(monkeypatch, exported):
    import onnxruntime

    def refuse(*args, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model failed\nmore detail")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    with pytest.raises(RuntimeMissingError, match="could not open .*INVALID_GRAPH : Load model failed\\. Install"):
        load_reader(exported)
