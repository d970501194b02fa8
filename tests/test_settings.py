"""mnist_book.settings: the two environment variables, seeding, and their bad values."""

import random

import numpy as np
import pytest
import torch

from mnist_book import settings as s


@pytest.mark.parametrize("value, fast", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode_values(monkeypatch, value, fast):
    monkeypatch.setenv(s.ENV_FAST, value)
    assert s.is_fast() is fast
    assert s.settings().pick(fast="small", full="real") == ("small" if fast else "real")


def test_fast_mode_unset_is_full(monkeypatch):
    monkeypatch.delenv(s.ENV_FAST, raising=False)
    assert s.is_fast() is False


def test_bad_fast_value(monkeypatch):
    monkeypatch.setenv(s.ENV_FAST, "quick")
    with pytest.raises(ValueError, match="MNIST_BOOK_FAST must be 1"):
        s.is_fast()


def test_device_choices(monkeypatch):
    monkeypatch.setenv(s.ENV_DEVICE, "cpu")
    assert s.get_device() == torch.device("cpu")
    monkeypatch.setenv(s.ENV_DEVICE, "auto")
    assert s.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(s.ENV_DEVICE, "gpu")
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda', not 'gpu'"):
        s.get_device()


def test_cuda_request_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(s.ENV_DEVICE, "cuda")
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        s.get_device()


def test_pytest_device_option_reaches_the_settings(request):
    """`pytest --device X` is what the settings report, so no test silently runs elsewhere."""
    option = request.config.getoption("--device")
    if option in ("cpu", "cuda"):
        assert s.get_device().type == option


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    s.seed_everything(7)
    first = draw()
    s.seed_everything(7)
    assert draw() == first
    s.seed_everything(8)
    assert draw() != first


def test_setup_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv(s.ENV_FAST, "1")
    cfg = s.setup(3)
    assert cfg.seed == 3 and cfg.fast
    assert capsys.readouterr().out.count("\n") == 1
