"""Fixtures shared by the unit tests (the options for every test and notebook are in ../conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The test runs PyTorch on one CPU thread. Small training loops run this way: on a machine busy
    with other work, two threads waiting for each other at every operation can be many times slower;
    and runs recorded on one thread are reproduced bit for bit on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
