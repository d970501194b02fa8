"""How the benchmark reports: a table, the ratios between recipes, and the results saved as JSON.

The benchmark reports what it measured and the ratios between recipes measured side by side; it
sets no thresholds. What a ratio means is for the reader to decide.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mnist_book.bench.run import SCHEMA
from mnist_book.files import atomic_write
from mnist_book.tables import markdown_table

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per recipe: what ran, time to target, final accuracy, images per second, memory."""
    rows = []
    for key, r in result["recipes"].items():
        s = r["summary"]
        epochs = s["epochs_run"]
        ran = f"{min(epochs)}" if min(epochs) == max(epochs) else f"{min(epochs)}-{max(epochs)}"
        ran += f" of {r['published_epochs']}"
        if s["time_to_target_s"] is not None:
            hit = sorted(set(s["epoch_to_target"]))
            when = f"{_seconds(s['time_to_target_s'])} (epoch {'/'.join(map(str, hit))})"
        elif s["reached_target"]:
            when = f"{s['reached_target']}/{s['seeds']} seeds"
        else:
            when = f"not reached (> {_seconds(s['time_to_target_at_least_s'])})"
        acc = s["final_accuracy"]
        accuracy = f"{acc['mean']:.2%}"
        if s["seeds"] > 1:
            accuracy += f" ± {100 * acc['std']:.2f} ({acc['min']:.2%}-{acc['max']:.2%})"
        data = "DataLoader" if r["data_path"] == "loader" else "in memory"
        rows.append(
            [
                f"{key}: {r['title']}",
                f"{r['network']}, {data}",
                ran,
                str(s["seeds"]),
                when,
                accuracy,
                f"{s['images_per_second']:,.0f}",
                f"{s['peak_extra_memory_mib']:,.0f}",
            ]
        )
    return rows


def format_table(result: dict[str, Any], *, last_row_only: bool = False) -> str:
    """The result as a Markdown table (readable as plain text too); or just its last row."""
    target = result["plan"]["target"]
    headers = [
        "recipe",
        "network, data",
        "epochs run",
        "seeds",
        f"time to {target:.1%}",
        "test accuracy",
        "train images/s",
        "peak memory (MiB)",
    ]
    rows = table_rows(result)
    if last_row_only:
        return markdown_table(headers, rows[-1:], align="llrrlrrr").splitlines()[-1]
    return markdown_table(headers, rows, align="llrrlrrr")


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    """The comparisons a run of several recipes allows, from its own measurements.

    - ``fast_speedup_vs_a``: recipe a's time to the target over the fast recipe's; when a missed
      the target, its training time so far stands in, and ``a_time_is_lower_bound`` says so;
    - ``article_images_per_second_ratio``: b's images per second over b-loader's (the data path's
      whole effect on an epoch);
    - ``article_accuracy_difference``: the largest difference of test accuracy between b and
      b-loader, epoch by epoch (the same batches: the same training, up to rounding).
    """
    s = {k: v["summary"] for k, v in result["recipes"].items()}
    out: dict[str, Any] = {}
    if "a" in s and "c" in s:
        a_time = s["a"]["time_to_target_s"]
        bound = a_time is None
        out["fast_speedup_vs_a"] = {
            "value": _ratio(s["a"]["time_to_target_at_least_s"] if bound else a_time, s["c"]["time_to_target_s"]),
            "a_time_is_lower_bound": bound,
        }
    if "b" in s and "b-loader" in s:
        out["article_images_per_second_ratio"] = {
            "value": _ratio(s["b"]["images_per_second"], s["b-loader"]["images_per_second"])
        }
        diffs = []
        for rb, rl in zip(result["recipes"]["b"]["runs"], result["recipes"]["b-loader"]["runs"]):
            diffs += [abs(x - y) for x, y in zip(rb["test_accuracy"], rl["test_accuracy"])]
        out["article_accuracy_difference"] = {"value": max(diffs) if diffs else None}
    return out


def format_ratios(result: dict[str, Any]) -> str:
    """:func:`ratios`, a line each, in words."""
    r = ratios(result)
    lines = []
    if "fast_speedup_vs_a" in r:
        v = r["fast_speedup_vs_a"]
        at_least = "at least " if v["a_time_is_lower_bound"] else ""
        shown = "n/a (c did not reach the target)" if v["value"] is None else f"{at_least}{v['value']:.1f}x"
        lines.append(f"time to target, recipe a over the fast recipe c: {shown}")
    if "article_images_per_second_ratio" in r:
        v = r["article_images_per_second_ratio"]["value"]
        lines.append(f"images per second, article in memory (b) over DataLoader (b-loader): {v:.2f}x")
        d = r["article_accuracy_difference"]["value"]
        lines.append(f"largest test accuracy difference between b and b-loader: {100 * d:.2f} points")
    return "\n".join(lines)


def load_results(folder: str | Path = RESULTS_DIR, device_type: str | None = None) -> list[dict[str, Any]]:
    """Saved bench results (``bench/results/*.json``), newest first; only one device type if given."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(result, dict) or result.get("schema") != SCHEMA:
            continue
        if device_type is None or result["hardware"]["device"].startswith(device_type):
            result["_path"] = str(path)
            found.append(result)
    return sorted(found, key=lambda r: r.get("date", ""), reverse=True)


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``result`` (what :func:`~mnist_book.bench.run.run_bench` returned) as indented JSON."""
    path = Path(path)
    with atomic_write(path) as tmp:  # a run interrupted while writing leaves the previous file
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return path


def recorded_header(result: dict[str, Any]) -> str:
    """One line saying where and when a saved result was measured, and what ran."""
    hw = result["hardware"]
    when = result["date"][:10]
    if hw["device"].startswith("cuda"):
        where = f"an {hw.get('gpu', 'unknown GPU')} (CUDA {hw.get('cuda')})"
    else:
        threads = hw["torch_threads"]
        where = (
            f"{hw['cpu']} ({hw['cpus_usable']} cores, {threads} PyTorch thread{'s' * (threads > 1)}, "
            f"load average at the start {hw['load_average'][0]:.1f})"
        )
    return (
        f"**Recorded** {when} on {where}, PyTorch {result['versions']['torch']}, file "
        f"`{Path(result.get('_path', 'bench.json')).name}`. What ran: {result['plan']['what_ran']}."
    )


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.1f}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def fast_recipe_sentence(result: dict[str, Any]) -> str:
    """What a saved result says about the fast recipe (c): its accuracy over its seeds, whether and when it
    reached the target, and how much sooner than recipe a (at least, when a missed the target)."""
    c = result["recipes"]["c"]["summary"]
    target, seeds, acc = f"{c['target']:.1%}", c["seeds"], c["final_accuracy"]["mean"]
    text = f"the fast recipe reached a mean test accuracy of {acc:.2%} over its {seeds} seeds"
    if seeds == 1:
        text = f"the fast recipe reached a test accuracy of {acc:.2%} (one seed)"
    if c["time_to_target_s"] is None:
        if c["reached_target"]:
            return (
                f"{text}, but the target of {target} in only {c['reached_target']} of them, so it has no time to "
                "the target to set against the other recipes'."
            )
        return f"{text}, and did not reach the target of {target} within its schedule."
    text += f", and the target of {target} after {_seconds(c['time_to_target_s'])} of training"
    text += " (the mean over its seeds)" if seeds > 1 else ""
    speed = ratios(result).get("fast_speedup_vs_a")
    if speed is None or speed["value"] is None:
        return text + "."
    v, bound = speed["value"], speed["a_time_is_lower_bound"]
    if v >= 1:
        return f"{text}: {'at least ' if bound else ''}{_times(v)} times sooner than recipe a."
    if bound:
        return f"{text}; recipe a ran for less time than that without reaching it, so which is sooner is not known."
    return f"{text}: recipe a reached it {_times(1 / v)} times sooner."


def recipe_a_note(result: dict[str, Any]) -> str:
    """Recipe a's own time to the target, or what it reached in the epochs it ran when it missed."""
    a = result["recipes"]["a"]["summary"]
    if a["time_to_target_s"] is not None:
        return f"Recipe a reached it after {_seconds(a['time_to_target_s'])} (epoch {a['epoch_to_target'][0]})."
    c = result["recipes"].get("c", {}).get("summary", {})
    note = (
        f"Recipe a had not reached the target after the {_plural(max(a['epochs_run']), 'epoch')} it ran "
        f"({a['final_accuracy']['mean']:.2%} after {_seconds(a['training_seconds'])}), so its time to the target is "
        "at least that"
    )
    return note + (": the comparison is conservative." if c.get("time_to_target_s") is not None else ".")


def data_path_sentence(result: dict[str, Any]) -> str | None:
    """The article's recipe on its two data paths (b in memory, b-loader through the `DataLoader`), from
    the epochs' times: which path was faster, or that their difference is within the noise between epochs.
    None when the result lacks b or b-loader."""
    recipes = result["recipes"]
    ratio = ratios(result).get("article_images_per_second_ratio", {}).get("value")
    if ratio is None:
        return None
    per_epoch = [  # the same batches in both: the ratio of images per second is the ratio of the times
        loader / memory
        for rb, rl in zip(recipes["b"]["runs"], recipes["b-loader"]["runs"])
        for memory, loader in zip(rb["epoch_seconds"], rl["epoch_seconds"])
    ]
    lead = (
        f"The article's recipe trained {ratio:.2f} times as many images per second on the in-memory path as "
        "through the DataLoader"
    )
    if len(per_epoch) < 2:
        return f"{lead}, in one epoch each: too few to tell a difference from the noise between epochs."
    lo, hi, n = min(per_epoch), max(per_epoch), len(per_epoch)
    if lo > 1:
        return f"{lead}, and was faster in memory in each of its {n} epochs (ratios {lo:.2f} to {hi:.2f})."
    if hi < 1:
        return f"{lead}: the DataLoader was the faster path in each of its {n} epochs (ratios {lo:.2f} to {hi:.2f})."
    return (
        f"{lead}, but epoch by epoch the ratio went from {lo:.2f} to {hi:.2f}, on both sides of 1: the difference "
        "between the two paths was within the noise between epochs."
    )


def recorded_figures(result: dict[str, Any] | None) -> dict[str, str]:
    """The figures and sentences the appendix quotes from a saved result, as text: the fast recipe's accuracy,
    its time to the target and its speed-up over recipe a (a lower bound when a missed the target), recipe a's
    note, and the article's two data paths compared. Missing recipes (or no result) say so."""
    keys = ("c_acc", "c_time", "speedup", "c_sentence", "a_note", "ips_ratio", "data_path", "acc_diff")
    if result is None:
        return dict.fromkeys(keys, "(not recorded)")
    s = {k: v["summary"] for k, v in result["recipes"].items()}
    r = ratios(result)
    missing = "(not measured)"
    out = dict.fromkeys(keys, missing)
    if "c" in s:
        out["c_acc"] = f"{s['c']['final_accuracy']['mean']:.2%}"
        t = s["c"]["time_to_target_s"]
        out["c_time"] = f"{t:.1f}" if t is not None else missing
        out["c_sentence"] = "In the recorded run " + fast_recipe_sentence(result)
    if "fast_speedup_vs_a" in r and r["fast_speedup_vs_a"]["value"] is not None:
        v = r["fast_speedup_vs_a"]
        out["speedup"] = ("at least " if v["a_time_is_lower_bound"] else "") + _times(v["value"])
    if "a" in s:
        out["a_note"] = recipe_a_note(result)
    if "article_images_per_second_ratio" in r:
        out["ips_ratio"] = f"{r['article_images_per_second_ratio']['value']:.2f}"
        out["data_path"] = data_path_sentence(result) or missing
        diff = r["article_accuracy_difference"]["value"]
        out["acc_diff"] = (
            "identical test accuracies after every epoch"
            if diff == 0
            else f"test accuracies within {100 * diff:.2f} percentage points of each other"
        )
    return out


def recorded_gpu_sentence(result: dict[str, Any] | None) -> str:
    """What a saved GPU result says about the fast recipe and the data path, in two or three sentences."""
    if result is None:
        return "No GPU run is recorded yet, so this build has no GPU figures to show."
    gpu = result["hardware"].get("gpu", "GPU")
    text = f"On the recorded GPU ({gpu}) {fast_recipe_sentence(result)}"
    if "a" in result["recipes"]:
        text += " " + recipe_a_note(result)
    data_path = data_path_sentence(result)
    return f"{text} {data_path}" if data_path else text
