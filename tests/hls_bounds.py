"""A worst-case bound on the error of segc's 16-bit C simulation against
the float network, derived from the fixed-point formats alone.

Rounding to f fraction bits errs by at most q(f) = 2^-(f+1).  Layer by layer
(E: error bound of a tensor, M: its largest magnitude in float, from the
calibration on the same input):

* input: E = q(f);
* conv, linear (fan-in n): sum |w_q·x_c − w·x| ≤ A·E_in + n·q(f_w)·M_in with
  A = max over outputs of sum |w| + n·q(f_w); plus q(f_b) and q(f_out);
* deconv: the same over each output channel's column of the [C_i, C_o/g, k, k]
  weight (an output sums at most those products);
* dconv: the offset conv as above; the sample position errs by the offset
  error (square: times the tap reach (k−1)/2 and dilation), a bilinear sample
  by E_in + 2·M_in·(error of y + error of x) + q(f_in); rounded offsets are
  taken to round the same way (the tests keep them away from ±½);
* bn: (max|s| + q(f_s))·E_in + q(f_s)·M_in + q(f_t) + q(f_out);
* relu, relu6, max/avg pooling, nearest resizing, concat, and slice and
  shuffle (copies of some channels, in some order, requantized):
  1-Lipschitz, E_in + q(f_out);
* bilinear resizing: weights in 2^-15 units add 2·2^-16·(2·M_in);
* sigmoid: E_in/4 + table error (entries rounded to 2^-15, linear
  interpolation error h²/8·max|σ''| ≤ 2^-12/8·0.1) + q(f_out);
* add: the sum of the input errors + q(f_out).
* ops_pointwise (computed exactly from the quantized input, then rounded
  once, unless said): Lipschitz constant L times E_in + q(f_out), with
  L = 1/6 (hardsigmoid), 3/2 (hardswish: its slope (2x + 3)/6 is at most
  3/2), max(1, |slope|) (leakyrelu, plus the slope rounded to 2^-15:
  2^-16·M_in), 1 (clip, plus its bounds rounded to q(f_out) at most;
  mean, sub: E_a + E_b), 1/|by| (div, plus 1/by rounded to 15 significant
  bits: 2^-14·M_in/|by|); tanh = 2σ(2x) − 1: E_in + 2·(table error);
  silu = x·σ(x): 1.1·E_in (max |silu'| = 1.0998) + (M_in + E_in)·(table
  error + 2^-16) (σ at 15 bits); mul: M_a·E_b + M_b·E_a + E_a·E_b.
* softmax over C channels: E_in/2 (Σ_j |∂y_c/∂x_j| = 2·y_c·(1 − y_c) ≤ ½)
  + (1 + C)·δ, δ = 2^-15 + 2^-19 the error of each exp(x − max) (table
  entries and the interpolation rounded to 2^-16 each, interpolation error
  h²/8·max exp'' = 2^-16/8): e_c/S errs by δ/S + y_c·C·δ/S, S ≥ exp(0) = 1.

Each layer also gets 2^-20·M_out for float32 rounding in the reference.

Propagated through a deep network this worst case grows with the product of
the layers' gains; given the *measured* errors of every layer's inputs (the
C simulation's layer trace), the same rules bound each layer on its own.
"""

from __future__ import annotations

import numpy as np


def q(frac: int) -> float:
    return 2.0 ** -(frac + 1)


def _mac(weight: np.ndarray, params: dict, key: str, e_in: float, m_in: float, frac_out: int) -> float:
    fan_in = weight[0].size
    q_w = q(params[f"{key}weight"]["frac"])
    gain = float(np.abs(weight.reshape(weight.shape[0], -1)).sum(axis=1).max()) + fan_in * q_w
    bias = q(params[f"{key}bias"]["frac"]) if f"{key}bias" in params else 0.0
    return gain * e_in + fan_in * q_w * m_in + bias + q(frac_out)


def _dconv(node, layer, weights, e_in, m_in) -> float:
    a, params = node.attrs, layer["params"]
    e_off = _mac(weights[f"{node.name}.offset.weight"], params, "offset.", e_in, m_in, layer["offset_frac"])
    if a["shape"] == "square":
        e_off *= (a["k"][0] - 1) / 2 * max(a["dilation"])
    e_sample = e_in if a["round"] else e_in + 2 * m_in * 2 * e_off + q(layer["input_frac"])
    return _mac(weights[f"{node.name}.weight"], params, "", e_sample, m_in, layer["frac"])


def _deconv(node, layer, weights, e_in, m_in) -> float:
    """A conv's bound with the weight [C_i, C_o/g, k, k] read per output
    channel: an output sums at most the C_i·k² products of its column of
    the weight (fewer where the stride skips taps), so the column's Σ|w|
    and fan-in C_i·k² bound it (over all C_i: an upper bound for g > 1)."""
    weight = np.swapaxes(weights[f"{node.name}.weight"], 0, 1)
    return _mac(weight, layer["params"], "", e_in, m_in, layer["frac"])


def _bn(node, layer, weights, e_in, m_in) -> float:
    w = {k: weights[f"{node.name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    scale = w["weight"] / np.sqrt(w["running_var"] + node.attrs["eps"])
    q_s, q_t = q(layer["params"]["scale"]["frac"]), q(layer["params"]["shift"]["frac"])
    return (float(np.abs(scale).max()) + q_s) * e_in + q_s * m_in + q_t + q(layer["frac"])


SIGMOID_TABLE_ERROR = 2.0**-16 + 2.0**-12 / 8 * 0.1
POINTWISE_GAIN = {"hardsigmoid": 1 / 6, "hardswish": 1.5, "clip": 1.0, "mean": 1.0, "tanh": 1.0, "silu": 1.1}


def _pointwise(node, errors: dict, maxima: dict, layers: dict) -> float:
    """Error before the output's rounding of one op of ``ir/ops_pointwise.py``."""
    names = list(node.inputs)
    e_in = errors[names[0]]
    m_in = [maxima[layers[i].get("view_of", i)] for i in names]
    if node.op == "mul":
        e_b = errors[names[-1]]
        return m_in[0] * e_b + m_in[-1] * e_in + e_in * e_b
    if node.op == "sub":
        return e_in + errors[names[-1]]
    if node.op == "leakyrelu":
        return max(1.0, abs(node.attrs["slope"])) * e_in + 2.0**-16 * m_in[0]
    if node.op == "div":
        return (e_in + 2.0**-14 * m_in[0]) / abs(node.attrs["by"])
    if node.op == "softmax":
        return e_in / 2 + (1 + node.shape.c) * (2.0**-15 + 2.0**-19)
    extra = {"clip": q(layers[node.name]["frac"]), "tanh": 2 * SIGMOID_TABLE_ERROR,
             "silu": (m_in[0] + e_in) * (SIGMOID_TABLE_ERROR + 2.0**-16)}
    return POINTWISE_GAIN[node.op] * e_in + extra.get(node.op, 0.0)


def error_bounds(graph, config: dict, weights: dict[str, np.ndarray],
                 measured: dict[str, float] | None = None) -> dict[str, float]:
    """Bound on max |C − float| of every layer's output: propagated from the
    input, or, given ``measured`` errors of every traced layer, from each
    layer's measured input errors (layers fused into a convolution's
    pipeline leave no trace: their bounds are propagated from the head's)."""
    layers = {entry["name"]: entry for entry in config["layers"]}
    maxima = {e["name"]: e.get("max_abs", 0.0) for e in config["layers"]}
    bound: dict[str, float] = {}
    for node in graph.nodes():
        layer = layers[node.name]
        owner = layer.get("view_of", node.name)
        if node.op == "input":
            bound[node.name] = q(layer["frac"])
            continue
        source = layers[node.inputs[0]].get("view_of", node.inputs[0])
        errors = {i: measured.get(layers[i].get("view_of", i), bound[i]) if measured else bound[i]
                  for i in node.inputs}
        e_in, m_in = errors[node.inputs[0]], maxima[source]
        layer = {**layer, "input_frac": layers[node.inputs[0]]["frac"]}
        if owner != node.name:
            bound[node.name] = e_in
            continue
        if node.op in ("conv", "linear"):
            e = _mac(weights[f"{node.name}.weight"], layer["params"], "", e_in, m_in, layer["frac"])
        elif node.op == "dconv":
            e = _dconv(node, layer, weights, e_in, m_in)
        elif node.op == "deconv":
            e = _deconv(node, layer, weights, e_in, m_in)
        elif node.op == "bn":
            e = _bn(node, layer, weights, e_in, m_in)
        elif node.op == "sigmoid":
            e = e_in / 4 + 2.0**-16 + 2.0**-12 / 8 * 0.1 + q(layer["frac"])
        elif node.op == "add":
            e = sum(errors.values()) + q(layer["frac"])
        elif node.op in (*POINTWISE_GAIN, "leakyrelu", "div", "mul", "sub", "softmax"):
            e = _pointwise(node, errors, maxima, layers) + q(layer["frac"])
        elif node.op == "concat":
            e = max(errors.values()) + q(layer["frac"])
        elif node.op == "upsample" and node.attrs["mode"] == "bilinear":
            e = e_in + 4 * m_in * 2.0**-16 + q(layer["frac"])
        else:  # relu, relu6, pooling, nearest resizing
            e = e_in + q(layer["frac"])
        bound[node.name] = e + 2.0**-20 * maxima[node.name]
    return bound
