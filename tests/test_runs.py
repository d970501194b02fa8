"""The cache of runs and results (mnist_book.runs): a run is trained once and loaded after, finished when
interrupted, and keyed on everything that decides it, so that a stale run is never loaded: the code on the
training path (docstrings and comments aside), the data by content, the recipe, the starting weights,
PyTorch's version."""

from __future__ import annotations

import ast

import pytest
import torch

import mnist_book.runs as runs
import mnist_book.train as train_mod
from mnist_book.checkpoints import load_checkpoint
from mnist_book.data import Split, subset
from mnist_book.devices import engine_for, get_device
from mnist_book.models import Net
from mnist_book.runs import (
    cache_path,
    cached,
    cached_fit,
    code_fingerprint,
    code_of,
    fingerprint,
    fit_key,
    reference_plan,
    reference_run,
    run_key,
)
from mnist_book.settings import ENV_RETRAIN, ENV_RUN_LOG
from mnist_book.train import ARTICLE_RECIPE, Recipe, fit

DEVICE = get_device()


# ----------------------------------------------------------------------------- the key: code


def book_sources(*roots: str) -> dict[str, str]:
    """The sources code_fingerprint reads for ``roots``: every book module on their import path."""
    seen: dict[str, str] = {}
    code_fingerprint(*roots, read=lambda m: seen.setdefault(m, runs._read_module(m)))
    return seen


TRAINING_PATH = sorted(book_sources(*runs.TRAINING_MODULES))


def test_the_training_path_is_what_training_imports():
    assert {"mnist_book.train", "mnist_book.data", "mnist_book.models", "mnist_book.perturb"} <= set(TRAINING_PATH)
    assert {"mnist_book.devices", "mnist_book.evaluate", "mnist_book.checkpoints"} <= set(TRAINING_PATH)
    assert "mnist_book.prose" not in TRAINING_PATH and "mnist_book.plots" not in TRAINING_PATH
    assert "mnist_book.finetune" in book_sources("mnist_book.finetune")


def edited(sources: dict[str, str], module: str, edit) -> str:
    changed = dict(sources, **{module: edit(sources[module])})
    return code_fingerprint(*runs.TRAINING_MODULES, read=changed.__getitem__)


def first_function(source: str) -> ast.FunctionDef | None:
    tree = ast.parse(source)
    return next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)


@pytest.mark.parametrize("module", TRAINING_PATH)
def test_changing_code_on_the_training_path_changes_the_key(module):
    sources = book_sources(*runs.TRAINING_MODULES)
    before = code_fingerprint(*runs.TRAINING_MODULES, read=sources.__getitem__)

    def change_a_function(source: str) -> str:  # one more statement in the first function's body
        lines = source.splitlines()
        if first_function(source) is None:  # a package's __init__: one more statement in the module
            return source + "\n_unused = 1\n"
        body = first_function(source).body[-1]
        indent = " " * body.col_offset
        lines.insert(body.lineno - 1, f"{indent}_unused = 1")
        return "\n".join(lines)

    assert edited(sources, module, change_a_function) != before


@pytest.mark.parametrize("module", TRAINING_PATH)
def test_docstrings_comments_and_formatting_do_not_change_the_key(module):
    sources = book_sources(*runs.TRAINING_MODULES)
    before = code_fingerprint(*runs.TRAINING_MODULES, read=sources.__getitem__)

    def reword(source: str) -> str:
        function = first_function(source)
        if function is None:
            return source + "\n# a comment at the end\n"
        lines = source.splitlines()
        if ast.get_docstring(function) is not None:
            doc = function.body[0]
            lines[doc.lineno - 1 : doc.end_lineno] = [" " * doc.col_offset + '"""Reworded."""']
        lines.insert(function.lineno - 1, "# a new comment above a function")
        return "\n".join(lines) + "\n\n# and one at the end\n"

    assert reword(sources[module]) != sources[module]
    assert edited(sources, module, reword) == before


def test_code_of_ignores_docstrings_comments_and_layout():
    plain = code_of('def f(x):\n    """Add one."""\n    return x + 1  # a comment\n')
    assert plain == code_of("def f(x):\n    'Add one to x.'\n\n    return (x+1)\n")
    assert plain != code_of("def f(x):\n    return x + 2\n")
    assert code_of('def f(x):\n    """Only a docstring."""\n') == code_of("def f(x):\n    pass\n")
    assert fingerprint(fingerprint) != fingerprint(code_of)  # functions count by their code


def test_the_key_holds_torch_version_and_cache_version(monkeypatch):
    key = run_key("demo", "test", {"lr": 0.1})
    monkeypatch.setattr(runs, "CACHE_VERSION", runs.CACHE_VERSION + 1)
    assert run_key("demo", "test", {"lr": 0.1}) != key
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert run_key("demo", "test", {"lr": 0.1}) != key


def test_fingerprint_sees_any_change():
    torch.manual_seed(0)
    net = Net()
    before = fingerprint(net)
    with torch.no_grad():
        net.fc2.bias[3] += 1e-6
    assert fingerprint(net) != before
    assert fingerprint({"a": 1, "b": [2, 3]}) == fingerprint({"b": [2, 3], "a": 1})  # key order does not matter
    assert fingerprint(torch.zeros(3)) != fingerprint(torch.zeros(3, dtype=torch.int32))
    assert fingerprint([1, [2]]) != fingerprint([[1], 2])  # nesting counts


def test_cache_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_BOOK_DATA", str(tmp_path))
    monkeypatch.delenv(ENV_RETRAIN, raising=False)
    calls = []

    def compute():
        calls.append(1)
        return {"acc": 0.5, "weights": torch.arange(3)}

    key = run_key("demo", "fast", {"lr": 0.1})
    assert cached(key, compute)["acc"] == 0.5
    again = cached(key, compute)
    assert len(calls) == 1 and torch.equal(again["weights"], torch.arange(3))
    assert run_key("demo", "fast", {"lr": 0.2}) != key and run_key("demo", "full", {"lr": 0.1}) != key
    path = next(tmp_path.rglob(f"{key}.pt"))
    path.write_bytes(b"garbage")  # a damaged file is computed again
    assert cached(key, compute)["acc"] == 0.5 and len(calls) == 2
    monkeypatch.setenv(ENV_RETRAIN, "1")  # and everything, when asked to
    cached(key, compute)
    assert len(calls) == 3


def test_loads_are_noted_in_the_run_log_with_the_time_they_took(tmp_path, monkeypatch):
    """A page being built learns what it loaded from the cache, and how long making it took."""
    monkeypatch.setenv("MNIST_BOOK_DATA", str(tmp_path / "data"))
    monkeypatch.delenv(ENV_RETRAIN, raising=False)
    log = tmp_path / "logs" / "book" / "page.jsonl"
    monkeypatch.setenv(ENV_RUN_LOG, str(log))
    key = run_key("demo", "fast", {"lr": 0.1})
    cached(key, lambda: {"acc": 0.5})
    assert runs.read_run_log(log) == []  # computed, not loaded
    cached(key, lambda: {"acc": 0.5})
    [loaded] = runs.read_run_log(log)
    assert loaded.key == key and loaded.seconds is not None and 0 <= loaded.seconds < 60
    next((tmp_path / "data").rglob(f"{key}.seconds.json")).unlink()  # made before times were kept
    cached(key, lambda: {"acc": 0.5})
    assert runs.read_run_log(log)[-1] == runs.Loaded(key, None)
    monkeypatch.delenv(ENV_RUN_LOG)  # outside a build: no log
    log.unlink()
    cached(key, lambda: {"acc": 0.5})
    assert not log.exists()


# ----------------------------------------------------------------------------- runs


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private data cache, and a count of the epochs trained."""
    monkeypatch.setenv("MNIST_BOOK_DATA", str(tmp_path))
    monkeypatch.delenv(ENV_RETRAIN, raising=False)
    epochs = []
    real = train_mod.train_one_epoch

    def counting(*args, **kwargs):
        epochs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_one_epoch", counting)
    return epochs


def test_cached_run_is_loaded_not_retrained(tiny, cache, monkeypatch, capsys, same_weights, tmp_path):
    recipe = Recipe(epochs=2, batch_size=32)
    first = cached_fit("demo", recipe, tiny, subset(tiny, 64), mode="test", device=DEVICE, progress=False)
    assert len(cache) == 2 and not first.loaded
    monkeypatch.setenv(ENV_RUN_LOG, str(tmp_path / "log.jsonl"))
    again = cached_fit("demo", recipe, tiny, subset(tiny, 64), mode="test", device=DEVICE, progress=False)
    assert len(cache) == 2 and again.loaded  # no epoch trained
    assert "Loaded demo from the data cache" in capsys.readouterr().out
    same_weights(first.model, again.model)
    assert again.history == first.history  # the original run's curves and timings
    # the page that loaded it is told, with the original run's time
    assert runs.read_run_log(tmp_path / "log.jsonl") == [runs.Loaded(again.path.stem, sum(first.history.seconds))]
    monkeypatch.setenv(ENV_RETRAIN, "1")
    fresh = cached_fit("demo", recipe, tiny, subset(tiny, 64), mode="test", device=DEVICE, progress=False)
    assert len(cache) == 4 and not fresh.loaded
    same_weights(first.model, fresh.model)  # the same run, made again


def test_run_key_changes_with_recipe_data_mode_and_start(tiny):
    recipe = Recipe(epochs=2)
    key = fit_key("demo", "test", recipe, tiny, None)
    assert key == fit_key("demo", "test", Recipe(epochs=2), tiny, None)
    assert key != fit_key("demo", "test", recipe.changed(lr=0.02), tiny, None)
    assert key != fit_key("demo", "full", recipe, tiny, None)
    assert key != fit_key("demo", "test", recipe, subset(tiny, 100), None)
    torch.manual_seed(0)
    assert key != fit_key("demo", "test", recipe, tiny, None, model=Net())
    assert key != fit_key("demo", "test", recipe, tiny, None, engine=engine_for("cpu"))

    class Other(Net):  # the same weights in a network that computes something else
        def forward(self, x):
            return -super().forward(x)

    net, other = Net(), Other()
    other.load_state_dict(net.state_dict())
    assert fit_key("demo", "test", recipe, tiny, None, model=net) != fit_key(
        "demo", "test", recipe, tiny, None, model=other
    )


def test_one_pixel_changes_the_key(tiny):
    """The data count by content: every pixel and every label, not a length and a few sums."""
    key = fit_key("demo", "test", Recipe(), tiny, None)
    for change in ("pixel", "label"):
        images, labels = tiny.images.clone(), tiny.labels.clone()
        if change == "pixel":
            images[-1, 0, 27, 27] += 1e-3  # the last pixel of the last image
        else:
            labels[-1] = (labels[-1] + 1) % 10
        assert fit_key("demo", "test", Recipe(), Split(images, labels), None) != key, change
    assert fit_key("demo", "test", Recipe(), Split(tiny.images.clone(), tiny.labels.clone()), None) == key


def test_unreadable_cached_run_is_trained_again(tiny, cache, capsys):
    recipe = Recipe(epochs=1, batch_size=32)
    path = cache_path(fit_key("demo", "test", recipe, tiny, None))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 truncated")
    run_ = cached_fit("demo", recipe, tiny, mode="test", device=DEVICE, progress=False)
    assert len(cache) == 1 and not run_.loaded
    assert "truncated" in capsys.readouterr().out
    assert load_checkpoint(path)["epoch"] == 1


def test_interrupted_run_is_finished_not_restarted(tiny, cache, monkeypatch, capsys, same_weights):
    recipe = Recipe(epochs=2, batch_size=32)
    straight, _ = fit(recipe, tiny, device=DEVICE, progress=False)
    path = cache_path(fit_key("demo", "test", recipe, tiny, None))
    fit(recipe, tiny, device=DEVICE, progress=False, checkpoint_path=path, stop_after=1)  # "interrupted"
    cache.clear()
    finished = cached_fit("demo", recipe, tiny, mode="test", device=DEVICE, progress=False)
    assert "finishing it" in capsys.readouterr().out
    assert len(cache) == 1 and finished.checkpoint["epoch"] == 2
    same_weights(straight, finished.model)


def test_reference_run_fast_and_full_differ_and_load(cache, monkeypatch):
    assert reference_plan(False).recipe == ARTICLE_RECIPE and reference_plan(True).recipe.epochs == 1
    tiny_plan = runs.RunPlan("fast", Recipe(epochs=1, batch_size=32), train_size=128, val_size=64)
    monkeypatch.setattr(runs, "reference_plan", lambda fast, recipe=None: tiny_plan)
    first = reference_run(True, device=DEVICE, progress=False)
    assert not first.loaded and first.checkpoint["train_size"] == 128 and first.checkpoint["mode"] == "fast"
    second = reference_run(True, device=DEVICE, progress=False)
    assert second.loaded and len(cache) == 1
