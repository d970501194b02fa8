"""Moving and turning images (mnist_book.perturb): shifts against rolls and by hand, rotations against
torchvision and torch.rot90, one resampling for both, and random augmentation that is seeded."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_book.data import Split, load_split, subset
from mnist_book.perturb import affine_images, background, random_affine, rotate_images, shift_images


@pytest.fixture(scope="module")
def digits() -> Split:
    return subset(load_split("mnist", train=True), 64, seed=3)


@pytest.fixture(scope="module")
def fill(digits) -> float:
    return background(digits.images)


def test_background_is_blank_paper_normalised():
    assert background(load_split("mnist", train=False).images) == pytest.approx(-0.1307 / 0.3081, abs=1e-4)


def test_shift_by_hand():
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    assert shift_images(x, 1, 0, fill=0).view(3, 3).tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
    assert shift_images(x, 0, -1, fill=-1).view(3, 3).tolist() == [[4, 5, 6], [7, 8, 9], [-1, -1, -1]]
    assert shift_images(x, -2, 2, fill=0).view(3, 3).tolist() == [[0, 0, 0], [0, 0, 0], [3, 0, 0]]
    assert (shift_images(x, 3, 0, fill=7) == 7).all()
    assert torch.equal(shift_images(x, 0, 0, fill=0), x)


@settings(max_examples=20, deadline=None)
@given(st.integers(-5, 5), st.integers(-5, 5))
def test_shift_matches_roll_with_border(dx, dy):
    x = torch.randn(2, 1, 12, 12)
    rolled = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    out = shift_images(x, dx, dy, fill=-9.0)
    mask = torch.zeros(12, 12, dtype=torch.bool)
    mask[max(dy, 0) : 12 + min(dy, 0), max(dx, 0) : 12 + min(dx, 0)] = True
    assert torch.equal(out[..., mask], rolled[..., mask])
    assert (out[..., ~mask] == -9.0).all()


def test_rotation_90_and_0_degrees():
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(rotate_images(x, 0, fill=0.0), x)
    # Positive angles turn counter-clockwise, as torch.rot90 does from the row axis to the column axis.
    torch.testing.assert_close(rotate_images(x, 90, fill=0.0), torch.rot90(x, 1, dims=(-2, -1)), atol=1e-4, rtol=0)


def test_rotation_fills_corners_with_background():
    x = torch.ones(1, 1, 28, 28)
    out = rotate_images(x, 45, fill=-0.5)
    assert out[0, 0, 0, 0].item() == pytest.approx(-0.5)
    assert out[0, 0, 14, 14].item() == pytest.approx(1.0)


def test_rotating_a_blank_image_leaves_no_seam():
    blank = torch.full((2, 1, 28, 28), -0.4242)
    torch.testing.assert_close(rotate_images(blank, 30, fill=-0.4242), blank, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dx, dy", [(1, 0), (0, 2), (-2, -1), (2, -2)])
def test_whole_pixel_shifts_match_shift_images(digits, fill, dx, dy):
    x = digits.images[:16]
    moved = affine_images(x, torch.zeros(16), torch.tensor([[dx, dy]] * 16), fill=fill)
    torch.testing.assert_close(moved, shift_images(x, dx, dy, fill), atol=1e-4, rtol=0)


@pytest.mark.parametrize("degrees", [10.0, -25.0, 90.0])
def test_rotations_match_torchvision(digits, fill, degrees):
    """Counter-clockwise for positive angles, like ``torchvision.transforms.functional.rotate``
    (with the background moved to 0, so that its zero padding is the background)."""
    x = digits.images[:16]
    oracle = TF.rotate(x - fill, degrees, interpolation=TF.InterpolationMode.BILINEAR) + fill
    torch.testing.assert_close(rotate_images(x, degrees, fill), oracle, atol=1e-4, rtol=0)
    turned = affine_images(x, torch.full((16,), degrees), torch.zeros(16, 2), fill=fill)
    torch.testing.assert_close(turned, oracle, atol=1e-4, rtol=0)


def test_random_affine_stays_in_range_and_is_seeded(digits, fill):
    x = digits.images[:64]
    a = random_affine(x, max_shift=2, max_degrees=10, fill=fill, generator=torch.Generator().manual_seed(0))
    b = random_affine(x, max_shift=2, max_degrees=10, fill=fill, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert not torch.equal(a, x)
    assert a.min() >= fill - 1e-5 and a.max() <= x.max() + 1e-5  # bilinear: no new extremes
    same = random_affine(x, max_shift=0, max_degrees=0, fill=fill)
    torch.testing.assert_close(same, x, atol=1e-4, rtol=0)
