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
    forgetting_verdict,
    full_vs_top_verdict,
    goal_verdict,
    join_words,
    learning_rate_sweep,
    optimiser_comparison,
    plural,
    pretraining_verdict,
    probe_verdict,
    robustness_verdict,
    runtime_agreement,
    speed_comparison,
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
    assert "No change made" in ablation_verdicts(["x"], [Paired(5, 6, 1.0)])[0]


def test_goal_verdict():
    assert goal_verdict(0.9951, 10000, 0.995, fast=False, still_rising=False) == "That meets the goal of 99.5%."
    short = goal_verdict(0.9944, 10000, 0.995, fast=False, still_rising=True)
    assert "short of the goal of 99.5% by 6 test images" in short and "still rising" in short
    assert "fast mode" in goal_verdict(0.9, 1000, 0.995, fast=True, still_rising=False)


def test_transfer_sentences():
    r = results(
        {
            "scratch": [0.60, 0.900],
            "linear_probe": [0.70, 0.880],
            "top_layers": [0.69, 0.895],
            "full": [0.65, 0.910],
        }
    )
    winners = transfer_winners(r, [100, 60000], n_test=10000)
    assert winners.startswith("With 100 labels, the linear probe wins (70.0%), 1.0 points ahead of fine-tuning the top")
    assert "with 60,000 labels, fine-tuning everything wins (91.0%)" in winners and winners.endswith(".")
    assert "a clear lead" in winners  # 1.0 points on 10,000 images: more than two standard errors
    assert "within the noise: a tie" in transfer_winners(r, [100], n_test=100)  # on 100 images, it is not
    verdict = pretraining_verdict(r, [100, 60000])
    assert "beats training from scratch by 10.0 points" in verdict and "trails" not in verdict.split(";")[0]
    assert "the fewer the labels, the more the head start is worth" in verdict
    assert "3.0 points behind fine-tuning everything" in probe_verdict(r, 60000)
    assert "With 100 labels, fine-tuning everything trails" in full_vs_top_verdict(r, [100, 60000])
    assert full_vs_top_verdict(results({"full": [0.9, 0.9], "top_layers": [0.8, 0.8]}), [100, 60000]) == ""


def test_forgetting_verdict_thresholds():
    assert forgetting_verdict(0.99, {"full": [0.5, 0.3], "top_layers": [0.9, 0.8]}).startswith("This is catastrophic")
    some = forgetting_verdict(0.99, {"full": [0.98, 0.95], "top_layers": [0.99, 0.98]})
    assert "at worst 4.0 points" in some and "the more it trains" in some
    assert "survived almost intact" in forgetting_verdict(0.99, {"full": [0.989, 0.985], "top_layers": [0.99, 0.99]})


def test_training_sentences():
    assert "1.30 times as fast" in speed_comparison(1.3, "A", "B")
    assert "about the same speed" in speed_comparison(1.02, "A", "B")
    assert "lowest after epoch 2" in validation_trend([0.5, 0.4, 0.45], [0.9, 0.95, 0.94], full_epochs=10)
    assert "still falling" in validation_trend([0.5, 0.4, 0.3], [0.9, 0.95, 0.96], full_epochs=10)
    assert "the full build trains for 10" in validation_trend([0.5], [0.9], full_epochs=10)
    assert optimiser_comparison(0.98, 0.983).startswith("Adadelta ended ahead") and "noise" in optimiser_comparison(
        0.98, 0.983
    )
    sweep = {0.001: (1.0, 1.1, 0.7), 0.01: (0.2, 0.15, 0.95), 0.3: (math.nan, 2.4, 0.1)}
    text = learning_rate_sweep(sweep)
    assert "At 0.3 training failed" in text and "At 0.001 learning was slower" in text
    assert "The article's 0.01 was the best rate" in text
    assert "a larger rate did better" in learning_rate_sweep({0.01: (0.2, 0.2, 0.9), 0.03: (0.1, 0.1, 0.95)})
    assert "only 1.12 times faster" in amdahl_sentence(1.12) and "worth optimising" in amdahl_sentence(3.0)


def test_robustness_verdict():
    good = robustness_verdict(
        {"article's recipe": 0.8, "tuned recipe": 0.99}, {"article's recipe": 0.9, "tuned recipe": 0.98}
    )
    assert "the article's model reads 80.0%" in good and "bought the tolerance" in good
    assert "not more tolerant" in robustness_verdict({"a": 0.9, "b": 0.8}, {"a": 0.9, "b": 0.95})


def test_recorded_figures_from_a_saved_result():
    def summary(time, acc, epochs=1, seconds=10.0, ips=1000.0):
        return {
            "time_to_target_s": time,
            "time_to_target_at_least_s": seconds,
            "final_accuracy": {"mean": acc},
            "epochs_run": [epochs],
            "training_seconds": seconds,
            "epoch_to_target": [epochs if time else None],
            "images_per_second": ips,
            "seeds": 3,
        }

    result = {
        "recipes": {
            "a": {"summary": summary(None, 0.9893, 3, 224.0), "runs": []},
            "b": {"summary": summary(None, 0.985, ips=1260.0), "runs": [{"test_accuracy": [0.985]}]},
            "b-loader": {"summary": summary(None, 0.985, ips=1000.0), "runs": [{"test_accuracy": [0.985]}]},
            "c": {"summary": summary(8.3, 0.9916, seconds=8.3), "runs": []},
        }
    }
    figures = recorded_figures(result)
    assert figures["c_acc"] == "99.16%" and figures["c_time"] == "8.3" and figures["speedup"] == "at least 27"
    assert "had not reached the target after the 3 epochs" in figures["a_note"]
    assert figures["ips_ratio"] == "1.26" and figures["acc_diff"] == "identical test accuracies after every epoch"
    assert set(recorded_figures(None).values()) == {"(not recorded)"}
    assert recorded_gpu_sentence(None).startswith("No GPU run is recorded")


def test_runtime_agreement_says_whether_the_export_changed_any_reading():
    from mnist_book.web import RuntimeComparison

    same = RuntimeComparison(10000, 0.9891, 0.9891, 0, 3.8e-6)
    assert runtime_agreement(same) == (
        "the two agree on every one of the 10,000 digits, with logits that differ by at most 3.8e-06"
    )
    one = RuntimeComparison(10000, 0.9891, 0.9890, 1, 2.5e-5)
    sentence = runtime_agreement(one)
    assert sentence.startswith("the two read 1 digit of 10,000 differently") and "2.5e-05" in sentence
    assert "agree on every" not in sentence
    assert runtime_agreement(RuntimeComparison(10000, 0.98, 0.97, 12, 0.3)).startswith("the two read 12 digits")
