"""The command lines honour the book's settings: the device and fast mode come from
MNIST_BOOK_DEVICE and MNIST_BOOK_FAST unless a flag says otherwise, and a bad value gets the
settings' own message, not a traceback."""

from __future__ import annotations

import pytest
import torch

import mnist_book.bench.__main__ as bench_cli
import mnist_book.train_cli as train_cli
from mnist_book.cli import in_range, positive, settings_from

PARSERS = {"train": train_cli.build_parser, "bench": bench_cli.build_parser}


@pytest.mark.parametrize("tool", PARSERS)
def test_device_and_mode_come_from_the_settings(tool, monkeypatch):
    parser = PARSERS[tool]()
    monkeypatch.setenv("MNIST_BOOK_DEVICE", "cpu")
    monkeypatch.setenv("MNIST_BOOK_FAST", "1")
    assert settings_from(parser, parser.parse_args([])) == (torch.device("cpu"), True)
    assert settings_from(parser, parser.parse_args(["--full"])) == (torch.device("cpu"), False)
    monkeypatch.setenv("MNIST_BOOK_FAST", "0")
    assert settings_from(parser, parser.parse_args([]))[1] is False
    monkeypatch.setenv("MNIST_BOOK_DEVICE", "cuda")  # a flag wins over the setting
    assert settings_from(parser, parser.parse_args(["--device", "cpu"]))[0] == torch.device("cpu")


@pytest.mark.parametrize("tool", PARSERS)
@pytest.mark.parametrize(
    "env, message",
    [
        ({"MNIST_BOOK_DEVICE": "gpu"}, "MNIST_BOOK_DEVICE must be 'auto', 'cpu' or 'cuda', not 'gpu'"),
        ({"MNIST_BOOK_FAST": "maybe"}, "MNIST_BOOK_FAST must be 1 (fast mode) or 0/unset, not 'maybe'"),
    ],
)
def test_a_bad_setting_is_one_clear_line(tool, env, message, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    main = train_cli.main if tool == "train" else bench_cli.main
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cuda_asked_for_by_the_setting_without_a_gpu(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without a GPU, wherever this runs
    monkeypatch.setenv("MNIST_BOOK_DEVICE", "cuda")
    with pytest.raises(SystemExit):
        train_cli.main(["--fast"])
    err = capsys.readouterr().err
    assert "MNIST_BOOK_DEVICE=cuda was asked for, but PyTorch sees no CUDA device" in err


def test_argument_types_say_what_is_wrong():
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="expected a whole number, got '2.5'"):
        positive(int)("2.5")
    with pytest.raises(argparse.ArgumentTypeError, match="must be positive, got 0"):
        positive(float)("0")
    assert positive(float)("1e-3") == 0.001
    half_open = in_range(0, 1)
    assert half_open("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be in \[0, 1\), got 1"):
        half_open("1")
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be in \(0, 1\], got 0"):
        in_range(0, 1, include_low=False, include_high=True)("0")
