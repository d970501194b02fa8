"""Training: the loop's arithmetic, exact resumption, checkpoint errors, the chapter-5 helper, the CLI."""
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import mnist_book.train as train_mod
from mnist_book.data import Batches, Split, load_split, subset
from mnist_book.models import ArticleNet, Net
from mnist_book.settings import get_device
from mnist_book.train import (
    ARTICLE_RECIPE,
    CheckpointError,
    History,
    Recipe,
    fit,
    load_checkpoint,
    load_reference_model,
    main,
    make_checkpoint,
    make_optimizer,
    reference_plan,
    restore_model,
    save_checkpoint,
    train_one_epoch,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny() -> Split:
    return subset(load_split("mnist", train=True), 192, seed=1)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    exact = get_device().type == "cpu"  # CUDA kernels may reorder sums between runs
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        if exact:
            assert torch.equal(x, y), name
        else:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


def same_history(a: History, b: History) -> bool:
    return replace(a, seconds=[]) == replace(b, seconds=[])


# ----------------------------------------------------------------------------- the loop


def test_one_epoch_is_plain_sgd(tiny):
    """Two steps of the loop equal two hand-made steps p -= lr * grad (fresh gradients each time)."""
    torch.manual_seed(0)
    model = Net().eval()  # eval in our copy: no dropout, so the two computations can agree
    reference = Net()
    reference.load_state_dict(model.state_dict())
    batches = [(tiny.images[:8], tiny.labels[:8]), (tiny.images[8:16], tiny.labels[8:16])]

    class NoDropoutNet(Net):
        def train(self, mode=True):  # train_one_epoch calls model.train(); keep dropout off here
            return super().train(False)

    model.__class__ = NoDropoutNet
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, acc = train_one_epoch(model, batches, opt, device="cpu")

    reference.eval()
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


# ----------------------------------------------------------------------------- resume


def run(tiny, recipe, *, data="batches", stop_after=None, resume_from=None, path=None, init_seed=1):
    torch.manual_seed(init_seed)
    model = Net()
    if data == "batches":
        train_data = Batches(tiny, recipe.batch_size, seed=0)
    else:
        train_data = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(*tiny), batch_size=recipe.batch_size, shuffle=True
        )
    history = fit(
        model, train_data, recipe, val_data=subset(tiny, 64), device=get_device(), checkpoint_path=path,
        stop_after=stop_after, resume_from=resume_from, progress=False, mode="test",
    )  # fmt: skip
    return model, history


@pytest.mark.parametrize(
    "recipe, data",
    [
        (Recipe(epochs=3, batch_size=32, gamma=0.7), "batches"),  # SGD momentum + StepLR
        (Recipe("adadelta", lr=1.0, epochs=2, batch_size=48, gamma=0.7), "loader"),
    ],
)
def test_resume_equals_uninterrupted(tiny, tmp_path, recipe, data):
    straight, h_straight = run(tiny, recipe, data=data)
    run(tiny, recipe, data=data, stop_after=1, path=tmp_path / "ckpt.pt")
    assert load_checkpoint(tmp_path / "ckpt.pt")["epoch"] == 1
    # Different initial weights: everything must come from the checkpoint.
    resumed, h_resumed = run(tiny, recipe, data=data, resume_from=tmp_path / "ckpt.pt", init_seed=99)
    assert_same_weights(straight, resumed)
    assert same_history(h_straight, h_resumed)
    assert len(h_resumed) == recipe.epochs


def test_resuming_weights_alone_is_not_enough(tiny, tmp_path):
    """Control: the comparison above notices a resume that forgets the optimiser's momentum."""
    recipe = Recipe(epochs=2, batch_size=32)
    straight, _ = run(tiny, recipe)
    run(tiny, recipe, stop_after=1, path=tmp_path / "ckpt.pt")
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    ckpt["optimizer"] = make_optimizer(Net(), recipe).state_dict()  # momentum buffers lost
    resumed, _ = run(tiny, recipe, resume_from=ckpt)
    assert not all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))


def test_resume_with_another_recipe_is_refused(tiny, tmp_path):
    recipe = Recipe(epochs=2, batch_size=32)
    run(tiny, recipe, stop_after=1, path=tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match="recipe it was started with"):
        run(tiny, replace(recipe, lr=0.1), resume_from=tmp_path / "ckpt.pt")


# ----------------------------------------------------------------------------- bad checkpoints


def small_checkpoint(model: torch.nn.Module, mode: str = "test", recipe: Recipe = ARTICLE_RECIPE, epoch: int = 1):
    return make_checkpoint(
        model=model, optimizer=make_optimizer(model, recipe), scheduler=None, epoch=epoch,
        recipe=recipe, history=History(), mode=mode,
    )  # fmt: skip


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Net()
    save_checkpoint(tmp_path / "net.pt", small_checkpoint(model))
    loaded = restore_model(load_checkpoint(tmp_path / "net.pt"))
    assert isinstance(loaded, Net)
    assert_same_weights(model, loaded)


def test_checkpoint_of_another_architecture(tmp_path):
    save_checkpoint(tmp_path / "article.pt", small_checkpoint(ArticleNet()))
    with pytest.raises(CheckpointError, match="holds a ArticleNet, not a Net"):
        restore_model(load_checkpoint(tmp_path / "article.pt"), Net())


def test_checkpoint_with_weights_of_other_sizes(tmp_path):
    ckpt = small_checkpoint(Net())
    ckpt["model"]["fc1.weight"] = torch.zeros(64, 9216)
    save_checkpoint(tmp_path / "odd.pt", ckpt)
    with pytest.raises(CheckpointError, match="do not fit"):
        restore_model(load_checkpoint(tmp_path / "odd.pt"))


def test_truncated_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "net.pt", small_checkpoint(Net()))
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


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="optimizer"):
        Recipe(optimizer="rmsprop")
    with pytest.raises(ValueError, match="learning rate"):
        Recipe(lr=0)
    with pytest.raises(ValueError, match="gamma"):
        Recipe(gamma=1.5)


def test_fit_wants_batches_not_a_split(tiny):
    with pytest.raises(TypeError, match="Batches"):
        fit(Net(), tiny, Recipe(epochs=1), progress=False)


# ----------------------------------------------------------------------------- chapter 5's model


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private checkpoint folder, and a stand-in for training that records being called."""
    monkeypatch.setattr(train_mod, "data_root", lambda: tmp_path)
    calls = []

    def fake_train(fast, device=None, progress=True, **kwargs):
        calls.append(fast)
        return Net(), {}

    monkeypatch.setattr(train_mod, "train_reference_model", fake_train)
    return calls


def test_reference_fast_and_full_files_differ():
    assert reference_plan(True).path != reference_plan(False).path
    assert reference_plan(False).recipe == ARTICLE_RECIPE


def test_reference_model_loaded_when_present(cache):
    plan = reference_plan(True)
    torch.manual_seed(3)
    model = Net()
    save_checkpoint(plan.path, small_checkpoint(model, "fast", plan.recipe, plan.recipe.epochs))
    loaded, ckpt = load_reference_model(True, device="cpu")
    assert cache == []  # not retrained
    assert_same_weights(model, loaded)
    assert ckpt["mode"] == "fast"


def test_reference_model_of_the_other_mode_is_not_used(cache, capsys):
    fast, full = reference_plan(True), reference_plan(False)
    # A fast-mode model under the full-mode name (copied by hand, say) must not pass for it.
    save_checkpoint(full.path, small_checkpoint(Net(), "fast", fast.recipe, fast.recipe.epochs))
    load_reference_model(False, device="cpu")
    assert cache == [False]
    assert "'fast' mode" in capsys.readouterr().out


def test_reference_model_retrained_when_unreadable(cache, capsys):
    plan = reference_plan(True)
    plan.path.parent.mkdir(parents=True)
    plan.path.write_bytes(b"PK\x03\x04 truncated")
    load_reference_model(True, device="cpu")
    assert cache == [True]
    assert "truncated" in capsys.readouterr().out


def test_interrupted_reference_run_is_finished_not_restarted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_mod, "data_root", lambda: tmp_path)
    tiny_plan = train_mod.ReferencePlan("fast", Recipe(epochs=2, batch_size=32), train_size=128, val_size=64)
    monkeypatch.setattr(train_mod, "reference_plan", lambda fast: tiny_plan)
    device = get_device()
    straight, _ = train_mod.train_reference_model(True, device=device, progress=False)
    tiny_plan.path.unlink()
    train_mod.train_reference_model(True, device=device, progress=False, stop_after=1)  # "interrupted"
    assert load_checkpoint(tiny_plan.path)["epoch"] == 1
    finished, ckpt = load_reference_model(True, device=device, progress=False)
    assert "finishing it" in capsys.readouterr().out
    assert ckpt["epoch"] == 2
    assert_same_weights(straight, finished)


# ----------------------------------------------------------------------------- command line


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "cli.pt"
    env = {**os.environ, "MNIST_BOOK_DEVICE": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "mnist_book.train", "--fast", "--subset", "256", "--output", str(out),
         "--device", "cpu", "--no-progress"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Test accuracy:" in result.stdout
    ckpt = load_checkpoint(out)
    printed = result.stdout.split("Test accuracy:")[1].split("%")[0]
    assert float(printed) == pytest.approx(100 * ckpt["test_accuracy"], abs=0.005)
    assert ckpt["mode"] == "fast" and ckpt["epoch"] == 1 and ckpt["train_size"] == 256
    assert isinstance(restore_model(ckpt), Net)


def test_cli_dataloader_path(tmp_path, capsys):
    acc = main(["--fast", "--subset", "128", "--data", "loader", "--output", str(tmp_path / "l.pt"),
                "--device", "cpu", "--no-progress"])  # fmt: skip
    assert 0 <= acc <= 1
    assert f"{100 * acc:.2f}%" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "-1"], "--lr: must be positive"),
        (["--lr", "fast"], "--lr: expected a number"),
        (["--epochs", "0"], "--epochs: must be positive"),
        (["--momentum", "1.5"], "--momentum: must be in [0, 1)"),
        (["--optimizer", "rmsprop"], "--optimizer: invalid choice"),
        (["--gamma", "2"], "--gamma: must be at most 1"),
        (["--batch-size", "6.5"], "--batch-size: expected an integer"),
    ],
)
def test_cli_bad_flags_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_output_folder_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--fast", "--output", str(tmp_path)])
    assert "is a folder" in capsys.readouterr().err


def test_reference_recipe_is_stored(tmp_path):
    ckpt = small_checkpoint(Net(), recipe=ARTICLE_RECIPE)
    assert ckpt["recipe"] == asdict(ARTICLE_RECIPE)
