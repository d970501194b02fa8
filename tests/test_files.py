"""Files written all at once or not at all (mnist_book.files)."""

from __future__ import annotations

import pytest
import torch

from mnist_book.files import atomic_save, atomic_write


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
