"""ONNX import of QuantizeLinear/DequantizeLinear (QDQ), as onnxruntime's
``quantize_static``, PyTorch's exporter of a fake-quantized model and segc
write them.

* A DequantizeLinear of a constant (an integer initializer, or a
  QuantizeLinear of a float one) folds into the float weight it stands for
  (the layer is named after the initializer, as for a float weight);
  the layer using it as its weight gets the width of the words (int8: 8
  bits, int16: 16).  Per-axis scales must lie on the weight's output-channel
  axis (Conv: 0, ConvTranspose: 1, Gemm: 0 with ``transB``, else 1; MatMul:
  1).  A per-tensor weight scale is read too; segc re-exports the weights
  with one scale per output channel (``int`` scheme).
* QuantizeLinear → DequantizeLinear on a tensor folds into the layer that
  computes it: its activation width from the zero point's type (8 or 16
  bits; b bits when a Clip to [−2^(b−1)·s, (2^(b−1)−1)·s] comes first, as
  segc writes below 8 bits), its range r = s · (2^(b−1) − 1) stored as
  ``LAYER.act_range`` with the weights.
* Layers get the ``int`` scheme; a layer with quantized weights whose
  output is not quantized stays float (on the dequantized weights, the
  same values); a layer with weights whose output is quantized but whose
  weights are float gets 16-bit weights.  A model segc wrote carries its
  formats and ranges (metadata ``segc.quant``): those are taken as written.

segc's integers are symmetric and signed: a zero point other than 0 or an
unsigned type is an error naming the node (quantize with symmetric
activations and weights, e.g. ``quantize_static(...,
extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})``),
as is a scale of zero, below zero or not finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from ...ir import Diagnostic, SegError
from ...ir.quant import WEIGHTED_OPS, LayerQuant, option_problem
from ...ir.serialize import decode_json
from ..quant import q_max, range_key
from .importer import _attrs, _Importer

__all__ = ["QUANT_IMPORT", "WEIGHTED_NODES", "apply_formats", "quantized_clip", "record_weight_words"]

_BITS = {np.dtype(np.int8): 8, np.dtype(np.int16): 16, np.dtype(np.int32): 32}
_WIDEST = 16


@dataclass(frozen=True)
class _Words:
    """Integer data a DequantizeLinear turns into floats."""

    bits: int
    axis: int | None  # per-axis scales along this axis, None for one scale
    node: onnx.NodeProto


@dataclass(frozen=True)
class _Activation:
    layer: str
    scale: float
    bits: int
    node: onnx.NodeProto


def _scale(im: _Importer, node: onnx.NodeProto) -> np.ndarray:
    scale = np.asarray(im.constant(node, node.input[1], "the scale"), dtype=np.float64)
    if scale.size == 0 or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise im.fail(node, f"scale {scale.reshape(-1)[:8].tolist()} must be finite and above zero")
    return scale


def _word_type(im: _Importer, node: onnx.NodeProto) -> np.dtype:
    """The type of the integers, from the zero point (or ``output_dtype``);
    the zero point must be 0."""
    if len(node.input) > 2 and node.input[2]:
        zero = np.asarray(im.constant(node, node.input[2], "the zero point"))
        if np.any(zero != 0):
            raise im.fail(node, f"zero point {zero.reshape(-1)[:8].tolist()} is not 0: segc's integers are "
                                "symmetric (quantize with symmetric activations and weights)")
        dtype = zero.dtype
    else:
        code = int(_attrs(node).get("output_dtype", 0)) or onnx.TensorProto.UINT8
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(code))
    return dtype


def _bits(im: _Importer, node: onnx.NodeProto, dtype: np.dtype, allowed: tuple[int, ...]) -> int:
    bits = _BITS.get(np.dtype(dtype))
    if bits not in allowed:
        raise im.fail(node, f"{dtype} words are not supported (signed {' or '.join(f'{b}-bit' for b in allowed)})")
    return bits


def _axis(node: onnx.NodeProto, scale: np.ndarray, rank: int) -> int | None:
    if scale.size == 1:
        return None
    return int(_attrs(node).get("axis", 1)) % max(rank, 1)


def _shaped(scale: np.ndarray, axis: int | None, rank: int) -> np.ndarray:
    if axis is None:
        return scale.reshape(())
    return scale.reshape([-1 if a == axis else 1 for a in range(rank)])


def _dequantize(im: _Importer, node: onnx.NodeProto) -> None:
    state = im.quantized
    source = node.input[0]
    if source in state["pending"]:
        _close_pair(im, node, state["pending"][source])
        return
    if not isinstance(im.constants.get(source), np.ndarray):
        raise im.fail(node, "dequantizes a tensor no QuantizeLinear quantized here")
    words = im.constants[source]
    bits = _bits(im, node, _word_type(im, node) if len(node.input) > 2 and node.input[2] else words.dtype,
                 (8, 16, 32))
    scale = _scale(im, node)
    axis = _axis(node, scale, words.ndim)
    im.constants[node.output[0]] = (words.astype(np.float64) * _shaped(scale, axis, words.ndim)).astype(np.float32)
    state["words"][node.output[0]] = _Words(bits, axis, node)
    origin = state["origin"].get(source, source)  # onnxruntime names the words of W 'W_quantized'
    state["origin"][node.output[0]] = origin[: -len("_quantized")] if origin.endswith("_quantized") else origin


def _quantize(im: _Importer, node: onnx.NodeProto) -> None:
    state = im.quantized
    scale = _scale(im, node)
    dtype = _word_type(im, node)
    bits = _bits(im, node, dtype, (8, 16))
    source = node.input[0]
    if isinstance(im.constants.get(source), np.ndarray):  # a float weight, quantized by the exporter
        values = np.asarray(im.constants[source], dtype=np.float64)
        axis = _axis(node, scale, values.ndim)
        words = np.clip(np.rint(values / _shaped(scale, axis, values.ndim)), -q_max(bits) - 1, q_max(bits))
        im.constants[node.output[0]] = words.astype(dtype)
        state["origin"][node.output[0]] = source
        return
    users = [n for n in im.model.graph.node if node.output[0] in n.input]
    if not users or any(u.op_type != "DequantizeLinear" for u in users):
        raise im.fail(node, "its integers must go to DequantizeLinear (segc computes on the dequantized values)")
    if scale.size != 1:
        raise im.fail(node, "an activation needs one scale (per-tensor), got per-axis scales")
    layer = im.tensor(node, source)
    narrow = state["narrow"].get(source)
    state["pending"][node.output[0]] = _Activation(layer, float(scale.reshape(())), narrow or bits, node)


def _close_pair(im: _Importer, node: onnx.NodeProto, activation: _Activation) -> None:
    """A DequantizeLinear after a QuantizeLinear: the layer's value,
    quantized to the pair's format."""
    scale = _scale(im, node)
    if scale.size != 1 or not np.isclose(float(scale.reshape(-1)[0]), activation.scale, rtol=1e-6, atol=0):
        raise im.fail(node, f"its scale {scale.reshape(-1)[:4].tolist()} differs from its QuantizeLinear's "
                            f"({activation.scale:.9g})")
    _word_type(im, node)
    recorded = im.quantized["activations"].get(activation.layer)
    if recorded is not None and (recorded.bits, recorded.scale) != (activation.bits, activation.scale):
        raise im.fail(node, f"layer '{activation.layer}' is quantized twice, with different formats "
                            f"({recorded.bits} bits, scale {recorded.scale:.9g} at '{recorded.node.name}')")
    im.quantized["activations"][activation.layer] = activation
    im.values[node.output[0]] = activation.layer


def quantized_clip(fallback):
    """Clip lowering: a Clip to the b-bit range of the QuantizeLinear after
    it is that b-bit clamp (no layer); any other Clip goes to ``fallback``."""
    def lower(im: _Importer, node: onnx.NodeProto) -> None:
        bits = _clip_bits(im, node)
        if bits is None:
            fallback(im, node)
            return
        im.quantized["narrow"][node.output[0]] = bits
        im.values[node.output[0]] = im.tensor(node, node.input[0])
    return lower


def _clip_bits(im: _Importer, node: onnx.NodeProto) -> int | None:
    users = [n for n in im.model.graph.node if node.output[0] in n.input]
    if len(users) != 1 or users[0].op_type != "QuantizeLinear" or len(node.input) < 3:
        return None
    bounds = [im.constants.get(v) for v in (node.input[1], node.input[2], users[0].input[1])]
    if not all(isinstance(b, np.ndarray) and b.size == 1 for b in bounds):
        return None
    low, high, scale = (float(b.reshape(())) for b in bounds)
    if scale <= 0 or low >= 0:
        return None
    bits = round(np.log2(-low / scale)) + 1
    fits = 2 <= bits < _WIDEST and np.isclose(-low / scale, 2 ** (bits - 1), rtol=1e-5) \
        and np.isclose(high / scale, q_max(bits), rtol=1e-5)
    return bits if fits else None


_OUTPUT_AXIS = {"Conv": 0, "ConvTranspose": 1, "MatMul": 1}
WEIGHTED_NODES = frozenset({*_OUTPUT_AXIS, "Gemm"})


def record_weight_words(im: _Importer, node: onnx.NodeProto) -> None:
    """After a weighted node became a layer: the width of its weight, if
    quantized, its per-axis scales checked to lie on the output channels."""
    if len(node.input) < 2 or node.input[1] not in im.quantized["words"]:
        return
    layer = _layer_of(im, node)
    words = im.quantized["words"][node.input[1]]
    if words.bits > _WIDEST:
        raise im.fail(words.node, f"{words.bits}-bit words cannot be the weight of {node.op_type} "
                                  f"'{node.name or node.op_type}'")
    axis = _OUTPUT_AXIS.get(node.op_type, 0 if _attrs(node).get("transB", 0) else 1)
    if words.axis is not None and words.axis != axis:
        raise im.fail(words.node, f"per-axis scales on axis {words.axis} of the weight of {node.op_type} "
                                  f"'{node.name or node.op_type}': segc's weights have one scale per output "
                                  f"channel (axis {axis})")
    im.quantized["weights"][layer] = words.bits


def _layer_of(im: _Importer, node: onnx.NodeProto) -> str:
    """The layer a weighted node became (a MatMul's is its bias Add's value)."""
    if node.output[0] in im.values:
        return im.values[node.output[0]]
    add = next(n for n in im.model.graph.node if node.output[0] in n.input)
    return im.values[add.output[0]]


def apply_formats(im: _Importer) -> None:
    """Give the layers their formats and ranges (``Node.quant``,
    ``LAYER.act_range``); a model's ``segc.quant`` metadata wins."""
    state = im.quantized
    formats, ranges = _metadata(im)
    for layer, act in state["activations"].items():
        node = im.graph.node(layer)
        w_bits = state["weights"].get(layer, _WIDEST) if node.op in WEIGHTED_OPS else None
        formats.setdefault(layer, LayerQuant("int", act.bits, w_bits))
        ranges.setdefault(layer, act.scale * q_max(act.bits))
    for layer, quant in formats.items():
        im.graph.replace(im.graph.node(layer).with_(quant=quant))
    for layer, value_range in ranges.items():
        im.weights[range_key(layer)] = np.asarray(value_range, dtype=np.float32)


def _metadata(im: _Importer) -> tuple[dict[str, LayerQuant], dict[str, float]]:
    text = next((p.value for p in im.model.metadata_props if p.key == "segc.quant"), None)
    if text is None:
        return {}, {}
    try:
        data = decode_json(text)
        formats = {name: _checked(LayerQuant(**entry)) for name, entry in data["formats"].items()}
        ranges = {name: float(value) for name, value in data["ranges"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise SegError(Diagnostic(f"metadata 'segc.quant' is not segc's formats and ranges ({err})",
                                  path=im.path)) from None
    unknown = sorted(set(formats).union(ranges) - {n.name for n in im.graph.nodes()})
    if unknown:
        raise SegError(Diagnostic(f"metadata 'segc.quant' names layers the model does not have: "
                                  f"{', '.join(unknown[:8])}", path=im.path))
    return formats, ranges


def _checked(quant: LayerQuant) -> LayerQuant:
    """A format whose values the quantize section would accept; ValueError otherwise."""
    if quant.scheme not in ("fixed", "int"):
        raise ValueError(f"scheme {quant.scheme!r}")
    for name, value in (("a", quant.a_bits), ("w", quant.w_bits), ("a_frac", quant.a_frac), ("w_frac", quant.w_frac)):
        problem = option_problem(name, value) if value is not None or name == "a" else None
        if problem:
            raise ValueError(problem)
    return quant


QUANT_IMPORT = {"QuantizeLinear": _quantize, "DequantizeLinear": _dequantize}
