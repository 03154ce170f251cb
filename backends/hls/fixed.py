"""16-bit fixed point for the HLS backend.

A tensor is stored as ``int16`` words ``q`` with ``f`` fraction bits (its
*format*): the value is ``q · 2^-f``.  ``f`` is chosen per tensor from the
largest magnitude ``m`` it must hold (the weights themselves, or activations
on a calibration input), as the most fraction bits that keep

    round(m · 2^(f + headroom)) ≤ 32767,

so values up to 2^headroom times the calibrated ones still fit.  Quantizing
rounds half up, ``floor(x · 2^f + 1/2)``, and saturates to [−32768, 32767];
the C++ kernels round and saturate the same way (``lib/segc_fixed.h``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FRAC_MAX", "FRAC_MIN", "WORD_MAX", "dequantize", "frac_bits", "holds", "quantize"]

WORD_MAX = 32767
WORD_MIN = -32768
FRAC_MIN = -16  # coarsest format: |values| up to 2^31
FRAC_MAX = 24  # finest format: an LSB of 2^-24


def frac_bits(max_abs: float, headroom: int = 0) -> int | None:
    """The most fraction bits (at most FRAC_MAX) that hold ``max_abs`` with
    ``headroom`` spare bits; None if even FRAC_MIN does not (or not finite)."""
    if not math.isfinite(max_abs):
        return None
    if max_abs == 0:
        return min(FRAC_MAX, 15 - headroom)
    frac = min(FRAC_MAX, math.floor(math.log2(WORD_MAX / max_abs)) - headroom)
    while frac >= FRAC_MIN and not holds(frac + headroom, max_abs):
        frac -= 1  # log2 rounding at an exact power of two
    while frac + 1 <= FRAC_MAX and holds(frac + 1 + headroom, max_abs):
        frac += 1
    return frac if frac >= FRAC_MIN else None


def holds(frac: int, max_abs: float) -> bool:
    """Whether ±max_abs rounds into a 16-bit word with ``frac`` fraction bits."""
    return math.floor(max_abs * 2.0**frac + 0.5) <= WORD_MAX


def quantize(values: np.ndarray, frac: int) -> np.ndarray:
    """``floor(x · 2^frac + 1/2)`` saturated to 16 bits, as int16."""
    scaled = np.floor(np.asarray(values, dtype=np.float64) * 2.0**frac + 0.5)
    return np.clip(scaled, WORD_MIN, WORD_MAX).astype(np.int16)


def dequantize(words: np.ndarray, frac: int) -> np.ndarray:
    return np.asarray(words, dtype=np.float64) * 2.0**-frac
