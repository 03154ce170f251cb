"""Quantized layers in ONNX export: QuantizeLinear/DequantizeLinear (QDQ).

For each layer with a format (``Node.quant``), per the numerics contract of
``backends/quant.py``:

* its weight (conv, deconv, linear) is an integer initializer under its
  ``state_dict`` name and a DequantizeLinear (``LAYER/weight``): ``int``
  with one scale per output channel (``axis`` 0, 1 for ConvTranspose),
  ``fixed`` with the one scale 2^−f; a deformable layer's weight, exported
  by torch's exporter, is stored dequantized (the same float values);
* its output goes through QuantizeLinear → DequantizeLinear with its
  activation scale (``int``: r / q_max, ``fixed``: 2^−f), the layer's value
  keeping its name (the float result is ``LAYER/float``); a network input
  is quantized likewise and its users read ``INPUT/dequantized``.  An
  output layer only passes its operand on and is not quantized again.

Widths: int8 words for b ≤ 8 bits — below 8 a Clip to [−2^(b−1)·s,
(2^(b−1)−1)·s] first, which is the b-bit clamp exactly (the bounds are
integer multiples of s) —, int16 words (opset 21) for 9–16 bits.
The bias of an ``int`` conv, deconv or linear layer whose input is
quantized is int32 words in the units of its sum, s_c·s_x (the weight's
scale times the input's), and a DequantizeLinear (``LAYER/bias``), as
onnxruntime's ``quantize_static`` writes it; other biases, batch norms and
other parameters stay float.

The range r of a layer's output is read from the weights
(``LAYER.act_range``).  Ranges that are missing are calibrated as the HLS
backend does: the largest |value| of the float network on a standard
normal input drawn from the seed, here run in onnxruntime.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from onnx import TensorProto, helper

from ...ir import Diagnostic, Graph, Node, SegError
from ...ir.quant import LayerQuant
from ..quant import (
    INT_BIAS_OPS,
    RANGE_SUFFIX,
    bias_scales,
    bias_words,
    dequantize,
    fixed_frac,
    int_scale,
    q_max,
    quantize,
    range_key,
    weight_axis,
    weight_scales,
)

__all__ = ["QUANT_OPSET", "activation_qdq", "activation_scales", "bias_input_scale", "bias_qdq",
           "calibrated_ranges", "dequantized_dconv_weights", "needs_wide_words", "quantized_layers", "split_ranges",
           "stored_ranges", "weight_qdq"]

QUANT_OPSET, QUANT_IR_VERSION = 21, 10  # int16 QuantizeLinear/DequantizeLinear
_NOT_QUANTIZED = ("output",)  # pass their operand on: quantized by its producer


def quantized_layers(graph: Graph) -> dict[str, LayerQuant]:
    """The layers whose output is quantized, with their formats."""
    return {n.name: n.quant for n in graph.nodes() if n.quant is not None and n.op not in _NOT_QUANTIZED}


def needs_wide_words(graph: Graph) -> bool:
    """Whether some quantized tensor is wider than 8 bits (int16 words)."""
    return any(q.a_bits > 8 or (q.w_bits or 0) > 8 for q in quantized_layers(graph).values())


def split_ranges(weights) -> tuple[object, dict[str, np.ndarray]]:
    """(the weights without activation ranges, the ranges as float32 arrays)
    of a state_dict-like mapping; anything else is returned as it is."""
    if not isinstance(weights, Mapping):
        return weights, {}
    ranges = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items() if k.endswith(RANGE_SUFFIX)}
    return {k: v for k, v in weights.items() if k not in ranges}, ranges


def _words(bits: int) -> type:
    """The numpy type of b-bit words in ONNX: int8 up to 8 bits, else int16."""
    return np.int8 if bits <= 8 else np.int16


def _error(layer: str, message: str) -> SegError:
    return SegError(Diagnostic(f"layer '{layer}': {message}"))


def _fixed_scale(layer: str, what: str, frac: int | None, value_range: float, bits: int) -> float:
    """2^−f, f given or the most fraction bits that hold the range in b bits."""
    if frac is None:
        frac = fixed_frac(value_range, bits)
    if frac is None:
        raise _error(layer, f"its {what} range {value_range:.6g} does not fit {bits}-bit fixed point")
    return 2.0 ** -frac


def _weight_words(node: Node, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(integer words, float32 scales, per-channel axis or None) of a layer's weight."""
    quant = node.quant
    bits = quant.w_bits
    if quant.scheme == "int":
        axis = weight_axis(node.op)
        scales = weight_scales(weight, bits, axis).astype(np.float32)
        return quantize(weight, scales, bits, axis), scales, axis
    largest = float(np.max(np.abs(weight))) if weight.size else 0.0
    scale = np.float32(_fixed_scale(node.name, "weight", quant.w_frac, largest, bits))
    return quantize(weight, scale, bits), np.asarray(scale), None


def dequantized_dconv_weights(graph: Graph, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights with each quantized deformable layer's weight replaced by
    its dequantized values (torch's exporter writes that layer in float)."""
    result = dict(weights)
    for node in graph.nodes():
        if node.op == "dconv" and node.quant is not None and node.quant.w_bits is not None:
            key = f"{node.name}.weight"
            words, scales, axis = _weight_words(node, np.asarray(weights[key], dtype=np.float32))
            result[key] = dequantize(words, scales, axis).astype(np.float32)
    return result


def weight_qdq(emitter, node: Node, key: str) -> str:
    """A quantized weight: integer initializer ``key`` → DequantizeLinear;
    the float value's name."""
    words, scales, axis = _weight_words(node, np.asarray(emitter.weights[key], dtype=np.float32))
    dtype = _words(node.quant.w_bits)
    scale = emitter.constant(f"{node.name}/weight_scale", scales, np.float32)
    zero = emitter.constant(f"{node.name}/weight_zero", np.zeros(scales.shape), dtype)
    emitter.constant(key, words, dtype)
    extra = {} if axis is None else {"axis": axis}
    return emitter.node("DequantizeLinear", [key, scale, zero], f"{node.name}/weight", f"{node.name}/weight_dequantize",
                        **extra)


def bias_input_scale(node: Node, scales: Mapping[str, float]) -> float | None:
    """The scale of the quantized input whose units an ``int`` layer's bias
    takes; None where the bias stays float."""
    quant = node.quant
    if node.op not in INT_BIAS_OPS or quant is None or quant.scheme != "int" or not node.attrs.get("bias"):
        return None
    return scales.get(node.inputs[0])


def bias_qdq(emitter, node: Node, key: str, input_scale: float) -> str:
    """A quantized bias: int32 initializer ``key`` → DequantizeLinear with the
    scales s_c·s_x (axis 0); the float value's name."""
    weight = np.asarray(emitter.weights[f"{node.name}.weight"], dtype=np.float32)
    bias = np.asarray(emitter.weights[key], dtype=np.float32)
    scales = bias_scales(_weight_words(node, weight)[1], input_scale, bias.size)
    scale = emitter.constant(f"{node.name}/bias_scale", scales, np.float32)
    zero = emitter.constant(f"{node.name}/bias_zero", np.zeros(scales.shape), np.int32)
    emitter.constant(key, bias_words(bias, scales), np.int32)
    return emitter.node("DequantizeLinear", [key, scale, zero], f"{node.name}/bias", f"{node.name}/bias_dequantize",
                        axis=0)


def activation_scales(graph: Graph, ranges: Mapping[str, float]) -> dict[str, float]:
    """Each quantized layer's activation scale from its output's range."""
    scales = {}
    for layer, quant in quantized_layers(graph).items():
        value_range = float(ranges.get(layer, math.nan))
        if quant.scheme == "int":
            try:
                scales[layer] = int_scale(value_range, quant.a_bits, f"layer '{layer}'")
            except ValueError as err:
                raise SegError(Diagnostic(str(err))) from None
        else:
            scales[layer] = _fixed_scale(layer, "output", quant.a_frac, value_range, quant.a_bits)
    return scales


def stored_ranges(graph: Graph, weights: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The ranges the weights hold for quantized layers, checked to be one
    finite number each."""
    ranges = {}
    for layer in quantized_layers(graph):
        value = weights.get(range_key(layer))
        if value is None:
            continue
        array = np.asarray(value, dtype=np.float64)
        if array.size != 1 or not np.isfinite(array).all():
            raise _error(layer, f"'{range_key(layer)}' must be one finite number, got {array.tolist()!r}")
        ranges[layer] = float(array.reshape(()))
    return ranges


def activation_qdq(emitter, node: Node, source: str, result: str, scale: float) -> None:
    """``source`` → [Clip →] QuantizeLinear → DequantizeLinear → ``result``,
    with the layer's activation scale and width."""
    bits = node.quant.a_bits
    dtype = _words(bits)
    name = node.name
    scale_value = emitter.constant(f"{name}/scale", np.float32(scale), np.float32)
    zero = emitter.constant(f"{name}/zero", 0, dtype)
    if bits not in (8, 16):
        low, high = (emitter.constant(f"{name}/{what}", np.float32(bound * np.float32(scale)), np.float32)
                     for what, bound in (("low", -q_max(bits) - 1), ("high", q_max(bits))))
        source = emitter.node("Clip", [source, low, high], f"{name}/clipped", f"{name}/clip")
    words = emitter.node("QuantizeLinear", [source, scale_value, zero], f"{name}/quantized", f"{name}/quantize")
    emitter.node("DequantizeLinear", [words, scale_value, zero], result, f"{name}/dequantize")


def calibrated_ranges(graph: Graph, nodes: list, initializers: list, layers: list[str], seed: int) -> dict[str, float]:
    """The largest |value| of each of ``layers``' outputs in the float model
    (``nodes``, ``initializers``: the network lowered without quantization),
    run in onnxruntime on a standard normal input drawn from ``seed`` (the
    HLS backend's default input)."""
    import onnxruntime

    inputs = [helper.make_tensor_value_info(n.name, TensorProto.FLOAT, ["N", *n.shape]) for n in graph.inputs]
    fed = {n.name for n in graph.inputs}
    computed = [layer for layer in layers if layer not in fed]
    outputs = [helper.make_tensor_value_info(layer, TensorProto.FLOAT, None) for layer in computed]
    body = helper.make_graph(nodes, "calibration", inputs, outputs, initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    rng = np.random.default_rng(seed)
    feed = {n.name: rng.standard_normal((1, *n.shape)).astype(np.float32) for n in graph.inputs}
    values = dict(feed)
    if computed:
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        values.update(zip(computed, session.run(computed, feed)))
    return {layer: float(np.max(np.abs(values[layer]))) for layer in layers}
