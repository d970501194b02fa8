"""The book's numbers in its prose: glued from the run, and put into sentences by tested functions.

Every number in a chapter's text comes from the run that built the page (myst-nb's ``glue``):
:func:`glue_all` glues a cell's results at once and shows them as the cell's output, so that a
reader in Jupyter, where the text shows ``{glue:text}`name``` literally, sees the values next to it.
The sentences whose wording depends on the numbers (who wins, whether a difference is more than the
noise) are built here rather than in the chapters, where a test can hold them to the numbers.
"""

from __future__ import annotations

import html
import math
from typing import Any


class Glued(dict):
    """The values a cell glued, by name: Jupyter shows them as a small table."""

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(_shown(v))}</td></tr>" for k, v in self.items()
        )
        return f'<table class="glued"><thead><tr><th>in the text</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>'

    def __repr__(self) -> str:
        return "\n".join(f"{k}: {_shown(v)}" for k, v in self.items())


def _shown(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def glue_all(**values: Any) -> Glued:
    """Glue every keyword's value under its name (for ``{glue:text}`name``` in the text) and return
    them, so that the cell shows what it glued."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)
    return Glued(values)


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``"1 epoch"``, ``"3 epochs"``; with thousands separators (``"1,000 images"``)."""
    word = noun if n == 1 else (plural_form or noun + "s")
    return f"{n:,} {word}"


def join_words(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------- transfer (chapter 7.2)

#: How sentences name the four ways to start on a new task.
TRANSFER_PHRASES = {
    "scratch": "training from scratch",
    "linear_probe": "the linear probe",
    "top_layers": "fine-tuning the top layers",
    "full": "fine-tuning everything",
}
_PRETRAINED = ("linear_probe", "top_layers", "full")


def _accuracy(results: dict, method: str, n: int) -> float:
    return results[method][n]["accuracy"]


def transfer_winners(results: dict[str, dict[int, dict]], budgets: list[int], n_test: int) -> str:
    """Who wins at each label budget, by how much, and whether the lead is more than two standard
    errors of the difference (on ``n_test`` test images): one sentence for all budgets."""
    from mnist_book.evaluate import difference_se

    parts = []
    for n in budgets:
        ranked = sorted(results, key=lambda m: _accuracy(results, m, n), reverse=True)
        first, second, last = ranked[0], ranked[1], ranked[-1]
        a, b = _accuracy(results, first, n), _accuracy(results, second, n)
        margin = "a clear lead" if a - b > 2 * difference_se(a, b, n_test) else "within the noise: a tie"
        parts.append(
            f"with {n:,} labels, {TRANSFER_PHRASES[first]} wins ({100 * a:.1f}%), {100 * (a - b):.1f} points "
            f"ahead of {TRANSFER_PHRASES[second]} ({margin}), and {TRANSFER_PHRASES[last]} comes last "
            f"({100 * _accuracy(results, last, n):.1f}%)"
        )
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def pretraining_verdict(results: dict[str, dict[int, dict]], budgets: list[int]) -> str:
    """Whether starting from the pretrained network beats training from scratch, at the smallest and
    the largest budget, and whether the head start shrinks with more labels."""

    def gain(n: int) -> tuple[str, float]:
        best = max(_PRETRAINED, key=lambda m: _accuracy(results, m, n))
        return best, _accuracy(results, best, n) - _accuracy(results, "scratch", n)

    def clause(n: int) -> str:
        best, g = gain(n)
        verb = "beats" if g > 0 else "trails"
        return (
            f"with {n:,} labels the best start from the MNIST network ({TRANSFER_PHRASES[best]}) {verb} "
            f"training from scratch by {100 * abs(g):.1f} points"
        )

    small, large = budgets[0], budgets[-1]
    text = f"Is the MNIST network worth starting from? W{clause(small)[1:]}; {clause(large)}"
    if gain(small)[1] > gain(large)[1] + 0.01:
        return text + ": the fewer the labels, the more the head start is worth."
    return text + "."


def probe_verdict(results: dict[str, dict[int, dict]], n: int) -> str:
    """The linear probe against fine-tuning everything, at ``n`` labels, and what it means."""
    diff = _accuracy(results, "linear_probe", n) - _accuracy(results, "full", n)
    if diff < 0:
        return (
            f"With {n:,} labels the linear probe is {100 * -diff:.1f} points behind fine-tuning everything: "
            "features learned for digits are not the best features for clothes, and only training the "
            "convolutions can change them."
        )
    return (
        f"With {n:,} labels the linear probe is {100 * diff:.1f} points ahead of fine-tuning everything: at "
        "this budget, moving the digit features did not pay."
    )


def full_vs_top_verdict(results: dict[str, dict[int, dict]], budgets: list[int]) -> str:
    """Where fine-tuning everything trails fine-tuning the top layers, and why (the smaller rate);
    empty where it never does."""
    behind = [n for n in budgets if _accuracy(results, "full", n) < _accuracy(results, "top_layers", n)]
    if not behind:
        return ""
    where = (
        "At every budget" if len(behind) == len(budgets) else f"With {join_words([f'{n:,}' for n in behind])} labels"
    )
    return (
        f"{where}, fine-tuning everything trails fine-tuning only the top layers, although it trains more "
        "layers. The difference is the rate: when everything is fine-tuned, fc1 counts as a pretrained layer "
        "and learns at a tenth of the rate it gets when only the top layers are, so in the same number of "
        "steps it moves much less, and the new head has to make do with features shaped for digits. A smaller "
        "rate for pretrained layers protects what they know, which is the point, and costs adaptation."
    )


def forgetting_verdict(before: float, after: dict[str, list[float]]) -> str:
    """How much of the old task survived fine-tuning: ``before`` is the accuracy on it before,
    ``after[method]`` the accuracies with the old head put back, budget by budget (increasing)."""
    drop = before - min(a for accs in after.values() for a in accs)
    full = after["full"]
    more_is_worse = full[-1] < full[0] - 0.01
    overwritten = ", and the more it trains on the new task, the more is overwritten." if more_is_worse else "."
    if drop > 0.2:
        return (
            "This is catastrophic forgetting: nothing in the loss asks the network to keep its old skill" + overwritten
        )
    if drop > 0.02:
        return (
            f"Some of the old skill is lost (at worst {100 * drop:.1f} points): nothing in the loss asks the "
            "network to keep it" + overwritten
        )
    return (
        f"At these budgets the old skill survived almost intact (at worst {100 * drop:.1f} points lost): "
        "training did not move the weights far. Nothing in the loss protects it, though, so longer training "
        "on the new task is free to overwrite it."
    )


# --------------------------------------------------------------------------- the ablation (chapter 7.1)


def ablation_verdicts(labels: list[str], pairs: list, *, alpha: float = 0.05) -> tuple[str, list[int]]:
    """What a ladder of changes did, judged image by image: ``pairs[k]`` is the
    :class:`~mnist_book.evaluate.Paired` comparison of step ``k + 1`` (named ``labels[k]``) with the
    step before. A change is clearly better or worse when the sign test's p-value is below ``alpha``.

    Returns the sentence and the positions of the changes that were clearly worse.
    """
    better = [label for label, p in zip(labels, pairs) if p.p_value < alpha and p.only_b > p.only_a]
    worse = [k for k, p in enumerate(pairs) if p.p_value < alpha and p.only_a > p.only_b]
    unclear = [label for k, (label, p) in enumerate(zip(labels, pairs)) if label not in better and k not in worse]
    parts = []
    if better:
        parts.append(f"Clearly better than the step before (p < {alpha:g}): {join_words(better)}.")
    if unclear:
        parts.append(f"Too close to call at this budget: {join_words(unclear)}.")
    if worse:
        parts.append(f"Clearly worse than the step before: {join_words([labels[k] for k in worse])}.")
    else:
        parts.append("No change made the validation accuracy clearly worse.")
    return " ".join(parts), worse


def goal_verdict(accuracy: float, n_test: int, goal: float, *, fast: bool, still_rising: bool) -> str:
    """Whether the final model met the accuracy goal on the test set, said plainly, with what to try
    next when it did not; in fast mode, that the figure says nothing."""
    if fast:
        return (
            "This build ran in fast mode, a short run on a few thousand images, so this figure says nothing about "
            f"the ceiling; the full build trains the tuned recipe at full size and reports it against the goal of "
            f"{goal:.1%}."
        )
    if accuracy >= goal:
        return f"That meets the goal of {goal:.1%}."
    short = round(goal * n_test) - round(accuracy * n_test)
    rising = ", and the validation accuracy was still rising at the last epoch" if still_rising else ""
    return (
        f"That falls short of the goal of {goal:.1%} by {plural(short, 'test image')}{rising}: more epochs, or the "
        "small ensemble in the exercises, are the next things to try."
    )


def robustness_verdict(shifted: dict[str, float], turned: dict[str, float]) -> str:
    """The article's and the tuned model's accuracy on digits moved three pixels and turned 20°
    (``{"article's recipe": a, "tuned recipe": b}`` each), and whether augmentation paid."""
    (name_a, shift_a), (name_b, shift_b) = shifted.items()
    turn_a, turn_b = turned[name_a], turned[name_b]
    text = (
        f"Moved three pixels to the right, the {name_a.removesuffix(' recipe')} model reads {shift_a:.1%} of these digits "
        f"and the {name_b.removesuffix(' recipe')} one {shift_b:.1%}; turned by 20°, {turn_a:.1%} against {turn_b:.1%}."
    )
    if shift_b > shift_a and turn_b > turn_a:
        return text + " Augmentation bought the tolerance it was meant to."
    return (
        text
        + " In this build the tuned model is not more tolerant on both counts: its augmentation was too short or too weak to show."
    )


# --------------------------------------------------------------------------- training (chapter 5)


def speed_comparison(ratio: float, fast: str, slow: str, *, same_within: float = 0.05) -> str:
    """``"training from `Batches` was 1.30 times as fast as from the `DataLoader`"``, or that the two
    were about the same when ``ratio`` (slow's time over fast's) is within ``same_within`` of 1."""
    if ratio >= 1 + same_within:
        return f"training from {fast} was {ratio:.2f} times as fast as from {slow}"
    return f"the two paths trained at about the same speed (ratio {ratio:.2f}; timings on a shared machine are noisy)"


def validation_trend(val_loss: list[float], val_acc: list[float], *, full_epochs: int) -> str:
    """What the validation curve says about over-fitting: where its loss was lowest, whether it rose after."""
    epochs = len(val_loss)
    if epochs == 1:
        return (
            f"With a single epoch (fast mode) there is no trend to read yet; the full build trains for {full_epochs}."
        )
    best = min(range(epochs), key=lambda e: val_loss[e])
    if best == epochs - 1:
        return (
            "The validation loss was still falling at the last epoch, so there is no sign of over-fitting yet; "
            "more epochs might still help a little."
        )
    return (
        f"The validation loss was lowest after epoch {best + 1} and rose after it ({val_loss[best]:.4f}, then "
        f"{val_loss[-1]:.4f} at the end), and the validation accuracy went from {val_acc[best]:.2%} to "
        f"{val_acc[-1]:.2%}. With a constant learning rate the last epochs bounce around a minimum, so part of that "
        "is noise; a loss that keeps rising would be the sign of over-fitting: the network fitting its training "
        "images more closely than new ones."
    )


def optimiser_comparison(sgd: float, adadelta: float) -> str:
    """Which of two short runs ended ahead, and what that does and does not show."""
    lead = "Adadelta ended ahead" if adadelta > sgd else "SGD ended ahead" if sgd > adadelta else "The two ended level"
    if abs(adadelta - sgd) < 0.005:
        why = (
            "A difference of a few tenths of a percent on this many validation images is within the noise of a "
            "different random seed (exercise 3), so the honest conclusion is that both recipes train this network "
            "well, not that one is better."
        )
    else:
        why = (
            "A run this short says more about how quickly each optimiser gets going than about where it ends up, "
            "and a different random seed moves the figures too (exercise 3); it does not show that one recipe is "
            "better over a full schedule."
        )
    return f"{lead} on this budget. {why}"


def learning_rate_sweep(sweep: dict[float, tuple[float, float, float]], article_lr: float = 0.01) -> str:
    """A learning-rate sweep, ``{lr: (training loss, validation loss, validation accuracy)}``, in words:
    where training failed (a loss no better than an even guess), where it crawled, how the article's rate did."""
    best = max(sweep, key=lambda lr: sweep[lr][2])
    failed = [lr for lr, (tl, vl, _) in sweep.items() if not (math.isfinite(tl) and vl < math.log(10))]
    if failed:
        accs = ", ".join(f"{sweep[lr][2]:.2%}" for lr in failed)
        text = (
            f"At {join_words([str(lr) for lr in failed])} training failed: the steps overshoot, and the validation "
            f"loss ended no better than an even guess over ten classes (accuracy {accs})."
        )
    else:
        text = "No rate in this sweep was large enough to make training fail."
    smallest = min(sweep)
    if smallest != best and sweep[smallest][2] < sweep[best][2] - 0.05:
        text += f" At {smallest} learning was slower ({sweep[smallest][2]:.2%} after the epoch): the steps are small."
    if best == article_lr:
        return text + f" The article's {article_lr} was the best rate in this sweep."
    direction = "larger" if best > article_lr else "smaller"
    margin = ", and a larger rate leaves less margin before training fails." if best > article_lr else "."
    return (
        text + f" The article's {article_lr} reached {sweep[article_lr][2]:.2%}, so on this short budget a {direction} "
        f"rate did better. One short run cannot say whether that holds over a full schedule{margin}"
    )


# --------------------------------------------------------------------------- speed (appendix)


def amdahl_sentence(bound: float) -> str:
    """What a free data phase would buy a step whose compute alone is ``1 / bound`` of it (Amdahl's law)."""
    if bound < 2:
        return (
            f"Even a data phase that took no time at all would make this step only {bound:.2f} times faster (one "
            "over the share left for the network), so here no data path can double the article's network's training "
            "speed; only less or faster arithmetic can."
        )
    return f"A data phase that took no time at all would make this step {bound:.1f} times faster: here the data path is worth optimising."


def budget_verdict(pair, speed_ratio: float, epochs: tuple[int, int], *, alpha: float = 0.05) -> str:
    """The network built for the budget against the ladder's last step at equal training time:
    ``pair`` compares the two on the same validation images (the ladder's step first), ``speed_ratio``
    is how many times faster the new network trains, ``epochs`` = (the step's, the new network's)."""
    faster = f"It trained {speed_ratio:.1f} times as fast, so in the same time it ran {epochs[1]} epochs to the other's {epochs[0]}"
    if pair.p_value < alpha and pair.only_b > pair.only_a:
        return f"{faster}, and came out clearly better (p = {pair.p_value:.3f}): the tuned recipe takes it."
    if pair.p_value < alpha:
        return (
            f"{faster}, and still came out clearly worse (p = {pair.p_value:.3f}): at this budget the swap does not pay, "
            "though the tuned recipe, trained much longer, keeps it for its speed."
        )
    return f"{faster}; the two are too close to call at this budget (p = {pair.p_value:.2f}), so the tuned recipe takes the faster one."


# --------------------------------------------------------------------------- the exported network (7.3)


def runtime_agreement(scores: Any) -> str:
    """How ONNX Runtime's reading of the test set compares with PyTorch's, from a
    :class:`mnist_book.web.RuntimeComparison`: ``"the two agree on every one of the 10,000 digits,
    with logits that differ by at most 3.8e-06"``."""
    differ = f"logits that differ by at most {scores.max_logit_difference:.1e}"
    if scores.disagreements == 0:
        return f"the two agree on every one of the {scores.images:,} digits, with {differ}"
    return (
        f"the two read {plural(scores.disagreements, 'digit')} of {scores.images:,} differently "
        f"(a digit on the edge between two classes tips either way), with {differ}"
    )
