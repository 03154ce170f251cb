"""The integer reference of deformable and transposed convolutions
(``intref``), as ``lib/segc_deform.h`` and ``lib/segc_deconv.h`` compute
them.

dconv: the offset branch is a convolution (the layer's window; 1×1 at the
layer's stride for square offsets) of 16-bit fixed-point weights and bias,
requantized to 16-bit words with f_off fraction bits (config.json's
``offset_frac``).  Tap (i, j) of output pixel (y, x) in offset group g
samples at (y·s_h − p_h + i·d_h, x·s_w − p_w + j·d_w) + (dy, dx), positions
in F = f_off + 1 fraction bits:

* full: (dy, dx) the tap's two offset words, clamped to the bound words
  when bounded; rounded: each rounded half to even to whole pixels, else
  doubled (F bits);
* square: one word s per group and pixel (clamped when bounded), step
  (s − 2^f_off)·d; rounded: t·round_even(step) rounded half to even once
  more by one bit (t = 2i − (k_h − 1), twice the tap's distance), else
  t·step.

A rounded sample is the word at ⌊position⌋ (0 outside the image); a
bilinear one Σ word·weight over the four neighbours, weights
(2^F − l_y)(2^F − l_x) … in 2F bits (l the position's fraction),
requantized by 2F to a 16-bit word.  The samples then go through the
layer's multiply-accumulate (fixed or integer scheme, as conv).

deconv: out[o, y, x] = Σ W[c, o − g·C_o/g, i, j]·in[c, iy, ix] over the
group's input channels c and the taps with y = iy·s_h − p_h + i·d_h (and
likewise x), plus the bias, requantized as conv.
"""

from __future__ import annotations

import numpy as np

from ...ir import Node, conv_pads
from .fixed import WORD_BITS, saturate
from .intref import _exact_dot, _Layers, _requantized, _tap_sums, requantize, shift_round

__all__ = ["MAC_OPS", "round_even"]


def round_even(v: np.ndarray, bits: int) -> np.ndarray:
    """v·2^−bits rounded half to even (``lib/segc_fixed.h``: ``round_even``)."""
    v = np.asarray(v, dtype=np.int64)
    if bits <= 0:
        return v << -bits
    half, low, floor = 1 << (bits - 1), v & ((1 << bits) - 1), v >> bits
    return np.where(low > half, floor + 1, np.where(low < half, floor, floor + (floor & 1)))


def _offset_words(ref: _Layers, node: Node, square: bool, f_off: int) -> np.ndarray:
    """The offset branch's 16-bit words [offset channels, H_o, W_o]."""
    attrs = {**node.attrs, "groups": 1}
    if square:
        attrs.update(k=(1, 1), dilation=(1, 1), padding=(0, 0))
    (weight, w), (bias, b) = ref.param(node, "offset.weight"), ref.param(node, "offset.bias")
    kh, kw = attrs["k"]
    x = ref.words[node.inputs[0]]
    acc = _tap_sums(x, node.with_(attrs=attrs), weight.reshape(bias.size, -1, kh, kw))
    f_acc = ref.frac(node.inputs[0]) + w["frac"]
    acc = acc + (bias << (f_acc - b["frac"]))[:, None]
    return requantize(acc, f_acc - f_off, WORD_BITS).reshape(bias.size, node.shape.h, node.shape.w)


def _displacement(off: np.ndarray, node: Node, deform: dict, f_off: int, g: int, i: int, j: int):
    """(dy, dx) [H_o, W_o] of tap (i, j) in offset group g, in f_off + 1 fraction bits."""
    (kh, kw), dilation, bounds = node.attrs["k"], node.attrs["dilation"], deform["bound_words"]
    if deform["shape"] == "full":
        pair = off[2 * (g * kh * kw + i * kw + j)], off[2 * (g * kh * kw + i * kw + j) + 1]
        pair = [np.clip(d, *bounds) if bounds else d for d in pair]
        return [round_even(d, f_off) << (f_off + 1) if deform["round"] else 2 * d for d in pair]
    s = np.clip(off[g], *bounds) if bounds else off[g]
    result = []
    for twice, d in ((2 * i - (kh - 1), dilation[0]), (2 * j - (kw - 1), dilation[1])):
        step = (s - (1 << f_off)) * d
        result.append(round_even(twice * round_even(step, f_off), 1) << (f_off + 1) if deform["round"]
                      else twice * step)
    return result


def _read(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """x[:, rows, cols] ([C, H_o, W_o]), 0 outside the image."""
    inside = (rows >= 0) & (rows < x.shape[1]) & (cols >= 0) & (cols < x.shape[2])
    return np.where(inside, x[:, np.clip(rows, 0, x.shape[1] - 1), np.clip(cols, 0, x.shape[2] - 1)], 0)


def _sample(x: np.ndarray, py: np.ndarray, px: np.ndarray, frac: int, rounded: bool) -> np.ndarray:
    """The words of x's channels at positions (py, px) with ``frac`` fraction bits."""
    y0, x0 = py >> frac, px >> frac
    if rounded:
        return _read(x, y0, x0)
    one, ly, lx = 1 << frac, py - (y0 << frac), px - (x0 << frac)
    total = (_read(x, y0, x0) * ((one - ly) * (one - lx)) + _read(x, y0, x0 + 1) * ((one - ly) * lx)
             + _read(x, y0 + 1, x0) * (ly * (one - lx)) + _read(x, y0 + 1, x0 + 1) * (ly * lx))
    return saturate(shift_round(total, 2 * frac), WORD_BITS)


def _deform_columns(ref: _Layers, node: Node) -> np.ndarray:
    """The samples [C_i, k_h·k_w, H_o·W_o] the layer's weights multiply."""
    a, entry = node.attrs, ref.layers[node.name]
    f_off, deform = entry["offset_frac"], entry["deform"]
    off = _offset_words(ref, node, deform["shape"] == "square", f_off)
    x = ref.words[node.inputs[0]]
    (kh, kw), (sh, sw), (dh, dw) = a["k"], a["stride"], a["dilation"]
    ph, pw = conv_pads(a)
    rows, cols = np.arange(node.shape.h)[:, None] * sh - ph, np.arange(node.shape.w)[None, :] * sw - pw
    per_group = x.shape[0] // a["offset_groups"]
    columns = np.zeros((x.shape[0], kh * kw, node.shape.h * node.shape.w), dtype=np.int64)
    for g in range(a["offset_groups"]):
        channels = x[g * per_group:(g + 1) * per_group]
        for i in range(kh):
            for j in range(kw):
                dy, dx = _displacement(off, node, deform, f_off, g, i, j)
                py, px = ((rows + i * dh) << (f_off + 1)) + dy, ((cols + j * dw) << (f_off + 1)) + dx
                samples = _sample(channels, py, px, f_off + 1, deform["round"])
                columns[g * per_group:(g + 1) * per_group, i * kw + j] = samples.reshape(per_group, -1)
    return columns


def _grouped_sums(weight: np.ndarray, columns: np.ndarray, groups: int, what: str) -> np.ndarray:
    """Σ weight [C_o, K] · columns [G·…, P] per group (columns split into G
    equal row blocks), as exact int64 [C_o, P]."""
    out, rows = weight.shape[0] // groups, columns.shape[0] // groups
    return np.concatenate([_exact_dot(weight[g * out:(g + 1) * out], columns[g * rows:(g + 1) * rows], what)
                           for g in range(groups)])


def _dconv(ref: _Layers, node: Node) -> np.ndarray:
    weight, _ = ref.param(node, "weight")
    columns = _deform_columns(ref, node)
    acc = _grouped_sums(weight.reshape(node.shape.c, -1), columns.reshape(-1, columns.shape[2]),
                        node.attrs["groups"], node.name)
    return _requantized(ref, node, acc).reshape(node.shape)


def _deconv(ref: _Layers, node: Node) -> np.ndarray:
    """Scattered one tap at a time: input pixel (iy, ix) lands at output
    row iy·s_h − p_h + i·d_h (row iy·s_h + i·d_h of a frame p_h larger)."""
    a, x = node.attrs, ref.words[node.inputs[0]]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups = a["k"], a["stride"], a["padding"], a["dilation"], a["groups"]
    ci, h, w = x.shape
    weight, _ = ref.param(node, "weight")
    weight = weight.reshape(ci, -1, kh, kw)
    frame = np.zeros((node.shape.c, max((h - 1) * sh + (kh - 1) * dh + 1, ph + node.shape.h),
                      max((w - 1) * sw + (kw - 1) * dw + 1, pw + node.shape.w)), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            per_out = weight[:, :, i, j].reshape(groups, ci // groups, -1).transpose(0, 2, 1).reshape(node.shape.c, -1)
            taps = _grouped_sums(per_out, x.reshape(ci, h * w), groups, node.name).reshape(-1, h, w)
            frame[:, i * dh:i * dh + (h - 1) * sh + 1:sh, j * dw:j * dw + (w - 1) * sw + 1:sw] += taps
    acc = frame[:, ph:ph + node.shape.h, pw:pw + node.shape.w].reshape(node.shape.c, -1)
    return _requantized(ref, node, acc).reshape(node.shape)


MAC_OPS = {"dconv": _dconv, "deconv": _deconv}
