"""Integer-scheme multiply-accumulate layers of the HLS backend (conv,
dconv, deconv and linear with ``scheme=int``; a dconv's offset branch stays
16-bit fixed point).

Weights are ``w_bits``-bit integers with one scale per output channel c,
s_c = max|W_c| / q_max (``backends.quant.weight_scales``); the input has
the scale s_x of its words, the output s_y (``scales``: 2^−f in fixed
point, r / q_max for an ``int``-scheme tensor).  The sum of products
Σ q_w·q_x (exact, 64 bits) plus the bias in the sum's units, int32 words
round(b_c / (s_c·s_x)) (the scale s_c·s_x in float32, as the ONNX export
writes it), is requantized with the channel's multiplier

    M_c = s_c · s_x / s_y ≈ m_c / 2^shift_c,

as ``(acc · m_c + 2^(shift_c − 1)) >> shift_c`` (round half up) saturated to
the output's width (``lib/segc_pe.h``: ``rescale``).  ``m_c`` has as many
bits (at most 31) as keep |acc · m_c| below 2^62 for any input, so the
product never overflows.  The channels' (bias, m, shift) are a constant
table of the generated source, and recorded in config.json.
"""

from __future__ import annotations

import math

import numpy as np

from ...ir import Diagnostic, Node, SegError
from ..quant import BIAS_BITS, bias_scales, bias_words, q_max, quantize, weight_scales

__all__ = ["INT_OPS", "Requant", "int_weights", "multiplier", "requant_table", "scaled_requant_table"]

INT_OPS = ("conv", "dconv", "deconv", "linear")
_PRODUCT_BITS = 62
_M_BITS = 31
_SHIFT_MAX = 62


def multiplier(value: float, m_bits: int) -> tuple[int, int]:
    """(m, shift) with m / 2^shift ≈ ``value`` ≥ 0, m < 2^m_bits, 0 ≤ shift ≤ 62."""
    if value <= 0:
        return 0, 0
    mantissa, exponent = math.frexp(value)  # value = mantissa · 2^exponent, mantissa in [1/2, 1)
    m, shift = round(mantissa * 2**m_bits), m_bits - exponent
    if m == 2**m_bits:
        m, shift = m // 2, shift - 1
    if shift > _SHIFT_MAX:
        m, shift = round(value * 2.0**_SHIFT_MAX), _SHIFT_MAX
    if shift < 0:
        m, shift = min(m << -shift, 2**m_bits - 1), 0  # saturates whatever the sum but 0
    return int(m), int(shift)


class Requant:
    """Per-output-channel (bias, m, shift) of an integer-scheme layer."""

    def __init__(self, bias: np.ndarray, m: np.ndarray, shift: np.ndarray):
        self.bias, self.m, self.shift = bias, m, shift

    def to_json(self) -> dict:
        return {"bias": self.bias.tolist(), "m": self.m.tolist(), "shift": self.shift.tolist()}


def _bias_words(node: Node, scales: np.ndarray, bias: np.ndarray | None, input_scale: float) -> np.ndarray:
    """The bias in the sum's units: int32 words round(b_c / (s_c·s_x)), as
    the ONNX export and the torch module round it (``backends.quant``)."""
    if bias is None:
        return np.zeros(len(scales), dtype=np.int64)
    units = bias_scales(scales, input_scale, len(scales)).astype(np.float64)
    scaled = np.asarray(bias, dtype=np.float64) / units
    if not np.all(np.isfinite(scaled)) or np.any(np.abs(scaled) > q_max(BIAS_BITS)):
        raise SegError(Diagnostic(f"layer '{node.name}': its bias does not fit {BIAS_BITS}-bit words in the units "
                                  "of its sums", node.span))
    return bias_words(bias, units)


def requant_table(node: Node, words: np.ndarray, scales: np.ndarray, bias: np.ndarray | None,
                  f_in: int, f_out: int, in_bits: int) -> Requant:
    """The requantization of each output channel (axis 0 of ``words``)
    between fixed-point formats of ``f_in`` and ``f_out`` fraction bits."""
    return scaled_requant_table(node, words, scales, bias, 2.0**-f_in, 2.0**-f_out, in_bits)


def scaled_requant_table(node: Node, words: np.ndarray, scales: np.ndarray, bias: np.ndarray | None,
                         input_scale: float, output_scale: float, in_bits: int) -> Requant:
    """The requantization of each output channel (axis 0 of ``words``):
    M_c = s_c·s_x/s_y, the bias in units of s_c·s_x."""
    bias_words = _bias_words(node, scales, bias, input_scale)
    largest = int(np.abs(words.reshape(len(scales), -1)).sum(axis=1).max()) * (q_max(in_bits) + 1)
    largest += int(np.abs(bias_words).max(initial=0))
    m_bits = min(_M_BITS, _PRODUCT_BITS - largest.bit_length())
    if m_bits < 1:
        raise SegError(Diagnostic(f"layer '{node.name}': its sums need {largest.bit_length()} bits, too wide "
                                  "for the integer requantization", node.span))
    pairs = [multiplier(float(s) * input_scale / output_scale, m_bits) for s in scales]
    return Requant(bias_words, np.array([m for m, _ in pairs], dtype=np.int64),
                   np.array([s for _, s in pairs], dtype=np.int64))


def _weight_words(node: Node, weight: np.ndarray, w_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """A weight's words and its scales along its output-channel axis (1 for a deconv)."""
    from ..quant import weight_axis

    axis = weight_axis(node.op)
    scales = weight_scales(weight, w_bits, axis)
    return quantize(weight, scales, w_bits, axis=axis), scales


def per_output_channel(node: Node, words: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weights [C_o, …], scales [C_o]) by output channel.  A deconv's
    weights [C_i, C_o/g, k_h, k_w] have one scale per index of axis 1 (as
    torch and ONNX quantize them), shared by the g groups: output channel
    o = k·C_o/g + j takes scale j and input channels k·C_i/g … of column j."""
    if node.op != "deconv":
        return words, scales
    groups, cog = node.attrs["groups"], words.shape[1]
    per = words.reshape(groups, words.shape[0] // groups, cog, -1).transpose(0, 2, 1, 3)
    return per.reshape(groups * cog, -1), np.tile(scales, groups)


def _c_table(name: str, table: Requant) -> str:
    rows = [f"{{{b}, {m}, {s}}}" for b, m, s in zip(table.bias.tolist(), table.m.tolist(), table.shift.tolist())]
    body = ",\n    ".join(", ".join(rows[i:i + 4]) for i in range(0, len(rows), 4))
    return f"static constexpr segc::requant {name}[{len(rows)}] = {{\n    {body}\n}};"


def int_weights(ctx, node: Node, weight: np.ndarray, bias: np.ndarray | None, f_in: int) -> tuple[dict, str]:
    """Pack an integer-scheme layer's weights, add its requantization table
    to the source; (its configuration entries, the weights' address)."""
    if node.op not in INT_OPS:
        raise SegError(Diagnostic(
            f"layer '{node.name}': the HLS backend implements scheme int for {', '.join(INT_OPS)} layers, "
            f"not {node.op}; give it scheme=fixed", node.span,
        ))
    if not np.all(np.isfinite(weight)):
        raise SegError(Diagnostic(f"layer '{node.name}': its weights are not finite", node.span))
    w_bits = ctx.graph.node(node.name).quant.w_bits
    words, scales = _weight_words(node, weight, w_bits)
    table = scaled_requant_table(node, *per_output_channel(node, words, scales), bias, ctx.scale(node.inputs[0]),
                                 ctx.scale(node.name), ctx.bits(node.inputs[0]))
    name = f"{ctx.ident[node.name]}_rq"
    ctx.tables.append(_c_table(name, table))
    address = ctx.pack_words(node, "weight", words, {"bits": w_bits, "scales": scales.tolist()})
    ctx.params[node.name]["requant"] = table.to_json()
    return {"FRAC_IN": f_in, "FRAC_W": 0, "FRAC_B": 0, "BIAS": False, "INT": True, "RQ": name}, address
