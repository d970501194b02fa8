"""The sentences the chapters build from their numbers say what the numbers say: who wins, by how
much, whether it is more than the noise, whether a goal was met. Each is checked on numbers chosen
so that the right sentence is known, and on the opposite case."""

from __future__ import annotations

import math

import pytest
import torch

from mnist_book.bench.report import recorded_figures, recorded_gpu_sentence
from mnist_book.evaluate import Paired, paired_comparison
from mnist_book.prose import (
    Glued,
    ablation_verdicts,
    amdahl_sentence,
    budget_verdict,
    forgetting_summary,
    forgetting_verdict,
    full_vs_top_verdict,
    goal_verdict,
    join_words,
    kernel_recovery,
    learning_rate_sweep,
    optimiser_comparison,
    p_text,
    plateau_report,
    plural,
    pooling_shift_comparison,
    pretraining_verdict,
    probe_verdict,
    robustness_verdict,
    runtime_agreement,
    settings_verdict,
    shift_summary,
    shift_tolerance_verdict,
    speed_comparison,
    transfer_summary,
    transfer_winners,
    validation_trend,
)


def results(table: dict[str, list[float]], budgets=(100, 60000)) -> dict:
    return {m: {n: {"accuracy": a} for n, a in zip(budgets, accs)} for m, accs in table.items()}


def test_small_words():
    assert (
        plural(1, "epoch") == "1 epoch" and plural(3, "epoch") == "3 epochs" and plural(1000, "image") == "1,000 images"
    )
    assert join_words(["a"]) == "a" and join_words(["a", "b", "c"]) == "a, b and c" and join_words([]) == ""
    glued = Glued(speed="<3.1", acc=0.991234567)
    assert "&lt;3.1" in glued._repr_html_() and repr(glued) == "speed: <3.1\nacc: 0.991235"


def test_paired_comparison_by_hand():
    a = torch.tensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0], dtype=torch.bool)
    b = torch.tensor([1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1], dtype=torch.bool)
    p = paired_comparison(a, b)
    assert (p.only_a, p.only_b) == (1, 2)  # images 1 (a only), 3 and 11 (b only)
    assert p.p_value == pytest.approx(1.0)  # 1 of 3 disagreements: as even as it gets
    lopsided = paired_comparison(torch.ones(20, dtype=torch.bool), torch.zeros(20, dtype=torch.bool))
    assert lopsided.p_value == pytest.approx(2 / 2**20)  # all 20 disagreements one way
    with pytest.raises(ValueError, match="same images"):
        paired_comparison(a, b[:5])


def test_ablation_verdicts_follow_the_sign_test():
    pairs = [Paired(2, 40, 1e-9), Paired(10, 12, 0.83), Paired(30, 5, 1e-5)]
    text, worse = ablation_verdicts(["one-cycle", "batch norm", "augmentation"], pairs)
    assert worse == [2]
    assert "Clearly better than the step before (p < 0.05): one-cycle." in text
    assert "Too close to call at this budget: batch norm." in text
    assert "Clearly worse than the step before: augmentation." in text
    assert "does not support the recipe" in text and "every change stays" not in text
    assert "No change made" in ablation_verdicts(["x"], [Paired(5, 6, 1.0)])[0]


def test_ablation_verdicts_never_read_the_wrong_way():
    """Each verdict from the numbers that decide it, and never from the opposite numbers: the
    direction comes from which side won more disagreements, the clarity from the p-value alone."""
    better, worse = Paired(2, 40, 1e-9), Paired(40, 2, 1e-9)
    close_up, close_down = Paired(10, 14, 0.54), Paired(14, 10, 0.54)
    text, w = ablation_verdicts(["x"], [better])
    assert "Clearly better than the step before (p < 0.05): x." in text and w == []
    assert "Clearly worse" not in text and "Too close" not in text and "every change stays" in text
    text, w = ablation_verdicts(["x"], [worse])
    assert "Clearly worse than the step before: x." in text and w == [0]
    assert "Clearly better" not in text and "No change made" not in text
    for close in (close_up, close_down):  # a lead that is not significant is a tie, either way round
        text, w = ablation_verdicts(["x"], [close])
        assert "Too close to call at this budget: x." in text and w == []
        assert "Clearly" not in text
    # the threshold is the one stated: p just under alpha is clear, just over is not
    assert "Clearly better" in ablation_verdicts(["x"], [Paired(5, 20, 0.049)])[0]
    assert "Clearly better" not in ablation_verdicts(["x"], [Paired(5, 20, 0.051)])[0]
    text, w = ablation_verdicts(["a", "b"], [worse, worse])
    assert "Clearly worse than the step before: a and b. By the rule above they would go" in text and w == [0, 1]


def test_goal_verdict():
    assert goal_verdict(0.9951, 10000, 0.995, fast=False, still_rising=False) == "That meets the goal of 99.5%."
    assert goal_verdict(0.995, 10000, 0.995, fast=False, still_rising=False) == "That meets the goal of 99.5%."
    short = goal_verdict(0.9944, 10000, 0.995, fast=False, still_rising=True)
    assert "short of the goal of 99.5% by 6 test images" in short and "still rising" in short and "meets" not in short
    one = goal_verdict(0.9949, 10000, 0.995, fast=False, still_rising=False)
    assert "short of the goal of 99.5% by 1 test image:" in one and "still rising" not in one and "meets" not in one
    fast = goal_verdict(0.999, 1000, 0.995, fast=True, still_rising=False)  # above the goal, but fast mode
    assert "fast mode" in fast and "meets the goal" not in fast and "falls short" not in fast
    assert "fast mode" not in goal_verdict(0.999, 10000, 0.995, fast=False, still_rising=False)


def test_budget_verdict_both_ways():
    better, worse, close = Paired(20, 60, 1e-5), Paired(60, 20, 1e-5), Paired(30, 36, 0.53)
    text = budget_verdict(better, 3.5, (3, 10))
    assert text.startswith("It trained 3.5 times as fast, so in the same time it ran 10 epochs to the other's 3")
    assert "clearly better (p < 0.001): the tuned recipe takes it." in text and "worse" not in text
    text = budget_verdict(worse, 3.5, (3, 10))
    assert "clearly worse (p < 0.001): at this budget the swap does not pay" in text and "better" not in text
    text = budget_verdict(close, 3.5, (3, 10))
    assert "too close to call at this budget (p = 0.530), so the tuned recipe takes the faster one." in text
    assert "clearly" not in text
    # No faster (timings on a busy machine): never "times as fast", never "takes the faster one".
    for pair in (better, worse, close):
        slow = budget_verdict(pair, 0.9, (3, 3))
        assert slow.startswith("It trained no faster here (0.90 times the other's speed)")
        assert "times as fast" not in slow and "faster one" not in slow
    assert "gives no reason for the swap" in budget_verdict(close, 0.9, (3, 3))
    assert "no faster" not in budget_verdict(close, 1.2, (3, 4))


def test_settings_verdict_both_ways():
    lower, higher, close = Paired(60, 20, 1e-5), Paired(20, 60, 1e-5), Paired(25, 30, 0.59)
    text = settings_verdict(["a peak learning rate of 0.4", "stronger shifts", "9 epochs"], [lower, close, close])
    assert (
        "a peak learning rate of 0.4 ended clearly lower; stronger shifts and 9 epochs were too close to call." in text
    )
    assert text.endswith("No alternative did clearly better, so the tuned settings stand.")
    assert "clearly higher" not in text
    text = settings_verdict(["a peak learning rate of 0.4", "9 epochs"], [higher, close])
    assert "a peak learning rate of 0.4 ended clearly higher." in text and "9 epochs was too close to call" in text
    assert "not the best on that count" in text and "settings stand" not in text
    text = settings_verdict(["x", "y"], [higher, higher])
    assert "x and y ended clearly higher" in text and "those counts" in text and "lower" not in text
    assert "too close" not in settings_verdict(["x"], [lower]) and "stand" in settings_verdict(["x"], [lower])
    assert p_text(0.0004) == "p < 0.001" and p_text(0.0312) == "p = 0.031"


# ----------------------------------------------------------------------------- transfer (7.2)

METHODS = ("scratch", "linear_probe", "top_layers", "full")


def four(rows: list[list[float]], budgets=(100, 60000), capped=()) -> dict:
    """Transfer results from one row of accuracies per method (scratch, probe, top layers, everything);
    ``capped``: the (method, budget) runs that stopped at the step cap."""
    return {
        m: {
            n: {
                "accuracy": a,
                "plateaued": (m, n) not in capped,
                "best_step": 10 * (k + 1) * (j + 1),
                "steps": 10 * (k + 1) * (j + 1) + 50,
            }
            for j, (n, a) in enumerate(zip(budgets, accs))
        }
        for k, (m, accs) in enumerate(zip(METHODS, rows))
    }


def test_transfer_winners_says_wins_only_beyond_the_noise():
    r = four([[0.60], [0.75], [0.70], [0.65]], budgets=(100,))
    clear = transfer_winners(r, [100], n_test=10000)
    assert clear == (
        "With 100 labels, the linear probe wins (75.0%), 5.0 points ahead of fine-tuning the top layers "
        "(a clear lead), and training from scratch comes last (60.0%)."
    )
    tie = transfer_winners(r, [100], n_test=100)  # 5 points on 100 images: within the noise
    assert "the linear probe comes first (75.0%)" in tie and "within the noise: a tie" in tie
    assert "wins" not in tie and "a clear lead" not in tie
    level = transfer_winners(four([[0.60], [0.7001], [0.70], [0.65]], budgets=(100,)), [100], n_test=10000)
    assert "less than 0.1 points ahead of fine-tuning the top layers" in level and "0.0 points" not in level


def test_transfer_summary_each_verdict_both_ways():
    everywhere = four([[0.60, 0.80], [0.75, 0.90], [0.70, 0.85], [0.65, 0.84]])
    assert transfer_summary(everywhere, [100, 60000], 10000) == (
        "The linear probe wins at every number of labels, each time by more than the noise."
    )
    tied = four([[0.60, 0.80], [0.75, 0.90], [0.70, 0.897], [0.65, 0.84]])  # 0.3 points: within the noise
    text = transfer_summary(tied, [100, 60000], 10000)
    assert text == (
        "The linear probe comes first at every number of labels, though not always by more than the noise: "
        "fine-tuning the top layers within the noise of it with 60,000 labels."
    )
    assert "wins at every" not in text and "depends" not in text
    # First at 100 labels, second but within the noise of the first at 60,000: first or tied everywhere.
    shared = four([[0.60, 0.80], [0.75, 0.897], [0.70, 0.90], [0.65, 0.84]])
    text = transfer_summary(shared, [100, 60000], 10000)
    assert text.startswith("The linear probe comes first or ties for first at every number of labels: the linear")
    assert "fine-tuning the top layers with 60,000 labels (the linear probe within the noise of it)" in text
    assert "wins at every" not in text and "comes first at every" not in text and "depends" not in text
    depends = four([[0.60, 0.70, 0.92], [0.75, 0.80, 0.85], [0.70, 0.74, 0.88], [0.65, 0.72, 0.90]], (100, 1000, 60000))
    text = transfer_summary(depends, [100, 1000, 60000], 10000)
    assert text == (
        "Which method wins depends on the number of labels: the linear probe with 100 and 1,000 labels; "
        "training from scratch with 60,000 labels."
    )
    assert "depends" not in transfer_summary(everywhere, [100, 60000], 10000)
    on_100 = transfer_summary(depends, [100, 1000, 60000], 100)  # on 100 test images everything ties
    assert "depends" not in on_100
    assert on_100.endswith("; every method within the noise of the others with 1,000 and 60,000 labels.")
    assert "every method within the noise" not in text
    # Leaders {probe, top}, {top, full}, {full, probe}: first place moves, but never beyond the noise.
    moves = four([[0.6, 0.6, 0.6], [0.800, 0.70, 0.799], [0.799, 0.800, 0.70], [0.70, 0.799, 0.800]], (1, 2, 3))
    text = transfer_summary(moves, [1, 2, 3], 10000)
    assert text.startswith("First place moves with the number of labels, but only within the noise: the linear probe")
    assert "depends" not in text and "every number" not in text
    assert "only within the noise" not in transfer_summary(depends, [100, 1000, 60000], 10000)
    capped = four([[0.60, 0.80], [0.75, 0.90], [0.70, 0.85], [0.65, 0.84]], capped={("scratch", 60000)})
    provisional = transfer_summary(capped, [100, 60000], 10000)
    assert provisional.endswith(
        "by more than the noise. Provisional: 1 run stopped at the step cap before its plateau."
    )
    assert "provisional" not in transfer_summary(everywhere, [100, 60000], 10000)


def test_plateau_report_both_ways():
    settled = four([[0.6, 0.9]] * 4)
    text = plateau_report(settled, [100, 60000], patience=5, max_steps=4000)
    assert text.startswith("Every run reached its plateau: each stopped after 5 validations in a row")
    assert "the longest after 130 steps (the cap was 4,000)" in text and "between 10 and 80 steps in" in text
    one = plateau_report(four([[0.6, 0.9]] * 4, capped={("scratch", 60000)}), [100, 60000], patience=5, max_steps=4000)
    assert one.startswith(
        "7 of the 8 runs reached their plateau; the cap of 4,000 steps stopped training from scratch with 60,000 "
        "labels while it still found new bests (one in the last 5 validations)"
    )
    assert "its figure (starred in the table)" in one and "Every run" not in one
    two = plateau_report(
        four([[0.6, 0.9]] * 4, capped={("scratch", 60000), ("full", 60000)}), [100, 60000], patience=5, max_steps=9
    )
    assert "6 of the 8" in two and "while they still found" in two and "their figures" in two


def test_pretraining_verdict_both_ways():
    r = four([[0.60, 0.90], [0.70, 0.88], [0.69, 0.895], [0.65, 0.91]])
    verdict = pretraining_verdict(r, [100, 60000], 10000)
    assert verdict.startswith("Is the MNIST network worth starting from? With 100 labels the best start from the")
    assert "(the linear probe) beats training from scratch by 10.0 points" in verdict
    assert "(fine-tuning everything) beats training from scratch by 1.0 points" in verdict
    assert verdict.endswith("the fewer the labels, the more the head start is worth.")
    trails = pretraining_verdict(four([[0.60, 0.93], [0.70, 0.88], [0.69, 0.895], [0.65, 0.91]]), [100, 60000], 10000)
    assert "(fine-tuning everything) trails training from scratch by 2.0 points" in trails
    assert "beats" not in trails.split(";")[1]
    noise = pretraining_verdict(four([[0.60, 0.905], [0.70, 0.88], [0.69, 0.895], [0.65, 0.91]]), [100, 60000], 10000)
    assert "is within the noise of training from scratch (+0.5 points)" in noise
    level = pretraining_verdict(four([[0.60, 0.91], [0.70, 0.88], [0.69, 0.895], [0.65, 0.9101]]), [100, 60000], 10000)
    assert "(less than 0.1 points apart)" in level and "+0.0" not in level
    assert "beats" not in noise.split(";")[1] and "trails" not in noise
    later = pretraining_verdict(four([[0.60, 0.80], [0.60, 0.85], [0.59, 0.84], [0.58, 0.83]]), [100, 60000], 10000)
    assert later.endswith("here the head start is worth more with more labels.") and "fewer" not in later
    even = pretraining_verdict(four([[0.60, 0.80], [0.65, 0.845], [0.6, 0.8], [0.6, 0.8]]), [100, 60000], 10000)
    assert even.endswith("points.") and "worth more" not in even and "fewer" not in even


def test_probe_verdict_both_ways():
    behind = probe_verdict(four([[0.6, 0.9], [0.7, 0.88], [0.7, 0.9], [0.7, 0.91]]), 60000, 10000)
    assert "the linear probe is 3.0 points behind fine-tuning everything: adapting the digit features" in behind
    assert "ahead" not in behind and "within the noise" not in behind
    ahead = probe_verdict(four([[0.6, 0.9], [0.7, 0.93], [0.7, 0.9], [0.7, 0.91]]), 60000, 10000)
    assert "2.0 points ahead of fine-tuning everything: at this budget, moving the digit features did not pay" in ahead
    assert "behind" not in ahead
    noise = probe_verdict(four([[0.6, 0.9], [0.7, 0.88], [0.7, 0.9], [0.7, 0.91]]), 60000, 100)
    assert "within the noise of fine-tuning everything (-3.0 points)" in noise
    level = probe_verdict(four([[0.6, 0.9], [0.7, 0.8666], [0.7, 0.9], [0.7, 0.8669]]), 60000, 10000)
    assert "(less than 0.1 points apart)" in level and "-0.0" not in level
    assert "behind" not in noise and "ahead" not in noise


def test_full_vs_top_verdict_both_ways():
    behind = full_vs_top_verdict(four([[0.6, 0.9], [0.7, 0.88], [0.69, 0.895], [0.65, 0.91]]), [100, 60000], 10000)
    assert behind.startswith("With 100 labels, fine-tuning everything is clearly behind fine-tuning only the top")
    assert behind.endswith("With 60,000 labels it is clearly ahead.")  # 1.5 points on 10,000 images
    everywhere = full_vs_top_verdict(four([[0.6, 0.9], [0.7, 0.88], [0.69, 0.93], [0.65, 0.91]]), [100, 60000], 10000)
    assert everywhere.startswith("At every budget, fine-tuning everything is clearly behind")
    assert "clearly ahead" not in everywhere
    ahead = full_vs_top_verdict(four([[0.6, 0.9], [0.7, 0.88], [0.60, 0.85], [0.65, 0.855]]), [100, 60000], 10000)
    assert ahead == (
        "Fine-tuning everything is clearly ahead of fine-tuning only the top layers with 100 labels, and never "
        "clearly behind: adapting the convolutions as well paid there."
    )
    ties = full_vs_top_verdict(four([[0.6, 0.9], [0.7, 0.88], [0.69, 0.895], [0.65, 0.91]]), [100, 60000], 100)
    assert ties.startswith("Fine-tuning everything and fine-tuning only the top layers are within the noise")
    assert "clearly" not in ties


def test_forgetting_verdict_both_ways():
    catastrophic = forgetting_verdict(0.99, {"top_layers": [0.9, 0.8], "full": [0.5, 0.3]})
    assert catastrophic.startswith("This is catastrophic forgetting")
    assert catastrophic.endswith("the more labels the network is fine-tuned on, the more it forgets.")
    some = forgetting_verdict(0.99, {"top_layers": [0.99, 0.99], "full": [0.98, 0.95]})
    assert some.startswith("Some of the old skill is lost (at worst 4.0 points)")
    assert some.endswith(", and fine-tuning everything forgot more with more labels.")  # the top layers did not
    assert "catastrophic" not in some and "intact" not in some and "the more labels" not in some
    steady = forgetting_verdict(0.99, {"top_layers": [0.90, 0.95], "full": [0.95, 0.95]})
    assert "Some of the old skill" in steady and "more labels" not in steady  # less forgotten with more labels
    # The run: 99.1% before, 98.6% at worst after: almost intact, not "overwritten".
    intact = forgetting_verdict(0.991, {"top_layers": [0.99, 0.989], "full": [0.99, 0.986]})
    assert intact.startswith("At these budgets the old skill survived almost intact (at worst 0.5 points lost)")
    assert "catastrophic" not in intact and "Some" not in intact


def test_forgetting_summary_agrees_with_the_verdict():
    intact = forgetting_summary(0.991, {"top_layers": [0.99, 0.989], "full": [0.99, 0.986]}, [100, 60000])
    assert intact.startswith("At these budgets the old task survived fine-tuning almost intact: at worst, after ")
    assert "fine-tuning everything on 60,000 Fashion-MNIST labels, the network read 98.6% of MNIST" in intact
    assert "against 99.1% before" in intact and "overwr" not in intact and "cost" not in intact
    some = forgetting_summary(0.99, {"top_layers": [0.95, 0.99], "full": [0.98, 0.97]}, [100, 60000])
    assert some.startswith("Fine-tuning cost part of the old task: at worst, after fine-tuning the top layers on 100")
    assert "intact" not in some and "overwrote" not in some
    lost = forgetting_summary(0.99, {"top_layers": [0.9, 0.8], "full": [0.5, 0.3]}, [100, 60000])
    assert lost.startswith("Fine-tuning overwrote the old task: after fine-tuning everything on 60,000")
    assert "30.0% of MNIST" in lost and "intact" not in lost
    for worst in (0.985, 0.95, 0.6):  # the summary and the verdict always tell the same story
        after = {"top_layers": [0.99, 0.99], "full": [0.99, worst]}
        verdict, summary = forgetting_verdict(0.99, after), forgetting_summary(0.99, after, [100, 60000])
        assert ("intact" in verdict) == ("intact" in summary)
        assert ("catastrophic" in verdict) == ("overwrote" in summary)


# --------------------------------------------------------------------------- chapter 5


BATCHES, LOADER = "`Batches`", "the `DataLoader`"


def test_speed_comparison_names_the_faster_path_only_beyond_the_noise():
    from mnist_book.prose import data_path_choice, faster_beyond_noise

    # the full build that filed issue 17: Batches at 154 images/s, the DataLoader at 533
    loader_wins = {BATCHES: [150.0, 154.0, 160.0], LOADER: [520.0, 533.0, 545.0]}
    text = speed_comparison(loader_wins)
    assert text.startswith("The `DataLoader` was faster in each of the 3 rounds") and "3.46 times as many" in text
    assert "533 images per second (520–545) against 154 (150–160) for `Batches`" in text
    assert "same" not in text and "noise" not in text and "`Batches` was faster" not in text
    assert faster_beyond_noise(loader_wins) == LOADER
    batches_win = {BATCHES: [200.0, 210.0, 220.0], LOADER: [150.0, 160.0, 170.0]}
    text = speed_comparison(batches_win)
    assert text.startswith("`Batches` was faster in each of the 3 rounds") and "DataLoader` was faster" not in text
    assert faster_beyond_noise(batches_win) == BATCHES
    overlap = {BATCHES: [183.0, 190.0, 232.0], LOADER: [105.0, 115.0, 189.0]}  # medians far apart, ranges not
    text = speed_comparison(overlap)
    assert "within noise" in text and "was faster" not in text and "ranges that overlap" in text
    assert faster_beyond_noise(overlap) is None
    assert "within noise" not in speed_comparison({"A": [1.0, 2.0], "B": [2.5, 3.0]})  # touching is not overlapping
    with pytest.raises(ValueError, match="two rounds"):
        speed_comparison({"A": [1.0], "B": [2.0, 3.0]})
    # what the book makes of it: speed is a reason only when the run showed it
    choice = {f: data_path_choice(f, in_memory=BATCHES, loader=LOADER) for f in (BATCHES, LOADER, None)}
    assert "it is faster" in choice[BATCHES] and "does not decide" not in choice[BATCHES]
    assert "the `DataLoader` was faster" in choice[LOADER] and "it is faster" not in choice[LOADER]
    assert "did not show above the noise" in choice[None] and "it is faster" not in choice[None]
    assert all("trains from `Batches`" in c for c in choice.values())


def test_loss_change_and_training_below_validation():
    from mnist_book.prose import loss_change, training_below_validation

    assert loss_change(2.3071, 2.2928) == "fell from 2.3071 to 2.2928"
    assert loss_change(2.2928, 2.3071).startswith("rose from 2.2928 to 2.3071") and "fell" not in loss_change(2.3, 2.4)
    assert loss_change(1.0, 1.0) == "stayed at 1.0000"
    below = training_below_validation(7, 10)
    assert "is below the validation accuracy in 7 of 10 epochs" in below and "not far enough" not in below
    none = training_below_validation(0, 1)
    assert "not far enough" in none and "in any of its 1 epoch" in none and "is below" not in none


def test_validation_trend_each_way():
    rose = validation_trend([0.5, 0.4, 0.45], [0.9, 0.95, 0.94], full_epochs=10)
    assert "lowest after epoch 2" in rose and "0.4000, then 0.4500" in rose and "still falling" not in rose
    falling = validation_trend([0.5, 0.4, 0.3], [0.9, 0.95, 0.96], full_epochs=10)
    assert "still falling" in falling and "lowest after" not in falling
    single = validation_trend([0.5], [0.9], full_epochs=10)
    assert "the full build trains for 10" in single and "falling" not in single and "lowest" not in single


def test_optimiser_comparison_judges_the_gap_against_the_noise():
    # fast mode's figures: 5.3 points on 1,000 images is far beyond two standard errors (about 4.3 points)
    ahead = optimiser_comparison(0.604, 0.657, n_val=1000)
    assert ahead.startswith("Adadelta ended ahead on this budget, by 5.3 points") and "within the noise" not in ahead
    assert optimiser_comparison(0.99, 0.97, n_val=5000).startswith("SGD ended ahead")
    tie = optimiser_comparison(0.604, 0.657, n_val=100)  # the same gap on 100 images is noise
    assert "within the noise" in tie and "ended ahead" not in tie
    assert "within the noise" in optimiser_comparison(0.98, 0.983, n_val=5000)


def test_learning_rate_sweep_each_way():
    sweep = {0.001: (1.0, 1.1, 0.7), 0.01: (0.2, 0.15, 0.95), 0.3: (math.nan, 2.4, 0.1)}
    text = learning_rate_sweep(sweep, n_val=1000)
    assert "At 0.3 training failed" in text and "At 0.001 learning was slower" in text
    assert "The article's 0.01 was the best rate" in text and "did better" not in text
    no_failure = learning_rate_sweep({0.001: (1.0, 1.1, 0.94), 0.01: (0.2, 0.15, 0.95)}, n_val=1000)
    assert no_failure.startswith("No rate in this sweep was large enough") and "slower" not in no_failure
    larger = learning_rate_sweep({0.01: (0.2, 0.2, 0.60), 0.1: (0.1, 0.1, 0.70)}, n_val=1000)
    assert "a larger rate did better, by more than the noise" in larger and "less margin" in larger
    smaller = learning_rate_sweep({0.003: (0.2, 0.2, 0.95), 0.01: (0.2, 0.2, 0.90)}, n_val=5000)
    assert "a smaller rate did better" in smaller and "larger rate" not in smaller
    close = learning_rate_sweep({0.01: (0.2, 0.2, 0.975), 0.03: (0.1, 0.1, 0.977)}, n_val=5000)
    assert "cannot tell them apart" in close and "did better" not in close


def test_amdahl_sentence():
    assert "only 1.12 times faster" in amdahl_sentence(1.12) and "worth optimising" in amdahl_sentence(3.0)


# --------------------------------------------------------------------------- chapter 6


def test_confidence_and_calibration_verdicts():
    from mnist_book.prose import confidence_verdict, ece_verdict

    assert confidence_verdict(0.8514, 0.9062, 10000).startswith("less confident than it is accurate")
    assert confidence_verdict(0.995, 0.985, 10000).startswith("more confident than it is accurate")
    level = confidence_verdict(0.986, 0.985, 10000)  # 0.1 points on 10,000 images: within the noise
    assert level.startswith("about as confident") and "overconfident" not in level and "under" not in level
    assert ece_verdict(0.005) == "the probabilities are close to honest"
    assert "roughly" in ece_verdict(0.02) and "miscalibrated" not in ece_verdict(0.02)
    assert "miscalibrated" in ece_verdict(0.0549) and "honest" not in ece_verdict(0.0549)


def test_batching_sentence():
    from mnist_book.prose import batching_sentence

    fast_mode = batching_sentence({1: 2199.0, 64: 3377.0, 1000: 1288.0}, 10000)
    assert fast_mode.startswith("in batches of 64, the fastest") and "1.5 times as many" in fast_mode
    assert "batches of 1,000 were slower than batches of 64" in fast_mode
    steady = batching_sentence({1: 2000.0, 64: 10000.0, 1000: 20000.0}, 10000)
    assert steady.startswith("in batches of 1,000") and "slower" not in steady and steady.endswith("small ones.")
    alone = batching_sentence({1: 3000.0, 64: 2000.0, 1000: 1000.0}, 10000)
    assert alone.startswith("batching did not help") and "Batching pays" not in alone


def test_perturbation_verdict():
    from mnist_book.prose import perturbation_verdict

    both = perturbation_verdict(0.896, 0.202, 0.557, n=500, pixels=4, degrees=30)
    assert "and it shows: a 4-pixel shift cost 69.4 points and a 30° turn cost 33.9 points, both" in both
    one = perturbation_verdict(0.99, 0.90, 0.985, n=2000, pixels=4, degrees=30)
    assert "only a 4-pixel shift cost more than two standard errors" in one and "a 30° turn stayed" in one
    neither = perturbation_verdict(0.99, 0.988, 0.992, n=500, pixels=4, degrees=30)
    assert "tolerated both" in neither and "a 30° turn gained 0.2" in neither and "it shows" not in neither


def test_oriented_kernels_against_chance_and_the_start():
    from mnist_book.prose import oriented_kernels

    trained = oriented_kernels(
        6, 32, chance=0.05, at_start=3, directions=["horizontal"] * 2 + ["vertical"] + ["rising diagonal"] * 3
    )
    assert trained.startswith("By this measure 6 of the 32 trained kernels qualify (2 horizontal, 1 vertical and 3")
    assert "1.6 expected of random kernels" in trained and "training turned some of them" in trained
    assert "the other 26" in trained and "no more than chance" not in trained
    chance = oriented_kernels(3, 32, chance=0.05, at_start=3, directions=["rising diagonal"] * 3)
    assert "no more than chance gives (p = 0.21)" in chance and "training turned" not in chance
    start = oriented_kernels(7, 32, chance=0.05, at_start=7, directions=["vertical"] * 7)
    assert "came with the random start" in start and "training turned" not in start
    assert "qualify," in oriented_kernels(0, 32, chance=0.05, at_start=1, directions=[])  # no empty brackets


def test_robustness_verdict():
    names = ("article's recipe", "tuned recipe")

    def verdict(shift, turn, n=2000):
        return robustness_verdict(dict(zip(names, shift)), dict(zip(names, turn)), n=n, shift=3, degrees=20)

    good = verdict((0.8, 0.99), (0.9, 0.98))
    assert good.startswith("Moved 3 pixels to the right, the article's model reads 80.0% of these digits")
    assert "turned by 20°, 90.0% against 98.0%" in good
    assert "clearly the more tolerant of both" in good and "bought the tolerance" in good
    bad = verdict((0.9, 0.8), (0.95, 0.85))
    assert "clearly the less tolerant of both" in bad and "did not buy" in bad and "more tolerant" not in bad
    mixed = verdict((0.8, 0.99), (0.9, 0.9))
    assert (
        "Of moved digits, the tuned model is clearly the more tolerant; of turned ones, the two are too close" in mixed
    )
    assert "does not show" in mixed and "bought the tolerance it" not in mixed
    # a lead inside the noise is not tolerance: 0.5 points on 2,000 digits, but 0.5 points on a million is
    tiny = verdict((0.900, 0.905), (0.900, 0.905))
    assert "the two are too close to call" in tiny and "clearly" not in tiny
    assert "clearly the more tolerant of both" in verdict((0.900, 0.905), (0.900, 0.905), n=1_000_000)


def _bench_summary(time, acc, epochs=1, seconds=10.0, ips=1000.0, seeds=3, reached=None):
    return {
        "target": 0.99,
        "time_to_target_s": time,
        "time_to_target_at_least_s": seconds,
        "final_accuracy": {"mean": acc},
        "epochs_run": [epochs],
        "training_seconds": seconds,
        "epoch_to_target": [epochs if time else None],
        "images_per_second": ips,
        "seeds": seeds,
        "reached_target": (seeds if time else 0) if reached is None else reached,
    }


def _bench_result(c=None, a=None, memory_seconds=(10.0, 10.0), loader_seconds=(12.6, 12.6), gpu=None):
    """A saved benchmark result: recipe a, the article on both data paths (epoch times given), recipe c."""

    def article(seconds):
        return {
            "summary": _bench_summary(None, 0.985, len(seconds), sum(seconds), ips=60000 * len(seconds) / sum(seconds)),
            "runs": [{"test_accuracy": [0.985] * len(seconds), "epoch_seconds": list(seconds)}],
        }

    recipes = {
        "a": {"summary": a or _bench_summary(None, 0.9893, 3, 224.0), "runs": []},
        "b": article(memory_seconds),
        "b-loader": article(loader_seconds),
        "c": {"summary": c or _bench_summary(8.3, 0.9916, seconds=8.3), "runs": []},
    }
    return {"recipes": recipes, "hardware": {"gpu": gpu} if gpu else {}}


def test_recorded_figures_from_a_saved_result():
    figures = recorded_figures(_bench_result())
    assert figures["c_acc"] == "99.16%" and figures["c_time"] == "8.3" and figures["speedup"] == "at least 27"
    assert figures["c_sentence"] == (
        "In the recorded run the fast recipe reached a mean test accuracy of 99.16% over its 3 seeds, and the target "
        "of 99.0% after 8.30 s of training (the mean over its seeds): at least 27 times sooner than recipe a."
    )
    assert "had not reached the target after the 3 epochs" in figures["a_note"]
    assert figures["a_note"].endswith("the comparison is conservative.")
    assert figures["ips_ratio"] == "1.26" and figures["acc_diff"] == "identical test accuracies after every epoch"
    assert set(recorded_figures(None).values()) == {"(not recorded)"}
    assert recorded_gpu_sentence(None).startswith("No GPU run is recorded")


def test_fast_recipe_sentence_both_ways():
    from mnist_book.bench.report import fast_recipe_sentence, recipe_a_note

    # a reached the target: the speed-up is a plain ratio, never "at least"
    a_hit = _bench_summary(100.0, 0.991, 2, 100.0)
    text = fast_recipe_sentence(_bench_result(a=a_hit))
    assert text.endswith(": 12 times sooner than recipe a.") and "at least" not in text
    assert recipe_a_note(_bench_result(a=a_hit)) == "Recipe a reached it after 100.0 s (epoch 2)."
    # a faster than c: the sentence names a, and never says c was sooner
    slow_c = _bench_summary(50.0, 0.991, seconds=50.0)
    text = fast_recipe_sentence(_bench_result(a=_bench_summary(10.0, 0.991, 1, 10.0), c=slow_c))
    assert text.endswith("recipe a reached it 5.0 times sooner.") and "sooner than recipe a" not in text
    # a missed the target after less time than c needed: nobody is sooner
    text = fast_recipe_sentence(_bench_result(a=_bench_summary(None, 0.98, 1, 20.0), c=slow_c))
    assert "which is sooner is not known" in text and "times sooner" not in text
    # c missed the target in some seeds, or in all: no time, no speed-up, no "conservative"
    some = _bench_summary(None, 0.989, seconds=8.0, reached=2)
    text = fast_recipe_sentence(_bench_result(c=some))
    assert "the target of 99.0% in only 2 of them" in text and "sooner" not in text
    assert recipe_a_note(_bench_result(c=some)).endswith("at least that.")
    text = fast_recipe_sentence(_bench_result(c=_bench_summary(None, 0.985, seconds=8.0)))
    assert text.endswith("did not reach the target of 99.0% within its schedule.") and "after" not in text
    one_seed = fast_recipe_sentence(_bench_result(c=_bench_summary(8.3, 0.9916, seconds=8.3, seeds=1)))
    assert "a test accuracy of 99.16% (one seed)" in one_seed and "mean" not in one_seed
    assert "after the 1 epoch it ran" in recipe_a_note(_bench_result(a=_bench_summary(None, 0.98, 1, 20.0)))


def test_data_path_sentence_says_which_path_was_faster_only_beyond_the_noise():
    from mnist_book.bench.report import data_path_sentence

    faster = data_path_sentence(_bench_result(memory_seconds=(10, 10.5, 9.8), loader_seconds=(12, 12.5, 12.1)))
    assert "was faster in memory in each of its 3 epochs (ratios 1.19 to 1.23)" in faster
    assert "noise" not in faster and "DataLoader was the faster" not in faster
    slower = data_path_sentence(_bench_result(memory_seconds=(12, 12.5), loader_seconds=(10, 10.5)))
    assert "the DataLoader was the faster path in each of its 2 epochs" in slower and "faster in memory" not in slower
    # the recorded CPU run: 0.95 overall, epochs on both sides of 1
    mixed = data_path_sentence(_bench_result(memory_seconds=(34.8, 37.2, 39.2), loader_seconds=(36.8, 35.0, 34.3)))
    assert mixed.startswith("The article's recipe trained 0.95 times as many images per second")
    assert "within the noise between epochs" in mixed and "faster in memory" not in mixed
    assert "faster path" not in mixed
    single = data_path_sentence(_bench_result(memory_seconds=(10,), loader_seconds=(30,)))
    assert "one epoch each: too few" in single and "faster in memory" not in single
    assert data_path_sentence({"recipes": {"c": {"summary": _bench_summary(8.3, 0.99)}}}) is None


def test_recorded_gpu_sentence_both_ways():
    hit = recorded_gpu_sentence(_bench_result(gpu="NVIDIA H100"))
    assert hit.startswith("On the recorded GPU (NVIDIA H100) the fast recipe reached a mean test accuracy of 99.16%")
    assert "at least 27 times sooner" in hit and "faster in memory in each of its 2 epochs" in hit
    miss = recorded_gpu_sentence(_bench_result(gpu="NVIDIA H100", c=_bench_summary(None, 0.985)))
    assert "did not reach the target" in miss and "sooner" not in miss and "conservative" not in miss


def test_runtime_agreement_says_whether_the_export_changed_any_reading():
    from mnist_book.web import RuntimeComparison

    same = RuntimeComparison(10000, 0.9891, 0.9891, 0, 3.8e-6)
    assert runtime_agreement(same) == (
        "the two agree on every one of the 10,000 digits, with logits equal up to float rounding "
        "(they differ by at most 3.8e-06)"
    )
    one = RuntimeComparison(10000, 0.9891, 0.9890, 1, 2.5e-5)
    sentence = runtime_agreement(one)
    assert sentence.startswith("the two read 1 digit of 10,000 differently (a digit on the edge")
    assert "2.5e-05" in sentence
    assert "agree on every" not in sentence
    # the same readings from logits far apart: agreement, but not "rounding"
    far = runtime_agreement(RuntimeComparison(10000, 0.98, 0.98, 0, 0.3))
    assert far.startswith("the two agree on every one") and "more than float rounding explains" in far
    assert "equal up to" not in far
    many = runtime_agreement(RuntimeComparison(10000, 0.98, 0.97, 12, 0.3))
    assert many.startswith("the two read 12 digits of 10,000 differently, with") and "on the edge" not in many


def test_speed_appendix_sentences_both_ways():
    from mnist_book.prose import data_phase_sentence, data_share_summary, paths_agreement

    assert "only 1.12 times faster" in amdahl_sentence(1.12) and "worth optimising" not in amdahl_sentence(1.12)
    assert "worth optimising" in amdahl_sentence(3.0) and "no data path can double" not in amdahl_sentence(3.0)
    assert "no data path can double" in amdahl_sentence(1.99) and "worth optimising" in amdahl_sentence(2.0)

    assert paths_agreement(0.0, 32) == (
        "Over 32 batches the two paths' pixel values are identical: whatever separates their speed, it is not "
        "what they compute."
    )
    rounding = paths_agreement(2.4e-7, 1)
    assert rounding.startswith("Over 1 batch the") and "float rounding" in rounding and "identical" not in rounding
    apart = paths_agreement(0.5, 32)
    assert "not the same batches" in apart and "it is not what they compute" not in apart

    less = data_phase_sentence(63.0, 2.0)
    assert less == "The in-memory path cuts the data phase to 2.0 µs per image, 32 times less than the DataLoader's"
    assert "1.5 times less" in data_phase_sentence(3.0, 2.0)
    more = data_phase_sentence(2.0, 3.0)
    assert "does not cut the data phase here" in more and "less" not in more
    same = data_phase_sentence(2.0, 2.1)
    assert "about as long" in same and "less" not in same and "does not cut" not in same

    where = "the CPU"
    arithmetic = data_share_summary(0.115, where)
    assert "took 12% of a step" in arithmetic and "most of the step was the network's own arithmetic" in arithmetic
    data = data_share_summary(0.8, where)
    assert "most of the step was spent getting the data" in data and "arithmetic" not in data
    half = data_share_summary(0.5, where)
    assert "about half" in half and "most of the step" not in half


def test_resume_agreement_both_ways():
    from mnist_book.prose import resume_agreement

    assert resume_agreement(0.0) == "identical, bit for bit"
    rounding = resume_agreement(3e-8)
    assert rounding.startswith("equal up to float rounding") and "identical" not in rounding
    apart = resume_agreement(0.02)
    assert apart.startswith("not the same") and "rounding explains" in apart and "equal" not in apart


def test_softmax_gradient_verdict_both_ways():
    from mnist_book.prose import softmax_gradient_verdict

    vanish = softmax_gradient_verdict([0.34, 0.75, 0.93], 0.91, [1.0, 1.17, 1.26], [0.095, 0.052, 0.014])
    assert vanish.startswith("With the softmax at the end, the logits get 9.5% of the right loss's gradient")
    assert "and 1.1% at 0.93, on a batch 91% wrong" in vanish
    assert vanish.endswith(
        ": its gradients vanish as the logits grow confident, so a confidently wrong network is "
        "barely pushed to change its mind."
    )
    mostly_right = softmax_gradient_verdict([0.34, 0.75, 0.93], 0.2, [1.0, 0.5, 0.2], [0.095, 0.02, 0.005])
    assert mostly_right.endswith(": its gradients vanish as the logits grow confident.")
    assert "confidently wrong" not in mostly_right and "do not vanish" not in mostly_right
    # Falling, but not below a tenth: not "vanish"; below a tenth but not falling: not "vanish" either.
    for grads in ([0.9, 0.6, 0.5], [0.05, 0.06, 0.08]):
        kept = softmax_gradient_verdict([0.34, 0.75, 0.93], 0.91, [1.0, 1.0, 1.0], grads)
        assert "do not vanish" in kept and "gradients vanish" not in kept


def test_equal_time_verdict_both_ways():
    from mnist_book.prose import equal_time_verdict

    names, steps = ("Net", "LeNet-5"), (700, 5200)
    b_better = equal_time_verdict(names, steps, (0.9800, 0.9860), Paired(20, 50, 4e-4), 5000)
    assert b_better.startswith("In the same training time Net took 700 steps and LeNet-5 5,200 steps; ")
    assert "Net reads 98.00% of the 5,000 validation digits and LeNet-5 98.60%" in b_better
    assert "Net gets 20 and LeNet-5 50 (p < 0.001): at equal time LeNet-5 is clearly more accurate" in b_better
    assert "Net is clearly" not in b_better and "too close" not in b_better
    a_better = equal_time_verdict(names, steps, (0.9860, 0.9800), Paired(50, 20, 4e-4), 5000)
    assert "at equal time Net is clearly more accurate" in a_better and "LeNet-5 is clearly" not in a_better
    close = equal_time_verdict(names, steps, (0.9860, 0.9850), Paired(30, 25, 0.59), 5000)
    assert "(p = 0.590): Net is ahead, but by less than the noise" in close and "too close to call" in close
    assert "clearly" not in close and "LeNet-5 is ahead" not in close
    tie = equal_time_verdict(names, steps, (0.985, 0.985), Paired(30, 30, 1.0), 5000)
    assert "equally accurate" in tie and "ahead" not in tie and "clearly" not in tie
    # The standard error is the larger of the two: sqrt(0.98 * 0.02 / 5000) = 0.198%.
    assert "(standard error at most 0.20%)" in b_better


def test_kernel_recovery_says_whether_gradient_descent_found_the_kernel():
    found = kernel_recovery([1.37, 0.2, 3.0e-6], 0.014)
    assert found.startswith("The loss fell from 1.37 at the first step to 3e-06 at the last")
    assert "within 0.014 of the true one" in found and "found the vertical-edge kernel" in found
    on_its_way = kernel_recovery([1.37, 0.5], 0.3)
    assert "still up to 0.3 away" in on_its_way and "found the vertical-edge kernel" not in on_its_way
    assert "found the" in kernel_recovery([1, 1e-3], 0.049) and "still" in kernel_recovery([1, 1e-3], 0.051)
    stuck = kernel_recovery([1.0, 1.2], 0.01)
    assert "did not fall" in stuck and "fell" not in stuck and "did not find it" in stuck
    diverged = kernel_recovery([1.0, math.inf], math.nan)
    assert "diverged" in diverged and "fell" not in diverged


def test_shift_sentences_follow_the_measured_changes():
    # chapter 3's fast-mode numbers: no pooling, max, average, subsampling
    measured = shift_tolerance_verdict(0.71, 0.53, 0.58, 0.72)
    assert measured.startswith("Both max and average pooling change the features less")
    assert "not from the smaller size" in measured and "partial tolerance" in measured
    size_helps = shift_tolerance_verdict(0.71, 0.53, 0.58, 0.60)
    assert "so does subsampling alone" in size_helps and "not from the smaller size" not in size_helps
    only_max = shift_tolerance_verdict(0.71, 0.53, 0.70, 0.72)
    assert only_max.startswith("Only max pooling") and "taking the maximum over a window" in only_max
    assert shift_tolerance_verdict(0.71, 0.70, 0.55, 0.72).startswith("Only average pooling")
    nothing = shift_tolerance_verdict(0.71, 0.70, 0.72, 0.71)
    assert "bought no tolerance" in nothing and "partial tolerance" not in nothing

    assert pooling_shift_comparison(0.53, 0.58).startswith("max pooling was the more shift-tolerant")
    assert pooling_shift_comparison(0.58, 0.53).startswith("average pooling was the more shift-tolerant")
    level = pooling_shift_comparison(0.55, 0.56)
    assert "equally shift-tolerant" in level and "the more" not in level

    assert "fell from 0.71 without pooling to 0.53 with it" in shift_summary(0.71, 0.53)
    unchanged = shift_summary(0.71, 0.70)
    assert unchanged.startswith("It did not make these features more tolerant") and "fell" not in unchanged
