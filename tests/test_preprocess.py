"""Part C of chapter 7: images of digits -> MNIST-style inputs, and the errors for bad input.

The main check: MNIST test digits, saved as large, padded, inverted, RGB or grey, JPEG or PNG
files, come back through ``preprocess_image`` close to the original digit and read correctly by a
small network trained in the test (which must itself read the plain digits well, or the check
would mean nothing).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_book.data import MNIST_MEAN, MNIST_STD, Batches, load_split, subset
from mnist_book.devices import get_device
from mnist_book.evaluate import predict
from mnist_book.handwriting import draw_digit, photo_of_digit
from mnist_book.preprocess import (
    CENTRE_OF_MASS,
    BlankImageError,
    EmptyImageError,
    ImageInputError,
    ImageTooLargeError,
    NotAnImageError,
    classify_image,
    preprocess_image,
)


@pytest.fixture(scope="module")
def test_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST test digits in [0, 1] (not normalised): (N, 28, 28) and labels."""
    split = load_split("mnist", train=False, normalize=False)
    return split.images[:, 0], split.labels


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def aligned_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The correlation of ``a`` and ``b`` at the best of the nine placements one pixel apart: centring
    by mass rounds to whole pixels, so a digit resampled twice may land one pixel from the original."""
    return max(correlation(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


# ----------------------------------------------------------------------------- the MNIST facts used


def test_centre_of_mass_is_mnists():
    """MNIST's digits have their centre of mass at (14, 14) on average, which preprocess copies."""
    x = load_split("mnist", train=True, normalize=False).images[:, 0].double()  # (60000, 28, 28)
    idx = torch.arange(28, dtype=torch.float64)
    mass = x.sum((1, 2))
    rows = (x.sum(2) * idx).sum(1) / mass
    cols = (x.sum(1) * idx).sum(1) / mass
    assert rows.mean().item() == pytest.approx(CENTRE_OF_MASS[0], abs=0.05)
    assert cols.mean().item() == pytest.approx(CENTRE_OF_MASS[1], abs=0.05)


# ----------------------------------------------------------------------------- what comes out


def test_output_is_an_mnist_style_input(test_digits):
    images, _ = test_digits
    pre = preprocess_image(photo_of_digit(images[0], scale=9, seed=1))
    assert pre.tensor.shape == (1, 1, 28, 28) and pre.tensor.dtype == torch.float32
    centred = pre.steps["centred"]
    # Normalised like MNIST: the background is -mean/std, full ink (1 - mean)/std.
    torch.testing.assert_close(pre.tensor[0, 0], (torch.from_numpy(centred) - MNIST_MEAN) / MNIST_STD)
    assert centred.min() == 0 and centred.max() == pytest.approx(1)
    rows, cols = np.flatnonzero(centred.any(1)), np.flatnonzero(centred.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20  # fitted to the 20x20 box
    mass = centred.sum()
    assert (centred.sum(1) * np.arange(28)).sum() / mass == pytest.approx(14, abs=0.5)
    assert (centred.sum(0) * np.arange(28)).sum() / mass == pytest.approx(14, abs=0.5)
    assert pre.inverted  # dark ink on light paper


@settings(max_examples=15, deadline=None, derandomize=True)  # the same cases on every run
@given(
    index=st.integers(0, 9999),
    scale=st.floats(2.0, 12.0),
    pad=st.tuples(*[st.integers(0, 120)] * 4),
    dark_ink=st.booleans(),
    rgb=st.booleans(),
    jpeg=st.booleans(),
)
def test_photos_of_mnist_digits_come_back_close_to_the_digit(test_digits, index, scale, pad, dark_ink, rgb, jpeg):
    """Whatever the size, margin, polarity, colour and format, the result matches the original
    28x28 digit (which is itself fitted to 20x20 and centred by mass)."""
    images, _ = test_digits
    digit = images[index].numpy()
    data = photo_of_digit(
        digit, scale=scale, pad=pad, dark_ink=dark_ink, rgb=rgb, image_format="JPEG" if jpeg else "PNG", seed=index
    )
    pre = preprocess_image(data)
    assert pre.inverted == dark_ink
    # 0.75, not more: a photo only twice MNIST's size (scale 2) is resampled twice on the way back
    # to 20x20, which blurs the strokes (0.79 seen for test digit 26).
    assert aligned_correlation(pre.steps["centred"], digit) > 0.75
    assert aligned_correlation(np.roll(digit, 3, axis=1), digit) < 0.75  # a digit moved 3 pixels does not pass


def test_polarity_does_not_matter(test_digits):
    images, _ = test_digits
    light = preprocess_image(photo_of_digit(images[3], dark_ink=False, noise=0, image_format="PNG", rgb=False))
    grey = np.asarray(
        Image.open(io.BytesIO(photo_of_digit(images[3], dark_ink=False, noise=0, image_format="PNG", rgb=False)))
    )
    dark = preprocess_image(255 - grey)  # the same picture, inverted, given as an array
    assert not light.inverted and dark.inverted
    np.testing.assert_allclose(light.steps["centred"], dark.steps["centred"], atol=0.02)


def test_strokes_on_a_transparent_canvas():
    """A drawing app's PNG: white strokes on a transparent background (colour alone is uniform)."""
    drawn = np.asarray(draw_digit(7, seed=0).convert("L"))  # black on white
    rgba = np.zeros((*drawn.shape, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = 255 - drawn  # opaque where the pen went
    pre = preprocess_image(png_bytes(Image.fromarray(rgba)))
    reference = preprocess_image(draw_digit(7, seed=0))
    assert correlation(pre.steps["centred"], reference.steps["centred"]) > 0.98


def test_a_wide_digit_keeps_its_aspect_ratio():
    """A 1 drawn as a thin vertical bar stays thin: scaled to 20 high, not stretched to 20 wide."""
    image = np.full((300, 300), 255, dtype=np.uint8)
    image[50:250, 140:160] = 0  # 200 x 20 bar
    centred = preprocess_image(image).steps["centred"]
    cols = np.flatnonzero(centred.any(0))
    rows = np.flatnonzero(centred.any(1))
    assert rows[-1] - rows[0] + 1 == 20
    assert cols[-1] - cols[0] + 1 <= 3


# ----------------------------------------------------------------------------- accuracy


def small_cnn() -> nn.Module:
    """A small, quick network (about 2 million multiply-adds per image) for the accuracy check."""

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 3 * 3, 10))


@pytest.fixture(scope="module")
def reader() -> nn.Module:
    """``small_cnn`` trained for one epoch on all 60,000 training digits (one-cycle SGD)."""
    device = get_device()
    torch.manual_seed(0)
    model = small_cnn().to(device)
    batches = Batches(load_split("mnist", train=True, device=device), 128, seed=0, drop_last=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=len(batches), pct_start=0.25)
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@pytest.mark.slow  # its fixture trains a network on all 60,000 training digits
def test_photos_of_test_digits_are_read_correctly(reader, test_digits):
    """At least 98% of 500 test digits, each saved as a different kind of photo, are read right;
    the same network must read the plain test digits better still, so the bar means something."""
    images, labels = test_digits
    plain = predict(reader, subset(load_split("mnist", train=False, device=get_device()), 2000, seed=1)).accuracy
    assert plain >= 0.985, f"the test network is too weak for a meaningful check ({plain:.2%})"
    rng = np.random.default_rng(0)
    index = rng.choice(len(labels), 500, replace=False)
    inputs = []
    for k, i in enumerate(index):
        data = photo_of_digit(
            images[i],
            scale=float(rng.uniform(2, 10)),
            pad=tuple(int(p) for p in rng.integers(0, 100, 4)),
            dark_ink=bool(k % 2),
            rgb=bool(k % 3),
            image_format="JPEG" if k % 4 < 2 else "PNG",
            noise=float(rng.uniform(0, 0.03)),
            seed=k,
        )
        inputs.append(preprocess_image(data).tensor)
    x = torch.cat(inputs).to(get_device())
    with torch.no_grad():
        predicted = reader(x).argmax(1).cpu()
    accuracy = (predicted == labels[index]).float().mean().item()
    assert accuracy >= 0.98, f"only {accuracy:.2%} of the photographed digits were read correctly"


def test_classify_image(test_digits):
    """classify_image is preprocess_image then the model: its probabilities are the softmax of the
    model's logits on that very input (an untrained network will do)."""
    images, _ = test_digits
    torch.manual_seed(0)
    model = small_cnn().to(get_device()).eval()
    photo = photo_of_digit(images[0], seed=0)
    reading = classify_image(model, photo)
    with torch.no_grad():
        expected = torch.softmax(model(preprocess_image(photo).tensor.to(get_device())), 1)[0].cpu()
    assert torch.allclose(reading.probs.cpu(), expected, atol=1e-6)
    assert reading.probs.shape == (10,) and reading.probs.sum().item() == pytest.approx(1, abs=1e-5)
    assert reading.digit == int(reading.probs.argmax())


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "data",
    [b"this is not an image, just some text", bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n" + b"\x00" * 50],
    ids=["text", "random bytes", "png signature only"],
)
def test_bytes_that_are_not_an_image(data):
    with pytest.raises(NotAnImageError, match="not an image|damaged"):
        preprocess_image(data)


def test_a_truncated_image_is_reported_as_damaged():
    data = png_bytes(draw_digit(3))
    with pytest.raises(NotAnImageError, match="damaged or truncated"):
        preprocess_image(data[: len(data) // 2])


def test_a_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "digit.png"
    path.write_text("hello")
    with pytest.raises(NotAnImageError):
        preprocess_image(path)


@pytest.mark.parametrize(
    "source",
    [b"", np.zeros((0, 5), dtype=np.uint8), Image.new("L", (0, 0))],
    ids=["no bytes", "empty array", "0x0 image"],
)
def test_empty_input(source):
    with pytest.raises(EmptyImageError):
        preprocess_image(source)


@pytest.mark.parametrize("shade", [0, 128, 255])
def test_a_blank_image_has_no_digit(shade):
    with pytest.raises(BlankImageError, match="blank"):
        preprocess_image(png_bytes(Image.new("RGB", (200, 150), (shade, shade, shade))))


def test_blank_paper_with_jpeg_noise_has_no_digit():
    rng = np.random.default_rng(0)
    paper = np.clip(235 + rng.normal(0, 2, (240, 320)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="JPEG", quality=80)
    with pytest.raises(BlankImageError):
        preprocess_image(buffer.getvalue())


def test_a_file_over_the_byte_limit():
    data = png_bytes(draw_digit(5))
    with pytest.raises(ImageTooLargeError, match="limit"):
        preprocess_image(data, max_bytes=len(data) - 1)
    preprocess_image(data, max_bytes=len(data))  # at the limit: fine


def test_an_image_over_the_pixel_limit_is_refused_before_decoding():
    """A small file can hold a huge image (a "decompression bomb"): 8000x8000 one-bit pixels
    compress to a few kilobytes. The header alone decides."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000), 1).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert len(data) < 100_000
    with pytest.raises(ImageTooLargeError, match="8000x8000"):
        preprocess_image(data)


def test_errors_are_value_errors():
    for cls in (NotAnImageError, EmptyImageError, BlankImageError, ImageTooLargeError):
        assert issubclass(cls, ImageInputError) and issubclass(cls, ValueError)


def test_wrong_type():
    with pytest.raises(TypeError, match="bytes, a file path"):
        preprocess_image(12345)
