"""Moving and turning images: for measuring robustness (chapter 6) and for augmentation (chapter 7).

All functions take a batch ``(B, C, H, W)`` and a ``fill`` value for the pixels that come in
from outside the picture: the background, which for normalised MNIST is
``-MNIST_MEAN / MNIST_STD`` (:func:`background`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def background(images: torch.Tensor) -> float:
    """The background value of a batch of digits: its smallest pixel (blank paper, normalised)."""
    return float(images.amin())


def shift_images(images: torch.Tensor, dx: int, dy: int, fill: float) -> torch.Tensor:
    """Move every image ``dx`` pixels right and ``dy`` pixels down (whole pixels: no resampling);
    uncovered pixels get ``fill``."""
    h, w = images.shape[-2:]
    out = torch.full_like(images, fill)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src_y, dst_y = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    src_x, dst_x = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., dst_y, dst_x] = images[..., src_y, src_x]
    return out


def affine_images(images: torch.Tensor, degrees: torch.Tensor, shifts: torch.Tensor, *, fill: float) -> torch.Tensor:
    """Rotate image ``i`` by ``degrees[i]`` counter-clockwise about its centre and move it by
    ``shifts[i]`` = (dx right, dy down) pixels, in one bilinear resampling; uncovered pixels get ``fill``."""
    _, _, h, w = images.shape  # (B, 1, 28, 28)
    # On screen (y pointing down) a counter-clockwise turn by a is the matrix R(-a).
    angle = -torch.as_tensor(degrees, dtype=torch.float64) * math.pi / 180  # (B,)
    shifts = torch.as_tensor(shifts, dtype=torch.float64)  # (B, 2)
    cos, sin = angle.cos(), angle.sin()
    # affine_grid maps each output position p (in [-1, 1] units: one pixel is 2 / size) to the input
    # position it samples: R(-a) (p - t) moves the content by t and turns it by a.
    tx, ty = shifts[:, 0] * 2 / w, shifts[:, 1] * 2 / h
    theta = torch.stack(
        [
            torch.stack([cos, sin, -(cos * tx + sin * ty)], 1),
            torch.stack([-sin, cos, sin * tx - cos * ty], 1),
        ],
        1,
    ).to(images)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, 28, 28, 2)
    # Resample with the background at 0, so that grid_sample's zero padding is the background.
    moved = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved + fill


def rotate_images(images: torch.Tensor, degrees: float, fill: float) -> torch.Tensor:
    """Rotate every image ``degrees`` counter-clockwise about its centre (bilinear); corners get ``fill``."""
    b = len(images)
    return affine_images(images, torch.full((b,), float(degrees)), torch.zeros(b, 2), fill=fill)


def random_affine(
    images: torch.Tensor,
    *,
    max_shift: int,
    max_degrees: float,
    fill: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each image turned by a random angle in ±``max_degrees`` and moved by a random whole number of
    pixels in ±``max_shift`` along each axis (:func:`affine_images`)."""
    b = len(images)
    degrees = (torch.rand(b, generator=generator) * 2 - 1) * max_degrees  # (B,)
    shifts = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=generator)  # (B, 2) pixels
    return affine_images(images, degrees, shifts, fill=fill)


class Augment:
    """A recipe's augmentation: every batch moved by up to ``max_shift`` pixels and turned by up to
    ``max_degrees`` at random (:func:`random_affine`), from a generator of its own (seeded with
    ``seed + 1``), so that switching it on does not change the other random draws."""

    def __init__(self, max_shift: int, max_degrees: float, fill: float, seed: int) -> None:
        self.max_shift, self.max_degrees, self.fill = max_shift, max_degrees, fill
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return random_affine(
            images, max_shift=self.max_shift, max_degrees=self.max_degrees, fill=self.fill, generator=self.generator
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The generator the next moves and turns come from (a checkpoint saves it)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
