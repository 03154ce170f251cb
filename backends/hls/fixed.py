"""Fixed point of 2 to 16 bits for the HLS backend.

A tensor of width ``b`` is stored as words ``q`` (held in int16) with ``f``
fraction bits (its *format*): the value is ``q · 2^-f``,
−2^(b−1) ≤ q ≤ 2^(b−1) − 1.  ``f`` is chosen per tensor from the largest
magnitude ``m`` it must hold (the weights themselves, or activations on a
calibration input), as the most fraction bits that keep

    round(m · 2^(f + headroom)) ≤ 2^(b−1) − 1,

so values up to 2^headroom times the calibrated ones still fit
(``backends.quant.fixed_frac``).  Quantizing rounds half up,
``floor(x · 2^f + 1/2)``, and saturates to the width; the C++ kernels round
and saturate the same way (``lib/segc_fixed.h``).
"""

from __future__ import annotations

import math

import numpy as np

from ..quant import fixed_frac, q_max

__all__ = ["FRAC_MAX", "FRAC_MIN", "WORD_BITS", "WORD_MAX", "dequantize", "frac_bits", "holds", "quantize",
           "saturate"]

WORD_BITS = 16  # the storage word: every width is held in int16
WORD_MAX = 32767
WORD_MIN = -32768
FRAC_MIN = -16  # coarsest format: |values| up to 2^31
FRAC_MAX = 24  # finest format: an LSB of 2^-24


def frac_bits(max_abs: float, headroom: int = 0, bits: int = WORD_BITS) -> int | None:
    """The most fraction bits (at most FRAC_MAX) that hold ``max_abs`` in
    ``bits`` bits with ``headroom`` spare bits; None if even FRAC_MIN does
    not (or not finite)."""
    return fixed_frac(max_abs, bits, headroom, FRAC_MIN, FRAC_MAX)


def holds(frac: int, max_abs: float, bits: int = WORD_BITS) -> bool:
    """Whether ±max_abs rounds into a ``bits``-bit word with ``frac`` fraction bits."""
    return math.floor(max_abs * 2.0**frac + 0.5) <= q_max(bits)


def saturate(values: np.ndarray, bits: int = WORD_BITS) -> np.ndarray:
    """Integers clamped to the ``bits``-bit range, as int64."""
    return np.clip(np.asarray(values, dtype=np.int64), -q_max(bits) - 1, q_max(bits))


def quantize(values: np.ndarray, frac: int, bits: int = WORD_BITS) -> np.ndarray:
    """``floor(x · 2^frac + 1/2)`` saturated to ``bits`` bits, as int16."""
    scaled = np.floor(np.asarray(values, dtype=np.float64) * 2.0**frac + 0.5)
    return np.clip(scaled, -q_max(bits) - 1, q_max(bits)).astype(np.int16)


def dequantize(words: np.ndarray, frac: int) -> np.ndarray:
    return np.asarray(words, dtype=np.float64) * 2.0**-frac
