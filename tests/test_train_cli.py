"""python -m mnist_book.train: training from the command line, its checkpoint and JSON, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mnist_book.train_cli as train_cli
from mnist_book.checkpoints import load_checkpoint, restore_model
from mnist_book.models import Net
from mnist_book.train import PYTORCH_EXAMPLE_RECIPE
from mnist_book.train_cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    out, summary = tmp_path / "cli.pt", tmp_path / "result.json"
    env = {**os.environ, "MNIST_BOOK_DEVICE": "cpu", "MNIST_BOOK_FAST": "1"}
    argv = ["--subset", "256", "--output", str(out), "--json", str(summary), "--no-progress"]
    result = subprocess.run(
        [sys.executable, "-m", "mnist_book.train", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    ckpt = load_checkpoint(out)
    printed = result.stdout.split("Test accuracy:")[1].split("%")[0]
    assert float(printed) == pytest.approx(100 * ckpt["test_accuracy"], abs=0.005)
    assert ckpt["mode"] == "fast" and ckpt["epoch"] == 1 and ckpt["train_size"] == 256  # fast mode from the setting
    assert isinstance(restore_model(ckpt), Net)
    written = json.loads(summary.read_text())
    assert written["test_accuracy"] == ckpt["test_accuracy"] and written["test_images"] == 1000


def test_cli_dataloader_path_and_named_recipe(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_BOOK_DEVICE", "cpu")
    acc = main(["--fast", "--subset", "128", "--data", "loader", "--output", str(tmp_path / "l.pt"), "--no-progress"])
    assert f"{100 * acc:.2f}%" in capsys.readouterr().out
    acc = main(["--recipe", "fast", "--fast", "--subset", "1024", "--output", str(tmp_path / "f.pt"), "--no-progress"])
    ckpt = load_checkpoint(tmp_path / "f.pt")
    assert ckpt["architecture"] == "FastNet" and ckpt["recipe"]["label_smoothing"] == 0.1
    assert acc > 0.25  # 8 steps of the fast recipe: far above chance (10%), far from done


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "-1"], "--lr: must be positive"),
        (["--lr", "fast"], "--lr: expected a number"),
        (["--epochs", "0"], "--epochs: must be positive"),
        (["--momentum", "1.5"], "--momentum: must be in [0, 1)"),
        (["--optimizer", "rmsprop"], "--optimizer: invalid choice"),
        (["--gamma", "2"], "--gamma: must be in (0, 1]"),
        (["--batch-size", "6.5"], "--batch-size: expected a whole number"),
        (["--recipe", "best"], "--recipe: invalid choice"),
        (["--recipe", "tuned", "--data", "loader"], "needs --data batches"),
        (["--fast", "--full"], "not allowed with argument"),
    ],
)
def test_cli_bad_flags_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_output_folder_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--fast", "--output", str(tmp_path)])
    assert "is a folder" in capsys.readouterr().err


def test_recipe_from_flags():
    args = train_cli.build_parser().parse_args(["--recipe", "pytorch-example", "--gamma", "0.5", "--lr", "0.5"])
    recipe = train_cli.recipe_from_args(args, fast=False)
    assert recipe == PYTORCH_EXAMPLE_RECIPE.changed(gamma=0.5, lr=0.5)
    assert train_cli.recipe_from_args(args, fast=True).epochs == 1
