"""MNIST and Fashion-MNIST: fetched once into a cache, from a local mirror when there is one.

Where the files come from, in order:

1. the cache folder, ``MNIST_BOOK_DATA`` if set, else ``data/`` at the repository root
   (files there are checked against torchvision's MD5s; damaged ones are fetched again);
2. each entry of ``MNIST_BOOK_MIRROR`` (separated by ``os.pathsep``): a local folder holding the
   ``.gz`` files directly or in torchvision's ``<Dataset>/raw/`` layout, or a URL prefix;
3. torchvision's own mirrors, with torchvision's own download and checksum code.

A mirror is only ever read. Each file is copied to a temporary name in the cache, checked, and
only then renamed into place, so a failure leaves nothing corrupt behind.

Two ways to feed a model: :func:`mnist` returns the ``torchvision`` dataset (PIL images through
``transforms``) and :func:`mnist_loader` a ``DataLoader`` over it; :func:`load_split` returns a
whole split as one normalised tensor and :class:`Batches` iterates over it in shuffled
mini-batches, with no per-image work. Both shuffle in the same order for the same seed.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import socket
import tempfile
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import torch
from torchvision import datasets, transforms
from torchvision.datasets.utils import calculate_md5, check_integrity, download_url

from mnist_book.files import atomic_write
from mnist_book.settings import ENV_MIRROR, data_root, mirror_setting

#: Seconds to wait on any one network operation before giving up on that source.
DOWNLOAD_TIMEOUT = 8.0

DATASETS: dict[str, type[datasets.MNIST]] = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
}
#: Mean and standard deviation of the training pixels, scaled to [0, 1]
#: (chapter 1 computes the MNIST pair; ``tests/test_data.py`` checks both).
STATS: dict[str, tuple[float, float]] = {
    "mnist": (0.1307, 0.3081),
    "fashion_mnist": (0.2860, 0.3530),
}
MNIST_MEAN, MNIST_STD = STATS["mnist"]
#: What PyTorch's example and the source article do to every image: ``ToTensor`` then ``Normalize``.
TO_TENSOR_NORMALIZED = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])


class DataError(RuntimeError):
    """The data could not be had: the message says what went wrong and what to do."""


# --------------------------------------------------------------------------- where files live


def mirror_sources() -> list[str]:
    """The entries of ``MNIST_BOOK_MIRROR``, in order (empty when unset).

    Entries are separated by ``os.pathsep``; a URL keeps its own colons
    (``/srv/mnist:https://example.org:8080/mnist/`` is two entries).
    """
    value = mirror_setting()
    sep = re.escape(os.pathsep)
    url = rf"[A-Za-z][A-Za-z0-9+.\-]*://[^/{sep}]*(?::\d+)?(?:/[^{sep}]*)?"
    return [entry.strip() for entry in re.findall(rf"{url}|[^{sep}]+", value) if entry.strip()]


def _is_url(source: str) -> bool:
    return "://" in source


def _idx_complete(path: Path) -> bool:
    """Whether an extracted IDX file is as long as its header says (catches truncation)."""
    try:
        with open(path, "rb") as f:
            header = f.read(4)
            if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08:
                return False  # 0x08: unsigned bytes, the only type MNIST uses
            ndim = header[3]
            dims = f.read(4 * ndim)
        if len(dims) < 4 * ndim:
            return False
        count = 1
        for i in range(ndim):
            count *= int.from_bytes(dims[4 * i : 4 * i + 4], "big")
        return path.stat().st_size == 4 + 4 * ndim + count
    except OSError:
        return False


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    # torchvision opens URLs without a timeout; behind a firewall that can hang for minutes.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


# --------------------------------------------------------------------------- fetching


def _copy_verified(source: Path, target: Path, md5: str) -> str | None:
    """Copy ``source`` to ``target`` if its MD5 is ``md5``; return the MD5 found when it is not."""
    with atomic_write(target) as tmp:
        shutil.copyfile(source, tmp)
        found = calculate_md5(tmp)
        if found != md5:
            tmp.unlink()  # keep nothing: the target stays as it was
            return found
    return None


def _download_verified(url: str, target: Path, md5: str, timeout: float) -> None:
    """torchvision's ``download_url`` (download and MD5 check) into a scratch folder, then rename."""
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as scratch:
        with _socket_timeout(timeout):
            download_url(url, scratch, filename=target.name, md5=md5)
        os.replace(Path(scratch) / target.name, target)


def _candidates(source: str, dataset: str, filename: str) -> list[str]:
    """The places a mirror entry may hold ``filename``: directly, or in ``<Dataset>/raw/``."""
    if _is_url(source):
        prefix = source if source.endswith("/") else source + "/"
        return [f"{prefix}{filename}", f"{prefix}{dataset}/raw/{filename}"]
    folder = Path(source).expanduser()
    return [str(folder / filename), str(folder / dataset / "raw" / filename)]


def _fetch(cls: type[datasets.MNIST], filename: str, md5: str, target: Path, timeout: float) -> None:
    """Put a verified copy of ``filename`` at ``target``: mirrors first, then torchvision's."""
    dataset = cls.__name__
    mismatches: list[str] = []
    failures: list[str] = []
    for source in mirror_sources():
        for candidate in _candidates(source, dataset, filename):
            if _is_url(candidate):
                try:
                    _download_verified(candidate, target, md5, timeout)
                    return
                except (urllib.error.URLError, OSError, RuntimeError) as err:
                    failures.append(f"{candidate}: {err}")
            elif os.path.isfile(candidate):
                found = _copy_verified(Path(candidate), target, md5)
                if found is None:
                    return
                mismatches.append(f"{candidate}: expected MD5 {md5}, found {found}")
    if mismatches:
        raise DataError(
            f"The mirror copy of {dataset} {filename} is damaged (its checksum is wrong):\n  "
            + "\n  ".join(mismatches)
            + f"\nNothing was written to the cache. Replace the file in the mirror ({ENV_MIRROR})."
        )
    for mirror in cls.mirrors:
        url = f"{mirror}{filename}"
        try:
            _download_verified(url, target, md5, timeout)
            return
        except (urllib.error.URLError, OSError, RuntimeError) as err:
            failures.append(f"{url}: {err}")
    where = f"{ENV_MIRROR}={mirror_setting()!r} does not hold it" if mirror_sources() else f"{ENV_MIRROR} is not set"
    raise DataError(
        f"Could not get {dataset} {filename}: {where}, and downloading it failed "
        f"(no network, or a firewall?).\n"
        f"Set {ENV_MIRROR} to a folder that holds the MNIST .gz files (directly or as "
        f"{dataset}/raw/*.gz), e.g. {ENV_MIRROR}=/path/to/datasets.\n"
        "Tried:\n  " + "\n  ".join(failures)
    )


def ensure_files(cls: type[datasets.MNIST], root: Path, *, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Make sure ``root/<Dataset>/raw`` holds every verified ``.gz`` and its complete extraction."""
    raw = Path(root) / cls.__name__ / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for filename, md5 in cls.resources:
        gz = raw / filename
        extracted = raw / filename.removesuffix(".gz")
        if gz.exists() and not check_integrity(gz, md5):
            print(f"Cached {gz} is damaged (wrong checksum); fetching it again.")
            gz.unlink()
            extracted.unlink(missing_ok=True)
        if extracted.exists() and not _idx_complete(extracted):
            print(f"Cached {extracted} is incomplete; extracting it again.")
            extracted.unlink()
        if not gz.exists():
            _fetch(cls, filename, md5, gz, timeout)
        if not extracted.exists():
            with atomic_write(extracted) as tmp, gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return raw


# --------------------------------------------------------------------------- datasets


def _dataset(name: str, train: bool, transform: Callable | None, root: str | Path | None):
    cls = DATASETS[name]
    root = Path(root) if root is not None else data_root()
    ensure_files(cls, root)
    return cls(str(root), train=train, transform=transform, download=False)


def mnist(train: bool = True, *, transform: Callable | None = None, root: str | Path | None = None) -> datasets.MNIST:
    """The MNIST training (60,000) or test (10,000) set as ``torchvision.datasets.MNIST``."""
    return _dataset("mnist", train, transform, root)


def fashion_mnist(
    train: bool = True, *, transform: Callable | None = None, root: str | Path | None = None
) -> datasets.FashionMNIST:
    """Fashion-MNIST (Xiao et al. 2017) as ``torchvision.datasets.FashionMNIST``: same format as MNIST."""
    return _dataset("fashion_mnist", train, transform, root)


# --------------------------------------------------------------------------- the fast path


class Split(NamedTuple):
    """A whole split in memory: ``images`` (N, 1, 28, 28) float32, ``labels`` (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))

    def take(self, index: torch.Tensor) -> Split:
        """The samples at ``index`` (a tensor of positions)."""
        index = index.to(self.labels.device)
        return Split(self.images[index], self.labels[index])


def load_split(
    name: str = "mnist",
    train: bool = True,
    *,
    device: torch.device | str = "cpu",
    normalize: bool = True,
    root: str | Path | None = None,
) -> Split:
    """A whole split as one tensor on ``device``, scaled to [0, 1] and (by default) normalised.

    The same numbers ``ToTensor()`` + ``Normalize(mean, std)`` give image by image, in one
    vectorised step.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    ds = _dataset(name, train, None, root)
    images = ds.data.to(device).unsqueeze(1).float().div_(255)  # (N, 1, 28, 28)
    if normalize:
        mean, std = STATS[name]
        images.sub_(mean).div_(std)
    return Split(images, ds.targets.to(device))


def train_val_split(split: Split, val_size: int = 5000, *, seed: int = 0) -> tuple[Split, Split]:
    """Hold ``val_size`` random samples out of ``split`` for validation; the rest train."""
    if not 0 < val_size < len(split):
        raise ValueError(f"val_size must be between 1 and {len(split) - 1}, not {val_size}.")
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    return split.take(order[val_size:]), split.take(order[:val_size])


def subset_indices(total: int, n: int | None, *, seed: int = 0) -> torch.Tensor:
    """Positions of ``n`` of ``total`` samples drawn at random without replacement, the same for the
    same seed (all ``total``, in their order, when ``n`` is None or at least ``total``). The one draw
    behind :func:`subset`, the command line's DataLoader path and the benchmark's subsets."""
    if n is None or n >= total:
        return torch.arange(total)
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]


def subset(split: Split, n: int | None, *, seed: int = 0) -> Split:
    """``n`` samples drawn at random without replacement, the same ones for the same seed
    (``split`` itself when ``n`` is None or at least its size)."""
    if n is None or n >= len(split):
        return split
    return split.take(subset_indices(len(split), n, seed=seed))


class Batches:
    """Shuffled mini-batches over a :class:`Split` held in memory (on any device).

    A drop-in for a ``DataLoader`` over tensors: ``len()`` is the number of batches, and each
    pass over it draws a new order from its own generator.
    """

    def __init__(
        self, split: Split, batch_size: int, *, shuffle: bool = True, drop_last: bool = False, seed: int = 0
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        self.split, self.batch_size, self.shuffle, self.drop_last = split, batch_size, shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What decides the order of the next passes: saved in a checkpoint, so a resumed run shuffles
        as the uninterrupted one would have."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        device = self.split.labels.device
        order = torch.randperm(n, generator=self.generator).to(device) if self.shuffle else None
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, n)
            if order is None:
                yield self.split.images[lo:hi], self.split.labels[lo:hi]
            else:
                index = order[lo:hi]
                yield self.split.images[index], self.split.labels[index]


class ShuffleLikeBatches(torch.utils.data.Sampler[int]):
    """A new random order every epoch, drawn exactly as :class:`Batches` draws it.

    (``RandomSampler`` shuffles just as well, but it takes more from its generator per epoch, so
    from the second epoch on its order would differ from ``Batches``'.)
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n

    def state_dict(self) -> dict[str, torch.Tensor]:
        """As :meth:`Batches.state_dict`: the generator the next epochs' orders come from."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def mnist_loader(
    batch_size: int = 64,
    *,
    train: bool = True,
    indices: list[int] | None = None,
    seed: int = 0,
    shuffle: bool = True,
    **loader_options,
) -> torch.utils.data.DataLoader:
    """The torchvision data path of PyTorch's example and the article: PIL images through ``ToTensor``
    and ``Normalize`` one at a time, stacked into batches by a ``DataLoader``.

    ``indices``: only these images. Shuffled in the order ``Batches`` draws with the same seed, so
    both paths give the same batches. ``loader_options`` go to the ``DataLoader`` (``num_workers``...).
    """
    dataset: torch.utils.data.Dataset = mnist(train, transform=TO_TENSOR_NORMALIZED)
    if indices is not None:
        dataset = torch.utils.data.Subset(dataset, list(indices))
    sampler = ShuffleLikeBatches(len(dataset), seed) if shuffle else None
    # A generator of its own: otherwise every pass would draw its workers' seed from torch's global
    # generator, and the dropout masks would differ from a run on Batches.
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, generator=generator, **loader_options
    )
