"""Files written all at once or not at all, the cache of results, and fingerprints."""

from __future__ import annotations

import pytest
import torch

from mnist_book.checkpoints import cache_key, cached, fingerprint
from mnist_book.files import atomic_save, atomic_write
from mnist_book.models import Net
from mnist_book.settings import ENV_RETRAIN


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "sub" / "result.txt"
    with atomic_write(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            tmp.write_text("half of the seco")
            raise KeyboardInterrupt  # Ctrl-C in the middle of a save
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["result.txt"]  # no temporary file left behind
    atomic_save({"x": torch.arange(3)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.arange(3))
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_cache_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_BOOK_DATA", str(tmp_path))
    monkeypatch.delenv(ENV_RETRAIN, raising=False)
    calls = []

    def compute():
        calls.append(1)
        return {"acc": 0.5, "weights": torch.arange(3)}

    key = cache_key("demo", "fast", {"lr": 0.1})
    assert cached(key, compute)["acc"] == 0.5
    again = cached(key, compute)
    assert len(calls) == 1 and torch.equal(again["weights"], torch.arange(3))
    assert cache_key("demo", "fast", {"lr": 0.2}) != key and cache_key("demo", "full", {"lr": 0.1}) != key
    path = next(tmp_path.rglob(f"{key}.pt"))
    path.write_bytes(b"garbage")  # a damaged file is computed again
    assert cached(key, compute)["acc"] == 0.5 and len(calls) == 2
    monkeypatch.setenv(ENV_RETRAIN, "1")  # and everything, when asked to
    cached(key, compute)
    assert len(calls) == 3


def test_fingerprint_sees_any_change():
    torch.manual_seed(0)
    net = Net()
    before = fingerprint(net)
    with torch.no_grad():
        net.fc2.bias[3] += 1e-6
    assert fingerprint(net) != before
    assert fingerprint({"a": 1, "b": [2, 3]}) == fingerprint({"b": [2, 3], "a": 1})  # key order does not matter
    assert fingerprint(torch.zeros(3)) != fingerprint(torch.zeros(3, dtype=torch.int32))


def test_fingerprint_of_code_changes_with_the_code():
    def version_a(x):
        return x + 1

    def version_b(x):
        return x + 2

    assert fingerprint(version_a) != fingerprint(version_b)
