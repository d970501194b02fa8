"""``python -m mnist_book.train``: train one of the book's recipes from the command line.

It saves a checkpoint that resumes exactly (:mod:`mnist_book.checkpoints`), prints the test
accuracy and, with ``--json``, writes it with the recipe. ``--help`` lists the flags; the device
and fast mode come from :mod:`mnist_book.settings` unless a flag says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from mnist_book import checkpoints
from mnist_book.cli import add_settings_arguments, in_range, positive, settings_from
from mnist_book.data import DataError, Split, load_split, mnist_loader, subset, subset_indices
from mnist_book.devices import engine_for
from mnist_book.evaluate import predict
from mnist_book.files import atomic_save, atomic_write
from mnist_book.settings import data_root, fast_size
from mnist_book.train import OPTIMIZERS, RECIPES, BatchSource, Recipe, fit


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mnist_book.train",
        description="Train one of the book's recipes on MNIST, save a checkpoint, and print the test accuracy.",
        epilog="Flags after --recipe change that recipe; unset flags keep its values.",
    )
    p.add_argument(
        "--recipe", choices=RECIPES, default="article", help="the recipe to start from (default: %(default)s)"
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="optimiser")
    p.add_argument("--lr", type=positive(float), default=None, help="learning rate (the peak, for one-cycle)")
    p.add_argument("--momentum", type=in_range(0, 1), default=None, help="SGD momentum")
    p.add_argument(
        "--gamma",
        type=in_range(0, 1, include_low=False, include_high=True),
        default=None,
        help="StepLR: multiply the learning rate by this after every epoch",
    )
    p.add_argument("--epochs", type=positive(int), default=None, help="passes over the data")
    p.add_argument("--batch-size", type=positive(int), default=None, help="images per step")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, dropout, batch order (default: %(default)s)")
    add_settings_arguments(
        p,
        fast_help=f"a quick check: one epoch on {fast_size('cli_train', True):,} images (or --subset), "
        f"tested on {fast_size('cli_test', True):,}",
    )
    p.add_argument(
        "--data",
        choices=["batches", "loader"],
        default="batches",
        help="in-memory Batches (fast, the default) or a torchvision DataLoader",
    )
    p.add_argument(
        "--subset", type=positive(int), default=None, help="train on this many random images (default: all 60,000)"
    )
    p.add_argument(
        "--output", type=Path, default=None, help="checkpoint file (default: <data cache>/checkpoints/cli_net.pt)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the result here as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def recipe_from_args(args: argparse.Namespace, fast: bool) -> Recipe:
    """The named recipe with the flags' changes (``--gamma`` switches to a per-epoch StepLR)."""
    changes: dict[str, Any] = {"seed": args.seed}
    for flag, name in (
        ("optimizer", "optimizer"),
        ("lr", "lr"),
        ("momentum", "momentum"),
        ("epochs", "epochs"),
        ("batch_size", "batch_size"),
    ):
        if getattr(args, flag) is not None:
            changes[name] = getattr(args, flag)
    if args.gamma is not None:
        changes.update(schedule="step", gamma=args.gamma)
    if fast:
        changes["epochs"] = 1
    return RECIPES[args.recipe].changed(**changes)


def main(argv: list[str] | None = None) -> float:
    """Command-line entry point; returns the test accuracy (a fraction)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    device, fast = settings_from(parser, args)
    output = args.output if args.output is not None else data_root() / "checkpoints" / "cli_net.pt"
    for flag, path in (("--output", output), ("--json", args.json)):
        if path is not None and path.is_dir():
            parser.error(f"argument {flag}: {path} is a folder; give a file name such as {path / 'result'}")
    try:
        recipe = recipe_from_args(args, fast)
    except ValueError as err:
        parser.error(str(err))
    if recipe.augment and args.data == "loader":
        parser.error(f"--recipe {args.recipe} augments its images, which needs --data batches")
    train_size = args.subset if args.subset is not None else fast_size("cli_train", fast)
    try:
        train = load_split("mnist", train=True, device=device)
        test = load_split("mnist", train=False, device=device)
    except DataError as err:
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    picked = subset_indices(len(train), train_size, seed=args.seed).tolist() if train_size is not None else None
    train = train.take(torch.tensor(picked)) if picked is not None else train
    test = subset(test, fast_size("cli_test", fast), seed=0)
    data: Split | BatchSource = train
    if args.data == "loader":  # the same images, through PIL and transforms
        data = mnist_loader(recipe.batch_size, indices=picked, seed=recipe.seed)
    mode = "fast" if fast else "full" if train_size is None else f"subset-{train_size}"
    print(f"Training {len(train):,} images with {recipe} on {device}.")
    engine = engine_for(device, compile=False)  # channels-last; bfloat16 on a GPU
    model, history = fit(
        recipe,
        data,
        device=device,
        engine=engine,
        checkpoint_path=output,
        mode=mode,
        progress=not args.no_progress,
        extra={"train_size": len(train)},
    )
    result = predict(model, test, device=device)
    ckpt = checkpoints.load_checkpoint(output)
    ckpt["test_accuracy"] = result.accuracy
    atomic_save(ckpt, output)
    print(f"Saved checkpoint to {output}")
    print(f"Test accuracy: {100 * result.accuracy:.2f}% ({result.correct:,}/{len(result.labels):,})")
    if args.json is not None:
        summary = {
            "test_accuracy": result.accuracy,
            "test_correct": result.correct,
            "test_images": len(result.labels),
            "train_images": len(train),
            "training_seconds": sum(history.train_seconds),
            "recipe": recipe.to_dict(),
            "engine": engine.describe(),
            "device": str(device),
            "mode": mode,
            "checkpoint": str(output),
        }
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"Wrote {args.json}")
    return result.accuracy


def cli() -> None:
    """``python -m mnist_book.train``: :func:`main`, with Ctrl-C ending quietly."""
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    cli()
