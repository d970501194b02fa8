"""Stand-ins for "your own handwriting" (chapter 7, part C), generated so the book needs no files.

- :func:`photo_of_digit` turns a 28x28 MNIST digit into what a phone or scanner would give: a
  larger image, the digit off-centre on a wide margin, dark ink on tinted paper (or light on dark),
  colour, a little noise, saved as JPEG or PNG bytes;
- :func:`draw_digit` draws a digit with a thick pen from a few strokes, jittered, on white paper:
  nothing MNIST has seen.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image, ImageDraw


def photo_of_digit(
    digit: torch.Tensor | np.ndarray,
    *,
    scale: float = 8.0,
    pad: tuple[int, int, int, int] = (40, 30, 90, 60),
    dark_ink: bool = True,
    rgb: bool = True,
    noise: float = 0.02,
    image_format: str = "JPEG",
    quality: int = 85,
    seed: int = 0,
) -> bytes:
    """A 28x28 digit (ink = high values, any scale) as image-file bytes, ``scale`` times larger,
    with ``pad`` = (left, top, right, bottom) pixels of paper around the 28x28 field.

    ``dark_ink``: blue-black ink on cream paper (else light grey ink on a dark board); ``noise``:
    the standard deviation of Gaussian pixel noise, on a 0-1 scale.
    """
    x = torch.as_tensor(digit).detach().cpu().float().reshape(28, 28).numpy()
    x = (x - x.min()) / max(float(x.max() - x.min()), 1e-6)  # ink 1, background 0
    side = round(28 * scale)
    big = np.asarray(Image.fromarray(x).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    left, top, right, bottom = pad
    ink = np.zeros((top + side + bottom, left + side + right), dtype=np.float32)
    ink[top : top + side, left : left + side] = np.clip(big, 0, 1)
    if dark_ink:
        paper, pen = np.array([242, 236, 220]), np.array([25, 30, 80])
    else:
        paper, pen = np.array([30, 35, 40]), np.array([235, 235, 225])
    colour = paper * (1 - ink[..., None]) + pen * ink[..., None]  # (H, W, 3)
    rng = np.random.default_rng(seed)
    colour = colour + rng.normal(0, 255 * noise, colour.shape)
    image = Image.fromarray(np.clip(colour, 0, 255).astype(np.uint8))
    if not rgb:
        image = image.convert("L")
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **({"quality": quality} if image_format.upper() == "JPEG" else {}))
    return buffer.getvalue()


def _arc(
    cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24
) -> list[tuple[float, float]]:
    """Points on an ellipse from angle ``start`` to ``end`` (degrees, clockwise on screen, 0 = right)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(start, end, n)
    ]


#: Each digit as strokes (polylines) in a unit square, x to the right and y down.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.28, 0.4, 0, 360, 48)],
    1: [[(0.35, 0.25), (0.55, 0.1), (0.55, 0.9)]],
    2: [_arc(0.5, 0.32, 0.27, 0.22, 180, 380) + [(0.22, 0.88), (0.8, 0.88)]],
    3: [_arc(0.48, 0.3, 0.25, 0.2, 200, 450), _arc(0.48, 0.69, 0.28, 0.21, 270, 520)],
    4: [[(0.62, 0.1), (0.2, 0.62), (0.82, 0.62)], [(0.62, 0.35), (0.62, 0.92)]],
    5: [[(0.76, 0.1), (0.34, 0.1), (0.3, 0.45)] + _arc(0.5, 0.66, 0.28, 0.24, 240, 500)[1:]],
    6: [_arc(0.6, 0.42, 0.33, 0.4, 285, 180, 18) + _arc(0.5, 0.68, 0.25, 0.21, 180, 540, 36)],
    7: [[(0.2, 0.12), (0.8, 0.12), (0.42, 0.9)]],
    8: [_arc(0.5, 0.29, 0.21, 0.19, 90, 450, 36), _arc(0.5, 0.69, 0.26, 0.21, 270, 630, 36)],
    9: [_arc(0.47, 0.32, 0.24, 0.21, 0, 360, 36), [(0.71, 0.32), (0.66, 0.9)]],
}


def draw_digit(digit: int, *, size: int = 360, pen: float = 0.09, seed: int = 0) -> Image.Image:
    """``digit`` drawn with a round pen ``pen`` x ``size`` wide: black strokes on white, slightly
    jittered (a random slant, squeeze and wobble from ``seed``), as an RGB image ``size`` x ``size``."""
    if digit not in STROKES:
        raise ValueError(f"draw_digit() draws the digits 0 to 9, not {digit!r}.")
    rng = np.random.default_rng(seed)
    slant, squeeze = rng.uniform(-0.15, 0.15), rng.uniform(0.8, 1.05)
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    width = max(1, round(pen * size))
    for stroke in STROKES[digit]:
        points = []
        for x, y in stroke:
            x = 0.5 + (x - 0.5) * squeeze + slant * (0.5 - y)  # squeeze, then lean the top over
            x, y = x + rng.normal(0, 0.008), y + rng.normal(0, 0.008)
            points.append((0.1 * size + 0.8 * size * x, 0.1 * size + 0.8 * size * y))
        draw.line(points, fill="black", width=width, joint="curve")
        r = width / 2
        for px, py in (points[0], points[-1]):  # round pen ends
            draw.ellipse((px - r, py - r, px + r, py + r), fill="black")
    return image
