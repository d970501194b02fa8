"""Chapter 7's fine-tuning code: augmentation against independent shifts and rotations, the batch-norm
network against Net, the ablation ladder, stratified subsets, the four transfer methods (what each
trains and what it leaves alone), forgetting, and the result cache."""
from __future__ import annotations

import math
from dataclasses import asdict, replace

import pytest
import torch

from mnist_book.data import Split, load_split, subset
from mnist_book.evaluate import rotate_images, shift_images
from mnist_book.finetune import (
    ABLATION_STEPS,
    ARTICLE_TUNE,
    TRANSFER_METHODS,
    LinearProbe,
    NetBN,
    TransferPlan,
    TuneRecipe,
    ablation_recipes,
    affine_images,
    cache_key,
    cached,
    conv_features,
    make_transfer_model,
    random_affine,
    state_fingerprint,
    stratified_subset,
    train_transfer,
    train_tuned,
    with_old_head,
)
from mnist_book.models import Net
from mnist_book.settings import get_device


@pytest.fixture(scope="module")
def digits() -> Split:
    return subset(load_split("mnist", train=True), 256, seed=3)


@pytest.fixture(scope="module")
def fill(digits) -> float:
    return float(digits.images.min())


# ----------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("dx, dy", [(1, 0), (0, 2), (-2, -1), (2, -2)])
def test_whole_pixel_shifts_match_shift_images(digits, fill, dx, dy):
    x = digits.images[:16]
    moved = affine_images(x, torch.zeros(16), torch.tensor([[dx, dy]] * 16), fill=fill)
    torch.testing.assert_close(moved, shift_images(x, dx, dy, fill), atol=1e-4, rtol=0)


@pytest.mark.parametrize("degrees", [10.0, -25.0, 90.0])
def test_rotations_match_torchvision(digits, fill, degrees):
    """Counter-clockwise for positive angles, like ``torchvision.transforms.functional.rotate``."""
    x = digits.images[:16]
    turned = affine_images(x, torch.full((16,), degrees), torch.zeros(16, 2), fill=fill)
    torch.testing.assert_close(turned, rotate_images(x, degrees, fill), atol=1e-4, rtol=0)


def test_random_affine_stays_in_range_and_is_seeded(digits, fill):
    x = digits.images[:64]
    a = random_affine(x, max_shift=2, max_degrees=10, fill=fill, generator=torch.Generator().manual_seed(0))
    b = random_affine(x, max_shift=2, max_degrees=10, fill=fill, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert not torch.equal(a, x)
    assert a.min() >= fill - 1e-5 and a.max() <= x.max() + 1e-5  # bilinear: no new extremes
    same = random_affine(x, max_shift=0, max_degrees=0, fill=fill)
    torch.testing.assert_close(same, x, atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- Part A


def test_netbn_takes_nets_weights(digits):
    """With fresh batch norm (mean 0, variance 1, scale 1, shift 0) in eval mode, NetBN loaded with
    Net's weights computes what Net computes, up to BN's epsilon."""
    torch.manual_seed(0)
    net = Net().eval()
    bn = NetBN().eval()
    missing, unexpected = bn.load_state_dict(net.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith(("bn1.", "bn2.")) for k in missing)
    with torch.no_grad():
        torch.testing.assert_close(bn(digits.images[:32]), net(digits.images[:32]), rtol=1e-4, atol=1e-4)


def test_ablation_ladder_adds_one_change_per_step():
    recipes = [r for _, r in ablation_recipes()]
    assert recipes[0] == ARTICLE_TUNE
    for (step, recipe), before in zip(ablation_recipes()[1:], recipes):
        changed = {k for k, v in asdict(recipe).items() if asdict(before)[k] != v}
        assert changed == set(step.change), step.name
    last = recipes[-1]
    assert last.batch_norm and last.augment and last.schedule == "onecycle"
    assert last.label_smoothing > 0 and last.weight_decay > 0
    assert len({s.name for s in ABLATION_STEPS}) == len(ABLATION_STEPS)


def test_recipe_rejects_nonsense():
    with pytest.raises(ValueError, match="schedule"):
        TuneRecipe(schedule="triangular")
    with pytest.raises(ValueError, match="label_smoothing"):
        TuneRecipe(label_smoothing=1.0)
    with pytest.raises(ValueError, match="learning rate"):
        TuneRecipe(lr=0)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_train_tuned_with_every_switch_on(digits, schedule):
    recipe = replace(ablation_recipes()[-1][1], schedule=schedule, epochs=2, batch_size=32)
    device = get_device()
    model, history = train_tuned(recipe, subset(digits, 96, seed=0), subset(digits, 64, seed=1), device=device,
                                 progress=False)  # fmt: skip
    assert isinstance(model, NetBN) and not model.training
    assert len(history) == 2 and all(math.isfinite(v) for v in history.train_loss + history.val_loss)
    # Both schedules end near zero; one-cycle starts low (warm-up), cosine at the peak.
    assert history.lr[0] == pytest.approx(recipe.lr if schedule == "cosine" else recipe.lr / 25, rel=1e-6)


def test_train_tuned_is_reproducible(digits):
    recipe = replace(ARTICLE_TUNE, epochs=1, batch_size=32, augment=True)
    few = subset(digits, 96, seed=0)
    a, ha = train_tuned(recipe, few, device="cpu", progress=False)
    b, hb = train_tuned(recipe, few, device="cpu", progress=False)
    assert ha.train_loss == hb.train_loss
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


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


def test_linear_probe_sees_nets_conv_features(digits):
    torch.manual_seed(0)
    net = Net().eval()
    features = {}

    def keep_input(module, inputs, output) -> None:
        features["x"] = inputs[0]

    net.fc1.register_forward_hook(keep_input)
    with torch.no_grad():
        net(digits.images[:8])
        torch.testing.assert_close(conv_features(net, digits.images[:8]), features["x"])
        probe = LinearProbe(net)
        torch.testing.assert_close(probe.head(features["x"]), probe(digits.images[:8]))


@pytest.mark.parametrize("method", list(TRANSFER_METHODS))
def test_transfer_methods_train_what_they_say(digits, method):
    torch.manual_seed(1)
    pretrained = Net()
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    plan = TransferPlan(budgets=(64,), epochs=(1,), batch_size=32, lr=0.05)
    model = train_transfer(method, pretrained, subset(digits, 64, seed=0), 1, plan, device="cpu")
    for k, v in pretrained.state_dict().items():  # the pretrained model itself is never touched
        assert torch.equal(v, before[k]), k
    after = model.state_dict()
    moved = {k for k in after if k in before and not torch.equal(after[k], before[k])}
    if method == "scratch":
        assert not torch.equal(after["conv1.weight"], before["conv1.weight"])
    elif method == "linear_probe":
        assert moved == set() and set(after) == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                                 "head.weight", "head.bias"}  # fmt: skip
    elif method == "top_layers":
        assert moved == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    else:
        assert moved == set(before)


def test_full_fine_tuning_gives_pretrained_layers_the_smaller_rate():
    pretrained = Net()
    _, groups = make_transfer_model("full", pretrained)
    assert [g["lr_factor"] for g in groups] == ["backbone", 1.0]
    assert sum(p.numel() for p in groups[0]["params"]) == sum(
        p.numel() for m in (pretrained.conv1, pretrained.conv2, pretrained.fc1) for p in m.parameters()
    )
    with pytest.raises(ValueError, match="method must be one of"):
        make_transfer_model("half", pretrained)


def test_with_old_head_puts_back_the_mnist_head(digits):
    torch.manual_seed(0)
    pretrained = Net()
    plan = TransferPlan(budgets=(64,), epochs=(1,), batch_size=32, lr=0.05)
    tuned = train_transfer("full", pretrained, subset(digits, 64, seed=0), 1, plan, device="cpu")
    old = with_old_head(tuned, pretrained)
    assert torch.equal(old.fc2.weight, pretrained.fc2.weight)
    assert torch.equal(old.fc1.weight, tuned.fc1.weight) and not torch.equal(old.fc1.weight, pretrained.fc1.weight)
    assert not torch.equal(tuned.fc2.weight, pretrained.fc2.weight)  # the copy, not the model, changed
    with pytest.raises(TypeError, match="fine-tuned Net"):
        with_old_head(LinearProbe(pretrained), pretrained)


# ----------------------------------------------------------------------------- caching


def test_cache_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_BOOK_DATA", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"acc": 0.5, "weights": torch.arange(3)}

    key = cache_key("demo", "fast", {"lr": 0.1})
    assert cached(key, compute)["acc"] == 0.5
    again = cached(key, compute)
    assert len(calls) == 1 and torch.equal(again["weights"], torch.arange(3))
    assert cache_key("demo", "fast", {"lr": 0.2}) != key and cache_key("demo", "full", {"lr": 0.1}) != key
    path = next(tmp_path.rglob(f"{key}.pt"))
    path.write_bytes(b"garbage")  # a damaged file is computed again
    assert cached(key, compute)["acc"] == 0.5 and len(calls) == 2


def test_state_fingerprint_sees_any_change():
    torch.manual_seed(0)
    net = Net()
    before = state_fingerprint(net)
    with torch.no_grad():
        net.fc2.bias[3] += 1e-6
    assert state_fingerprint(net) != before


def test_cached_runs_come_back_identical(tmp_path, monkeypatch, digits):
    """A second call with the same settings loads the stored result instead of training again;
    another pretrained model (another fingerprint) is a different run."""
    import mnist_book.finetune as finetune

    monkeypatch.setenv("MNIST_BOOK_DATA", str(tmp_path))
    few, val = subset(digits, 64, seed=0), subset(digits, 32, seed=1)
    recipe = replace(ARTICLE_TUNE, epochs=1, batch_size=32, batch_norm=True)
    plan = TransferPlan(budgets=(64,), epochs=(1,), batch_size=32)
    torch.manual_seed(0)
    pretrained, other = Net(), Net()
    model, history = finetune.train_tuned_cached("t", recipe, few, val, mode="fast", progress=False)
    result = finetune.run_transfer("top_layers", pretrained, few, 1, plan, val, val, mode="fast")
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["old_head_accuracy"] <= 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of using the cache")

    monkeypatch.setattr(finetune, "train_tuned", no_training)
    monkeypatch.setattr(finetune, "train_transfer", no_training)
    again, history_again = finetune.train_tuned_cached("t", recipe, few, val, mode="fast", progress=False)
    assert isinstance(again, NetBN) and history_again == history
    for x, y in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(x.cpu(), y.cpu())
    assert finetune.run_transfer("top_layers", pretrained, few, 1, plan, val, val, mode="fast") == result
    with pytest.raises(AssertionError, match="trained again"):
        finetune.run_transfer("top_layers", other, few, 1, plan, val, val, mode="fast")
