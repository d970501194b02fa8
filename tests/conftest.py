"""Fixtures shared by the unit tests (the options for every test and notebook are in ../conftest.py),
and the browser tests' web server and browser (``tests/browser.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from mnist_book.data import Split, load_split, subset
from mnist_book.devices import get_device
from tests.browser import browser, server  # noqa: F401  (fixtures for test_html.py and test_a11y.py)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The test runs PyTorch on one CPU thread. Small training loops run this way: on a machine busy
    with other work, two threads waiting for each other at every operation can be many times slower;
    and runs recorded on one thread are reproduced bit for bit on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny() -> Split:
    """192 MNIST training images: enough for a few steps of every recipe."""
    return subset(load_split("mnist", train=True), 192, seed=1)


@pytest.fixture(scope="session")
def same_weights():
    """``same_weights(a, b)`` asserts two models hold the same weights: bit for bit on the CPU, within
    float32 rounding on a GPU (whose kernels may sum in another order from run to run)."""

    def check(a: torch.nn.Module, b: torch.nn.Module) -> None:
        exact = get_device().type == "cpu"
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            if exact:
                assert torch.equal(x.cpu(), y.cpu()), name
            else:
                torch.testing.assert_close(x.cpu(), y.cpu(), rtol=1e-5, atol=1e-6, msg=name)

    return check
