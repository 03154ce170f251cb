"""Procedurally generated datasets, so training and an accuracy-driven
pruning search run offline, in seconds.

Every class ``c`` of ``K`` has its own look: a colour (hue ``c/K`` on the
colour wheel, alternating bright and dark) and a stripe texture (angle
``πc/K``, period 3–7 pixels).  Pixels get Gaussian noise (σ = 0.6, colours
in about [−1, 1]), so one pixel alone says little; the class shows over a
neighbourhood, which is what convolutions learn.

- Segmentation: class 0 is the background; two to five shapes of classes
  1…K−1 (disks of radius 1/8 to 1/3 of the image side, rectangles of sides
  1/5 to 3/5 of it) are painted over it, later shapes over earlier ones; the
  label of a pixel is the class painted there last.
- Classification: one shape of class ``c`` on a plain noisy background; the
  label is ``c``.

Sample ``i`` is drawn from numpy's PCG64 seeded with ``(seed, i)``: the data
are a deterministic function of the seed, and any sample is made without the
others.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
import torch

from ..ir import Diagnostic, SegError

__all__ = ["SyntheticClassification", "SyntheticSegmentation"]

NOISE = 0.6
STRIPES = 0.3


def _size(size) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return int(h), int(w)


def _colour(c: int, k: int) -> np.ndarray:
    """RGB in [−1, 1] of class ``c``."""
    value = 0.95 if c % 2 == 0 else 0.6
    return np.array(colorsys.hsv_to_rgb(c / k, 0.85, value)) * 2 - 1


def _texture(c: int, k: int, ys: np.ndarray, xs: np.ndarray, phase: float) -> np.ndarray:
    angle = math.pi * c / k
    period = 3 + c % 5
    return STRIPES * np.sin(2 * math.pi * (xs * math.cos(angle) + ys * math.sin(angle)) / period + phase)


def _paint(image: np.ndarray, mask: np.ndarray, c: int, k: int, ys, xs, phase: float) -> None:
    look = _colour(c, k)[:, None, None] + _texture(c, k, ys, xs, phase)[None]
    image[:, mask] = look[:, mask]


def _shape_mask(rng: np.random.Generator, h: int, w: int, ys, xs) -> np.ndarray:
    side = min(h, w)
    if rng.random() < 0.5:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        radius = rng.uniform(side / 8, side / 3)
        return (ys - cy) ** 2 + (xs - cx) ** 2 <= radius**2
    rh, rw = rng.uniform(side / 5, side * 0.6, size=2)
    top, left = rng.uniform(-rh / 2, h - rh / 2), rng.uniform(-rw / 2, w - rw / 2)
    return (ys >= top) & (ys < top + rh) & (xs >= left) & (xs < left + rw)


class _Synthetic(torch.utils.data.Dataset):
    task = ""

    def __init__(self, n: int, size, num_classes: int, seed: int = 0):
        if n < 1 or num_classes < 2:
            raise SegError(Diagnostic(f"a synthetic dataset needs at least 1 sample and 2 classes, "
                                      f"got {n} and {num_classes}"))
        self.n, self.size, self.num_classes, self.seed = n, _size(size), num_classes, seed
        self.name = f"synthetic {self.task} ({n} samples, seed {seed})"

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, size={self.size}, num_classes={self.num_classes}, seed={self.seed})"

    def _canvas(self, index: int):
        if not 0 <= index < self.n:
            raise IndexError(f"sample {index} of {self.n}")
        rng = np.random.Generator(np.random.PCG64([self.seed, index]))
        h, w = self.size
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
        return rng, ys, xs

    @staticmethod
    def _finish(rng: np.random.Generator, image: np.ndarray) -> torch.Tensor:
        image = image + rng.normal(0.0, NOISE, size=image.shape)
        return torch.from_numpy(image.astype(np.float32))


class SyntheticSegmentation(_Synthetic):
    """``n`` images [3, H, W] with labels [H, W] of ``num_classes`` classes."""

    task = "segmentation"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng, ys, xs = self._canvas(index)
        k = self.num_classes
        image = np.empty((3, *self.size))
        label = np.zeros(self.size, dtype=np.int64)
        _paint(image, np.ones(self.size, dtype=bool), 0, k, ys, xs, rng.uniform(0, 2 * math.pi))
        for _ in range(int(rng.integers(2, 6))):
            c = int(rng.integers(1, k))
            mask = _shape_mask(rng, *self.size, ys, xs)
            _paint(image, mask, c, k, ys, xs, rng.uniform(0, 2 * math.pi))
            label[mask] = c
        return self._finish(rng, image), torch.from_numpy(label)


class SyntheticClassification(_Synthetic):
    """``n`` images [3, H, W], each one shape of its class (an ``int`` label)."""

    task = "classification"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng, ys, xs = self._canvas(index)
        c = int(rng.integers(0, self.num_classes))
        image = np.zeros((3, *self.size))
        mask = np.zeros(self.size, dtype=bool)
        while mask.sum() < 0.05 * mask.size:  # big enough to see
            mask = _shape_mask(rng, *self.size, ys, xs)
        _paint(image, mask, c, self.num_classes, ys, xs, rng.uniform(0, 2 * math.pi))
        return self._finish(rng, image), c
