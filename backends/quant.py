"""Quantization arithmetic shared by the torch, ONNX and HLS backends
(numpy only), for the formats of ``ir/quant.py``.

For a signed ``b``-bit integer q ∈ [−2^(b−1), 2^(b−1) − 1] and q_max = 2^(b−1) − 1:

* ``int`` weights: one scale per output channel, s_c = max|W_c| / q_max (1
  for an all-zero channel, whose words are 0 whatever the scale); the
  output channel is axis 0 of a weight, axis 1 of a ``deconv``'s.
* ``int`` activations: one scale per tensor, s = r / q_max, from the
  tensor's calibrated range r (:func:`activation_range`).
* ``fixed``: s = 2^−f, f the most fraction bits that hold r in b bits
  (:func:`fixed_frac`, the HLS backend's 16-bit rule for any width).
* ``int`` biases (a layer whose input is quantized): int32 words in the
  units of the layer's sum, s_c·s_x (:func:`bias_scales`,
  :func:`bias_words`), as onnxruntime's ``quantize_static`` writes them.

Quantizing is q = clamp(round(x / s)) with rounding half to even (numpy's
``rint``, torch's ``round``, ONNX ``QuantizeLinear``), so the three agree
bit for bit.  A tensor's calibrated range is stored with the weights under
:func:`range_key` (``"<layer>.act_range"``, a float32 scalar), whatever the
scheme.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BIAS_BITS", "INT_BIAS_OPS", "activation_range", "bias_scales", "bias_words", "dequantize",
           "fixed_frac", "int_scale", "largest_needed", "parse_range_rule", "percentile_of_largest", "q_max",
           "quantize", "range_key", "weight_axis", "weight_scales"]

RANGE_SUFFIX = ".act_range"
BIAS_BITS = 32
INT_BIAS_OPS = ("conv", "deconv", "linear")  # ops whose int bias is int32 words of the sum's units


def range_key(layer: str) -> str:
    """The weights-file key of a layer's calibrated output range."""
    return layer + RANGE_SUFFIX


def q_max(bits: int) -> int:
    return (1 << (bits - 1)) - 1


def weight_axis(op: str) -> int:
    """The output-channel axis of an op's weight."""
    return 1 if op == "deconv" else 0


def weight_scales(weight: np.ndarray, bits: int, axis: int = 0) -> np.ndarray:
    """Per-output-channel scales s_c = max|W_c| / q_max (1 where W_c = 0)."""
    w = np.abs(np.asarray(weight, dtype=np.float64))
    other = tuple(a for a in range(w.ndim) if a != axis)
    largest = w.max(axis=other) if other else w
    return np.where(largest > 0, largest / q_max(bits), 1.0)


def int_scale(value_range: float, bits: int, what: str) -> float:
    """The per-tensor scale r / q_max; ``what`` names the tensor in the
    error for a range that is zero, negative or not finite."""
    if not math.isfinite(value_range) or value_range <= 0:
        raise ValueError(f"{what}: calibrated range {value_range!r} gives no scale (the data is constant zero "
                         "or not finite there)")
    return value_range / q_max(bits)


def quantize(values: np.ndarray, scale: np.ndarray | float, bits: int, axis: int | None = None) -> np.ndarray:
    """clamp(rint(x / s)) as int64; ``scale`` per channel along ``axis``."""
    x = np.asarray(values, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    if axis is not None:
        s = s.reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    return np.clip(np.rint(x / s), -q_max(bits) - 1, q_max(bits)).astype(np.int64)


def bias_scales(weight_scales: np.ndarray, input_scale: float, channels: int) -> np.ndarray:
    """The float32 scale s_c·s_x of each of ``channels`` biases (the weight
    scales repeated over groups where they are fewer, as a grouped deconv's)."""
    scales = np.asarray(weight_scales, dtype=np.float32).reshape(-1)
    return np.tile(scales, channels // scales.size) * np.float32(input_scale)


def bias_words(bias: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """round(b_c / s_b,c) (half to even) clamped to int32, as int64."""
    return quantize(np.asarray(bias, dtype=np.float64), np.asarray(scales, dtype=np.float64), BIAS_BITS)


def dequantize(words: np.ndarray, scale: np.ndarray | float, axis: int | None = None) -> np.ndarray:
    q = np.asarray(words, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    if axis is not None:
        s = s.reshape([-1 if a == axis else 1 for a in range(q.ndim)])
    return q * s


def fixed_frac(value_range: float, bits: int, headroom: int = 0, frac_min: int = -16,
               frac_max: int = 24) -> int | None:
    """The most fraction bits f ≤ ``frac_max`` with round(r·2^(f+headroom))
    ≤ q_max; None if even ``frac_min`` does not hold r (or r is not finite)."""
    if not math.isfinite(value_range):
        return None
    largest = q_max(bits)
    if value_range == 0:
        return min(frac_max, bits - 1 - headroom)
    frac = min(frac_max, math.floor(math.log2(largest / value_range)) - headroom)
    while frac >= frac_min and math.floor(value_range * 2.0 ** (frac + headroom) + 0.5) > largest:
        frac -= 1
    while frac + 1 <= frac_max and math.floor(value_range * 2.0 ** (frac + 1 + headroom) + 0.5) <= largest:
        frac += 1
    return frac if frac >= frac_min else None


def parse_range_rule(text: str) -> tuple[str, float]:
    """``max`` → ("max", 100); ``percentile:P`` (0 < P ≤ 100) → ("percentile", P).
    Raises ValueError with the accepted forms."""
    if text == "max":
        return "max", 100.0
    kind, _, value = text.partition(":")
    try:
        percent = float(value)
    except ValueError:
        percent = math.nan
    if kind != "percentile" or not 0 < percent <= 100:
        raise ValueError(f"range rule {text!r}: expected 'max' or 'percentile:P' with 0 < P <= 100")
    return "percentile", percent


def activation_range(values: np.ndarray, rule: str = "max") -> float:
    """The range r of a tensor's values under a rule: max|x|, or the P-th
    percentile of |x| (outliers beyond it saturate)."""
    kind, percent = parse_range_rule(rule)
    magnitudes = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    if magnitudes.size == 0:
        raise ValueError("no calibration values")
    if kind == "max":
        return float(magnitudes.max())
    return percentile_of_largest(magnitudes, magnitudes.size, percent)


def largest_needed(count: int, percent: float) -> int:
    """How many of the largest of ``count`` values the P-th percentile
    reads: the values from rank ⌊P/100·(count − 1)⌋ up (ranks from 0,
    ascending), count − ⌊P/100·(count − 1)⌋."""
    return count - math.floor(percent / 100 * (count - 1))


def percentile_of_largest(largest: np.ndarray, count: int, percent: float) -> float:
    """The P-th percentile of ``count`` values, given (in any order) at least
    their :func:`largest_needed` largest: linear interpolation between the
    closest ranks, as ``np.percentile``'s default: with i = P/100·(count − 1),
    a[⌊i⌋] + (a[⌊i⌋ + 1] − a[⌊i⌋])·(i − ⌊i⌋) over the ascending values a."""
    index = percent / 100 * (count - 1)
    low = math.floor(index)
    high = min(low + 1, count - 1)
    top = np.sort(np.asarray(largest, dtype=np.float64).ravel())
    skipped = count - top.size  # the smallest values, not given
    if low < skipped:
        raise ValueError(f"{top.size} of {count} values do not hold the {percent}th percentile")
    below, above = float(top[low - skipped]), float(top[high - skipped])
    return below + (above - below) * (index - low)
