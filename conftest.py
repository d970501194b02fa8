"""Test options shared by the unit tests (tests/) and the notebooks (book/, run by nbval).

- plain ``pytest``: fast mode (``MNIST_BOOK_FAST=1``: small subsets, short schedules);
- ``pytest --full``: the notebooks' real schedules;
- ``pytest --device cuda``: every test and notebook on CUDA, refused where there is none;
- ``pytest -m "not slow"``: the quick loop, without the notebooks, the browser tests and the tests
  that train on the full data or run the benchmark.

The options are passed on as environment variables, so the notebook kernels nbval starts
see them too.
"""

import os

import pytest

from mnist_book.settings import ENV_DEVICE, ENV_FAST


def pytest_addoption(parser):
    group = parser.getgroup("mnist_book")
    group.addoption("--full", action="store_true", help="run the notebooks in full mode (real schedules)")
    group.addoption(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=None,
        help="device for every test and notebook (default: MNIST_BOOK_DEVICE, else auto)",
    )


def pytest_configure(config):
    os.environ[ENV_FAST] = "0" if config.getoption("--full") else "1"
    device = config.getoption("--device")
    if device is not None:
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise pytest.UsageError(
                    "--device cuda: PyTorch sees no CUDA device on this machine, so nothing would "
                    "run on a GPU. Run plain `pytest` (or --device cpu) here."
                )
        os.environ[ENV_DEVICE] = device


def pytest_collection_modifyitems(config, items):
    """Every notebook (nbval) and every browser test is slow: `pytest -m "not slow"` leaves them out."""
    for item in items:
        if item.path.suffix == ".ipynb" or item.path.name in ("test_html.py", "test_a11y.py"):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config):
    from mnist_book.settings import settings

    return f"mnist_book: {settings()}, {ENV_DEVICE}={os.environ.get(ENV_DEVICE, 'auto')}"
