"""ONNX export, emitted directly from the IR (opset 17, IR version 8).

Why not ``torch.onnx.export``: tracing the generated module folds batch
norm into the convolutions and names nodes after module classes
(``/conv_1/Conv``), losing the IR's names; and its behaviour changes from
one torch release to the next.  Emitting from the IR gives every node the
name of its layer (helper nodes are ``LAYER/what``), every initializer its
``state_dict`` name (``layer1.0.conv1.weight``), keeps batch norm, and is
deterministic.  The price is a second lowering table, kept honest by tests
that run every example in onnxruntime against the torch module.

Deformable layers are the exception: their sampling is many small ops, so
each is exported alone from ``backends/torch/deform.py`` with torch's exporter
and spliced in under the layer's name; the model's ``segc.dconv`` metadata
keeps each one's attributes, variant and ``deform`` annotation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...ir import Graph, Node, check_names, conv_pads
from ...ir.dconv_plan import dconv_variant
from ...ir.ops_pointwise import output_shape
from ...ir.quant import WEIGHTED_OPS
from . import export_quant as qdq
from .export_pointwise import POINTWISE_ONNX, flatten_outputs

__all__ = ["ONNX_LOWERING", "OPSET", "to_onnx"]

OPSET, IR_VERSION = 17, 8
DEFORM_KEY, QUANT_KEY = "segc.dconv", "segc.quant"


class _Emitter:
    def __init__(self, graph: Graph, weights: Mapping[str, np.ndarray], quantized: bool = False,
                 opset: int = OPSET):
        self.graph = graph
        self.weights = weights
        self.quantized = quantized  # weights of layers with a format as integers + DequantizeLinear
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.input_aliases: dict[str, str] = {}  # quantized network input -> its dequantized value
        self.activation_scales: Mapping[str, float] = {}  # quantized layer -> its output's scale

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def weight(self, key: str) -> str:
        layer, _, what = key.rpartition(".")
        node = self.graph.node(layer) if self.quantized and layer in self.graph else None
        if node is not None and what == "weight" and node.op in WEIGHTED_OPS and node.quant is not None \
                and node.quant.w_bits:
            return qdq.weight_qdq(self, node, key)
        if node is not None and what == "bias":
            input_scale = qdq.bias_input_scale(node, self.activation_scales)
            if input_scale is not None:
                return qdq.bias_qdq(self, node, key, input_scale)
        array = np.asarray(self.weights[key], dtype=np.float32)
        self.initializers.append(numpy_helper.from_array(array, key))
        return key

    def constant(self, name: str, values, dtype=np.int64) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name


def _pads(attrs) -> list[int]:
    ph, pw = conv_pads(attrs)
    return [ph, pw, ph, pw]


def _conv(e: _Emitter, n: Node) -> None:
    a = n.attrs
    inputs = [n.inputs[0], e.weight(f"{n.name}.weight")] + ([e.weight(f"{n.name}.bias")] if a["bias"] else [])
    e.node("Conv", inputs, n.name, n.name, kernel_shape=list(a["k"]), strides=list(a["stride"]),
           dilations=list(a["dilation"]), pads=_pads(a), group=a["groups"])


def _deconv(e: _Emitter, n: Node) -> None:
    a = n.attrs
    inputs = [n.inputs[0], e.weight(f"{n.name}.weight")] + ([e.weight(f"{n.name}.bias")] if a["bias"] else [])
    e.node("ConvTranspose", inputs, n.name, n.name, kernel_shape=list(a["k"]), strides=list(a["stride"]),
           dilations=list(a["dilation"]), pads=[*a["padding"], *a["padding"]],
           output_padding=list(a["output_padding"]), group=a["groups"])


def _slice(e: _Emitter, n: Node) -> None:
    a = n.attrs
    bounds = [e.constant(f"{n.name}/{what}", [v]) for what, v in (("starts", a["start"]), ("ends", a["end"]),
                                                                    ("axes", 1))]
    e.node("Slice", [n.inputs[0], *bounds], n.name, n.name)


def _shuffle(e: _Emitter, n: Node) -> None:
    """Reshape to [N, g, C/g, H, W], swap g and C/g, reshape back: the pattern
    torch's exporter writes for a channel shuffle (and the import recognises)."""
    c, h, w = n.shape
    g = n.attrs["groups"]
    grouped = e.node("Reshape", [n.inputs[0], e.constant(f"{n.name}/grouped_shape", [0, g, c // g, h, w])],
                     f"{n.name}/grouped", f"{n.name}/grouped")
    swapped = e.node("Transpose", [grouped], f"{n.name}/swapped", f"{n.name}/swapped", perm=[0, 2, 1, 3, 4])
    e.node("Reshape", [swapped, e.constant(f"{n.name}/shape", [0, c, h, w])], n.name, n.name)


def _bn(e: _Emitter, n: Node) -> None:
    keys = [f"{n.name}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
    e.node("BatchNormalization", [n.inputs[0], *map(e.weight, keys)], n.name, n.name, epsilon=n.attrs["eps"])


def _pool(e: _Emitter, n: Node) -> None:
    a = n.attrs
    if a.get("global"):
        e.node("GlobalAveragePool", [n.inputs[0]], n.name, n.name)
        return
    op, extra = ("MaxPool", {}) if n.op == "maxpool" else ("AveragePool", {"count_include_pad": 1})
    e.node(op, [n.inputs[0]], n.name, n.name, kernel_shape=list(a["k"]), strides=list(a["stride"]),
           pads=_pads({**a, "dilation": (1, 1)}), ceil_mode=int(a["ceil"]), **extra)


def _upsample(e: _Emitter, n: Node) -> None:
    a = n.attrs
    mode = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    if a["mode"] == "bilinear":
        corners = "align_corners" if a["align_corners"] else "pytorch_half_pixel"
        mode = {"mode": "linear", "coordinate_transformation_mode": corners}
    if a["scale"] is not None:
        scales = e.constant(f"{n.name}/scales", [1.0, 1.0, *a["scale"]], np.float32)
        e.node("Resize", [n.inputs[0], "", scales], n.name, n.name, **mode)
        return
    # sizes = [N, C] of the input and [H, W] of the reference: upsample(to=reference)
    batch = e.node("Shape", [n.inputs[0]], f"{n.name}/shape", f"{n.name}/shape", end=2)
    size = e.node("Shape", [n.inputs[1]], f"{n.name}/to_shape", f"{n.name}/to_shape", start=2)
    sizes = e.node("Concat", [batch, size], f"{n.name}/sizes", f"{n.name}/sizes", axis=0)
    e.node("Resize", [n.inputs[0], "", "", sizes], n.name, n.name, **mode)


def _linear(e: _Emitter, n: Node) -> None:
    flat = e.node("Flatten", [n.inputs[0]], f"{n.name}/flatten", f"{n.name}/flatten", axis=1)
    inputs = [flat, e.weight(f"{n.name}.weight")] + ([e.weight(f"{n.name}.bias")] if n.attrs["bias"] else [])
    gemm = e.node("Gemm", inputs, f"{n.name}/gemm", n.name, transB=1)
    e.node("Reshape", [gemm, e.constant(f"{n.name}/nchw", [0, -1, 1, 1])], n.name, f"{n.name}/reshape")


def _simple(op: str, **attrs) -> Callable[[_Emitter, Node], None]:
    def lower(e: _Emitter, n: Node) -> None:
        e.node(op, list(n.inputs), n.name, n.name, **attrs)
    return lower


def _relu6(e: _Emitter, n: Node) -> None:
    low, high = (e.constant(f"{n.name}/{b}", v, np.float32) for b, v in (("min", 0.0), ("max", 6.0)))
    e.node("Clip", [n.inputs[0], low, high], n.name, n.name)


def _flatten(e: _Emitter, n: Node) -> None:
    e.node("Reshape", [n.inputs[0], e.constant(f"{n.name}/nchw", [0, -1, 1, 1])], n.name, n.name)


def _dconv(e: _Emitter, n: Node) -> None:
    from .deform import splice_dconv

    splice_dconv(e, n)


def _output(e: _Emitter, n: Node) -> None:
    if n.output_name != n.inputs[0]:  # else the layer's value is the graph output itself
        e.node("Identity", [n.inputs[0]], n.output_name, n.name)


ONNX_LOWERING: dict[str, Callable[[_Emitter, Node], None] | None] = {
    "input": None,
    "output": _output,
    "conv": _conv,
    "dconv": _dconv,
    "bn": _bn,
    "relu": _simple("Relu"),
    "relu6": _relu6,
    "sigmoid": _simple("Sigmoid"),
    "identity": _simple("Identity"),
    "maxpool": _pool,
    "avgpool": _pool,
    "upsample": _upsample,
    "add": _simple("Sum"),
    "concat": _simple("Concat", axis=1),
    "flatten": _flatten,
    "linear": _linear,
    "deconv": _deconv,
    "slice": _slice,
    "shuffle": _shuffle,
    **POINTWISE_ONNX,
}


def _value(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape])


def _rename_clashes(graph: Graph, nodes: list[onnx.NodeProto]) -> None:
    """A layer named like an output it does not feed gets value LAYER/value."""
    clashes = {n.output_name for n in graph.outputs if n.output_name != n.inputs[0] and n.output_name in graph}
    rename = {name: f"{name}/value" for name in clashes}
    for node in nodes:
        is_output = node.op_type == "Identity" and node.name.startswith("output.")
        node.input[:] = [rename.get(v, v) for v in node.input]
        if not is_output:
            node.output[:] = [rename.get(v, v) for v in node.output]


def _deform_metadata(node: Node) -> dict:
    """A deformable layer as segc's import rebuilds it: operands, attributes
    (with the variant exported) and the deform pass's annotation, if any."""
    attrs = {**node.attrs, **dconv_variant(node)}
    entry = {"inputs": list(node.inputs),
             "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items()}}
    if "deform" in node.annotations:
        entry["deform"] = dict(node.annotations["deform"])
    return entry


def _lowered(graph: Graph, weights: Mapping[str, np.ndarray], scales: Mapping[str, float],
             opset: int = OPSET) -> _Emitter:
    """Every layer lowered; the layers in ``scales`` quantized (weights and
    output, see ``export_quant``), the others in float."""
    emitter = _Emitter(graph, weights, bool(scales), opset)
    emitter.activation_scales = scales
    for node in graph.nodes():
        start = len(emitter.nodes)
        lower = ONNX_LOWERING[node.op]
        if lower is not None:
            lower(emitter, node)
        if node.name in scales:
            _quantize_output(emitter, node, start, scales[node.name])
    return emitter


def _quantize_output(e: _Emitter, node: Node, start: int, scale: float) -> None:
    """QDQ after a layer: its float result becomes ``LAYER/float``; an
    input's users (emitted later) read ``INPUT/dequantized``."""
    if node.op == "input":
        qdq.activation_qdq(e, node, node.name, f"{node.name}/dequantized", scale)
        e.input_aliases[node.name] = f"{node.name}/dequantized"
        return
    for proto in e.nodes[start:]:
        proto.output[:] = [f"{node.name}/float" if v == node.name else v for v in proto.output]
    qdq.activation_qdq(e, node, f"{node.name}/float", node.name, scale)


def _read_quantized_inputs(e: _Emitter) -> None:
    own = {f"{layer}/{what}" for layer in e.input_aliases for what in ("clip", "quantize")}
    for proto in e.nodes:
        if proto.name not in own:
            proto.input[:] = [e.input_aliases.get(v, v) for v in proto.input]


def _scales(graph: Graph, weights: Mapping[str, np.ndarray], seed: int) -> tuple[dict[str, float], dict]:
    """(activation scale per quantized layer, the ranges they come from):
    ranges from the weights, those missing calibrated on the float network."""
    layers = qdq.quantized_layers(graph)
    ranges = qdq.stored_ranges(graph, weights)
    missing = [name for name in layers if name not in ranges]
    if missing:
        float_model = _lowered(graph, weights, {})
        ranges.update(qdq.calibrated_ranges(graph, float_model.nodes, float_model.initializers, missing, seed))
    return qdq.activation_scales(graph, ranges), ranges


def _quant_metadata(graph: Graph, ranges: Mapping[str, float]) -> str:
    """Every layer's format and its output's range, for segc's import."""
    formats = {n.name: n.quant.to_json() for n in graph.nodes() if n.quant is not None}
    return json.dumps({"formats": formats, "ranges": dict(ranges)}, sort_keys=True, allow_nan=False)


def to_onnx(graph: Graph, weights: Mapping[str, np.ndarray], seed: int = 0) -> onnx.ModelProto:
    """The ONNX model of a graph with its weights (a state_dict as arrays,
    with ``LAYER.act_range`` entries for quantized layers: those missing are
    calibrated on a standard normal input from ``seed``).
    Its names must be valid (``ir.names``): ONNX value names carry meaning
    (``""`` is an absent input, ``LAYER/what`` a helper's value)."""
    check_names(graph)
    scales, ranges = _scales(graph, weights, seed) if qdq.quantized_layers(graph) else ({}, {})
    wide = qdq.needs_wide_words(graph)
    opset, ir_version = (qdq.QUANT_OPSET, qdq.QUANT_IR_VERSION) if wide else (OPSET, IR_VERSION)
    emitter = _lowered(graph, qdq.dequantized_dconv_weights(graph, weights) if scales else weights, scales, opset)
    _read_quantized_inputs(emitter)
    _rename_clashes(graph, emitter.nodes)
    flatten_outputs(graph, emitter.nodes)
    inputs = [_value(n.name, n.shape) for n in graph.inputs]
    outputs = [_value(n.output_name, output_shape(graph, n)) for n in graph.outputs]
    body = helper.make_graph(emitter.nodes, graph.name, inputs, outputs, emitter.initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version,
                              producer_name="segc")
    deform = {n.name: _deform_metadata(n) for n in graph.nodes() if n.op == "dconv"}
    props = {}
    if deform:  # lets segc's import rebuild its deformable layers (ONNX has no such op at opset 17)
        props[DEFORM_KEY] = json.dumps(deform, sort_keys=True, allow_nan=False)
    if scales:  # lets segc's import give back the formats as written (fixed point, given fraction bits)
        props[QUANT_KEY] = _quant_metadata(graph, ranges)
    if props:
        helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model
