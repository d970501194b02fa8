"""The benchmark's command line: ``python -m mnist_book.bench --help``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from mnist_book.bench.plan import (
    RECIPES,
    SMOKE_TEST,
    SMOKE_TRAIN,
    full_plan,
    smoke_plan,
)
from mnist_book.bench.report import format_ratios, format_table, write_json
from mnist_book.bench.run import run_bench
from mnist_book.cli import add_settings_arguments, in_range, positive, settings_from
from mnist_book.data import DataError
from mnist_book.profiling import choose_threads


def _recipe_list(text: str) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in keys if k not in RECIPES]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown recipe {', '.join(unknown) or text!r}; choose from {', '.join(RECIPES)} (comma-separated)"
        )
    return keys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mnist_book.bench",
        description=(
            "Train the PyTorch example's recipe (a), the article's (b: in memory; b-loader: through a "
            "DataLoader) and the book's fast recipe (c) side by side; report time to the target test "
            "accuracy, final accuracy, images per second and peak memory."
        ),
        epilog=(
            "Full run: c with --seeds seeds and its whole schedule; a and b with --baseline-seeds seeds, at "
            "most --baseline-epochs epochs of their published schedules, stopping once they reach the target."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_settings_arguments(
        p, fast_flag="--smoke", fast_help=f"{SMOKE_TRAIN} training images, {SMOKE_TEST} test images, one epoch"
    )
    p.add_argument("--recipes", type=_recipe_list, default=tuple(RECIPES), help="comma-separated: " + ",".join(RECIPES))
    p.add_argument("--seeds", type=positive(int), default=None, help="seeds for the fast recipe (default: 3; smoke 1)")
    p.add_argument("--baseline-seeds", type=positive(int), default=1, help="seeds for a, b and b-loader")
    p.add_argument(
        "--baseline-epochs",
        type=positive(int),
        default=None,
        help="at most this many epochs of a's and b's published schedules (default: 3; smoke 1)",
    )
    p.add_argument("--no-stop", action="store_true", help="a and b run all their capped epochs, even after the target")
    p.add_argument(
        "--target",
        type=in_range(0, 100, include_low=False, include_high=True, unit="a percentage "),
        default=99.0,
        help="test accuracy to reach, in percent",
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the full result here")
    p.add_argument(
        "--threads",
        type=positive(int),
        default=None,
        help="CPU threads for PyTorch (default: one per core, or 1 when the load average says the machine is "
        "already busy; 1 in a smoke run, which only checks that everything runs)",
    )
    p.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="torch.compile the fast recipe's model (auto: on CUDA only)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the result it printed (and wrote with ``--json``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    device, smoke = settings_from(parser, args)
    if args.json is not None and args.json.is_dir():
        parser.error(f"argument --json: {args.json} is a folder; give a file name such as {args.json / 'bench.json'}")
    threads, threads_choice = choose_threads(args.threads if args.threads is not None else (1 if smoke else None))
    torch.set_num_threads(threads)
    changes: dict[str, Any] = {
        "recipes": args.recipes,
        "baseline_seeds": args.baseline_seeds,
        "stop_at_target": not args.no_stop,
        "target": args.target / 100,
    }
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    if args.baseline_epochs is not None:
        changes["baseline_epochs"] = args.baseline_epochs
    plan = (smoke_plan if smoke else full_plan)(**changes)
    compile_choice = {"auto": None, "on": True, "off": False}[args.compile]
    print(
        f"{parser.prog}: {'smoke' if smoke else 'full'} run on {device}, CPU threads: {threads_choice}.\n"
        f"{plan.what_runs()}; target {args.target:.1f}% test accuracy.",
        flush=True,
    )

    def report(partial: dict[str, Any]) -> None:
        tqdm.write(format_table(partial, last_row_only=True), file=sys.stdout)

    empty = {"plan": plan.describe(), "recipes": {}}
    print("\n".join(format_table(empty).splitlines()[:2]), flush=True)  # the header; rows follow as they finish
    try:
        result = run_bench(plan, device, compile=compile_choice, progress=not args.no_progress, on_recipe=report)
    except DataError as err:
        parser.exit(1, f"{parser.prog}: error: {err}\n")
    result["hardware"]["threads_choice"] = threads_choice
    print("\nAll together:")
    print(format_table(result))
    if not plan.smoke and format_ratios(result):
        print()
        print(format_ratios(result))
    if args.json is not None:
        print(f"\nWrote {write_json(result, args.json)}")
    return result


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
