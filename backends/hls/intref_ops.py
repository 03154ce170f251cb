"""The integer reference (``intref``) of the pointwise ops and the channel
shuffle, as ``lib/segc_activation.h``, ``lib/segc_epilogue.h`` and
``lib/segc_shuffle.h`` compute them (x: a word with f_in fraction bits;
G = max(f_in, 0); every result saturated to the layer's width):

* sigmoid: a table of round(2^15·σ(t)) at t = −16 + n·2^−6 (``lower``),
  read at x's position in steps of 2^−(6 + R) from −16 (R = max(f_in − 6, 0)
  bits between entries), index clamped to the table (fraction 0 there),
  low·2^R + (high − low)·fraction requantized by 15 + R − f_out; tanh: the
  same read at 2x (f_in − 1) for f_out + 1 bits, minus 2^f_out; silu:
  x·σ(x) with σ at 15 bits, requantized by f_in + 15 − f_out; softmax over
  channels: e_c = the exp table (−16 + n·2^−8) read at x_c − max_c x_c for
  15 bits, then e_c·2^f_out / Σ e divided rounding half up;
* hardsigmoid: r = clamp(x·2^(G − f_in) + 3·2^G, 0, 6·2^G), r·2^f_out /
  (6·2^G) divided rounding half up; hardswish: x·2^(G − f_in)·r /
  (6·2^(2G)) likewise;
* leakyrelu: x requantized (x ≥ 0), else x·slope (2^−15 units) requantized
  by f_in + 15 − f_out; clip: x at max(f_in, f_out) bits, clamped to the
  bounds, requantized; div: x·M requantized by f_in + R − f_out (1/by ≈
  M/2^R, ``lower_pointwise.reciprocal``);
* mul: a·b (b the [C, 1, 1] operand, broadcast) requantized by
  f_a + f_b − f_out; sub: a − b aligned to the larger f, requantized; mean:
  global average pooling;
* shuffle: output channel c is input channel (c mod g)·(C/g) + ⌊c/g⌋,
  requantized by f_in − f_out.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ...ir import Node
from .fixed import saturate
from .intref import _div_round, _Layers, _pool, requantize, shift_round

__all__ = ["POINTWISE_OPS", "table_read"]


def table_read(x: np.ndarray, layout: dict, table: np.ndarray, f_in: int, f_out: int) -> np.ndarray:
    """A 2^15-scaled function table read at words x (f_in fraction bits),
    interpolated linearly, as a value with f_out fraction bits (not
    saturated): ``sigmoid_acc`` of ``lib/segc_epilogue.h``."""
    step = layout["STEP_BITS"]
    between, up = max(f_in - step, 0), max(step - f_in, 0)
    position = np.asarray(x, dtype=np.int64) * (1 << up) - layout["X_MIN"] * (1 << (step + between))
    index = position >> between
    fraction = position - (index << between)
    last = layout["ENTRIES"] - 1
    fraction = np.where((index < 0) | (index >= last), 0, fraction)
    index = np.clip(index, 0, last)
    low, high = table[index], table[np.minimum(index + 1, last)]
    return shift_round((low << between) + (high - low) * fraction, 15 + between - f_out)


@functools.cache
def _tables() -> dict[str, tuple[dict, np.ndarray]]:
    from .lower import SIGMOID_TABLE, logistic, table_values
    from .lower_pointwise import EXP_TABLE

    return {"sigmoid": (SIGMOID_TABLE, np.array(table_values(SIGMOID_TABLE, logistic), dtype=np.int64)),
            "exp": (EXP_TABLE, np.array(table_values(EXP_TABLE, math.exp), dtype=np.int64))}


class _Unary:
    """One input's words and the formats of a pointwise layer."""

    def __init__(self, ref: _Layers, node: Node):
        self.x = ref.words[node.inputs[0]]
        self.f_in, self.f_out, self.bits = ref.frac(node.inputs[0]), ref.frac(node.name), ref.bits(node.name)
        self.g = max(self.f_in, 0)

    def widened(self) -> np.ndarray:
        return self.x << (self.g - self.f_in)

    def sixth(self, num: np.ndarray, frac: int) -> np.ndarray:
        """num / (6·2^frac) with f_out fraction bits, rounded half up, saturated."""
        den = 6 << frac
        if self.f_out >= 0:
            num = num << self.f_out
        else:
            den <<= -self.f_out
        return saturate(_div_round(num, den), self.bits)

    def relu6_shifted(self) -> np.ndarray:
        return np.clip(self.widened() + (3 << self.g), 0, 6 << self.g)


def _sigmoid(ref: _Layers, node: Node) -> np.ndarray:
    u, (layout, table) = _Unary(ref, node), _tables()["sigmoid"]
    if node.op == "sigmoid":
        return saturate(table_read(u.x, layout, table, u.f_in, u.f_out), u.bits)
    if node.op == "tanh":
        return saturate(table_read(u.x, layout, table, u.f_in - 1, u.f_out + 1) - (1 << u.f_out), u.bits)
    return requantize(u.x * table_read(u.x, layout, table, u.f_in, 15), u.f_in + 15 - u.f_out, u.bits)  # silu


def _softmax(ref: _Layers, node: Node) -> np.ndarray:
    u, (layout, table) = _Unary(ref, node), _tables()["exp"]
    e = table_read(u.x - u.x.max(axis=0), layout, table, u.f_in, 15)
    return saturate(_div_round(e << u.f_out, e.sum(axis=0)), u.bits)


def _hard(ref: _Layers, node: Node) -> np.ndarray:
    u = _Unary(ref, node)
    if node.op == "hardsigmoid":
        return u.sixth(u.relu6_shifted(), u.g)
    return u.sixth(u.widened() * u.relu6_shifted(), 2 * u.g)


def _constants(ref: _Layers, node: Node) -> tuple[_Unary, dict]:
    from .lower_pointwise import op_constants

    u = _Unary(ref, node)
    return u, op_constants(node, u.f_in, u.f_out)


def _linear_pieces(ref: _Layers, node: Node) -> np.ndarray:
    u, k = _constants(ref, node)
    if node.op == "leakyrelu":
        return np.where(u.x >= 0, requantize(u.x, u.f_in - u.f_out, u.bits),
                        requantize(u.x * k["SLOPE"], u.f_in + 15 - u.f_out, u.bits))
    if node.op == "div":
        return requantize(u.x * k["M"], u.f_in + k["R"] - u.f_out, u.bits)
    top = max(u.f_in, u.f_out)  # clip
    v = u.x << (top - u.f_in)
    v = np.maximum(v, k["LOW"]) if k["HAS_LOW"] else v
    v = np.minimum(v, k["HIGH"]) if k["HAS_HIGH"] else v
    return requantize(v, top - u.f_out, u.bits)


def _binary(ref: _Layers, node: Node) -> np.ndarray:
    a, b = node.inputs
    if node.op == "mul" and ref.graph.node(a).shape != node.shape:  # the [C, 1, 1] operand second
        a, b = b, a
    f_a, f_b, f_out, bits = ref.frac(a), ref.frac(b), ref.frac(node.name), ref.bits(node.name)
    if node.op == "mul":
        return requantize(ref.words[a] * ref.words[b], f_a + f_b - f_out, bits)
    top = max(f_a, f_b)
    return requantize((ref.words[a] << (top - f_a)) - (ref.words[b] << (top - f_b)), top - f_out, bits)


def _mean(ref: _Layers, node: Node) -> np.ndarray:
    return _pool(ref, node.with_(attrs={"global": True}))


def _shuffle(ref: _Layers, node: Node) -> np.ndarray:
    groups, channels = node.attrs["groups"], np.arange(node.shape.c)
    source = channels % groups * (node.shape.c // groups) + channels // groups
    return ref.copy(node, node.inputs[0])[source]


POINTWISE_OPS = {**dict.fromkeys(("sigmoid", "tanh", "silu"), _sigmoid), "softmax": _softmax,
                 **dict.fromkeys(("hardsigmoid", "hardswish"), _hard),
                 **dict.fromkeys(("leakyrelu", "div", "clip"), _linear_pieces),
                 **dict.fromkeys(("mul", "sub"), _binary), "mean": _mean, "shuffle": _shuffle}
