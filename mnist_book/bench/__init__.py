"""Side-by-side training benchmark (appendix *Speed*): ``python -m mnist_book.bench --help``.

Recipes, each with a fixed schedule, trained one after the other in the same process by the
book's one training loop (:func:`mnist_book.train.fit`):

- ``a``: PyTorch's MNIST example as published: ``Net``, Adadelta lr 1.0, StepLR gamma 0.7, batch 64,
  PIL images through ``ToTensor`` + ``Normalize`` in a ``DataLoader``;
- ``b``: the source article's recipe (``Net``, SGD lr 0.01, momentum 0.9, batch 64) on the fast
  data path (the whole split in memory, :class:`~mnist_book.data.Batches`);
- ``b-loader``: the same recipe through the ``DataLoader``, with the same batches in the same order;
- ``c``: the book's fast recipe (:data:`mnist_book.train.FAST_RECIPE`) on the book's engine.

The package has one module per question: :mod:`~mnist_book.bench.plan` (what runs),
:mod:`~mnist_book.bench.run` (how it runs: data, warm-up, timing, memory),
:mod:`~mnist_book.bench.report` (table, ratios, JSON) and ``__main__`` (the command line).
"""

from mnist_book.bench.plan import (
    RECIPES,
    SMOKE_TEST,
    SMOKE_TRAIN,
    BenchRecipe,
    Plan,
    full_plan,
    smoke_plan,
)
from mnist_book.bench.report import (
    RESULTS_DIR,
    format_ratios,
    format_table,
    load_results,
    ratios,
    write_json,
)
from mnist_book.bench.run import (
    SCHEMA,
    BenchData,
    Run,
    run_bench,
    run_recipe,
    summarize,
    time_to_target,
    warm_up,
)

__all__ = [
    "RECIPES",
    "RESULTS_DIR",
    "SCHEMA",
    "SMOKE_TEST",
    "SMOKE_TRAIN",
    "BenchData",
    "BenchRecipe",
    "Plan",
    "Run",
    "format_ratios",
    "format_table",
    "full_plan",
    "load_results",
    "ratios",
    "run_bench",
    "run_recipe",
    "smoke_plan",
    "summarize",
    "time_to_target",
    "warm_up",
    "write_json",
]
