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


# --------------------------------------------------------------------------- convolution and pooling (chapters 2 and 3)


def kernel_recovery(losses: list[float], max_difference: float, *, tolerance: float = 0.05) -> str:
    """What gradient descent did with a known kernel to find: whether the loss fell over ``losses`` (one
    per step) and whether every learned weight came within ``tolerance`` of the true one."""
    first, last = losses[0], losses[-1]
    if not math.isfinite(last):
        return f"The loss diverged, from {first:.3g} to {last}: the steps overshoot and grow instead of descending."
    if last >= first:
        return (
            f"The loss did not fall ({first:.3g} at the first step, {last:.3g} at the last), and the learned kernel "
            f"is up to {max_difference:.2g} away from the true one: gradient descent did not find it."
        )
    fell = f"The loss fell from {first:.3g} at the first step to {last:.2g} at the last"
    if max_difference <= tolerance:
        return (
            f"{fell}, and every weight of the learned kernel lies within {max_difference:.2g} of the true one: "
            "from the pairs alone, gradient descent found the vertical-edge kernel."
        )
    return (
        f"{fell}, but the learned kernel is still up to {max_difference:.2g} away from the true one (more than "
        f"{tolerance:g}): it is on its way, and more steps or a larger learning rate would bring it closer."
    )


def _clearly_less(a: float, b: float, within: float) -> bool:
    """``a`` below ``b`` by more than the relative margin ``within``."""
    return a < b * (1 - within)


def shift_tolerance_verdict(
    none: float, max_pool: float, avg_pool: float, subsample: float, *, same_within: float = 0.05
) -> str:
    """Where the shift tolerance comes from, from the mean relative change of the features under a
    one-pixel shift: without pooling, after max and average pooling, after subsampling alone."""
    pooled = [name for name, v in (("max", max_pool), ("average", avg_pool)) if _clearly_less(v, none, same_within)]
    within = f"by more than {same_within:.0%}"
    if not pooled:
        return (
            f"Neither max nor average pooling changes the features less than no pooling does ({within}): on these "
            "digits, pooling bought no tolerance to one-pixel shifts."
        )
    which = "Both max and average pooling change" if len(pooled) == 2 else f"Only {pooled[0]} pooling changes"
    window = "the maximum (or the mean)" if len(pooled) == 2 else ("the maximum" if pooled == ["max"] else "the mean")
    if _clearly_less(subsample, none, same_within):
        return (
            f"{which} the features less than no pooling does ({within}), and so does subsampling alone: part of "
            "the tolerance comes from the smaller size itself. It is a partial tolerance, not invariance."
        )
    return (
        f"{which} the features less than no pooling does ({within}), and subsampling, the same reduction in size "
        f"without a window, does not: the tolerance comes from taking {window} over a window, not from the "
        "smaller size. It is a partial tolerance, not invariance."
    )


def pooling_shift_comparison(max_pool: float, avg_pool: float, *, same_within: float = 0.05) -> str:
    """Which pooling kept the features closer under one-pixel shifts (their mean relative change)."""
    numbers = f"a relative change of {max_pool:.2f} after max pooling, {avg_pool:.2f} after average pooling"
    if _clearly_less(max_pool, avg_pool, same_within):
        return f"max pooling was the more shift-tolerant of the two ({numbers})"
    if _clearly_less(avg_pool, max_pool, same_within):
        return f"average pooling was the more shift-tolerant of the two ({numbers})"
    return f"the two were equally shift-tolerant, within {same_within:.0%} ({numbers})"


def shift_summary(none: float, max_pool: float, *, same_within: float = 0.05) -> str:
    """The summary's line on max pooling and one-pixel shifts."""
    if _clearly_less(max_pool, none, same_within):
        return (
            "It makes features partly tolerant to one-pixel shifts: their relative change fell from "
            f"{none:.2f} without pooling to {max_pool:.2f} with it, on real digits."
        )
    return (
        "It did not make these features more tolerant to one-pixel shifts: their relative change was "
        f"{none:.2f} without pooling and {max_pool:.2f} with it on real digits."
    )


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


def _clearly_ahead(a: float, b: float, n_test: int) -> bool:
    """Whether accuracy ``a`` beats ``b`` by more than two standard errors of the difference."""
    from mnist_book.evaluate import difference_se

    return a - b > 2 * difference_se(a, b, n_test)


def _leaders(results: dict, n: int, n_test: int) -> tuple[str, list[str]]:
    """The method that comes first at ``n`` labels, and the others within the noise of it."""
    ranked = sorted(results, key=lambda m: _accuracy(results, m, n), reverse=True)
    top = _accuracy(results, ranked[0], n)
    return ranked[0], [m for m in ranked[1:] if not _clearly_ahead(top, _accuracy(results, m, n), n_test)]


def _capitalised(text: str) -> str:
    return text[0].upper() + text[1:]


def _signed_points(diff: float) -> str:
    """``"+0.3 points"``, ``"-1.2 points"``, or ``"less than 0.1 points apart"``."""
    return "less than 0.1 points apart" if 100 * abs(diff) < 0.05 else f"{100 * diff:+.1f} points"


def _points(diff: float) -> str:
    """A difference of accuracies (fractions) in percentage points: ``"1.4 points"``, or ``"less
    than 0.1 points"`` where one decimal would show 0.0."""
    return "less than 0.1 points" if 100 * abs(diff) < 0.05 else f"{100 * abs(diff):.1f} points"


def transfer_winners(results: dict[str, dict[int, dict]], budgets: list[int], n_test: int) -> str:
    """Who comes first at each label budget, by how much, and whether the lead is more than two
    standard errors of the difference (on ``n_test`` test images): one sentence for all budgets."""
    parts = []
    for n in budgets:
        ranked = sorted(results, key=lambda m: _accuracy(results, m, n), reverse=True)
        first, second, last = ranked[0], ranked[1], ranked[-1]
        a, b = _accuracy(results, first, n), _accuracy(results, second, n)
        if _clearly_ahead(a, b, n_test):
            head = f"{TRANSFER_PHRASES[first]} wins ({100 * a:.1f}%), {_points(a - b)} ahead of"
            margin = "a clear lead"
        else:
            head = f"{TRANSFER_PHRASES[first]} comes first ({100 * a:.1f}%), {_points(a - b)} ahead of"
            margin = "within the noise: a tie"
        parts.append(
            f"with {n:,} labels, {head} {TRANSFER_PHRASES[second]} ({margin}), and {TRANSFER_PHRASES[last]} "
            f"comes last ({100 * _accuracy(results, last, n):.1f}%)"
        )
    return _capitalised("; ".join(parts) + ".")


def transfer_summary(results: dict[str, dict[int, dict]], budgets: list[int], n_test: int) -> str:
    """The comparison in one line: one method wins at every budget, or comes first or ties everywhere,
    or which wins depends on the number of labels (two budgets whose leaders, the first and those
    within the noise of it, have no method in common), or first place moves only within the noise.
    Runs that stopped at the step cap (``plateaued`` false) make the placings provisional."""
    leaders = {n: _leaders(results, n, n_test) for n in budgets}
    tops = {n: {first, *tied} for n, (first, tied) in leaders.items()}
    groups: list[tuple[tuple[str, tuple[str, ...]], list[int]]] = []
    for n in budgets:
        all_tied = len(tops[n]) == len(results)  # listed as such, whoever is ahead by a hair
        key = ("", ()) if all_tied else (leaders[n][0], tuple(leaders[n][1]))
        if groups and groups[-1][0] == key:
            groups[-1][1].append(n)
        else:
            groups.append((key, [n]))

    def place(first: str, tied: tuple[str, ...], ns: list[int]) -> str:
        labels = f"with {join_words([f'{n:,}' for n in ns])} labels"
        if not first:
            return f"every method within the noise of the others {labels}"
        close = f" ({join_words([TRANSFER_PHRASES[m] for m in tied])} within the noise of it)" if tied else ""
        return f"{TRANSFER_PHRASES[first]} {labels}{close}"

    listing = "; ".join(place(first, tied, ns) for (first, tied), ns in groups)
    always = set.intersection(*tops.values())
    firsts = {first for first, _ in leaders.values()}
    if len(firsts) == 1 and not any(tied for _, tied in leaders.values()):
        text = f"{TRANSFER_PHRASES[firsts.pop()]} wins at every number of labels, each time by more than the noise"
    elif len(firsts) == 1:
        ties: list[tuple[tuple[str, ...], list[int]]] = []
        for n in budgets:
            if ties and ties[-1][0] == tuple(leaders[n][1]):
                ties[-1][1].append(n)
            elif leaders[n][1]:
                ties.append((tuple(leaders[n][1]), [n]))
        close = "; ".join(
            f"{join_words([TRANSFER_PHRASES[m] for m in tied])} within the noise of it with "
            f"{join_words([f'{n:,}' for n in ns])} labels"
            for tied, ns in ties
        )
        first = TRANSFER_PHRASES[firsts.pop()]
        text = f"{first} comes first at every number of labels, though not always by more than the noise: {close}"
    elif always:
        best = min(always, key=lambda m: list(results).index(m))
        text = f"{TRANSFER_PHRASES[best]} comes first or ties for first at every number of labels: {listing}"
    elif any(not (tops[a] & tops[b]) for a in budgets for b in budgets):
        text = f"which method wins depends on the number of labels: {listing}"
    else:
        text = f"first place moves with the number of labels, but only within the noise: {listing}"
    text = _capitalised(text + ".")
    capped = [n for n in budgets for m in results if not results[m][n].get("plateaued", True)]
    if capped:
        their = "its" if len(capped) == 1 else "their"
        text += f" Provisional: {plural(len(capped), 'run')} stopped at the step cap before {their} plateau."
    return text


def plateau_report(results: dict[str, dict[int, dict]], budgets: list[int], *, patience: int, max_steps: int) -> str:
    """Whether every run trained until its validation accuracy plateaued (``plateaued``: ``patience``
    validations in a row without a new best) or some stopped at the cap of ``max_steps`` steps."""
    runs = [(m, n) for n in budgets for m in results]
    best = [results[m][n]["best_step"] for m, n in runs]
    capped = [(m, n) for m, n in runs if not results[m][n]["plateaued"]]
    if not capped:
        longest = max(results[m][n]["steps"] for m, n in runs)
        return (
            f"Every run reached its plateau: each stopped after {patience} validations in a row without a new "
            f"best, the longest after {longest:,} steps (the cap was {max_steps:,}), and kept the weights of its "
            f"best validation, reached between {min(best):,} and {max(best):,} steps in."
        )
    which = join_words([f"{TRANSFER_PHRASES[m]} with {n:,} labels" for m, n in capped])
    one = len(capped) == 1
    return (
        f"{len(runs) - len(capped)} of the {len(runs)} runs reached their plateau; the cap of {max_steps:,} steps "
        f"stopped {which} while {'it' if one else 'they'} still found new bests (one in the last {patience} "
        f"validations), so {'its figure' if one else 'their figures'} (starred in the table) may understate what "
        "more steps would give."
    )


def _gain(results: dict, n: int) -> tuple[str, float]:
    """The best start from the pretrained network at ``n`` labels, and its lead over training from scratch."""
    best = max(_PRETRAINED, key=lambda m: _accuracy(results, m, n))
    return best, _accuracy(results, best, n) - _accuracy(results, "scratch", n)


def pretraining_verdict(results: dict[str, dict[int, dict]], budgets: list[int], n_test: int) -> str:
    """Whether starting from the pretrained network beats training from scratch (by more than the noise
    on ``n_test`` images), at the smallest and the largest budget, and whether the head start is worth
    more with fewer labels or with more."""

    def clause(n: int) -> str:
        best, g = _gain(results, n)
        a, s = _accuracy(results, best, n), _accuracy(results, "scratch", n)
        start = f"with {n:,} labels the best start from the MNIST network ({TRANSFER_PHRASES[best]})"
        if _clearly_ahead(a, s, n_test):
            return f"{start} beats training from scratch by {_points(g)}"
        if _clearly_ahead(s, a, n_test):
            return f"{start} trails training from scratch by {_points(g)}"
        return f"{start} is within the noise of training from scratch ({_signed_points(g)})"

    small, large = budgets[0], budgets[-1]
    text = f"Is the MNIST network worth starting from? {_capitalised(clause(small))}; {clause(large)}"
    g_small, g_large = _gain(results, small)[1], _gain(results, large)[1]
    if g_small > 0.01 and g_small > g_large + 0.01:
        return text + ": the fewer the labels, the more the head start is worth."
    if g_large > 0.01 and g_large > g_small + 0.01:
        return text + ": here the head start is worth more with more labels."
    return text + "."


def probe_verdict(results: dict[str, dict[int, dict]], n: int, n_test: int) -> str:
    """The linear probe against fine-tuning everything at ``n`` labels (more than the noise on
    ``n_test`` images, or not), and what it means."""
    probe, full = _accuracy(results, "linear_probe", n), _accuracy(results, "full", n)
    if _clearly_ahead(full, probe, n_test):
        return (
            f"With {n:,} labels the linear probe is {_points(probe - full)} behind fine-tuning everything: "
            "adapting the digit features to clothes paid, and only training the convolutions can adapt them."
        )
    if _clearly_ahead(probe, full, n_test):
        return (
            f"With {n:,} labels the linear probe is {_points(probe - full)} ahead of fine-tuning everything: at "
            "this budget, moving the digit features did not pay."
        )
    return (
        f"With {n:,} labels the linear probe is within the noise of fine-tuning everything "
        f"({_signed_points(probe - full)}): at this budget, adapting the digit features bought nothing measurable."
    )


def full_vs_top_verdict(results: dict[str, dict[int, dict]], budgets: list[int], n_test: int) -> str:
    """Fine-tuning everything against fine-tuning the top layers, budget by budget: where it is clearly
    behind (with the one difference in their rates), clearly ahead, or within the noise."""
    full = {n: _accuracy(results, "full", n) for n in budgets}
    top = {n: _accuracy(results, "top_layers", n) for n in budgets}
    behind = [n for n in budgets if _clearly_ahead(top[n], full[n], n_test)]
    ahead = [n for n in budgets if _clearly_ahead(full[n], top[n], n_test)]

    def where(ns: list[int]) -> str:
        return "at every budget" if len(ns) == len(budgets) else f"with {join_words([f'{n:,}' for n in ns])} labels"

    if behind:
        text = (
            f"{_capitalised(where(behind))}, fine-tuning everything is clearly behind fine-tuning only the top "
            "layers, although it trains more layers. One difference between them is the rate: when everything "
            "is fine-tuned, fc1 counts as a pretrained layer and learns at a tenth of the rate it gets when only "
            "the top layers train (exercise 3 fine-tunes everything at one rate)."
        )
        return text + (f" With {join_words([f'{n:,}' for n in ahead])} labels it is clearly ahead." if ahead else "")
    if ahead:
        return (
            f"Fine-tuning everything is clearly ahead of fine-tuning only the top layers {where(ahead)}, and "
            "never clearly behind: adapting the convolutions as well paid there."
        )
    return (
        "Fine-tuning everything and fine-tuning only the top layers are within the noise of each other at every "
        "budget: adapting the convolutions as well bought nothing measurable."
    )


#: Points of the old task lost (worst case) above which forgetting is "some", then "catastrophic".
FORGETTING_LEVELS = (0.02, 0.2)


def _worst_forgetting(after: dict[str, list[float]]) -> tuple[str, int, float]:
    """The method and budget position with the lowest old-task accuracy, and that accuracy."""
    return min(((m, i, a) for m, accs in after.items() for i, a in enumerate(accs)), key=lambda t: t[2])


def forgetting_verdict(before: float, after: dict[str, list[float]]) -> str:
    """How much of the old task survived fine-tuning: ``before`` is the accuracy on it before,
    ``after[method]`` the accuracies with the old head put back, budget by budget (increasing)."""
    drop = before - _worst_forgetting(after)[2]
    worse = [m for m, accs in after.items() if accs[-1] < accs[0] - 0.01]  # more labels, more forgotten
    if worse and len(worse) == len(after):
        overwritten = ", and the more labels the network is fine-tuned on, the more it forgets."
    elif worse:
        overwritten = f", and {join_words([TRANSFER_PHRASES[m] for m in worse])} forgot more with more labels."
    else:
        overwritten = "."
    if drop > FORGETTING_LEVELS[1]:
        return (
            "This is catastrophic forgetting: nothing in the loss asks the network to keep its old skill" + overwritten
        )
    if drop > FORGETTING_LEVELS[0]:
        return (
            f"Some of the old skill is lost (at worst {100 * drop:.1f} points): nothing in the loss asks the "
            "network to keep it" + overwritten
        )
    return (
        f"At these budgets the old skill survived almost intact (at worst {100 * drop:.1f} points lost). Nothing "
        "in the loss protects it, though: longer training on the new task is free to overwrite it (exercise 3)."
    )


def forgetting_summary(before: float, after: dict[str, list[float]], budgets: list[int]) -> str:
    """The summary's line on forgetting, from the worst case of the run, with the same thresholds as
    :func:`forgetting_verdict`."""
    method, i, worst = _worst_forgetting(after)
    case = (
        f"after {TRANSFER_PHRASES[method]} on {budgets[i]:,} Fashion-MNIST labels, the network read "
        f"{100 * worst:.1f}% of MNIST with its old head put back, against {100 * before:.1f}% before"
    )
    drop = before - worst
    if drop > FORGETTING_LEVELS[1]:
        return f"Fine-tuning overwrote the old task: {case}."
    if drop > FORGETTING_LEVELS[0]:
        return f"Fine-tuning cost part of the old task: at worst, {case}."
    return (
        f"At these budgets the old task survived fine-tuning almost intact: at worst, {case}. Nothing in the "
        "loss protects it, though."
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
        names = join_words([labels[k] for k in worse])
        parts.append(
            f"Clearly worse than the step before: {names}. By the rule above "
            f"{'it' if len(worse) == 1 else 'they'} would go; the tuned recipe below, fixed before this build, "
            f"keeps {'it' if len(worse) == 1 else 'them'}, so on this point this build does not support the recipe."
        )
    else:
        parts.append("No change made the validation accuracy clearly worse, so by the rule above every change stays.")
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
    short = math.ceil(goal * n_test - 1e-9) - round(accuracy * n_test)  # in whole test images
    if short <= 0:
        return f"That meets the goal of {goal:.1%}."
    rising = ", and the validation accuracy was still rising at the last epoch" if still_rising else ""
    return (
        f"That falls short of the goal of {goal:.1%} by {plural(short, 'test image')}{rising}: more epochs, or the "
        "small ensemble in the exercises, are the next things to try."
    )


def robustness_verdict(
    shifted: dict[str, float], turned: dict[str, float], *, n: int, shift: int, degrees: float, z: float = 2.0
) -> str:
    """The article's and the tuned model's accuracy on ``n`` digits moved ``shift`` pixels to the right
    and turned by ``degrees`` (``{"article's recipe": a, "tuned recipe": b}`` each), and on each count
    whether the second is clearly the more (or less) tolerant: ahead by more than ``z`` standard
    errors of the difference."""
    from mnist_book.evaluate import difference_se

    (name_a, shift_a), (name_b, shift_b) = shifted.items()
    turn_a, turn_b = turned[name_a], turned[name_b]
    short_a, short_b = name_a.removesuffix(" recipe"), name_b.removesuffix(" recipe")
    text = (
        f"Moved {plural(shift, 'pixel')} to the right, the {short_a} model reads {shift_a:.1%} of these digits "
        f"and the {short_b} one {shift_b:.1%}; turned by {degrees:g}°, {turn_a:.1%} against {turn_b:.1%}."
    )

    def compare(a: float, b: float) -> str:
        margin = z * difference_se(a, b, n)
        return "more" if b - a > margin else "less" if a - b > margin else "close"

    moved, turns = compare(shift_a, shift_b), compare(turn_a, turn_b)
    noise = f"more than {z:g} standard errors of the difference on {n:,} digits"
    if moved == turns == "more":
        return (
            text + f" The {short_b} model is clearly the more tolerant of both ({noise}): training on moved and "
            "turned copies bought the tolerance it was meant to."
        )
    if moved == turns == "less":
        return (
            text + f" The {short_b} model is clearly the less tolerant of both ({noise}): in this build, training on "
            "moved and turned copies did not buy the tolerance it was meant to."
        )
    said = {
        "more": f"the {short_b} model is clearly the more tolerant",
        "less": f"the {short_b} model is clearly the less tolerant",
        "close": "the two are too close to call",
    }
    return (
        text + f" Of moved digits, {said[moved]}; of turned ones, {said[turns]} (a clear difference being {noise}), "
        "so this build does not show that training on moved and turned copies bought tolerance of both."
    )


# --------------------------------------------------------------------------- the network (chapter 4 and 4.1)


def softmax_gradient_verdict(
    confidence: list[float], wrong_share: float, right_grad: list[float], softmax_grad: list[float]
) -> str:
    """How hard a softmax fed to ``CrossEntropyLoss`` pushes the logits, against the right loss, as a batch
    grows confident: ``confidence`` (the mean largest probability), ``right_grad`` and ``softmax_grad``
    (mean gradient norms) per step of confidence; ``wrong_share``: the fraction of the batch it gets wrong."""
    first, last = softmax_grad[0] / right_grad[0], softmax_grad[-1] / right_grad[-1]
    text = (
        f"With the softmax at the end, the logits get {first:.1%} of the right loss's gradient at a mean largest "
        f"probability of {confidence[0]:.2f}, and {last:.1%} at {confidence[-1]:.2f}, on a batch "
        f"{wrong_share:.0%} wrong"
    )
    if not (last < 0.1 and last < first):
        return text + ": here its gradients do not vanish as the network grows confident."
    if wrong_share >= 0.5:
        return (
            text + ": its gradients vanish as the logits grow confident, so a confidently wrong network is barely "
            "pushed to change its mind."
        )
    return text + ": its gradients vanish as the logits grow confident."


def equal_time_verdict(
    names: tuple[str, str],
    steps: tuple[int, int],
    accuracies: tuple[float, float],
    pair: Any,
    n_val: int,
    *,
    alpha: float = 0.05,
) -> str:
    """Two networks trained for the same time (``steps`` each), scored on the same ``n_val`` validation
    images: which is more accurate, and whether the difference is more than the noise (``pair``, a
    :class:`mnist_book.evaluate.Paired` with the first network as ``a``; clear when its p < ``alpha``)."""
    from mnist_book.evaluate import binomial_se

    (a, b), (acc_a, acc_b) = names, accuracies
    se = max(binomial_se(acc_a, n_val), binomial_se(acc_b, n_val))
    text = (
        f"In the same training time {a} took {plural(steps[0], 'step')} and {b} {plural(steps[1], 'step')}; "
        f"{a} reads {acc_a:.2%} of the {n_val:,} validation digits and {b} {acc_b:.2%} (standard error at most "
        f"{se:.2%}). Of the digits only one of them reads right, {a} gets {pair.only_a:,} and {b} {pair.only_b:,}"
    )
    if pair.only_a == pair.only_b:
        return text + f": at equal time the two are equally accurate ({p_text(pair.p_value)})."
    better = a if pair.only_a > pair.only_b else b
    if pair.p_value < alpha:
        return text + f" ({p_text(pair.p_value)}): at equal time {better} is clearly more accurate, beyond the noise."
    return (
        text + f" ({p_text(pair.p_value)}): {better} is ahead, but by less than the noise, so at this budget the "
        "two are too close to call."
    )


# --------------------------------------------------------------------------- training (chapter 5)


def faster_beyond_noise(rates: dict[str, list[float]]) -> str | None:
    """Of two paths timed in turns, ``{name: rates, one per round}`` (larger is faster), the one whose every
    round beat every round of the other; ``None`` when their ranges overlap and the run cannot tell them apart."""
    (a, rate_a), (b, rate_b) = rates.items()
    if min(rate_a) > max(rate_b):
        return a
    if min(rate_b) > max(rate_a):
        return b
    return None


def speed_comparison(rates: dict[str, list[float]], *, unit: str = "images per second") -> str:
    """Two paths timed in turns, ``{name: rates, one per round}``, in words: each one's median and range
    over the rounds, and which was faster in every round, or that the two are within noise of each other
    (their ranges overlap)."""
    import statistics

    if any(len(r) < 2 for r in rates.values()):
        raise ValueError("speed_comparison() needs at least two rounds per path: one round has no spread.")
    (a, rate_a), (b, rate_b) = rates.items()
    median = {name: statistics.median(r) for name, r in rates.items()}

    def spread(r: list[float]) -> str:
        return f"{min(r):,.0f}–{max(r):,.0f}"

    rounds = f"the {plural(len(rate_a), 'round')}" if len(rate_a) == len(rate_b) else "the rounds"
    faster = faster_beyond_noise(rates)
    if faster is None:
        return (
            f"{_capitalised(a)} and {b} were within noise of each other: medians of {median[a]:,.0f} {unit} "
            f"({spread(rate_a)} over {rounds}) and {median[b]:,.0f} ({spread(rate_b)}), ranges that overlap, so "
            "this run cannot say which path is faster."
        )
    slower = b if faster == a else a
    return (
        f"{_capitalised(faster)} was faster in each of {rounds}: a median of {median[faster]:,.0f} {unit} "
        f"({spread(rates[faster])}) against {median[slower]:,.0f} ({spread(rates[slower])}) for {slower}, "
        f"{median[faster] / median[slower]:.2f} times as many."
    )


def data_path_choice(faster: str | None, *, in_memory: str, loader: str) -> str:
    """What the timing of the two data paths (:func:`faster_beyond_noise`'s verdict) means for the book,
    which trains from ``in_memory`` from then on: speed is one of the reasons only when the run showed it."""
    reasons = (
        "it keeps the splits and subsets the chapters cut in memory, on the device that trains (on a GPU no "
        f"batch is copied from the host), and gives the same batches as {loader} from the same seed"
    )
    if faster == in_memory:
        return (
            f"Here the saving was larger than the noise. From here on the book trains from {in_memory}: it is "
            f"faster, and {reasons}."
        )
    if faster == loader:
        return (
            f"Yet here {loader} was faster, although it does more work per image: a lead that the work does not "
            "explain, and that a rerun of the cell may not repeat. The book trains from "
            f"{in_memory} from here on for reasons this timing does not decide: {reasons}."
        )
    return (
        f"Here it did not show above the noise. The book trains from {in_memory} from here on for reasons "
        f"this timing does not decide: {reasons}."
    )


def loss_change(before: float, after: float) -> str:
    """What one step did to the loss on its own batch: ``"fell from 2.3071 to 2.2928"``."""
    if after < before:
        return f"fell from {before:.4f} to {after:.4f}"
    if after > before:
        return f"rose from {before:.4f} to {after:.4f}: this step overshot on its own batch"
    return f"stayed at {before:.4f}"


def training_below_validation(below: int, epochs: int) -> str:
    """Whether the training accuracy (dropout on, changing weights) fell below the validation accuracy,
    in how many of ``epochs``."""
    if below == 0:
        return (
            "Both effects pull the training figures down, but in this run not far enough to put the training "
            f"accuracy below the validation accuracy in any of its {plural(epochs, 'epoch')}."
        )
    return (
        f"That is why the training accuracy is below the validation accuracy in {below} of "
        f"{plural(epochs, 'epoch')} here, which would be strange for two measurements on equal terms."
    )


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


def optimiser_comparison(sgd: float, adadelta: float, *, n_val: int) -> str:
    """Which of two short runs ended ahead on ``n_val`` validation images, whether by more than two
    standard errors of the difference, and what a run this short does not show."""
    gap = f"{100 * abs(adadelta - sgd):.1f} points"
    if not _clearly_ahead(adadelta, sgd, n_val) and not _clearly_ahead(sgd, adadelta, n_val):
        return (
            f"The two ended {gap} apart, within two standard errors of the difference on {n_val:,} validation "
            "images: within the noise, so this run cannot say which recipe is better, and a different random "
            "seed moves the figures too (exercise 3)."
        )
    lead = "Adadelta" if adadelta > sgd else "SGD"
    return (
        f"{lead} ended ahead on this budget, by {gap}, more than two standard errors of the difference on "
        f"{n_val:,} validation images. A run this short says more about how quickly each optimiser gets going "
        "than about where it ends up, and a different random seed moves the figures too (exercise 3): it does "
        "not show that one recipe is better over a full schedule."
    )


def learning_rate_sweep(sweep: dict[float, tuple[float, float, float]], *, n_val: int, article_lr: float = 0.01) -> str:
    """A learning-rate sweep, ``{lr: (training loss, validation loss, validation accuracy)}`` on ``n_val``
    validation images, in words: where training failed (a loss no better than an even guess), where it
    crawled, and how the article's rate did against the best (more than two standard errors behind, or not)."""
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
    if smallest != best and _clearly_ahead(sweep[best][2], sweep[smallest][2], n_val):
        text += f" At {smallest} learning was slower ({sweep[smallest][2]:.2%} after the epoch): the steps are small."
    if best == article_lr:
        return text + f" The article's {article_lr} was the best rate in this sweep."
    ours = sweep[article_lr][2]
    if not _clearly_ahead(sweep[best][2], ours, n_val):
        return text + (
            f" The article's {article_lr} reached {ours:.2%}, within two standard errors of the best rate's "
            f"({best}, {sweep[best][2]:.2%}) on {n_val:,} validation images: on this budget the sweep cannot "
            "tell them apart."
        )
    direction = "larger" if best > article_lr else "smaller"
    margin = ", and a larger rate leaves less margin before training fails." if best > article_lr else "."
    return (
        text + f" The article's {article_lr} reached {ours:.2%}, so on this short budget a {direction} rate did "
        f"better, by more than the noise. One short run cannot say whether that holds over a full schedule{margin}"
    )


# --------------------------------------------------------------------------- evaluation (chapter 6)


def confidence_verdict(mean_confidence: float, accuracy: float, n: int) -> str:
    """Over- or underconfident on average: the mean top-class probability against the accuracy on ``n``
    images, told apart only when they differ by more than two standard errors of the accuracy."""
    from mnist_book.evaluate import binomial_se

    if abs(mean_confidence - accuracy) <= 2 * binomial_se(accuracy, n):
        return f"about as confident as it is accurate, within two standard errors of the accuracy on {n:,} images"
    if mean_confidence > accuracy:
        return "more confident than it is accurate (overconfident)"
    return "less confident than it is accurate (underconfident)"


def ece_verdict(ece: float) -> str:
    """The expected calibration error in words: under 1 % close to honest, under 3 % roughly honest."""
    if ece < 0.01:
        return "the probabilities are close to honest"
    if ece < 0.03:
        return "the probabilities are roughly, not exactly, honest"
    return "the probabilities are noticeably miscalibrated"


def batching_sentence(throughput: dict[int, float], n_images: int) -> str:
    """Inference throughput by batch size (``{batch size: images per second}``, batch 1 included): whether
    batching paid, and whether the largest batch was slower than a smaller one."""
    best = max(throughput, key=lambda b: throughput[b])
    if best == 1:
        return (
            "batching did not help on this run: one image at a time was the fastest of the batch sizes tried, "
            "which on a machine shared with other work can happen; the figures are one measurement each."
        )
    largest = max(throughput)
    slower = [b for b in throughput if b < largest and throughput[b] > throughput[largest]]
    tail = (
        f"; but bigger is not always better: batches of {largest:,} were slower than batches of {max(slower):,} here."
        if slower and max(slower) > 1
        else "."
    )
    return (
        f"in batches of {best:,}, the fastest of those tried here, it classifies {throughput[best]:,.0f} images per "
        f"second, {throughput[best] / throughput[1]:.1f} times as many, and all {n_images:,} test images in "
        f"{n_images / throughput[best]:.1f} seconds. Batching pays because each layer then runs as one large matrix "
        f"operation instead of many small ones{tail}"
    )


def perturbation_verdict(clean: float, shifted: float, turned: float, *, n: int, pixels: int, degrees: int) -> str:
    """What moving the test digits by ``pixels`` and turning them by ``degrees`` did to the accuracy (on the
    same ``n`` digits as ``clean``), each judged against two standard errors of the difference."""
    after = {f"a {pixels}-pixel shift": shifted, f"a {degrees}° turn": turned}
    real = [name for name, acc in after.items() if _clearly_ahead(clean, acc, n)]
    told = join_words(
        [
            f"{name} cost {100 * (clean - acc):.1f} points"
            if acc <= clean
            else f"{name} gained {100 * (acc - clean):.1f}"
            for name, acc in after.items()
        ]
    )
    if len(real) == 2:
        return (
            f"The network was never shown a shifted or rotated digit, and it shows: {told}, both more than two "
            f"standard errors on {n:,} digits."
        )
    if real:
        (other,) = [name for name in after if name not in real]
        return (
            f"The network was never shown a shifted or rotated digit: {told}; only {real[0]} cost more than two "
            f"standard errors on {n:,} digits, and {other} stayed within the noise."
        )
    return (
        f"The network was never shown a shifted or rotated digit, yet {told}, neither more than two standard "
        f"errors on {n:,} digits: at these sizes it tolerated both."
    )


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def oriented_kernels(count: int, n: int, *, chance: float, at_start: int, directions: list[str]) -> str:
    """How many of ``n`` trained kernels are oriented contrasts, against random kernels (each passes with
    probability ``chance``; more than chance when the binomial tail is below 0.05) and against the ``at_start``
    of the kernels training began from; ``directions``: the direction of each one that passed."""
    p_value = _binomial_tail(count, n, chance)
    kinds = join_words([f"{directions.count(d)} {d}" for d in dict.fromkeys(directions)])
    found = f"{count} of the {n} trained kernels qualify" + (f" ({kinds})" if kinds else "")
    against = f"against {chance * n:.1f} expected of random kernels and {at_start} of the kernels this run started from"
    if p_value >= 0.05:
        return (
            f"By this measure {found}, {against}: no more than chance gives (p = {p_value:.2f}), so at this budget "
            "training has not clearly made them into oriented edge detectors; most vary in more than one direction."
        )
    if count <= at_start:
        return (
            f"By this measure {found}, {against}: more than chance gives (p = {p_value:.3f}), but no more than "
            "where training began, so the orientation came with the random start rather than from the data."
        )
    return (
        f"By this measure {found}, {against}: more than chance gives (p = {p_value:.3f}), so training turned some "
        f"of them into oriented edge and stroke detectors like the hand-made ones; the other {n - count} vary in "
        "more than one direction."
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


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.1f}"


def paths_agreement(worst: float, batches: int) -> str:
    """Whether two data paths fed the network the same numbers: ``worst`` is the largest difference
    between their pixel values over ``batches`` batches (0 when they are identical)."""
    over = f"Over {plural(batches, 'batch', 'batches')} the two paths' pixel values"
    same = "whatever separates their speed, it is not what they compute."
    if worst == 0:
        return f"{over} are identical: {same}"
    if worst <= 1e-5:
        return f"{over} differ by at most {worst:.1g}, float rounding: {same}"
    return f"{over} differ by up to {worst:.2g}: they are not the same batches, so a race between them compares different work."


def data_phase_sentence(loader_us: float, memory_us: float, *, same_within: float = 0.1) -> str:
    """The in-memory path's data phase against the `DataLoader`'s, in microseconds per image."""
    if memory_us * (1 + same_within) < loader_us:
        return (
            f"The in-memory path cuts the data phase to {memory_us:,.1f} µs per image, "
            f"{_times(loader_us / memory_us)} times less than the DataLoader's"
        )
    if loader_us * (1 + same_within) < memory_us:
        return (
            f"The in-memory path does not cut the data phase here: {memory_us:,.1f} µs per image, "
            f"{_times(memory_us / loader_us)} times the DataLoader's"
        )
    return (
        f"The in-memory path's data phase takes about as long as the DataLoader's here ({memory_us:,.1f} µs per image)"
    )


def data_share_summary(share: float, where: str) -> str:
    """The summary's line on a `DataLoader` step of the article's network: ``share`` is its data phase's share."""
    lead = f"In this build the DataLoader's data phase took {share:.0%} of a step of the article's network on {where}"
    if share < 0.45:
        return f"{lead}: most of the step was the network's own arithmetic, which no data path can remove."
    if share > 0.55:
        return f"{lead}: most of the step was spent getting the data."
    return f"{lead}: about half of the step, the other half the network's own arithmetic."


def resume_agreement(difference: float) -> str:
    """How close a stopped-and-resumed run's weights came to an uninterrupted run's (their largest difference)."""
    if difference == 0:
        return "identical, bit for bit"
    if difference <= 1e-6:
        return f"equal up to float rounding (they differ by at most {difference:.1e})"
    return f"not the same: they differ by up to {difference:.2g}, more than rounding explains"


def p_text(p: float) -> str:
    """A p-value as a sentence shows it: ``"p = 0.031"``, or ``"p < 0.001"`` rather than ``"p = 0.000"``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def budget_verdict(
    pair, speed_ratio: float, epochs: tuple[int, int], *, alpha: float = 0.05, same_within: float = 0.05
) -> str:
    """The network built for the budget against the ladder's last step at equal training time:
    ``pair`` compares the two on the same validation images (the ladder's step first), ``speed_ratio``
    is how many times faster the new network trains, ``epochs`` = (the step's, the new network's)."""
    faster = speed_ratio >= 1 + same_within
    if faster:
        text = f"It trained {speed_ratio:.1f} times as fast, so in the same time it ran {epochs[1]} epochs to the other's {epochs[0]}"
    else:
        text = (
            f"It trained no faster here ({speed_ratio:.2f} times the other's speed), so it ran {epochs[1]} epochs to the "
            f"other's {epochs[0]}"
        )
    if pair.p_value < alpha and pair.only_b > pair.only_a:
        return f"{text}, and came out clearly better ({p_text(pair.p_value)}): the tuned recipe takes it."
    if pair.p_value < alpha:
        return (
            f"{text}, and came out clearly worse ({p_text(pair.p_value)}): at this budget the swap does not pay, "
            "though the tuned recipe, fixed before this build and trained much longer, keeps it."
        )
    if faster:
        return f"{text}; the two are too close to call at this budget ({p_text(pair.p_value)}), so the tuned recipe takes the faster one."
    return (
        f"{text}; the two are too close to call at this budget ({p_text(pair.p_value)}), so this build gives no reason "
        "for the swap, though the tuned recipe, fixed before this build, keeps it."
    )


def settings_verdict(labels: list[str], pairs: list, *, alpha: float = 0.05) -> str:
    """The tuned recipe's own settings against alternatives on the same validation images:
    ``pairs[k]`` compares the tuned settings (first) with the alternative named ``labels[k]``; a
    difference is clear when the sign test's p-value is below ``alpha``."""
    higher = [label for label, p in zip(labels, pairs) if p.p_value < alpha and p.only_b > p.only_a]
    lower = [label for label, p in zip(labels, pairs) if p.p_value < alpha and p.only_a > p.only_b]
    close = [label for label in labels if label not in higher and label not in lower]
    clauses = []
    if lower:
        clauses.append(f"{join_words(lower)} ended clearly lower")
    if close:
        clauses.append(f"{join_words(close)} {'was' if len(close) == 1 else 'were'} too close to call")
    if higher:
        clauses.append(f"{join_words(higher)} ended clearly higher")
    text = f"Against the tuned settings, on the same validation images (clear: p < {alpha:g}): {'; '.join(clauses)}."
    if not higher:
        return text + " No alternative did clearly better, so the tuned settings stand."
    plural_count = "that count" if len(higher) == 1 else "those counts"
    return (
        text + f" At this budget the tuned recipe's own choice is not the best on {plural_count}; the recipe was "
        "fixed before this build, and the final run keeps it, so it may be leaving accuracy behind."
    )


# --------------------------------------------------------------------------- the exported network (7.3)


def runtime_agreement(scores: Any) -> str:
    """How ONNX Runtime's reading of the test set compares with PyTorch's, from a
    :class:`mnist_book.web.RuntimeComparison`: ``"the two agree on every one of the 10,000 digits,
    with logits equal up to float rounding (they differ by at most 3.8e-06)"``."""
    gap = scores.max_logit_difference
    if gap <= 1e-4:
        differ = f"logits equal up to float rounding (they differ by at most {gap:.1e})"
    else:
        differ = f"logits that differ by up to {gap:.2g}, more than float rounding explains"
    if scores.disagreements == 0:
        return f"the two agree on every one of the {scores.images:,} digits, with {differ}"
    why = " (a digit on the edge between two classes tips either way)" if gap <= 1e-4 else ""
    return f"the two read {plural(scores.disagreements, 'digit')} of {scores.images:,} differently{why}, with {differ}"
