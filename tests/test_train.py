"""Training: the loop's arithmetic, recipes (immutable, hashable), schedules, exact resumption on every data
path, and checkpoint files. (The cache of runs: test_runs.py; the command line: test_train_cli.py.)"""

import dataclasses
import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnist_book.checkpoints import CheckpointError, load_checkpoint, make_checkpoint, restore_model, rng_state
from mnist_book.data import Batches, Split, load_split, mnist_loader, subset
from mnist_book.devices import engine_for, get_device
from mnist_book.files import atomic_save
from mnist_book.models import ArticleNet, FastNet, Net
from mnist_book.train import (
    ARTICLE_RECIPE,
    FAST_RECIPE,
    PYTORCH_EXAMPLE_RECIPE,
    RECIPES,
    TUNED_RECIPE,
    History,
    Recipe,
    build_model,
    fit,
    learning_rates,
    make_optimizer,
    make_scheduler,
    train_one_epoch,
)

REPO = Path(__file__).resolve().parent.parent
DEVICE = get_device()


def same_history(a: History, b: History) -> bool:
    return replace(a, seconds=[], train_seconds=[]) == replace(b, seconds=[], train_seconds=[])


# ----------------------------------------------------------------------------- the loop


def test_one_epoch_is_plain_sgd(tiny):
    """Two steps of the loop equal two hand-made steps p -= lr * grad (fresh gradients each time)."""
    torch.manual_seed(0)
    model = Net(p_conv=0.0, p_fc=0.0)  # no dropout, so the two computations can agree
    reference = Net(p_conv=0.0, p_fc=0.0)
    reference.load_state_dict(model.state_dict())
    batches = [(tiny.images[:8], tiny.labels[:8]), (tiny.images[8:16], tiny.labels[8:16])]
    recipe = Recipe(lr=0.1, momentum=0.0)
    loss, acc = train_one_epoch(model, batches, make_optimizer(model.parameters(), recipe), device="cpu", recipe=recipe)

    params = list(reference.parameters())
    losses, hits = [], 0
    for x, y in batches:
        logits = reference(x)
        batch_loss = F.cross_entropy(logits, y)
        grads = torch.autograd.grad(batch_loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= 0.1 * g
        losses.append(batch_loss.item())
        hits += int((logits.argmax(1) == y).sum())
    for p, q in zip(model.parameters(), params):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(sum(losses) / 2, rel=1e-6)
    assert acc == hits / 16


def test_label_smoothing_is_the_loss_against_softened_targets(tiny):
    """The loop's loss with smoothing eps is -sum_k q_k log p_k with q = (1 - eps) one-hot + eps / 10."""
    torch.manual_seed(0)
    model = Net(p_conv=0.0, p_fc=0.0)
    x, y = tiny.images[:16], tiny.labels[:16]
    with torch.no_grad():
        log_p = torch.log_softmax(model(x).double(), dim=1)
    q = torch.full((16, 10), 0.1 / 10, dtype=torch.float64)
    q[torch.arange(16), y] += 0.9
    expected = -(q * log_p).sum(1).mean().item()
    recipe = Recipe(label_smoothing=0.1, lr=1e-12, momentum=0.0)  # a step too small to matter
    loss, _ = train_one_epoch(model, [(x, y)], make_optimizer(model.parameters(), recipe), device="cpu", recipe=recipe)
    assert loss == pytest.approx(expected, rel=1e-5)


def test_one_cycle_rates_follow_smiths_schedule():
    """Start at peak / 25, reach the peak after the warm-up, end at peak / 25e4, moving every batch."""
    recipe = FAST_RECIPE.changed(epochs=2)
    rates = learning_rates(recipe, steps_per_epoch=100)
    assert len(rates) == 200
    assert rates[0] == pytest.approx(recipe.lr / 25)
    assert max(rates) == pytest.approx(recipe.lr) and rates.index(max(rates)) == round(0.25 * 200) - 1
    assert rates[-1] == pytest.approx(recipe.lr / 25e4, rel=0.05)
    assert len(set(rates[:100])) > 90  # a new rate after (almost) every batch


def test_step_schedule_moves_once_per_epoch():
    rates = learning_rates(PYTORCH_EXAMPLE_RECIPE.changed(epochs=3), steps_per_epoch=4)
    assert rates == pytest.approx([1.0] * 4 + [0.7] * 4 + [0.49] * 4)
    assert learning_rates(ARTICLE_RECIPE.changed(epochs=2), steps_per_epoch=3) == [0.01] * 6


def test_one_cycle_needs_enough_steps():
    optimizer = make_optimizer(FastNet().parameters(), FAST_RECIPE)
    with pytest.raises(ValueError, match="needs at least"):
        make_scheduler(optimizer, FAST_RECIPE, steps_per_epoch=3)


def test_fit_learns_with_every_named_recipe(tiny, one_thread):
    """Each named recipe, a few epochs on 192 digits, lowers the training loss (augmentation included)."""
    for name, recipe in RECIPES.items():
        recipe = recipe.changed(epochs=4, batch_size=32)
        _, history = fit(recipe, tiny, device=DEVICE, progress=False)
        assert history.train_loss[-1] < 0.8 * history.train_loss[0], name


def test_augmentation_moves_the_images_the_model_sees(tiny, one_thread):
    """With augmentation the model sees the same batches moved and turned: the same digits in the same
    order (about as much ink), other pixels; without it, exactly the batches of Batches."""
    seen = {}
    for augment in (False, True):
        recipe = ARTICLE_RECIPE.changed(epochs=1, augment=augment)
        model = build_model(recipe)
        inputs = []
        model.register_forward_pre_hook(lambda module, args, inputs=inputs: inputs.append(args[0].detach().clone()))
        fit(recipe, tiny, model=model, device="cpu", progress=False)
        seen[augment] = inputs
    plain = [x for x, _ in Batches(tiny, 64, seed=0)]
    assert all(torch.equal(a, b) for a, b in zip(seen[False], plain))
    background = float(tiny.images.min())
    for moved, original in zip(seen[True], plain):
        assert not torch.equal(moved, original)
        ink_moved, ink = (moved - background).sum((1, 2, 3)), (original - background).sum((1, 2, 3))
        torch.testing.assert_close(ink_moved, ink, rtol=0.15, atol=0)  # the same digit, moved: the same ink


def test_fit_refuses_what_it_cannot_train(tiny):
    with pytest.raises(ValueError, match="empty"):
        fit(ARTICLE_RECIPE, Split(tiny.images[:0], tiny.labels[:0]), device="cpu", progress=False)
    with pytest.raises(ValueError, match="Augmentation needs"):
        fit(TUNED_RECIPE, mnist_loader(64, indices=list(range(64))), device="cpu", progress=False)


# ----------------------------------------------------------------------------- recipes and engines


def test_recipe_rejects_bad_values():
    for changes, message in [
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"lr": 0}, "learning rate"),
        ({"gamma": 1.5}, "gamma"),
        ({"schedule": "linear"}, "schedule"),
        ({"network": "ResNet"}, "network"),
        ({"warmup": 1.0}, "warmup"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
    ]:
        with pytest.raises(ValueError, match=message):
            Recipe(**changes)


def test_recipe_changes_merge_network_options():
    recipe = Recipe(network_options={"batch_norm": True}).changed(network_options={"p_fc": 0.0}, lr=0.1)
    assert recipe.network_options == {"batch_norm": True, "p_fc": 0.0} and recipe.lr == 0.1
    assert str(recipe) == "Recipe(network_options={'batch_norm': True, 'p_fc': 0.0}, lr=0.1)"
    model = build_model(recipe)
    assert model.batch_norm and model.dropout2.p == 0.0 and model.dropout1.p == 0.25


def test_recipes_cannot_change_and_can_be_hashed():
    """A recipe is a value: its network options are read-only (writing into a module constant would
    change every run that uses it), and it can key a dict or a set."""
    with pytest.raises(TypeError):
        TUNED_RECIPE.network_options["widths"] = (8, 8, 8)
    with pytest.raises(AttributeError):
        TUNED_RECIPE.network_options.update(widths=(8, 8, 8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        TUNED_RECIPE.lr = 1.0
    assert TUNED_RECIPE.network_options == {"widths": (32, 64, 128)}
    options = {"batch_norm": True}
    recipe = Recipe(network_options=options)
    options["batch_norm"] = False  # the caller's dict is copied, not kept
    assert recipe.network_options["batch_norm"] is True
    assert hash(TUNED_RECIPE) == hash(TUNED_RECIPE.changed(epochs=16))
    assert {TUNED_RECIPE: "tuned", ARTICLE_RECIPE: "article"}[TUNED_RECIPE.changed()] == "tuned"
    assert len({Recipe(network_options={"widths": [1, 2, 3]}), Recipe(network_options={"widths": (1, 2, 3)})}) == 1
    assert json.loads(json.dumps(TUNED_RECIPE.to_dict()))["network_options"] == {"widths": [32, 64, 128]}


def test_channels_last_does_not_change_the_function():
    torch.manual_seed(0)
    plain = FastNet().to(DEVICE).eval()
    fast = FastNet().to(DEVICE)
    fast.load_state_dict(plain.state_dict())
    fast.to(memory_format=torch.channels_last).eval()
    x = torch.randn(8, 1, 28, 28, device=DEVICE)
    tol = 2e-2 if DEVICE.type == "cuda" else 1e-4  # cuDNN may use TF32, and picks other kernels for each layout
    with torch.no_grad():
        torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)), plain(x), rtol=tol, atol=tol)
    assert fast.conv2.weight.is_contiguous(memory_format=torch.channels_last)


def test_engine_per_device():
    cpu = engine_for("cpu")
    assert (cpu.channels_last, cpu.autocast, cpu.compile) == (True, None, False)
    assert engine_for("cpu", compile=True).compile
    if torch.cuda.is_available():
        cuda = engine_for("cuda")
        assert (cuda.autocast, cuda.compile) == (torch.bfloat16, True)


@pytest.mark.slow
def test_fast_recipe_reaches_99_percent_in_one_epoch():
    """The appendix's claim, on the whole training set and the whole test set, one seed."""
    from mnist_book.evaluate import predict

    engine = engine_for(DEVICE, compile=False)
    model, history = fit(FAST_RECIPE, load_split("mnist", device=DEVICE), device=DEVICE, engine=engine, progress=False)
    assert len(history) == 1
    assert predict(model, load_split("mnist", train=False, device=DEVICE)).accuracy >= 0.99


# ----------------------------------------------------------------------------- resume


def run(tiny, recipe, *, data="batches", stop_after=None, resume_from=None, path=None, init_seed=1):
    torch.manual_seed(init_seed)
    model = build_model(recipe)
    if data == "batches":
        train_data = Batches(tiny, recipe.batch_size, seed=0, drop_last=recipe.drop_last)
    elif data == "mnist_loader":  # the book's DataLoader path: torchvision images, Batches' order
        train_data = mnist_loader(recipe.batch_size, indices=list(range(192)), seed=0)
    else:
        train_data = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(*tiny), batch_size=recipe.batch_size, shuffle=True
        )
    return fit(
        recipe,
        train_data,
        subset(tiny, 64),
        model=model,
        device=DEVICE,
        checkpoint_path=path,
        stop_after=stop_after,
        resume_from=resume_from,
        progress=False,
        mode="test",
    )


@pytest.mark.parametrize(
    "recipe, data",
    [
        (Recipe(epochs=3, batch_size=32, schedule="step", gamma=0.7), "batches"),  # SGD momentum + StepLR
        (Recipe(optimizer="adadelta", lr=1.0, epochs=2, batch_size=48, schedule="step"), "loader"),
        (Recipe(epochs=3, batch_size=32), "mnist_loader"),  # its sampler's generator must be resumed
        (Recipe(epochs=3, batch_size=32, augment=True), "batches"),  # the augmentation's generator too
        (TUNED_RECIPE.changed(epochs=3, batch_size=32), "batches"),  # one-cycle per batch, augmentation, BN
    ],
)
def test_resume_equals_uninterrupted(tiny, tmp_path, recipe, data, same_weights):
    straight, h_straight = run(tiny, recipe, data=data)
    run(tiny, recipe, data=data, stop_after=1, path=tmp_path / "ckpt.pt")
    assert load_checkpoint(tmp_path / "ckpt.pt")["epoch"] == 1
    # Different initial weights: everything must come from the checkpoint.
    resumed, h_resumed = run(tiny, recipe, data=data, resume_from=tmp_path / "ckpt.pt", init_seed=99)
    same_weights(straight, resumed)
    assert same_history(h_straight, h_resumed)
    assert len(h_resumed) == recipe.epochs


def test_resuming_weights_alone_is_not_enough(tiny, tmp_path):
    """Control: the comparison above notices a resume that forgets the optimiser's momentum."""
    recipe = Recipe(epochs=2, batch_size=32)
    straight, _ = run(tiny, recipe)
    run(tiny, recipe, stop_after=1, path=tmp_path / "ckpt.pt")
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    ckpt["optimizer"] = make_optimizer(Net().parameters(), recipe).state_dict()  # momentum buffers lost
    resumed, _ = run(tiny, recipe, resume_from=ckpt)
    assert not all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))


def test_resume_with_another_recipe_is_refused(tiny, tmp_path):
    recipe = Recipe(epochs=2, batch_size=32)
    run(tiny, recipe, stop_after=1, path=tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match="recipe it was started with"):
        run(tiny, replace(recipe, lr=0.1), resume_from=tmp_path / "ckpt.pt")


# ----------------------------------------------------------------------------- checkpoint files


def small_checkpoint(model: torch.nn.Module, mode: str = "test", recipe: Recipe = ARTICLE_RECIPE, epoch: int = 1):
    optimizer = make_optimizer(model.parameters(), recipe)
    return make_checkpoint(
        model=model,
        optimizer=optimizer,
        scheduler=None,
        epoch=epoch,
        recipe=recipe,
        history=History(),
        rng=rng_state(Batches(Split(torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long)), 1)),
        mode=mode,
    )


def test_a_checkpoint_of_an_older_format_is_refused_clearly(tmp_path):
    ckpt = small_checkpoint(Net())
    atomic_save({**ckpt, "format": "mnist_book.checkpoint/1"}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="another version of this book .*train it again"):
        load_checkpoint(tmp_path / "old.pt")


def test_checkpoint_round_trip_rebuilds_the_network_with_its_options(tmp_path, same_weights):
    torch.manual_seed(0)
    for recipe in (ARTICLE_RECIPE, TUNED_RECIPE, FAST_RECIPE):
        model = build_model(recipe)
        atomic_save(small_checkpoint(model, recipe=recipe), tmp_path / "net.pt")
        loaded = restore_model(load_checkpoint(tmp_path / "net.pt"))
        assert type(loaded) is type(model) and loaded.state_dict().keys() == model.state_dict().keys()
        same_weights(model, loaded)
    assert small_checkpoint(Net())["recipe"] == asdict(ARTICLE_RECIPE)


def test_checkpoint_of_another_architecture(tmp_path):
    atomic_save(small_checkpoint(ArticleNet()), tmp_path / "article.pt")
    with pytest.raises(CheckpointError, match="holds a ArticleNet, not a Net"):
        restore_model(load_checkpoint(tmp_path / "article.pt"), Net())


def test_checkpoint_with_weights_of_other_sizes(tmp_path):
    ckpt = small_checkpoint(Net())
    ckpt["model"]["fc1.weight"] = torch.zeros(64, 9216)
    atomic_save(ckpt, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        restore_model(load_checkpoint(tmp_path / "odd.pt"))


def test_truncated_checkpoint(tmp_path):
    atomic_save(small_checkpoint(Net()), tmp_path / "net.pt")
    data = (tmp_path / "net.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.pt")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(tmp_path / "notes.txt")
    torch.save(Net().state_dict(), tmp_path / "bare_state_dict.pt")  # a torch file, wrong layout
    with pytest.raises(CheckpointError, match="not a checkpoint of this book"):
        load_checkpoint(tmp_path / "bare_state_dict.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
