"""Listings specialised to a recipe are faithful: executed, they do exactly what the general code does."""

from __future__ import annotations

import torch

import mnist_book.train as train_mod
from mnist_book.data import Batches, load_split, subset
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


def compiled(function, recipe):
    """The specialised listing of ``function``, executed in its module: a function again."""
    namespace = dict(vars(train_mod))
    exec(specialise(function, recipe), namespace)
    return namespace[function.__name__]


def one_epoch(loop, recipe, data):
    torch.manual_seed(0)
    model = build_model(recipe)
    optimizer = make_optimizer(model.parameters(), recipe)
    batches = Batches(data, 32, seed=0, drop_last=True)
    scheduler = make_scheduler(optimizer, recipe, len(batches))
    augment = Augment(recipe.max_shift, recipe.max_degrees, background(data.images), seed=0) if recipe.augment else None
    result = loop(model, batches, optimizer, device="cpu", recipe=recipe, scheduler=scheduler, augment=augment)
    return result, model


def test_specialised_loop_does_what_the_loop_does():
    data = subset(load_split("mnist", train=True), 384, seed=4)
    for recipe in (ARTICLE_RECIPE, TUNED_RECIPE.changed(epochs=1)):
        expected, model = one_epoch(train_one_epoch, recipe, data)
        got, listed_model = one_epoch(compiled(train_one_epoch, recipe), recipe, data)
        assert got == expected
        for a, b in zip(model.state_dict().values(), listed_model.state_dict().values()):
            assert torch.equal(a, b)


def test_the_listing_shows_only_what_the_recipe_runs():
    article, tuned = specialise(train_one_epoch, ARTICLE_RECIPE), specialise(train_one_epoch, TUNED_RECIPE)
    assert "augment(" not in article and "scheduler.step()" not in article and "if " + "augment" not in article
    assert "x = augment(x)" in tuned and "scheduler.step()" in tuned and "label_smoothing=0.1" in tuned
    assert '"""' not in article  # no docstring
    diff = listing_diff(article, tuned)
    added = [line for line in diff.splitlines() if line.startswith("+")]
    assert len(added) == 3  # augmentation, smoothing, the per-batch step
    optimizer = specialise(make_optimizer, PYTORCH_EXAMPLE_RECIPE)
    assert "Adadelta" in optimizer and "SGD" not in optimizer and "Adam(" not in optimizer
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert (
        type(compiled(make_optimizer, PYTORCH_EXAMPLE_RECIPE)(params, PYTORCH_EXAMPLE_RECIPE)) is torch.optim.Adadelta
    )
