"""The integer reference of a generated HLS project, in numpy: every
layer's output words computed with the integer arithmetic of the kernel
library (``lib/segc_fixed.h``, ``lib/segc_pe.h``) from the project's own
parameter image and formats (config.json), layer by layer, unfused.  The C
simulation must equal it exactly.  The rules of dconv and deconv are in
``intref_mac``, those of the channel shuffle and the pointwise ops in
``intref_ops``; together they cover every op the backend lowers.

Rules (acc: an exact integer; f: fraction bits; b: a layer's width):

* requantize(acc, s): s > 0: floor((acc + 2^(s−1)) / 2^s) (round half up);
  s ≤ 0: acc·2^−s; then saturated to [−2^(b−1), 2^(b−1) − 1];
* input: floor(x·2^f + ½), saturated;
* conv, linear: acc = bias·2^(f_in + f_w − f_b) + Σ w·x, requantized by
  f_in + f_w − f_out; integer scheme: (acc + bias_c)·m_c requantized by
  shift_c (``intmac``);
* bn: x·scale + shift·2^(f_in + f_s − f_t), requantized by f_in + f_s − f_out;
* relu, relu6 at G = max(f_in, 0): max(x·2^(G − f_in), 0) (and ≤ 6·2^G),
  requantized by G − f_out;
* max pooling (padding excluded), nearest resizing, concat, slice: a word
  requantized by f_in − f_out; bilinear resizing: the tabulated weights
  (2^−15 units) as ``lib/segc_pool.h``, requantized by f_in + 30 − f_out; average pooling: round-half-up division of
  the window's sum (the window clipped to the padded image) by its size,
  scaled by 2^(f_out − f_in); add: the inputs aligned to the largest f,
  summed, requantized once.

Where a layer's config.json entry has ``rescale`` (input and output scales
not a power of two apart, ``scales``), its kernel's result is multiplied by
m / 2^s as it is requantized by ``shift`` (one rounding: acc·m requantized
by shift + s); an add with ``rescale`` [[m_i], s] sums x_i·m_i and
requantizes by s; relu6 with ``six_word`` requantizes max(x, 0) and stops
there.  Inputs are floor(x / s + ½) for a tensor with a ``scale``.

Sums are formed in float64 only where every partial sum is below 2^53
(checked), so they are exact.
"""

from __future__ import annotations

import functools

import numpy as np

from ...ir import Graph, Node, conv_pads
from .fixed import saturate

__all__ = ["IntReferenceError", "integer_reference", "output_values", "supported_ops", "tensor_values"]

_EXACT = 2.0**53
_VIEWS = ("flatten", "identity")


class IntReferenceError(ValueError):
    """The integer reference does not cover a layer."""


def shift_round(acc: np.ndarray, shift) -> np.ndarray:
    """acc·2^−shift rounded half up (exact for shift ≤ 0), per element where
    ``shift`` is an array; as the C library's ``shift_round``."""
    acc = np.asarray(acc, dtype=np.int64)
    if np.ndim(shift) == 0:
        fast = _shift_round_scalar(acc, int(shift))
        if fast is not None:
            return fast
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), acc.shape)
    right = np.clip(shift, 1, 62)
    rounded = (acc + (np.int64(1) << (right - 1))) >> right
    left = np.clip(-shift, 0, 47)
    limit = np.int64(1) << (62 - left)
    wide = np.where(acc > 0, 32768, np.where(acc < 0, -32769, 0))
    widened = np.where((acc >= limit) | (acc <= -limit) | (shift < -47), wide, acc << left)
    return np.where(shift > 62, 0, np.where(shift > 0, rounded, widened))


def _shift_round_scalar(acc: np.ndarray, shift: int) -> np.ndarray | None:
    """:func:`shift_round` by one shift for every element, in one pass where
    no word needs the widening rules (else None: the general path)."""
    if 0 < shift <= 62:
        return (acc + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    if -47 <= shift <= 0 and int(np.abs(acc).max(initial=0)) < 1 << (62 + shift):
        return acc << np.int64(-shift)
    return None


def requantize(acc: np.ndarray, shift, bits: int) -> np.ndarray:
    return saturate(shift_round(acc, shift), bits)


def _exact_dot(weight: np.ndarray, columns: np.ndarray, what: str) -> np.ndarray:
    """weight [O, K] @ columns [K, P] as exact int64 (float64 with a bound check)."""
    bound = float(np.abs(weight).sum(axis=1).max(initial=0)) * float(np.abs(columns).max(initial=0))
    if bound >= _EXACT:
        raise IntReferenceError(f"layer '{what}': sums too wide for an exact float64 product")
    return (weight.astype(np.float64) @ columns.astype(np.float64)).astype(np.int64)


def _columns(x: np.ndarray, node: Node, kh: int, kw: int) -> np.ndarray:
    """[C, KH, KW, HO, WO] input taps of each output pixel (zero padding)."""
    a = node.attrs
    (sh, sw), (dh, dw) = a["stride"], a["dilation"]
    ph, pw = conv_pads(a)
    ho, wo = node.shape.h, node.shape.w
    pad = np.zeros((x.shape[0], x.shape[1] + 2 * ph + sh * ho + dh * kh, x.shape[2] + 2 * pw + sw * wo + dw * kw),
                   dtype=np.int64)
    pad[:, ph:ph + x.shape[1], pw:pw + x.shape[2]] = x
    taps = [[pad[:, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw] for j in range(kw)]
            for i in range(kh)]
    return np.stack([np.stack(row, axis=1) for row in taps], axis=1)


class _Layers:
    """The words of every layer, computed in graph order."""

    def __init__(self, graph: Graph, config: dict, params: np.ndarray):
        self.graph, self.params = graph, params
        self.layers = {entry["name"]: entry for entry in config["layers"]}
        self.words: dict[str, np.ndarray] = {}

    def frac(self, name: str) -> int:
        return self.layers[name]["frac"]

    def bits(self, name: str) -> int:
        return self.layers[name]["bits"]

    def param(self, node: Node, key: str) -> tuple[np.ndarray, dict]:
        entry = self.layers[node.name]["params"][key]
        return self.params[entry["offset"]:entry["offset"] + entry["words"]].astype(np.int64), entry

    def scale(self, name: str) -> float:
        """The value of one word: the layer's scale where config.json has one, else 2^−frac."""
        return self.layers[name].get("scale", 2.0 ** -self.frac(name))

    def copy(self, node: Node, source: str, index: int = 0) -> np.ndarray:
        return _out(self, node, self.words[source], self.frac(source) - self.frac(node.name), index)


def _factor(ref: _Layers, node: Node, index: int = 0) -> tuple[int, int]:
    """The extra factor (m, shift) of a layer's kernel (of its ``index``-th
    input's copy for a concat): config.json's ``rescale``, else (1, 0)."""
    factor = ref.layers[node.name].get("rescale")
    if factor is None:
        return 1, 0
    return tuple(factor[index]) if node.op == "concat" else tuple(factor)


def _out(ref: _Layers, node: Node, acc: np.ndarray, shift: int, index: int = 0) -> np.ndarray:
    """requantize(acc, shift) times the kernel's extra factor m / 2^s, rounded
    once (``lib/segc_fixed.h``: requantize_out)."""
    m, extra = _factor(ref, node, index)
    if (m, extra) == (1, 0):
        return requantize(acc, shift, ref.bits(node.name))
    return saturate(shift_round(np.asarray(acc, dtype=np.int64) * m, shift + extra), ref.bits(node.name))


def _requantized(ref: _Layers, node: Node, acc: np.ndarray) -> np.ndarray:
    """A conv or linear layer's exact sums acc [CO, P] plus its bias, requantized to its format."""
    f_in, f_out, bits = ref.frac(node.inputs[0]), ref.frac(node.name), ref.bits(node.name)
    entry = ref.layers[node.name]["params"]
    if "requant" in entry:
        table = {key: np.asarray(v, dtype=np.int64)[:, None] for key, v in entry["requant"].items()}
        return saturate(shift_round((acc + table["bias"]) * table["m"], table["shift"]), bits)
    f_w = entry["weight"]["frac"]
    if "bias" in entry:
        bias, b = ref.param(node, "bias")
        acc = acc + (bias << (f_in + f_w - b["frac"]))[:acc.shape[0], None]
    return requantize(acc, f_in + f_w - f_out, bits)


def _tap_sums(x: np.ndarray, node: Node, weight: np.ndarray) -> np.ndarray:
    """Σ over taps (ky, kx) of W[:, :, ky, kx] · x shifted by the tap, per group: the exact sums
    [CO, HO·WO] of a convolution, one tap at a time (no column matrix: the memory of one input)."""
    a, co = node.attrs, weight.shape[0]
    groups, (kh, kw) = a["groups"], a["k"]
    ci = x.shape[0] // groups
    bound = float(np.abs(weight).reshape(co, -1).sum(axis=1).max(initial=0)) * float(np.abs(x).max(initial=0))
    if bound >= _EXACT:
        raise IntReferenceError(f"layer '{node.name}': sums too wide for an exact float64 product")
    (sh, sw), (dh, dw) = a["stride"], a["dilation"]
    ph, pw = conv_pads(a)
    ho, wo = node.shape.h, node.shape.w
    pad = np.zeros((x.shape[0], x.shape[1] + 2 * ph + sh * ho + dh * kh, x.shape[2] + 2 * pw + sw * wo + dw * kw))
    pad[:, ph:ph + x.shape[1], pw:pw + x.shape[2]] = x
    grouped = weight.astype(np.float64).reshape(groups, co // groups, ci, kh, kw)
    acc = np.zeros((groups, co // groups, ho * wo))
    for i in range(kh):
        for j in range(kw):
            tap = pad[:, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
            acc += np.matmul(grouped[:, :, :, i, j], tap.reshape(groups, ci, ho * wo))
    return acc.reshape(co, ho * wo).astype(np.int64)


def _conv(ref: _Layers, node: Node) -> np.ndarray:
    weight, _ = ref.param(node, "weight")
    kh, kw = node.attrs["k"]
    weight = weight.reshape(node.shape.c, -1, kh, kw)
    return _requantized(ref, node, _tap_sums(ref.words[node.inputs[0]], node, weight)).reshape(node.shape)


def _linear(ref: _Layers, node: Node) -> np.ndarray:
    weight, _ = ref.param(node, "weight")
    x = ref.words[node.inputs[0]].reshape(-1, 1)
    return _requantized(ref, node, _exact_dot(weight.reshape(node.shape.c, -1), x, node.name)).reshape(node.shape)


def _bn(ref: _Layers, node: Node) -> np.ndarray:
    x = ref.words[node.inputs[0]]
    (scale, s), (shift, t) = ref.param(node, "scale"), ref.param(node, "shift")
    fa = ref.frac(node.inputs[0]) + s["frac"]
    acc = x * scale[:, None, None] + (shift << (fa - t["frac"]))[:, None, None]
    return _out(ref, node, acc, fa - ref.frac(node.name))


def _relu(ref: _Layers, node: Node) -> np.ndarray:
    if "rescale" in ref.layers[node.name] or "six_word" in ref.layers[node.name]:
        return _scaled_relu(ref, node)
    f_in = ref.frac(node.inputs[0])
    g = max(f_in, 0)
    v = np.maximum(ref.words[node.inputs[0]] << (g - f_in), 0)
    if node.op == "relu6":
        v = np.minimum(v, 6 << g)
    return requantize(v, g - ref.frac(node.name), ref.bits(node.name))


def _scaled_relu(ref: _Layers, node: Node) -> np.ndarray:
    """max(x, 0) requantized with the kernel's factor; relu6 then at most round(6 / s_out)."""
    v = _out(ref, node, np.maximum(ref.words[node.inputs[0]], 0), ref.frac(node.inputs[0]) - ref.frac(node.name))
    return np.minimum(v, ref.layers[node.name]["six_word"]) if node.op == "relu6" else v


def _div_round(num: np.ndarray, den) -> np.ndarray:
    return (2 * num + den) // (2 * np.asarray(den, dtype=np.int64))


def _pool(ref: _Layers, node: Node) -> np.ndarray:
    x, a = ref.words[node.inputs[0]], node.attrs
    f_in, f_out, bits = ref.frac(node.inputs[0]), ref.frac(node.name), ref.bits(node.name)
    m, extra = _factor(ref, node)
    up, down = max(f_out - f_in - extra, 0), max(f_in - f_out + extra, 0)
    if a.get("global"):
        total = x.reshape(x.shape[0], -1).sum(axis=1) * m
        return saturate(_div_round(total << up, (x.shape[1] * x.shape[2]) << down), bits).reshape(node.shape)
    (kh, kw), (sh, sw) = a["k"], a["stride"]
    ph, pw = conv_pads({**a, "dilation": (1, 1)})
    taps = _columns(x, node.with_(attrs={**a, "dilation": (1, 1), "groups": 1}), kh, kw)
    valid = _columns(np.ones((1, *x.shape[1:]), dtype=np.int64), node.with_(attrs={**a, "dilation": (1, 1)}), kh, kw)
    if node.op == "maxpool":
        best = np.where(valid > 0, taps, np.iinfo(np.int64).min).max(axis=(1, 2))
        return _out(ref, node, best, f_in - f_out)
    y0 = np.arange(node.shape.h) * sh - ph
    x0 = np.arange(node.shape.w) * sw - pw
    rows = np.minimum(y0 + kh, x.shape[1] + ph) - y0
    cols = np.minimum(x0 + kw, x.shape[2] + pw) - x0
    count = (rows[:, None] * cols[None, :]) << down
    return saturate(_div_round((taps.sum(axis=(1, 2)) * m) << up, count), bits)


def _add(ref: _Layers, node: Node) -> np.ndarray:
    if "rescale" in ref.layers[node.name]:  # inputs of other scales: Σ x_i·m_i, one shift
        factors, shift = ref.layers[node.name]["rescale"]
        total = sum(ref.words[i] * m for i, m in zip(node.inputs, factors))
        return requantize(total, shift, ref.bits(node.name))
    fa = max(ref.frac(i) for i in node.inputs)
    total = sum(ref.words[i] << (fa - ref.frac(i)) for i in node.inputs)
    return requantize(total, fa - ref.frac(node.name), ref.bits(node.name))


def _concat(ref: _Layers, node: Node) -> np.ndarray:
    return np.concatenate([ref.copy(node, name, index) for index, name in enumerate(node.inputs)])


def _slice(ref: _Layers, node: Node) -> np.ndarray:
    start = node.attrs["start"]
    return ref.copy(node, node.inputs[0])[start:start + node.shape.c]


def _resize(ref: _Layers, node: Node) -> np.ndarray:
    """Nearest: the source word requantized; bilinear: weights in 2^-15
    units, (1 − l_y)·((1 − l_x)·a + l_x·b) + l_y·(…) requantized by f_in + 30 − f_out."""
    from .lower import resize_table

    x, a = ref.words[node.inputs[0]], node.attrs
    factor = a["scale"] or (None, None)
    rows = resize_table(x.shape[1], node.shape.h, factor[0], a["mode"], a["align_corners"])
    cols = resize_table(x.shape[2], node.shape.w, factor[1], a["mode"], a["align_corners"])
    if a["mode"] == "nearest":
        return ref.copy(node, node.inputs[0])[:, rows[:, 0]][:, :, cols[:, 0]]
    one = 1 << 15
    wx = cols[:, 2][None, None, :]
    across = (one - wx) * x[:, :, cols[:, 0]] + wx * x[:, :, cols[:, 1]]  # every input row, once
    wy = rows[:, 2][None, :, None]
    value = (one - wy) * across[:, rows[:, 0]] + wy * across[:, rows[:, 1]]
    return _out(ref, node, value, ref.frac(node.inputs[0]) + 30 - ref.frac(node.name))


_OPS = {"conv": _conv, "linear": _linear, "bn": _bn, "relu": _relu, "relu6": _relu, "maxpool": _pool,
        "avgpool": _pool, "add": _add, "concat": _concat, "slice": _slice, "upsample": _resize}


@functools.cache
def _op_table() -> dict:
    """Every op's reference: this module's, ``intref_mac``'s and ``intref_ops``'s
    (imported here: they build on this module)."""
    from .intref_mac import MAC_OPS
    from .intref_ops import POINTWISE_OPS

    return {**_OPS, **MAC_OPS, **POINTWISE_OPS}


def supported_ops() -> tuple[str, ...]:
    """The ops the integer reference covers."""
    return (*_op_table(), *_VIEWS)


def integer_reference(graph: Graph, config: dict, params: np.ndarray,
                      inputs: dict[str, np.ndarray], every_layer: bool = False) -> dict[str, np.ndarray]:
    """Every layer's words (int64 [C, H, W]) for float inputs ([C, H, W]),
    from a project's config.json and parameter words; raises
    IntReferenceError naming a layer it does not cover.  Without
    ``every_layer``, a layer's words are dropped once its consumers are
    computed, so only the outputs' remain (the memory of a few layers)."""
    ref = _Layers(graph, config, np.asarray(params, dtype=np.int64))
    uses = {node.name: len(graph.consumers(node.name)) for node in graph.nodes()}
    for node in graph.nodes():
        if node.op == "input":
            scaled = np.floor(np.asarray(inputs[node.name], dtype=np.float64) / ref.scale(node.name) + 0.5)
            ref.words[node.name] = saturate(np.clip(scaled, -1e9, 1e9), ref.bits(node.name))
        elif node.op in _VIEWS or node.op == "output":
            ref.words[node.name] = ref.words[node.inputs[0]].reshape(node.shape)
        elif node.op in _op_table():
            ref.words[node.name] = _op_table()[node.op](ref, node)
        else:
            raise IntReferenceError(f"layer '{node.name}': the integer reference does not cover op '{node.op}'")
        if not every_layer:
            _release(ref.words, uses, node.inputs)
    return ref.words


def _release(words: dict[str, np.ndarray], uses: dict[str, int], inputs) -> None:
    """Drop the words of layers whose every consumer has been computed (outputs have none)."""
    for name in set(inputs):
        uses[name] -= 1
        if uses[name] == 0:
            del words[name]


def output_values(words: np.ndarray, frac: int) -> np.ndarray:
    """Words as the test bench writes them: float32(q·2^−f)."""
    return np.ldexp(np.asarray(words, dtype=np.float64), -frac).astype(np.float32)


def tensor_values(words: np.ndarray, entry: dict) -> np.ndarray:
    """Words of a config.json tensor or layer as the test bench writes them:
    float32(q·s), s its ``scale`` where it has one, else 2^−frac."""
    if "scale" not in entry:
        return output_values(words, entry["frac"])
    return (np.asarray(words, dtype=np.float64) * entry["scale"]).astype(np.float32)
