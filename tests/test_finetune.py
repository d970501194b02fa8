"""Chapter 7's fine-tuning code: the ablation ladder, stratified subsets, the four transfer methods
(what each trains and what it leaves alone), forgetting, and the cached transfer results."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
import torch

from mnist_book.data import Split, load_split, subset
from mnist_book.evaluate import loss_and_accuracy
from mnist_book.finetune import (
    ABLATION_BASE,
    ABLATION_STEPS,
    BUDGET_NETWORK,
    TRANSFER_METHODS,
    EarlyStopping,
    LinearProbe,
    Rounds,
    TransferPlan,
    ablation_recipes,
    hold_out,
    make_transfer_model,
    paired_table,
    run_transfer,
    runs_table,
    setting_checks,
    stratified_subset,
    train_transfer,
    with_old_head,
)
from mnist_book.models import Net, count_parameters
from mnist_book.tables import changes_table
from mnist_book.train import ARTICLE_RECIPE, TUNED_RECIPE


@pytest.fixture(scope="module")
def digits() -> Split:
    return subset(load_split("mnist", train=True), 256, seed=3)


# ----------------------------------------------------------------------------- augmentation


# ----------------------------------------------------------------------------- Part A


def test_ablation_ladder_adds_one_change_per_step():
    recipes = [r for _, r in ablation_recipes()]
    assert recipes[0] == ABLATION_BASE == ARTICLE_RECIPE.changed(drop_last=True)
    for (step, recipe), before in zip(ablation_recipes()[1:], recipes):
        changed = {k for k, v in asdict(recipe).items() if asdict(before)[k] != v}
        assert changed == set(step.change), step.name
    assert len({s.name for s in ABLATION_STEPS}) == len(ABLATION_STEPS)


def test_the_ladder_and_the_budget_network_make_the_tuned_recipe():
    """Every change of the ladder kept, on the network built for the budget: the book's tuned recipe."""
    tuned = ablation_recipes()[-1][1].changed(**BUDGET_NETWORK, epochs=TUNED_RECIPE.epochs)
    assert asdict(tuned) == asdict(TUNED_RECIPE)


def test_setting_checks_change_one_setting_each():
    short, long = TUNED_RECIPE.changed(epochs=3), TUNED_RECIPE.changed(epochs=12)
    checks = setting_checks(short, long)
    assert [ref for _, ref, _ in checks] == [short, short, long]
    changed = [{k for k, v in asdict(alt).items() if asdict(ref)[k] != v} for _, ref, alt in checks]
    assert changed == [{"lr"}, {"max_shift", "max_degrees"}, {"epochs"}]
    rate, augment, epochs = (alt for _, _, alt in checks)
    assert rate.lr == 2 * short.lr == 0.4 and epochs.epochs == 9  # as 12 would be to 16
    assert augment.max_shift > short.max_shift and augment.max_degrees > short.max_degrees
    assert checks[0][0].label == "a peak learning rate of 0.4" and checks[2][0].label == "9 epochs instead of 12"
    assert setting_checks(short, TUNED_RECIPE)[2][2].epochs == 12
    fewer = [setting_checks(short, TUNED_RECIPE.changed(epochs=e))[2][2].epochs for e in (2, 3, 4)]
    assert fewer == [1, 2, 3]  # always fewer, never none
    assert len(setting_checks(short, TUNED_RECIPE.changed(epochs=1))) == 2  # one epoch: nothing fewer to try


def test_changes_table_lists_exactly_the_settings_that_differ():
    table = changes_table(ARTICLE_RECIPE, TUNED_RECIPE, names=("article", "tuned"))
    assert table.headers == ["setting", "article", "tuned"]
    expected = {k for k, v in asdict(TUNED_RECIPE).items() if asdict(ARTICLE_RECIPE)[k] != v}
    assert {row[0] for row in table.rows} == expected
    assert {"network", "batch_size", "epochs", "drop_last", "schedule", "lr", "augment"} <= expected
    assert ["network", "'Net'", "'FastNet'"] in table.rows and ["lr", "0.01", "0.2"] in table.rows
    assert changes_table(TUNED_RECIPE, TUNED_RECIPE).rows == []
    with pytest.raises(TypeError):
        changes_table(ARTICLE_RECIPE, asdict(TUNED_RECIPE))


def test_result_tables():
    from mnist_book.evaluate import Paired
    from mnist_book.train import History

    h = History(val_loss=[0.5, 0.2], val_acc=[0.9, 0.96], train_loss=[1, 0.5], train_seconds=[3.0, 4.2])
    table = runs_table(["a"], [h], 5000, first="step")
    assert table.headers[0] == "step" and table.rows == [["a", 2, "96.00%", "0.28", "0.2000", "7"]]
    table = paired_table(["x"], [Paired(3, 9, 0.146)], against="the tuned settings")
    assert table.headers[1] == "only the tuned settings right" and table.rows == [["x", 3, 9, "0.146"]]
    with pytest.raises(ValueError):
        runs_table(["a", "b"], [h], 5000)


# ----------------------------------------------------------------------------- Part B


def test_stratified_subset_balances_classes():
    split = load_split("fashion_mnist", train=True)
    for n in (100, 1000, 1003):
        s = stratified_subset(split, n, seed=0)
        counts = torch.bincount(s.labels, minlength=10)
        assert len(s) == n and counts.max() - counts.min() <= 1
    a, b = stratified_subset(split, 100, seed=0), stratified_subset(split, 100, seed=0)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, stratified_subset(split, 100, seed=1).images)
    # No image twice: compare the images themselves, not only the positions.
    flat = a.images.flatten(1)
    assert len(torch.unique(flat, dim=0)) == 100
    with pytest.raises(ValueError, match="label budget"):
        stratified_subset(split, 0)
    with pytest.raises(ValueError, match="label budget"):
        stratified_subset(split, len(split) + 1)


def test_stratified_subset_needs_enough_of_each_class():
    split = Split(torch.zeros(12, 1, 28, 28), torch.tensor([0] * 10 + [1] * 2))
    with pytest.raises(ValueError, match="Class 1 has only 2"):
        stratified_subset(split, 8)


def numbered(n: int) -> Split:
    """``n`` images, each filled with its own position (to tell them apart), ten classes in turn."""
    return Split(torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 28, 28), torch.arange(n) % 10)


def test_the_validation_images_are_in_no_label_budget():
    split = numbered(1000)
    pool, val = hold_out(split, 100, seed=0)
    held = set(val.images[:, 0, 0, 0].long().tolist())
    assert len(held) == 100 and len(pool) == 900 and torch.bincount(val.labels).tolist() == [10] * 10
    assert held | set(pool.images[:, 0, 0, 0].long().tolist()) == set(range(1000))  # nothing lost
    for n in (10, 100, 900):  # every budget, the largest (all of the pool) included
        budget = stratified_subset(pool, n, seed=0)
        assert held.isdisjoint(budget.images[:, 0, 0, 0].long().tolist())
    assert torch.equal(hold_out(split, 100, seed=0)[1].labels, val.labels)  # the same for the same seed
    assert not torch.equal(hold_out(split, 100, seed=1)[1].images, val.images)


def test_rounds_cut_an_endless_shuffled_stream():
    rounds = Rounds(numbered(10), batch_size=4, steps=2, seed=0)
    assert len(rounds) == 2
    batches = [x[:, 0, 0, 0].long().tolist() for _ in range(3) for x, _ in rounds]  # 3 rounds of 2 steps
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]  # passes of 10 images run across the rounds
    first, second = sum(batches[:3], []), sum(batches[3:], [])
    assert sorted(first) == sorted(second) == list(range(10)) and first != second  # a new order each pass


def test_early_stopping_keeps_the_best_weights_and_stops_after_the_patience():
    from mnist_book.train import History

    model = torch.nn.Linear(1, 1, bias=False)
    stopper, history, stops = EarlyStopping(model, patience=2), History(), []
    for k, acc in enumerate([0.5, 0.7, 0.6, 0.7, 0.65, 0.9]):  # the best is the second, ties do not count
        model.weight.data.fill_(k)  # the weights after round k + 1
        history.val_acc.append(acc)
        history.train_loss.append(0.0)  # len(history) counts the rounds
        stops.append(stopper(history))
    assert stops == [False, False, False, True, True, False]  # two validations without a new best: stop
    assert stopper.best_round == 6 and stopper.best_acc == 0.9  # had the run gone on, a new best resets it
    stopper = EarlyStopping(model, patience=2)
    history = History(val_acc=[], train_loss=[])
    for k, acc in enumerate([0.5, 0.7, 0.6, 0.65]):
        model.weight.data.fill_(k)
        history.val_acc.append(acc)
        history.train_loss.append(0.0)
        if stopper(history):
            break
    assert len(history) == 4 and stopper.plateaued(4) and not stopper.plateaued(3)
    assert stopper.restore().weight.item() == 1.0  # the weights of the second validation, not the last
    with pytest.raises(RuntimeError, match="nothing to restore"):
        EarlyStopping(model, 1).restore()


def test_train_transfer_stops_on_a_plateau_or_at_the_cap(digits):
    torch.manual_seed(0)
    pretrained, few, val = Net(), subset(digits, 64, seed=0), subset(digits, 64, seed=1)
    still = TransferPlan(
        budgets=(64,), eval_every=(2,), patience=2, max_steps=20, recipe=ARTICLE_RECIPE.changed(lr=1e-9)
    )
    run = train_transfer("linear_probe", pretrained, few, val, still, eval_every=2)
    # A rate of 1e-9 changes nothing: the first validation stays the best, and two more end the run.
    assert (run.steps, run.best_step, run.plateaued) == (6, 2, True) and len(run.history) == 3
    assert run.history.val_acc[-1] == run.history.val_acc[0] == loss_and_accuracy(run.model, val)[1]
    short = replace(still, patience=50, max_steps=8)
    run = train_transfer("linear_probe", pretrained, few, val, short, eval_every=2)
    assert (run.steps, run.plateaued) == (8, False) and len(run.history) == 4  # stopped by the cap


def test_the_model_kept_is_the_best_validation(digits):
    torch.manual_seed(0)
    pretrained, few, val = Net(), subset(digits, 64, seed=0), subset(digits, 128, seed=1)
    plan = TransferPlan(
        budgets=(64,), eval_every=(1,), patience=3, max_steps=12, recipe=ARTICLE_RECIPE.changed(lr=0.05)
    )
    run = train_transfer("top_layers", pretrained, few, val, plan, eval_every=1)
    best = max(run.history.val_acc)
    assert run.best_step == run.history.val_acc.index(best) + 1  # the first of the best validations
    assert loss_and_accuracy(run.model, val)[1] == best


def test_validation_curves_mark_each_runs_best_validation():
    import matplotlib

    matplotlib.use("Agg")
    from mnist_book.plots import plot_transfer_curves

    fig = plot_transfer_curves({100: {"a": (10, [0.5, 0.7, 0.6], 20)}, 1000: {"a": (50, [0.6, 0.8], 100)}})
    panels = fig.axes
    assert [ax.get_title() for ax in panels] == ["100 labels", "1,000 labels"]
    curve, best = panels[0].lines
    assert list(curve.get_xdata()) == [10, 20, 30] and list(best.get_xdata()) == [20]
    assert list(best.get_ydata()) == [70.0] and list(panels[1].lines[1].get_ydata()) == [80.0]


def test_transfer_plan_checks_itself():
    with pytest.raises(ValueError, match="one validation interval"):
        TransferPlan(budgets=(100, 1000), eval_every=(10,))
    with pytest.raises(ValueError, match="at least one interval"):
        TransferPlan(budgets=(100,), eval_every=(10,), max_steps=5)
    plan = TransferPlan(budgets=(100, 1000), eval_every=(10, 20), patience=3)
    assert plan.rows() == [("100", "every 10 steps", "30 steps"), ("1,000", "every 20 steps", "60 steps")]


def test_linear_probe_reads_what_fc1_reads(digits):
    torch.manual_seed(0)
    net = Net().eval()
    features = {}
    net.fc1.register_forward_hook(lambda module, inputs, output: features.__setitem__("x", inputs[0]))
    probe = LinearProbe(net)
    with torch.no_grad():
        net(digits.images[:8])
        torch.testing.assert_close(probe.head(features["x"]), probe(digits.images[:8]))
    assert count_parameters(probe) == 9216 * 10 + 10  # only the new head learns


@pytest.mark.parametrize("method", list(TRANSFER_METHODS))
def test_transfer_methods_train_what_they_say(digits, method):
    torch.manual_seed(1)
    pretrained = Net()
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    plan = TransferPlan(
        budgets=(64,), eval_every=(2,), max_steps=2, recipe=ARTICLE_RECIPE.changed(batch_size=32, lr=0.05)
    )
    model = train_transfer(method, pretrained, subset(digits, 64, seed=0), digits, plan, eval_every=2).model
    for k, v in pretrained.state_dict().items():  # the pretrained model itself is never touched
        assert torch.equal(v, before[k]), k
    after = model.state_dict()
    moved = {k for k in after if k in before and not torch.equal(after[k], before[k])}
    if method == "scratch":
        assert not torch.equal(after["conv1.weight"], before["conv1.weight"])
    elif method == "linear_probe":
        assert moved == set()
        assert set(after) == {"backbone." + k for k in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias")} | {
            "head.weight",
            "head.bias",
        }
        for k in ("conv1.weight", "conv2.bias"):  # frozen: exactly the pretrained values
            assert torch.equal(after["backbone." + k], before[k])
    elif method == "top_layers":
        assert moved == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    else:
        assert moved == set(before)


def test_full_fine_tuning_gives_pretrained_layers_the_smaller_rate():
    pretrained = Net()
    _, groups = make_transfer_model("full", pretrained, backbone_lr_factor=0.1)
    assert [g.get("lr_factor", 1.0) for g in groups] == [0.1, 1.0]
    assert sum(p.numel() for p in groups[0]["params"]) == sum(
        p.numel() for m in (pretrained.conv1, pretrained.conv2, pretrained.fc1) for p in m.parameters()
    )
    with pytest.raises(ValueError, match="method must be one of"):
        make_transfer_model("half", pretrained)


def test_with_old_head_puts_back_the_mnist_head(digits):
    torch.manual_seed(0)
    pretrained = Net()
    plan = TransferPlan(
        budgets=(64,), eval_every=(2,), max_steps=2, recipe=ARTICLE_RECIPE.changed(batch_size=32, lr=0.05)
    )
    tuned = train_transfer("full", pretrained, subset(digits, 64, seed=0), digits, plan, eval_every=2).model
    old = with_old_head(tuned, pretrained)
    assert torch.equal(old.fc2.weight, pretrained.fc2.weight)
    assert torch.equal(old.fc1.weight, tuned.fc1.weight) and not torch.equal(old.fc1.weight, pretrained.fc1.weight)
    assert not torch.equal(tuned.fc2.weight, pretrained.fc2.weight)  # the copy, not the model, changed
    with pytest.raises(TypeError, match="fine-tuned Net"):
        with_old_head(LinearProbe(pretrained), pretrained)


# ----------------------------------------------------------------------------- caching


def test_transfer_results_come_back_from_the_cache(tmp_path, monkeypatch, digits):
    """A second call with the same settings loads the stored result instead of training again; its
    figures are the model's real accuracies; another pretrained model is a different run."""
    import mnist_book.finetune as finetune

    monkeypatch.setenv("MNIST_BOOK_DATA", str(tmp_path))
    monkeypatch.delenv("MNIST_BOOK_RETRAIN", raising=False)
    few, val = subset(digits, 64, seed=0), subset(digits, 32, seed=1)
    plan = TransferPlan(
        budgets=(64,), eval_every=(2,), patience=1, max_steps=6, recipe=ARTICLE_RECIPE.changed(batch_size=32)
    )
    torch.manual_seed(0)
    pretrained, other = Net(), Net()
    settings = dict(eval_every=2, test=val, mnist_test=val, mode="fast")
    result = run_transfer("top_layers", pretrained, few, val, plan, **settings)
    run = train_transfer("top_layers", pretrained, few, val, plan, eval_every=2)  # the same run, made again
    assert result["accuracy"] == loss_and_accuracy(run.model, val)[1]
    assert result["old_head_accuracy"] == loss_and_accuracy(with_old_head(run.model, pretrained), val)[1]
    assert (result["steps"], result["best_step"], result["plateaued"]) == (run.steps, run.best_step, run.plateaued)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of using the cache")

    monkeypatch.setattr(finetune, "train_transfer", no_training)
    assert run_transfer("top_layers", pretrained, few, val, plan, **settings) == result
    wider = replace(plan, budgets=(64, 128), eval_every=(2, 4))  # other budgets do not change this run
    assert run_transfer("top_layers", pretrained, few, val, wider, **settings) == result
    with pytest.raises(AssertionError, match="trained again"):
        run_transfer("top_layers", other, few, val, plan, **settings)
    with pytest.raises(AssertionError, match="trained again"):  # the validation images decide the result too
        run_transfer("top_layers", pretrained, few, subset(digits, 32, seed=2), plan, **settings)
    with pytest.raises(AssertionError, match="trained again"):  # and so does the patience
        run_transfer("top_layers", pretrained, few, val, replace(plan, patience=2), **settings)
