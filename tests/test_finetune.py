"""Chapter 7's fine-tuning code: the ablation ladder, stratified subsets, the four transfer methods
(what each trains and what it leaves alone), forgetting, and the cached transfer results."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from mnist_book.data import Split, load_split, subset
from mnist_book.evaluate import loss_and_accuracy
from mnist_book.finetune import (
    ABLATION_BASE,
    ABLATION_STEPS,
    BUDGET_NETWORK,
    TRANSFER_METHODS,
    LinearProbe,
    TransferPlan,
    ablation_recipes,
    make_transfer_model,
    run_transfer,
    stratified_subset,
    train_transfer,
    with_old_head,
)
from mnist_book.models import Net, count_parameters
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
    plan = TransferPlan(budgets=(64,), epochs=(1,), recipe=ARTICLE_RECIPE.changed(batch_size=32, lr=0.05))
    model = train_transfer(method, pretrained, subset(digits, 64, seed=0), 1, plan, device="cpu")
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
    plan = TransferPlan(budgets=(64,), epochs=(1,), recipe=ARTICLE_RECIPE.changed(batch_size=32, lr=0.05))
    tuned = train_transfer("full", pretrained, subset(digits, 64, seed=0), 1, plan, device="cpu")
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
    plan = TransferPlan(budgets=(64,), epochs=(1,), recipe=ARTICLE_RECIPE.changed(batch_size=32))
    torch.manual_seed(0)
    pretrained, other = Net(), Net()
    result = run_transfer("top_layers", pretrained, few, 1, plan, val, val, mode="fast")
    model = train_transfer("top_layers", pretrained, few, 1, plan)  # the same run, made again
    assert result["accuracy"] == loss_and_accuracy(model, val)[1]
    assert result["old_head_accuracy"] == loss_and_accuracy(with_old_head(model, pretrained), val)[1]

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of using the cache")

    monkeypatch.setattr(finetune, "train_transfer", no_training)
    assert run_transfer("top_layers", pretrained, few, 1, plan, val, val, mode="fast") == result
    with pytest.raises(AssertionError, match="trained again"):
        run_transfer("top_layers", other, few, 1, plan, val, val, mode="fast")
