"""How the benchmark reports: a table, the ratios between recipes, and the results saved as JSON.

The benchmark reports what it measured and the ratios between recipes measured side by side; it
sets no thresholds. What a ratio means is for the reader to decide.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mnist_book.bench.run import SCHEMA
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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
