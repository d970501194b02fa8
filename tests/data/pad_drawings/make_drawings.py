"""Make the fixed drawings the digit pad's parity test reads (tests/test_html.py): digits drawn as a
reader draws them on the 280-pixel pad (a round black pen on white), and two MNIST test digits
enlarged ten times. Run once, from the repository root: python tests/data/pad_drawings/make_drawings.py
"""

import math
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent
SIZE, PEN = 280, 22


def pen(points: list[tuple[float, float]], name: str, *, width: int = PEN) -> None:
    """One stroke through ``points`` (in units of half the pad, x right, y down), saved as ``name``.png."""
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    xy = [(SIZE / 2 * (1 + x), SIZE / 2 * (1 + y)) for x, y in points]
    draw.line(xy, fill="black", width=width, joint="curve")
    for x, y in (xy[0], xy[-1]):
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill="black")
    image.save(HERE / f"{name}.png")


def line(a, b, n=12):
    return [(a[0] + (b[0] - a[0]) * t / n, a[1] + (b[1] - a[1]) * t / n) for t in range(n + 1)]


pen(line((0.06, -0.72), (-0.04, 0.72)), "one")
pen(line((-0.45, -0.66), (0.45, -0.66)) + line((0.45, -0.66), (-0.08, 0.72))[1:], "seven")
pen([(0.42 * math.sin(2 * math.pi * t / 40), -0.7 * math.cos(2 * math.pi * t / 40)) for t in range(41)], "zero")
pen([(0.5 + 0.25 * math.cos(a / 10), -0.5 + 0.3 * math.sin(a / 10)) for a in range(0, 60)], "small-zero-off-centre", width=12)
pen(line((-0.3, -0.7), (-0.45, 0.1)) + line((-0.45, 0.1), (0.4, 0.1))[1:] + line((0.25, -0.7), (0.25, 0.75))[1:], "four")

if __name__ == "__main__":
    import torch  # noqa: F401  (the MNIST digits come through the book's loader)

    from mnist_book.data import load_split

    test = load_split("mnist", train=False, normalize=False)
    for i in (0, 1):  # a 7 and a 2
        digit = (255 - test.images[i, 0].mul(255).round()).byte().numpy()
        Image.fromarray(digit).resize((SIZE, SIZE), Image.Resampling.NEAREST).save(HERE / f"mnist-test-{i}.png")
