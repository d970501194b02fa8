"""The one training loop reproduces, bit for bit on the CPU, what each of the old loops produced.

Before the training code was merged into one recipe and one loop (issue 11), each old entry point
was run on a small fixed problem and its results recorded in ``data/legacy_runs.json`` (by
``data/record_legacy_runs.py``, at the commit before the change): chapter 5's ``fit`` (the
article's and the PyTorch example's recipes), chapter 7's ``train_tuned`` (every ablation step and
a cosine schedule), the benchmark's fast recipe and its baselines, and chapter 7's transfer runs.
Here the same runs go through today's :func:`mnist_book.train.fit`.

Float results depend on the CPU (not only its instruction set: two AVX512 machines may differ) and
on the number of threads, so the runs use one thread, and there is one recording per kind of
machine, named by :func:`machine_probe`: a few steps of a small network in plain PyTorch, whose
weights come out bit for bit the same only where the arithmetic does. Where a recording's probe
matches, every weight and curve must match bit for bit; on a machine without one, the first
recording is compared bit for bit where the instruction set matches, and closely otherwise.

The recordings may be re-recorded (``tests/data/record_legacy_runs.py``, which says how) for a new
kind of machine, or when PyTorch's pinned version changes; never to make a refactor pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from mnist_book.data import load_split, subset, train_val_split
from mnist_book.devices import engine_for
from mnist_book.evaluate import predict
from mnist_book.finetune import TRANSFER_METHODS, ablation_recipes, make_transfer_model, stratified_subset
from mnist_book.models import Net
from mnist_book.train import ARTICLE_RECIPE, FAST_RECIPE, PYTORCH_EXAMPLE_RECIPE, fit


def machine_probe() -> str:
    """What the machine's float arithmetic does: the weights after three SGD steps of a small
    convolutional network on fixed random data, one thread, as a short hash."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            *(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3), torch.nn.ReLU()),
            *(torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16 * 12 * 12, 32), torch.nn.ReLU()),
            torch.nn.Linear(32, 10),
        )
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        for _ in range(3):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
        return weights_hash(net)[:16]
    finally:
        torch.set_num_threads(before)


def _recording() -> tuple[dict, bool]:
    """The recording for this machine, and whether it must match bit for bit."""
    recordings = json.loads((Path(__file__).parent / "data" / "legacy_runs.json").read_text())["recordings"]
    probe = machine_probe()
    for recording in recordings:
        if recording["machine"] == probe and recording["torch"] == torch.__version__:
            return recording, True
    first = recordings[0]
    return first, torch.backends.cpu.get_cpu_capability() == first["cpu_capability"] and torch.__version__ == first[
        "torch"
    ]


def weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha1()
    for v in model.state_dict().values():  # values only, in order: modules may be renamed
        digest.update(v.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


RECORD, SAME_CPU = _recording()


def check(name: str, model: torch.nn.Module, **curves: list[float]) -> None:
    """``model``'s weights and the ``curves`` (float lists) against the recording of ``name``."""
    recorded = RECORD["runs"][name]
    for key, values in curves.items():
        expected = [float.fromhex(x) for x in recorded.get("history", recorded)[key]]
        if SAME_CPU:
            assert values == expected, f"{name}: {key} {values} != {expected}"
        else:
            assert values == pytest.approx(expected, rel=1e-3, abs=1e-3), f"{name}: {key}"
    if SAME_CPU:
        assert weights_hash(model) == recorded["weights"], f"{name}: the weights differ from the old loop's"


# The old runs were recorded on one thread.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    train_all, val_all = train_val_split(load_split("mnist", train=True), 5000, seed=0)
    return {
        "train": subset(train_all, 640, seed=0),
        "val": subset(val_all, 500, seed=0),
        "test": subset(load_split("mnist", train=False), 500, seed=0),
    }


def history_curves(history) -> dict[str, list[float]]:
    return {k: getattr(history, k) for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")}


@pytest.mark.parametrize("name, recipe", [("article", ARTICLE_RECIPE), ("pytorch_example", PYTORCH_EXAMPLE_RECIPE)])
def test_chapter5_fit(data, name, recipe):
    """Old ``fit(model, ...)``: the caller seeds and builds the model; fit seeds again for dropout."""
    recipe = recipe.changed(epochs=2)
    torch.manual_seed(recipe.seed)
    model, history = fit(recipe, data["train"], data["val"], model=Net(), device="cpu", progress=False)
    check(f"fit/{name}", model, **history_curves(history))


@pytest.mark.parametrize("step", range(7))
def test_chapter7_ablation_steps(data, step):
    """Old ``train_tuned``: one-cycle, batch norm, augmentation, label smoothing, weight decay, no dropout."""
    recipe = ablation_recipes()[step][1].changed(epochs=2)
    model, history = fit(recipe, data["train"], data["val"], device="cpu", progress=False)
    check(f"tuned/{step}", model, **history_curves(history))


def test_chapter7_cosine_schedule(data):
    recipe = ablation_recipes()[-1][1].changed(epochs=2, schedule="cosine", lr=0.05)
    model, history = fit(recipe, data["train"], data["val"], device="cpu", progress=False)
    check("tuned/cosine", model, **history_curves(history))


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_recipe_on_the_books_engine(data, seed):
    """Old ``train_fast_epoch``: FastNet, channels-last, Nesterov SGD, one-cycle per step."""
    recipe = FAST_RECIPE.changed(seed=seed, epochs=2)
    engine = engine_for("cpu", compile=False)
    model, history = fit(recipe, data["train"], data["test"], device="cpu", engine=engine, progress=False)
    check(f"fast/seed{seed}", model, test_accuracy=history.val_acc)


@pytest.mark.parametrize("key, recipe", [("a", PYTORCH_EXAMPLE_RECIPE), ("b", ARTICLE_RECIPE)])
def test_bench_baselines(data, key, recipe):
    """Old bench loop: seed, build ``Net``, train (no second seeding), StepLR after each epoch."""
    model, history = fit(recipe.changed(epochs=2), data["train"], data["test"], device="cpu", progress=False)
    accuracy = [predict(model, data["test"], batch_size=1000).accuracy]
    check(f"bench/{key}", model, test_accuracy=history.val_acc)
    assert accuracy == [history.val_acc[-1]]


def test_transfer_methods(data):
    """Old ``train_transfer``: parameter groups with their own rates, frozen layers, a new head."""
    torch.manual_seed(0)
    pretrained, _ = fit(ARTICLE_RECIPE.changed(epochs=1), data["train"], model=Net(), device="cpu", progress=False)
    if SAME_CPU:
        assert weights_hash(pretrained) == RECORD["runs"]["transfer/pretrained"]
    fashion = stratified_subset(load_split("fashion_mnist", train=True), 200, seed=0)
    recipe = ARTICLE_RECIPE.changed(epochs=2)
    for method in TRANSFER_METHODS:  # the old train_transfer: the model and its groups, then fit
        model, groups = make_transfer_model(method, pretrained, seed=recipe.seed, backbone_lr_factor=0.1)
        for group in groups:
            group["lr"] = recipe.lr * group.pop("lr_factor", 1.0)
        model, _ = fit(recipe, fashion, model=model, param_groups=groups, device="cpu", progress=False)
        check(f"transfer/{method}", model.eval())
