"""Listings specialised to a recipe are faithful (executed, they do exactly what the general code does)
and show what the recipe runs: no option it leaves off, no parameter it never reads."""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

import mnist_book.train as train_mod
from mnist_book.data import Batches, load_split, subset
from mnist_book.devices import engine_for
from mnist_book.listing import listing_diff, specialise
from mnist_book.perturb import Augment, background
from mnist_book.train import (
    ARTICLE_RECIPE,
    PYTORCH_EXAMPLE_RECIPE,
    TUNED_RECIPE,
    build_model,
    make_optimizer,
    make_scheduler,
    train_one_epoch,
)

FIVE_STEPS = ("optimizer.zero_grad()", "logits = model(x)", "F.cross_entropy(", "loss.backward()", "optimizer.step()")


def compiled(function, recipe, **options):
    """The specialised listing of ``function``, executed in its module: a function again."""
    namespace = dict(vars(train_mod))
    exec(compile(specialise(function, recipe, **options), "<listing>", "exec"), namespace)
    return namespace[function.__name__]


def one_epoch(loop, recipe, data):
    torch.manual_seed(0)
    model = build_model(recipe)
    optimizer = make_optimizer(model.parameters(), recipe)
    batches = Batches(data, 32, seed=0, drop_last=True)
    scheduler = make_scheduler(optimizer, recipe, len(batches))
    augment = Augment(recipe.max_shift, recipe.max_degrees, background(data.images), seed=0) if recipe.augment else None
    options = {"device": "cpu", "recipe": recipe, "scheduler": scheduler, "augment": augment}
    accepted = inspect.signature(loop).parameters  # a listing drops the parameters its recipe never reads
    result = loop(model, batches, optimizer, **{k: v for k, v in options.items() if k in accepted})
    return result, model


def test_specialised_loop_does_what_the_loop_does():
    data = subset(load_split("mnist", train=True), 384, seed=4)
    for recipe in (ARTICLE_RECIPE, PYTORCH_EXAMPLE_RECIPE, TUNED_RECIPE.changed(epochs=1)):
        expected, model = one_epoch(train_one_epoch, recipe, data)
        got, listed_model = one_epoch(compiled(train_one_epoch, recipe), recipe, data)
        assert got == expected
        for a, b in zip(model.state_dict().values(), listed_model.state_dict().values()):
            assert torch.equal(a, b)


def test_the_articles_listing_is_the_articles_loop():
    article = specialise(train_one_epoch, ARTICLE_RECIPE)
    for option in ("label_smoothing", "bar", "engine", "non_blocking", "recipe", "augment", "scheduler", ".float()"):
        assert option not in article, option
    assert all(step in article for step in FIVE_STEPS)
    assert "F.cross_entropy(logits, y)" in article and "x.to(device)" in article
    assert '"""' not in article and "raise" not in article  # no docstring, no check of the input
    assert len(article.splitlines()) <= 30
    compile(article, "<listing>", "exec")


def test_the_tuned_listing_keeps_what_the_tuned_recipe_runs():
    tuned = specialise(train_one_epoch, TUNED_RECIPE)
    assert "x = augment(x)" in tuned and "scheduler.step()" in tuned and "label_smoothing=0.1" in tuned
    assert "scheduler: " in tuned and "augment: " in tuned  # parameters it reads stay
    assert "bar" not in tuned and "engine" not in tuned and "recipe" not in tuned
    assert all(step in tuned for step in FIVE_STEPS)
    diff = listing_diff(specialise(train_one_epoch, ARTICLE_RECIPE), tuned)
    added = [line for line in diff.splitlines() if line.startswith("+")]
    removed = [line for line in diff.splitlines() if line.startswith("-")]
    assert len(added) == 5  # two parameters, augmentation, smoothing, the per-batch step
    assert removed == ["-        loss = F.cross_entropy(logits, y)  # mean over the batch"]
    assert len(diff.splitlines()) <= 30


def test_an_engine_and_a_gpu_keep_what_they_switch_on():
    cpu = specialise(train_one_epoch, ARTICLE_RECIPE, engine_for("cpu"))
    assert "channels_last" in cpu and "engine" not in cpu  # a decided layout, no autocast to carry
    assert "non_blocking" not in cpu and ".float()" not in cpu
    gpu = specialise(train_one_epoch, ARTICLE_RECIPE, engine_for("cuda", compile=False), device="cuda")
    assert "non_blocking=True" in gpu and "engine.autocast_context(device)" in gpu and "logits.float()" in gpu
    assert "engine: Engine = PLAIN" in gpu and "bar" not in gpu
    with_bar = specialise(train_one_epoch, ARTICLE_RECIPE, keep=("bar",))
    assert "bar.update()" in with_bar and "bar: tqdm | None = None," in with_bar


def test_optimiser_listings_show_only_what_changes_something():
    sgd = specialise(make_optimizer, ARTICLE_RECIPE)
    assert "torch.optim.SGD(" in sgd and "lr=0.01, momentum=0.9" in sgd
    assert "nesterov" not in sgd and "weight_decay" not in sgd  # off, and off by default
    tuned = specialise(make_optimizer, TUNED_RECIPE)
    assert "nesterov=True, weight_decay=0.0005" in tuned
    adadelta = specialise(make_optimizer, PYTORCH_EXAMPLE_RECIPE)
    assert "Adadelta(params, lr=1.0)" in adadelta and "SGD" not in adadelta and "Adam(" not in adadelta
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert (
        type(compiled(make_optimizer, PYTORCH_EXAMPLE_RECIPE)(params, PYTORCH_EXAMPLE_RECIPE)) is torch.optim.Adadelta
    )
    step = specialise(make_scheduler, PYTORCH_EXAMPLE_RECIPE)
    assert "StepLR(optimizer, step_size=1, gamma=0.7)" in step and "total" not in step  # unread: gone
    assert specialise(make_scheduler, ARTICLE_RECIPE).strip().endswith("return None")


def _toy(x, target, *, recipe=ARTICLE_RECIPE, bar=None):
    loss = F.cross_entropy(x, target, label_smoothing=recipe.label_smoothing)
    if bar is not None:
        bar.update()
    unused = recipe.epochs * 2  # noqa: F841 (a listing drops it)
    first = F.cross_entropy(label_smoothing=recipe.weight_decay, input=x, target=target)
    return loss + first + F.dropout(x, p=recipe.weight_decay, training=False).sum()


def test_only_arguments_at_the_callees_default_go():
    toy = specialise(_toy, ARTICLE_RECIPE)
    assert "F.cross_entropy(x, target)" in toy and "F.cross_entropy(input=x, target=target)" in toy
    # p=0.0 is "off" but not dropout's default (0.5), training=False not its default (True): both stay
    assert "F.dropout(x, p=0.0, training=False)" in toy
    assert "unused" not in toy and "bar" not in toy and "recipe" not in toy and "*" not in toy
    namespace = {"F": F, "ARTICLE_RECIPE": ARTICLE_RECIPE}
    exec(compile(toy, "<listing>", "exec"), namespace)
    x, target = torch.randn(4, 10), torch.tensor([0, 1, 2, 3])
    assert torch.equal(namespace["_toy"](x, target), _toy(x, target))
