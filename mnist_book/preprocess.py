"""Your own handwriting (chapter 7, part C): any image of a digit becomes an MNIST-style input.

MNIST's digits were made in a particular way (LeCun et al. 1998): light ink on a black
background, the digit scaled to fit a 20x20 box with its aspect ratio kept (anti-aliasing gives
the grey edges), then placed in a 28x28 field so that its centre of mass sits at the centre. A
photo of a digit on paper is none of that. :func:`preprocess_image` repeats MNIST's steps:

1. decode the file (PNG, JPEG, or anything else Pillow reads), refusing what is not an image,
   what is empty, and what is too large;
2. greyscale, and invert when the ink is darker than the paper;
3. subtract the paper's level and stretch the ink to [0, 1] (noise below a margin becomes 0);
4. crop to the digit, scale it to fit 20x20 keeping its aspect ratio;
5. paste it into 28x28 with its centre of mass at MNIST's (row 14, column 14);
6. normalise with MNIST's mean and standard deviation.

:func:`classify_image` adds the model's prediction and probabilities.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from mnist_book.data import MNIST_MEAN, MNIST_STD
from mnist_book.models import eval_mode

#: Largest file accepted, in bytes (a 48-megapixel phone photo as JPEG is well under this).
MAX_BYTES = 25_000_000
#: Largest image accepted, in pixels (checked from the header, before decoding).
MAX_PIXELS = 50_000_000
#: The box MNIST's digits are scaled to fit, and the field they are centred in.
BOX, FIELD = 20, 28
#: Where MNIST's centres of mass lie (row, column), in pixel indices: the mean over the 60,000
#: training digits is (14.00, 14.01) (``tests/test_preprocess.py`` checks it).
CENTRE_OF_MASS = (14.0, 14.0)
#: Ink must differ from the paper by at least this (on a 0-1 scale, about 20 grey levels).
MIN_CONTRAST = 0.08
#: The paper's level is read from a frame of 1/BORDER of each side (at least one pixel).
BORDER = 20


def page_constants() -> dict[str, Any]:
    """The numbers the HTML book's digit pad (``book/_static/digit-pad.js``) preprocesses with: the
    build writes them into the page from here, so that the pad and this module cannot drift apart."""
    return {
        "mean": MNIST_MEAN,
        "std": MNIST_STD,
        "box": BOX,
        "field": FIELD,
        "centre": list(CENTRE_OF_MASS),
        "minContrast": MIN_CONTRAST,
        "border": BORDER,
    }


ImageSource = bytes | bytearray | memoryview | str | os.PathLike | Image.Image | np.ndarray


class ImageInputError(ValueError):
    """An image that cannot be read as a digit; the message says why and what to do."""


class NotAnImageError(ImageInputError):
    """The bytes are not an image Pillow can decode (or the file is damaged)."""


class EmptyImageError(ImageInputError):
    """The file has no bytes, or the image has no pixels."""


class BlankImageError(ImageInputError):
    """The image is (nearly) one uniform colour: there is no digit to read."""


class ImageTooLargeError(ImageInputError):
    """The file or the image is over the size limit."""


class Preprocessed(NamedTuple):
    """The model's input (1, 1, 28, 28), normalised, and the pictures of each step (ink = 1)."""

    tensor: torch.Tensor
    steps: dict[str, np.ndarray]
    inverted: bool  # whether the ink was darker than the paper


# --------------------------------------------------------------------------- decoding


def _megabytes(n: int) -> str:
    """A file size for messages: ``"830 bytes"``, ``"12.3 kB"``, ``"4.1 MB"``."""
    if n < 1000:
        return f"{n} bytes"
    return f"{n / 1e3:.1f} kB" if n < 10**6 else f"{n / 1e6:.1f} MB"


def open_image(source: ImageSource, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``source`` (bytes, a file path, a PIL image or a NumPy array) into a loaded PIL image,
    turned upright if its EXIF data says so (phone photos). Raises an :class:`ImageInputError`."""
    if isinstance(source, np.ndarray):
        if source.size == 0:
            raise EmptyImageError(f"The array has no pixels (shape {source.shape}).")
        array = source
        if array.dtype != np.uint8:  # floats in [0, 1], or other integer types
            scale = 255.0 if array.dtype.kind == "f" and array.max() <= 1.0 else 1.0
            array = np.clip(array.astype(np.float64) * scale, 0, 255).astype(np.uint8)
        source = Image.fromarray(array)
    if isinstance(source, Image.Image):
        image = source
        if image.width * image.height > max_pixels:
            raise ImageTooLargeError(
                f"The image is {image.width}x{image.height} pixels; the limit is {max_pixels:,} pixels."
            )
    else:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            size = path.stat().st_size  # FileNotFoundError says clearly what is wrong
            if size > max_bytes:
                raise ImageTooLargeError(f"{path.name} is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}.")
            data = path.read_bytes()
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            raise TypeError(
                f"Expected image bytes, a file path, a PIL image or a NumPy array, not {type(source).__name__}."
            )
        if len(data) == 0:
            raise EmptyImageError("The file is empty (0 bytes): there is no image in it.")
        if len(data) > max_bytes:
            raise ImageTooLargeError(f"The file is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))  # reads the header only
        except UnidentifiedImageError:
            raise NotAnImageError(
                f"These {len(data):,} bytes are not an image that can be read (start: {data[:8]!r}). "
                "Upload a photo or scan of a digit as PNG or JPEG."
            ) from None
        except Image.DecompressionBombError as err:
            raise ImageTooLargeError(f"The image is too large to decode safely ({err}).") from None
        if image.width * image.height > max_pixels:  # before decoding: a small file can hold a huge image
            raise ImageTooLargeError(
                f"The image is {image.width}x{image.height} pixels; the limit is {max_pixels:,} pixels. "
                "Crop or shrink it first."
            )
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise NotAnImageError(
                f"The {image.format or 'image'} file is damaged or truncated and cannot be decoded ({err})."
            ) from None
    if image.width == 0 or image.height == 0:
        raise EmptyImageError(f"The image has no pixels ({image.width}x{image.height}).")
    return ImageOps.exif_transpose(image)


def to_grey(image: Image.Image) -> np.ndarray:
    """Luminance in [0, 1] as float32 (H, W). Transparent pixels count as white paper; an image whose
    colour is uniform but whose transparency varies (strokes on a transparent canvas) uses opacity."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = np.asarray(Image.alpha_composite(white, rgba).convert("L"), dtype=np.float32) / 255
    if np.ptp(grey) < MIN_CONTRAST and np.ptp(alpha) >= MIN_CONTRAST:
        return 1 - alpha  # light strokes on a transparent canvas: opaque = ink (dark on white)
    return grey


# --------------------------------------------------------------------------- the steps


def _border(x: np.ndarray) -> np.ndarray:
    """The pixels of the outer frame (5% of each side, at least one pixel): mostly paper."""
    h, w = x.shape
    bh, bw = max(1, h // BORDER), max(1, w // BORDER)
    return np.concatenate([x[:bh].ravel(), x[-bh:].ravel(), x[:, :bw].ravel(), x[:, -bw:].ravel()])


def ink_map(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Ink = 1, paper = 0, from a greyscale image in [0, 1]; also whether the ink was dark.

    The paper's level is the median of the border. The ink is on the side (darker or lighter) where
    the strongest departures from the paper lie; its level is the median of those strong pixels.
    """
    border = _border(grey)
    paper = float(np.median(border))
    deviation = grey - paper
    strongest = float(np.abs(deviation).max())
    if strongest < MIN_CONTRAST:
        raise BlankImageError(
            "The image is blank: it is (almost) one uniform shade, with no digit on it "
            f"(largest difference from the background {strongest:.3f}, need at least {MIN_CONTRAST})."
        )
    strong = np.abs(deviation) >= strongest / 2
    dark_ink = bool(-deviation[strong].sum() > deviation[strong].sum())
    signed = -deviation if dark_ink else deviation  # ink now above 0
    ink_level = float(np.median(signed[strong & (signed > 0)]))
    # Paper noise (JPEG artefacts, sensor grain) stays below this margin and becomes exactly 0.
    spread = float(np.median(np.abs(border - paper)))
    floor = max(4 * 1.4826 * spread, 0.1 * ink_level)  # 1.4826 * MAD estimates a standard deviation
    ink = np.clip((signed - floor) / max(ink_level - floor, 1e-6), 0, 1).astype(np.float32)
    return ink, dark_ink


def crop_to_digit(ink: np.ndarray) -> np.ndarray:
    """The smallest rectangle holding all the ink. On large images single-pixel specks are ignored
    (a 3x3 median filter) when finding it."""
    mask = ink > 0
    if min(ink.shape) >= 2 * FIELD:
        filtered = Image.fromarray((ink * 255).astype(np.uint8)).filter(ImageFilter.MedianFilter(3))
        cleaned = np.asarray(filtered) > 0
        if cleaned.any():
            mask = cleaned
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        raise BlankImageError("No ink was found in the image: there is no digit to read.")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit_in_box(digit: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale ``digit`` so that its longer side is ``box`` pixels, keeping the aspect ratio
    (anti-aliased, as MNIST's were); then stretch so that the darkest stroke is 1 again."""
    h, w = digit.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL sizes are (width, height)
    resized = Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
    out = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
    peak = out.max()
    return out / peak if peak > 0 else out


def centre_by_mass(digit: np.ndarray, field: int = FIELD, centre: tuple[float, float] = CENTRE_OF_MASS) -> np.ndarray:
    """Paste ``digit`` into a ``field`` x ``field`` black image so that its centre of mass lands on
    ``centre`` (rounded to whole pixels, and kept inside the field).

    The sums run in float32, one after the other in index order (``cumsum``, not NumPy's pairwise
    ``sum``), so that the digit pad's JavaScript, which adds in the same order, gets the same bits."""
    h, w = digit.shape
    digit = digit.astype(np.float32)

    def total(x: np.ndarray) -> np.float32:
        return np.cumsum(x, dtype=np.float32)[-1]

    row_sums = np.cumsum(digit, axis=1, dtype=np.float32)[:, -1]  # each row, left to right
    col_sums = np.cumsum(digit, axis=0, dtype=np.float32)[-1]  # each column, top to bottom
    mass = total(row_sums)
    com_r = total(row_sums * np.arange(h, dtype=np.float32)) / mass
    com_c = total(col_sums * np.arange(w, dtype=np.float32)) / mass
    top = int(np.clip(round(np.float32(centre[0]) - com_r), 0, field - h))
    left = int(np.clip(round(np.float32(centre[1]) - com_c), 0, field - w))
    out = np.zeros((field, field), dtype=np.float32)
    out[top : top + h, left : left + w] = digit
    return out


def preprocess_image(source: ImageSource, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Preprocessed:
    """Any image of one digit -> an MNIST-style input (1, 1, 28, 28), normalised like MNIST.

    Raises :class:`NotAnImageError`, :class:`EmptyImageError`, :class:`BlankImageError` or
    :class:`ImageTooLargeError` (all ``ValueError``) for input that cannot be read as a digit.
    """
    image = open_image(source, max_bytes=max_bytes, max_pixels=max_pixels)
    grey = to_grey(image)  # (H, W) in [0, 1]
    ink, inverted = ink_map(grey)  # (H, W), ink = 1
    cropped = crop_to_digit(ink)  # (h, w)
    fitted = fit_in_box(cropped)  # longer side 20
    centred = centre_by_mass(fitted)  # (28, 28)
    tensor = torch.from_numpy(centred).sub(MNIST_MEAN).div(MNIST_STD).view(1, 1, FIELD, FIELD)
    steps = {"grey": grey, "ink": ink, "cropped": cropped, "fitted": fitted, "centred": centred}
    return Preprocessed(tensor, steps, inverted)


class Reading(NamedTuple):
    """What the model reads in an image: the digit, the ten probabilities, and the input it saw."""

    digit: int
    probs: torch.Tensor  # (10,)
    preprocessed: Preprocessed


def classify_image(model: nn.Module, source: ImageSource, **limits: int) -> Reading:
    """Preprocess ``source`` and return the model's digit and probabilities (eval mode, no gradients)."""
    pre = preprocess_image(source, **limits)
    device = next(model.parameters()).device
    with eval_mode(model):
        probs = F.softmax(model(pre.tensor.to(device)).double(), dim=1)[0].float().cpu()  # (10,)
    return Reading(int(probs.argmax()), probs, pre)
