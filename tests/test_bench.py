"""The benchmark: time to target, summaries and ratios, data paths, memory, phases, plans, CLI.

The end-to-end test (marked slow) runs ``python -m mnist_book.bench --smoke`` in a subprocess (a few
seconds of training on 2,048 images) and checks the JSON it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_book.bench import (
    RECIPES,
    SCHEMA,
    BenchData,
    Plan,
    Run,
    format_ratios,
    format_table,
    load_results,
    ratios,
    smoke_plan,
    summarize,
    time_to_target,
)
from mnist_book.bench.__main__ import main
from mnist_book.bench.run import cudnn_autotuner
from mnist_book.data import Batches, Split
from mnist_book.devices import get_device
from mnist_book.models import FastNet
from mnist_book.profiling import PeakMemory, choose_threads, time_phases
from mnist_book.train import FAST_RECIPE, make_optimizer

REPO = Path(__file__).resolve().parent.parent
DEVICE = get_device()


# --------------------------------------------------------------------------- time to target


def test_time_to_target_on_a_curve():
    seconds = [10.0, 12.0, 11.0, 9.0]
    assert time_to_target(seconds, [0.985, 0.9899, 0.9912, 0.993], 0.99) == (33.0, 3)
    assert time_to_target(seconds, [0.991, 0.9, 0.9, 0.9], 0.99) == (10.0, 1)  # the first epoch counts
    assert time_to_target(seconds, [0.98, 0.985, 0.989, 0.9899], 0.99) == (None, None)
    assert time_to_target([], [], 0.99) == (None, None)


def test_time_to_target_counts_exactly_the_target():
    assert time_to_target([5.0, 5.0], [9899 / 10000, 9900 / 10000], 99.0 / 100) == (10.0, 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 1, allow_nan=False)), min_size=1, max_size=12),
    st.floats(0.5, 1.0),
)
def test_time_to_target_matches_a_cumulative_sum(curve, target):
    seconds, accuracy = [s for s, _ in curve], [a for _, a in curve]
    hits = [i for i, a in enumerate(accuracy) if a >= target - 1e-12]  # a float a hair under the target counts
    expected = (sum(seconds[: hits[0] + 1]), hits[0] + 1) if hits else (None, None)
    got = time_to_target(seconds, accuracy, target)
    assert got[1] == expected[1]
    assert got[0] == pytest.approx(expected[0])


def test_time_to_target_rejects_bad_curves():
    with pytest.raises(ValueError, match="one of each per epoch"):
        time_to_target([1.0, 2.0], [0.9], 0.99)
    with pytest.raises(ValueError, match="negative"):
        time_to_target([-1.0], [0.995], 0.99)


def test_summary_gives_a_lower_bound_when_a_seed_misses():
    hit = Run(0, [10.0, 10.0], [0.985, 0.991], images=120000)
    miss = Run(1, [10.0, 10.0], [0.985, 0.989], images=120000)
    for run in (hit, miss):
        run.time_to_target, run.epoch_to_target = time_to_target(run.epoch_seconds, run.test_accuracy, 0.99)
    s = summarize([hit, miss], 0.99)
    assert s["time_to_target_s"] is None and s["reached_target"] == 1
    assert s["time_to_target_at_least_s"] == 20.0
    assert s["final_accuracy"]["mean"] == pytest.approx(0.99)
    assert s["images_per_second"] == pytest.approx(6000.0)
    assert summarize([hit], 0.99)["time_to_target_s"] == 20.0


def test_ratios_use_the_lower_bound_and_say_so():
    def recipe(times, accs, ips):
        run = Run(0, times, accs, images=int(ips * sum(times)))
        run.time_to_target, run.epoch_to_target = time_to_target(times, accs, 0.99)
        return {"runs": [run.to_dict()], "summary": summarize([run], 0.99)}

    result = {
        "recipes": {
            "a": recipe([60.0, 60.0], [0.985, 0.988], 1000),  # never reaches 99%: at least 120 s
            "b": recipe([50.0], [0.98], 1200),
            "b-loader": recipe([55.0], [0.981], 1000),
            "c": recipe([5.0, 5.0], [0.98, 0.992], 12000),
        }
    }
    r = ratios(result)
    assert r["fast_speedup_vs_a"] == {"value": 12.0, "a_time_is_lower_bound": True}
    assert r["article_images_per_second_ratio"]["value"] == pytest.approx(1.2)
    assert r["article_accuracy_difference"]["value"] == pytest.approx(0.001)
    text = format_ratios(result)
    assert "at least 12.0x" in text and "1.20x" in text and "0.10 points" in text
    assert ratios({"recipes": {"c": result["recipes"]["c"]}}) == {}  # nothing to compare with


# --------------------------------------------------------------------------- data paths, memory, phases


def test_loader_and_batches_give_the_same_batches():
    """The DataLoader (PIL -> ToTensor -> Normalize) and Batches: same order, same numbers."""
    data = BenchData(DEVICE, train_size=300, test_size=100)
    assert len(data.train) == 300 and len(data.test) == 100
    for seed in (0, 1):
        loader, batches = data.loader(64, seed), Batches(data.train, 64, seed=seed)
        assert len(loader) == len(batches) == 5
        for _ in range(2):  # two epochs: both draw a new order each time, the same one
            for (x1, y1), (x2, y2) in zip(loader, batches):
                torch.testing.assert_close(x1.to(DEVICE), x2, rtol=0, atol=1e-6)
                assert torch.equal(y1.to(DEVICE), y2)


def test_peak_memory_sees_a_large_allocation():
    memory = PeakMemory(DEVICE)
    with memory:
        big = torch.ones(64 * 2**20 // 4, device=DEVICE)  # 64 MiB, touched
        big += 1
        if DEVICE.type != "cuda":
            import time

            time.sleep(0.1)  # let the sampler see it
        del big
    assert memory.peak_extra_bytes >= 60 * 2**20
    assert memory.peak_bytes >= memory.peak_extra_bytes


def test_time_phases_puts_each_second_in_its_phase(one_thread):
    """A data source that sleeps 30 ms per batch: the data phase sees the sleep, the others do not,
    and the phases add up to no more than the wall-clock time of the steps."""
    import time

    torch.manual_seed(0)
    split = Split(torch.randn(80, 1, 28, 28, device=DEVICE), torch.randint(0, 10, (80,), device=DEVICE))

    def slow_batches():
        for x, y in Batches(split, 16):
            time.sleep(0.03)
            yield x, y

    model = FastNet().to(DEVICE)
    optimizer = make_optimizer(model.parameters(), FAST_RECIPE)
    tic = time.perf_counter()
    times = time_phases(model, slow_batches(), optimizer, steps=4, warmup=1, device=DEVICE)
    wall = time.perf_counter() - tic
    assert times.batch_size == 16
    assert 0.03 <= times.data < 0.03 + 0.5 * times.total  # the sleep, and little else
    assert times.forward < times.data and times.optimizer < times.data
    assert 4 * times.total <= wall  # four timed steps inside the whole call
    with pytest.raises(ValueError, match="at least"):
        time_phases(model, Batches(split, 80), optimizer, steps=2, device=DEVICE)


def test_time_phases_times_the_books_own_step(one_thread, monkeypatch):
    """What is timed is train_one_epoch itself, with the options given: an augmentation that sleeps
    lands in the data phase, a forward pass that sleeps in the forward phase."""
    import time

    import mnist_book.train as train

    calls = []
    real = train.train_one_epoch
    monkeypatch.setattr(train, "train_one_epoch", lambda *a, **k: calls.append(k) or real(*a, **k))

    class SlowForward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = FastNet()

        def forward(self, x):
            time.sleep(0.02)
            return self.net(x)

    torch.manual_seed(0)
    split = Split(torch.randn(64, 1, 28, 28, device=DEVICE), torch.randint(0, 10, (64,), device=DEVICE))
    model = SlowForward().to(DEVICE)
    optimizer = make_optimizer(model.parameters(), FAST_RECIPE)

    def augment(x):
        time.sleep(0.02)
        return x

    times = time_phases(
        model, Batches(split, 16), optimizer, steps=3, device=DEVICE, recipe=FAST_RECIPE, augment=augment
    )
    assert len(calls) == 1 and calls[0]["augment"] is augment and calls[0]["recipe"] is FAST_RECIPE
    assert times.data >= 0.02 and times.forward >= 0.02 and times.batch_size == 16
    assert times.optimizer < 0.02


def test_choose_threads(monkeypatch):
    import mnist_book.profiling as profiling

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(profiling.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(profiling.os, "getloadavg", lambda: (0.3, 0.2, 0.1))
    assert choose_threads()[0] == 2  # an idle machine: one thread per core
    monkeypatch.setattr(profiling.os, "getloadavg", lambda: (3.5, 2.0, 1.0))
    threads, why = choose_threads()
    assert threads == 1 and "busy" in why
    assert choose_threads(4) == (4, "4 (asked for)")


# --------------------------------------------------------------------------- plans and results


def test_plans():
    full = Plan()
    assert full.epochs(RECIPES["a"]) == 3 and full.epochs(RECIPES["c"]) == FAST_RECIPE.epochs
    assert full.seed_count(RECIPES["c"]) == 3 and full.seed_count(RECIPES["a"]) == 1
    assert Plan(baseline_epochs=None).epochs(RECIPES["a"]) == 14  # the published schedule
    smoke = smoke_plan()
    assert smoke.smoke and smoke.epochs(RECIPES["c"]) == 1 and smoke.train_size < 60000
    assert "a (1 seed, up to 3 of 14 epochs)" in full.what_runs()
    with pytest.raises(ValueError, match="recipes"):
        Plan(recipes=("z",))
    with pytest.raises(ValueError, match="target"):
        Plan(target=99.0)  # a fraction, not a percentage
    with pytest.raises(ValueError, match="seeds"):
        Plan(seeds=0)


def test_load_results_skips_what_is_not_a_result(tmp_path):
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something else"}))
    good = {"schema": SCHEMA, "date": "2026-01-01T00:00:00+00:00", "hardware": {"device": "cuda"}}
    (tmp_path / "gpu.json").write_text(json.dumps(good))
    assert [r["date"] for r in load_results(tmp_path)] == [good["date"]]
    assert load_results(tmp_path, "cpu") == []


# --------------------------------------------------------------------------- the command line


@pytest.mark.slow
def test_bench_smoke_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "MNIST_BOOK_FAST": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "mnist_book.bench", "--device", DEVICE.type, "--json", str(out), "--no-progress"]
    cmd += ["--compile", "off"]  # compiling takes longer than this whole test should
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "smoke run" in proc.stdout and "| c: the book's fast recipe |" in proc.stdout

    result = json.loads(out.read_text())
    assert result["schema"] == SCHEMA
    for key in ("date", "hardware", "versions", "plan", "timing", "recipes"):
        assert key in result
    assert result["plan"]["smoke"] and result["plan"]["train_images"] == 2048
    assert result["versions"]["torch"] == torch.__version__
    assert list(result["recipes"]) == ["a", "b", "b-loader", "c"]
    for key, r in result["recipes"].items():
        s = r["summary"]
        assert r["data_path"] == RECIPES[key].data_path
        for field in ("final_accuracy", "time_to_target_s", "images_per_second", "peak_memory_mib", "epochs_run"):
            assert field in s
        run = r["runs"][0]
        assert run["epochs_run"] == 1 and len(run["epoch_seconds"]) == len(run["test_accuracy"]) == 1
        assert run["images_per_second"] == pytest.approx(run["train_images_seen"] / run["training_seconds"])
        assert run["final_accuracy"] > 0.5  # 2,048 images, one epoch: every recipe learns something
        assert run["train_images_seen"] == (2048 if key != "c" else 2048 // 128 * 128)
    # Same recipe, same batches in the same order, same seed: the two data paths train the same model.
    b, loader = result["recipes"]["b"]["runs"][0], result["recipes"]["b-loader"]["runs"][0]
    assert b["test_accuracy"] == pytest.approx(loader["test_accuracy"], abs=0.004)
    assert "| a: PyTorch example |" in format_table(result)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0"], "--seeds: must be positive"),
        (["--seeds", "three"], "--seeds: expected a whole number"),
        (["--target", "101"], "--target: must be a percentage in (0, 100]"),
        (["--target", "0"], "--target: must be a percentage in (0, 100]"),
        (["--target", "ninety"], "--target: expected a number"),
        (["--recipes", "a,z"], "--recipes: unknown recipe 'z'"),
        (["--recipes", ","], "--recipes: unknown recipe"),
        (["--device", "tpu"], "--device: invalid choice"),
        (["--compile", "maybe"], "--compile: invalid choice"),
        (["--smoke", "--full"], "not allowed with argument"),
        (["--threads", "-1"], "--threads: must be positive"),
    ],
)
def test_bad_flags_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_json_path_that_is_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--device", "cpu", "--json", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_one_clear_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--device", "cuda"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sees no CUDA device" in err and "Traceback" not in err


def test_time_interleaved_takes_turns_and_times_only_after_the_warmup():
    import time

    from mnist_book.profiling import time_interleaved

    order = []
    seconds = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, rounds=3)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]  # an untimed round, then turns, the order reversed
    assert {name: len(s) for name, s in seconds.items()} == {"a": 3, "b": 3}
    timed = time_interleaved({"idle": lambda: None, "sleeps": lambda: time.sleep(0.02)}, rounds=2, warmup=0)
    assert min(timed["sleeps"]) >= 0.02 > max(timed["idle"])
    with pytest.raises(ValueError, match="at least one"):
        time_interleaved({"a": lambda: None}, rounds=0)


@pytest.mark.parametrize("on", [True, False])
def test_cudnn_autotuner_is_set_back(on):
    """The benchmark switches cuDNN's autotuner per recipe; whatever it was before comes back, also after an error."""
    before = torch.backends.cudnn.benchmark
    with pytest.raises(RuntimeError):
        with cudnn_autotuner(on):
            assert torch.backends.cudnn.benchmark is on
            raise RuntimeError("a recipe failed")
    assert torch.backends.cudnn.benchmark is before
