"""mnist_book.data: known facts about MNIST as anchors, the mirror setting, and bad inputs."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import torch
from torchvision import datasets, transforms

from mnist_book import data
from mnist_book.devices import get_device
from mnist_book.settings import ENV_MIRROR

MNIST_FILES = [name for name, _ in datasets.MNIST.resources]


def _mirror_folder() -> Path:
    """A local folder holding the real MNIST files (the first folder in MNIST_BOOK_MIRROR)."""
    for source in data.mirror_sources():
        folder = Path(source).expanduser()
        for candidate in (folder, folder / "MNIST" / "raw"):
            if all((candidate / name).is_file() for name in MNIST_FILES):
                return candidate
    pytest.skip("these tests need MNIST_BOOK_MIRROR to name a local folder with the MNIST files")


@pytest.fixture(scope="module")
def train_split():
    return data.load_split("mnist", train=True, device=get_device(), normalize=False)


# --------------------------------------------------------------------------- facts about MNIST


def test_split_sizes():
    assert len(data.mnist(train=True)) == 60_000
    assert len(data.mnist(train=False)) == 10_000
    assert len(data.fashion_mnist(train=True)) == 60_000
    assert len(data.fashion_mnist(train=False)) == 10_000


def test_first_training_labels(train_split):
    assert train_split.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_class_counts(train_split):
    # Published counts of the MNIST training and test sets, digits 0..9.
    train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(train_split.labels.cpu(), minlength=10).tolist() == train_counts
    test = data.load_split("mnist", train=False, normalize=False)
    assert torch.bincount(test.labels, minlength=10).tolist() == test_counts


def test_training_pixel_statistics(train_split):
    pixels = train_split.images.double()
    assert train_split.images.min() == 0 and train_split.images.max() == 1
    assert round(pixels.mean().item(), 4) == 0.1307 == data.MNIST_MEAN
    assert round(pixels.std().item(), 4) == 0.3081 == data.MNIST_STD


def test_fashion_statistics_constant():
    pixels = data.load_split("fashion_mnist", train=True, normalize=False).images.double()
    mean, std = data.STATS["fashion_mnist"]
    assert round(pixels.mean().item(), 4) == mean
    assert round(pixels.std().item(), 4) == std


def test_fast_path_equals_torchvision_transforms():
    """load_split gives exactly what ToTensor + Normalize give image by image."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((data.MNIST_MEAN,), (data.MNIST_STD,))])
    ds = data.mnist(train=False, transform=transform)
    split = data.load_split("mnist", train=False)
    assert split.images.shape == (10_000, 1, 28, 28) and split.images.dtype == torch.float32
    assert split.labels.dtype == torch.int64
    for i in (0, 1, 4321, 9999):
        image, label = ds[i]
        torch.testing.assert_close(split.images[i], image, rtol=0, atol=1e-6)
        assert split.labels[i].item() == label
    normalised = split.images.double()
    assert abs(data.load_split("mnist", train=True).images.double().mean().item()) < 1e-3
    assert normalised.min().item() == pytest.approx(-data.MNIST_MEAN / data.MNIST_STD, abs=1e-6)


def test_load_split_on_the_chosen_device():
    device = get_device()
    split = data.load_split("mnist", train=False, device=device)
    assert split.images.device.type == device.type and split.labels.device.type == device.type


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="Unknown dataset 'kmnist'"):
        data.load_split("kmnist")


# --------------------------------------------------------------------------- splits and batches


def test_train_val_split_is_disjoint_and_reproducible():
    split = data.Split(torch.arange(100).float().view(100, 1, 1, 1), torch.arange(100))
    train, val = data.train_val_split(split, val_size=20, seed=3)
    assert len(train) == 80 and len(val) == 20
    assert sorted(train.labels.tolist() + val.labels.tolist()) == list(range(100))
    again, _ = data.train_val_split(split, val_size=20, seed=3)
    assert torch.equal(train.labels, again.labels)
    other, _ = data.train_val_split(split, val_size=20, seed=4)
    assert not torch.equal(train.labels, other.labels)
    with pytest.raises(ValueError, match="val_size"):
        data.train_val_split(split, val_size=100)


def test_batches_cover_each_sample_once_per_epoch():
    n = 103
    split = data.Split(torch.arange(n).float().view(n, 1, 1, 1), torch.arange(n)).to(get_device())
    batches = data.Batches(split, batch_size=10, seed=0)
    assert len(batches) == 11
    first = torch.cat([y for _, y in batches]).cpu()
    second = torch.cat([y for _, y in batches]).cpu()
    assert sorted(first.tolist()) == list(range(n)) == sorted(second.tolist())
    assert not torch.equal(first, second), "each epoch should draw a new order"
    for x, y in batches:
        assert torch.equal(x.view(-1), y.float())  # images stay with their labels
    assert [len(y) for _, y in data.Batches(split, 10, drop_last=True)] == [10] * 10
    ordered = torch.cat([y for _, y in data.Batches(split, 10, shuffle=False)]).cpu()
    assert ordered.tolist() == list(range(n))
    with pytest.raises(ValueError, match="batch_size"):
        data.Batches(split, 0)


# --------------------------------------------------------------------------- the mirror setting


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_mirror_layouts(layout, tmp_path, monkeypatch):
    source = _mirror_folder()
    mirror = tmp_path / "mirror"
    target = mirror if layout == "flat" else mirror / "MNIST" / "raw"
    target.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copy(source / name, target / name)
    mirror.chmod(0o555)  # read-only: nothing may be written into a mirror
    monkeypatch.setenv(ENV_MIRROR, os.pathsep.join([str(tmp_path / "missing"), str(mirror)]))
    ds = data.mnist(train=False, root=tmp_path / "cache")
    assert len(ds) == 10_000 and ds.targets[:3].tolist() == [7, 2, 1]
    assert sorted(p.name for p in target.iterdir()) == sorted(MNIST_FILES)


def test_damaged_mirror_file_gives_clear_error_and_leaves_cache_clean(tmp_path, monkeypatch):
    source = _mirror_folder()
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in MNIST_FILES:
        shutil.copy(source / name, bad / name)
    damaged = bad / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    found = hashlib.md5(damaged.read_bytes()).hexdigest()
    expected = dict(datasets.MNIST.resources)["t10k-images-idx3-ubyte.gz"]
    cache = tmp_path / "cache"

    monkeypatch.setenv(ENV_MIRROR, str(bad))
    with pytest.raises(data.DataError) as info:
        data.mnist(train=False, root=cache)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message and expected in message and found in message
    raw = cache / "MNIST" / "raw"
    assert not (raw / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in raw.iterdir() if "partial" in p.name or p.name.startswith(".")]

    monkeypatch.setenv(ENV_MIRROR, str(source))  # a correct mirror afterwards works
    assert len(data.mnist(train=False, root=cache)) == 10_000


def test_truncated_cache_files_are_replaced(tmp_path, monkeypatch):
    source = _mirror_folder()
    monkeypatch.setenv(ENV_MIRROR, str(source))
    cache = tmp_path / "cache"
    data.mnist(train=False, root=cache)
    raw = cache / "MNIST" / "raw"
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:1000])
    extracted = raw / "t10k-images-idx3-ubyte"
    extracted.write_bytes(extracted.read_bytes()[:5000])

    ds = data.mnist(train=False, root=cache)
    assert ds.data.shape == (10_000, 28, 28) and len(ds.targets) == 10_000
    assert hashlib.md5(gz.read_bytes()).hexdigest() == dict(datasets.MNIST.resources)[gz.name]
    with gzip.open(source / "t10k-images-idx3-ubyte.gz") as f:
        assert extracted.read_bytes() == f.read()


class _SilentHandler(http.server.BaseHTTPRequestHandler):
    """Accepts a connection and never answers: what a firewall that drops traffic looks like."""

    def do_GET(self):
        time.sleep(60)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def unreachable_mirrors(monkeypatch):
    """torchvision's mirrors replaced by one closed port and one server that never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SilentHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(
        datasets.MNIST,
        "mirrors",
        [f"http://127.0.0.1:{closed_port}/", f"http://127.0.0.1:{server.server_address[1]}/"],
    )
    yield
    server.shutdown()


def test_no_network_and_no_mirror_fails_fast_naming_the_setting(tmp_path, monkeypatch, unreachable_mirrors):
    monkeypatch.delenv(ENV_MIRROR, raising=False)
    start = time.monotonic()
    with pytest.raises(data.DataError) as info:
        data.mnist(train=False, root=tmp_path / "cache")
    elapsed = time.monotonic() - start
    assert elapsed < 30, f"gave up only after {elapsed:.0f} s"
    assert "MNIST_BOOK_MIRROR" in str(info.value) and "is not set" in str(info.value)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_url_mirror_is_tried_before_torchvision(tmp_path, monkeypatch, unreachable_mirrors):
    source = _mirror_folder()
    served = tmp_path / "served"
    shutil.copytree(source, served / "MNIST" / "raw")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv(ENV_MIRROR, f"http://127.0.0.1:{server.server_address[1]}/")
        ds = data.mnist(train=False, root=tmp_path / "cache")
        assert len(ds) == 10_000
    finally:
        server.shutdown()


def test_mirror_entries_split_on_pathsep_but_keep_url_colons(monkeypatch):
    entries = ["/srv/mnist", "https://example.org:8080/mnist/", "http://127.0.0.1:4000/", "~/x"]
    monkeypatch.setenv(ENV_MIRROR, os.pathsep.join(entries))
    assert data.mirror_sources() == entries
    monkeypatch.setenv(ENV_MIRROR, "")
    assert data.mirror_sources() == []
