"""mnist_book.settings and mnist_book.devices: the environment variables, read in one place, their bad
values, the fast-mode sizes, seeding, and the device they choose."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_book import devices
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
    assert devices.get_device() == torch.device("cpu")
    monkeypatch.setenv(s.ENV_DEVICE, "auto")
    assert devices.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(s.ENV_DEVICE, "gpu")
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda', not 'gpu'"):
        devices.get_device()


def test_cuda_request_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(s.ENV_DEVICE, "cuda")
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        devices.get_device()


def test_pytest_device_option_reaches_the_settings(request):
    """`pytest --device X` is what the settings report, so no test silently runs elsewhere; without
    the option, MNIST_BOOK_DEVICE (or auto) decides."""
    option = request.config.getoption("--device") or s.device_setting()
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert devices.get_device().type == (auto if option == "auto" else option)


def test_only_the_settings_read_the_environment():
    package = Path(s.__file__).parent
    readers = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py") if "os.environ" in p.read_text())
    assert readers == ["settings.py"]


def test_data_and_mirror_settings(tmp_path, monkeypatch):
    monkeypatch.setenv(s.ENV_DATA, str(tmp_path))
    assert s.data_root() == tmp_path
    monkeypatch.delenv(s.ENV_DATA)
    assert s.data_root() == s.REPO_ROOT / "data"
    monkeypatch.setenv(s.ENV_MIRROR, "/a:/b")
    assert s.mirror_setting() == "/a:/b"
    monkeypatch.delenv(s.ENV_MIRROR)
    assert s.mirror_setting() == ""


def test_fast_sizes_are_one_table(monkeypatch):
    assert s.fast_size("train", True) == 5000 and s.fast_size("train", False) is None
    assert all(fast is None or full is None or fast < full for fast, full in s.FAST_SIZES.values())
    monkeypatch.setenv(s.ENV_FAST, "1")
    assert s.settings().size("budget") == s.FAST_SIZES["budget"][0]
    monkeypatch.setenv(s.ENV_FAST, "0")
    assert s.settings().size("budget") == s.FAST_SIZES["budget"][1] and s.settings().mode == "full"
    with pytest.raises(KeyError, match="No size named 'trian'"):
        s.fast_size("trian", True)


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    s.seed_everything(7)
    first = draw()
    s.seed_everything(7)
    assert draw() == first
    s.seed_everything(8)
    assert draw() != first


def test_setup_seeds_and_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv(s.ENV_FAST, "1")
    cfg = s.setup(3)
    first = torch.rand(1)
    s.setup(3)
    assert torch.equal(torch.rand(1), first) and cfg.fast and cfg.mode == "fast"
    assert capsys.readouterr().out.count("\n") == 2
