"""The lowering table of ONNX import: one function per supported ONNX op,
turning a node into IR layers, weights, aliases or folded constants."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ...ir.ops_pointwise import is_flat
from .import_channels import CHANNEL_OPS
from .import_checks import expect_shape, symmetric_pads
from .import_deform import DEFORM_OPS, conv_window, offset_branch_only, vector
from .import_pointwise import POINTWISE_IMPORT
from .import_quant import QUANT_IMPORT, quantized_clip
from .importer import _attrs, _Importer, _ShapeOf

__all__ = ["SUPPORTED"]

_MATRIX_OPS = ("Gemm", "MatMul")


def _f32(value) -> float:
    """A float32 from ONNX as the shortest decimal that is that float32 (1e-5, not 9.99999974e-06)."""
    return float(str(np.float32(value)))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _consumers(im: _Importer, value: str) -> list[onnx.NodeProto]:
    return im.users.get(value, [])


def _alias(im: _Importer, node: onnx.NodeProto) -> None:
    im.values[node.output[0]] = im.tensor(node, node.input[0])


def _conv(im: _Importer, node: onnx.NodeProto) -> None:
    if offset_branch_only(im, node):
        return  # a DeformConv's offset branch: part of that layer (import_deform)
    x = im.tensor(node, node.input[0])
    weight = im.constant(node, node.input[1], "the weight")
    bias = len(node.input) > 2 and node.input[2] != ""
    name = im.layer_name(node, node.input[1])
    attrs = {**conv_window(im, node, weight), "bias": bias}
    im.values[node.output[0]] = im.add(name, "conv", [x], attrs, node)
    in_channels = im.graph.node(x).shape.c // attrs["groups"]
    expect_shape(im.path, node, weight, "the weight", [attrs["out"], in_channels, *attrs["k"]])
    im.weights[f"{name}.weight"] = weight
    if bias:
        im.weights[f"{name}.bias"] = vector(im, node, node.input[2], "the bias", attrs["out"])


def _bn(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.tensor(node, node.input[0])
    name = im.layer_name(node, node.input[1])
    im.values[node.output[0]] = im.add(name, "bn", [x], {"eps": _f32(_attrs(node).get("epsilon", 1e-5))}, node)
    for key, value in zip(("weight", "bias", "running_mean", "running_var"), node.input[1:5]):
        im.weights[f"{name}.{key}"] = vector(im, node, value, f"batch norm's {key}", im.graph.node(x).shape.c)


def _unary(op: str):
    def lower(im: _Importer, node: onnx.NodeProto) -> None:
        x = im.tensor(node, node.input[0])
        im.values[node.output[0]] = im.add(im.layer_name(node), op, [x], {}, node)
    return lower


def _bound(im: _Importer, node: onnx.NodeProto, index: int, attr: str, default: float) -> float:
    if len(node.input) > index and node.input[index]:
        bound = im.constant(node, node.input[index], f"Clip's {attr}")
        if bound.size != 1:
            raise im.fail(node, f"Clip's {attr} must be a single number, got shape {list(bound.shape)}")
        return float(bound.reshape(()))
    return float(_attrs(node).get(attr, default))


def _clip(im: _Importer, node: onnx.NodeProto) -> None:
    low, high = _bound(im, node, 1, "min", -np.inf), _bound(im, node, 2, "max", np.inf)
    op = "relu6" if (low, high) == (0.0, 6.0) else "relu" if (low, high) == (0.0, np.inf) else None
    if op is None:  # any other range: a clip layer (an infinite bound is left open)
        x = im.tensor(node, node.input[0])
        attrs = {"min": _f32(low) if np.isfinite(low) else None, "max": _f32(high) if np.isfinite(high) else None}
        im.values[node.output[0]] = im.add(im.layer_name(node), "clip", [x], attrs, node)
        return
    _unary(op)(im, node)


def _pool(op: str):
    def lower(im: _Importer, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        if "kernel_shape" not in a:
            raise im.fail(node, "the attribute 'kernel_shape' is missing")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise im.fail(node, "dilated pooling is not supported")
        pads = symmetric_pads(im.path, node, list(a.get("pads", [0, 0, 0, 0])))
        if op == "avgpool" and not a.get("count_include_pad", 0) and any(pads):
            raise im.fail(node, "average pooling that leaves the padding out of the average is not supported")
        attrs = {"k": list(a["kernel_shape"]), "stride": list(a.get("strides", [1, 1])), "padding": pads,
                 "ceil": bool(a.get("ceil_mode", 0))}
        im.values[node.output[0]] = im.add(im.layer_name(node), op, [im.tensor(node, node.input[0])], attrs, node)
    return lower


def _global_pool(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.tensor(node, node.input[0])
    im.values[node.output[0]] = im.add(im.layer_name(node), "avgpool", [x], {"global": True}, node)


def _resize_mode(im: _Importer, node: onnx.NodeProto) -> dict:
    a = _attrs(node)
    mode = _text(a.get("mode", "nearest"))
    transform = _text(a.get("coordinate_transformation_mode", "half_pixel"))
    if mode == "nearest" and (transform, _text(a.get("nearest_mode", "round_prefer_floor"))) == ("asymmetric",
                                                                                                 "floor"):
        return {"mode": "nearest"}
    if mode == "linear" and transform in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return {"mode": "bilinear", "align_corners": transform == "align_corners"}
    raise im.fail(node, f"Resize mode '{mode}' with '{transform}' coordinates is not supported")


def _resize(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.tensor(node, node.input[0])
    attrs = _resize_mode(im, node)
    inputs = list(node.input) + [""] * 4
    scales_name, sizes_name = (inputs[1], "") if node.op_type == "Upsample" else (inputs[2], inputs[3])
    sizes = im.constants.get(sizes_name) if sizes_name else None
    operands = [x]
    shape = im.graph.node(x).shape
    if isinstance(sizes, list) and isinstance(sizes[-1], _ShapeOf) and _spatial(sizes[-1]):
        operands.append(im.tensor(node, sizes[-1].tensor))  # upsample to the size of that tensor
    elif sizes is not None:
        last = im.static(sizes_name).reshape(-1)[-2:]
        attrs["scale"] = [float(last[0]) / shape.h, float(last[1]) / shape.w]
    else:
        scales = _static(im, node, scales_name, "the scales") if scales_name else _attrs(node).get("scales")
        attrs["scale"] = [_f32(scales[2]), _f32(scales[3])]
    im.values[node.output[0]] = im.add(im.layer_name(node), "upsample", operands, attrs, node)


def _spatial(part: _ShapeOf) -> bool:
    """``Shape(t)[2:4]``: the height and width of t."""
    return part.start in (2, -2) and part.end in (4, None)


def _static(im: _Importer, node: onnx.NodeProto, value: str, what: str) -> np.ndarray:
    """A folded value as numbers (a constant or computed shape)."""
    found = im.static(value)
    if found is None:
        raise im.fail(node, f"{what} must be a constant")
    return found


def _sum(im: _Importer, node: onnx.NodeProto) -> None:
    if node.op_type == "Add" and any(isinstance(im.constants.get(v), np.ndarray) for v in node.input):
        raise im.fail(node, "adding a constant is not supported (only as the bias of a MatMul)")
    inputs = [im.tensor(node, v) for v in node.input]
    im.values[node.output[0]] = im.add(im.layer_name(node), "add", inputs, {}, node)


def _concat(im: _Importer, node: onnx.NodeProto) -> None:
    if all(v in im.constants for v in node.input):  # shape arithmetic
        parts: list = []
        for v in node.input:
            value = im.constants[v]
            parts.extend(value if isinstance(value, list) else [value])
        im.constants[node.output[0]] = parts
        return
    if int(_attrs(node).get("axis", 1)) not in (1, -3):
        raise im.fail(node, "only concatenation along channels (axis 1) is supported")
    inputs = [im.tensor(node, v) for v in node.input]
    im.values[node.output[0]] = im.add(im.layer_name(node), "concat", inputs, {}, node)


def _linear(im: _Importer, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise im.fail(node, "only Gemm with alpha = beta = 1 and an untransposed input is supported")
    x = im.tensor(node, node.input[0])
    matrix = im.constant(node, node.input[1], "the weight")
    expect_shape(im.path, node, matrix, "the weight", [None, None])
    weight = matrix if node.op_type == "Gemm" and a.get("transB", 0) else matrix.T  # as [out, in]
    bias_value, output = _bias(im, node)
    name = im.layer_name(node, node.input[1])
    im.values[output] = im.add(name, "linear", [x], {"out": int(weight.shape[0]), "bias": bias_value is not None},
                               node)
    im.rank2.add(output)
    expect_shape(im.path, node, weight, "the weight (as [out, in])", [weight.shape[0], im.graph.node(x).shape.c])
    im.weights[f"{name}.weight"] = np.ascontiguousarray(weight)
    if bias_value is not None:
        bias = np.asarray(bias_value).reshape(-1)
        expect_shape(im.path, node, bias, "the bias (flattened)", [weight.shape[0]])
        im.weights[f"{name}.bias"] = bias


def _bias(im: _Importer, node: onnx.NodeProto):
    """(bias or None, the value the layer's result stands for)."""
    if node.op_type == "Gemm":
        has = len(node.input) > 2 and node.input[2] != ""
        return (im.constant(node, node.input[2], "the bias") if has else None), node.output[0]
    users = _consumers(im, node.output[0])
    if len(users) == 1 and users[0].op_type == "Add":
        other = [v for v in users[0].input if v != node.output[0]]
        if len(other) == 1 and isinstance(im.constants.get(other[0]), np.ndarray):
            im.skip.add(users[0].output[0])
            return im.constants[other[0]], users[0].output[0]
    return None, node.output[0]


def _flatten(im: _Importer, node: onnx.NodeProto) -> None:
    source = node.input[0]
    if source in im.rank2 or (source in im.values and is_flat(im.graph, im.values[source])):
        # a [N, F] matrix (after a linear layer) viewed either way: the IR keeps it as [F, 1, 1]
        _alias(im, node)
        return
    if node.op_type == "Reshape":
        target = im.static(node.input[1])
        if target is None or not (len(target) == 2 or (len(target) == 4 and list(target[2:]) == [1, 1])):
            raise im.fail(node, "only a Reshape that flattens before a classifier is supported")
        two_d = len(target) == 2
    else:
        two_d = True
    x = im.tensor(node, source)
    shape = im.graph.node(x).shape
    users = _consumers(im, node.output[0])
    if two_d and (shape.h, shape.w) == (1, 1) and users and all(u.op_type in _MATRIX_OPS for u in users):
        _alias(im, node)  # the implicit 2-D view a matrix product needs
    else:
        im.values[node.output[0]] = im.add(im.layer_name(node), "flatten", [x], {}, node)
    if two_d:
        im.rank2.add(node.output[0])


def _unsqueeze(im: _Importer, node: onnx.NodeProto) -> None:
    if node.input[0] in im.constants:
        _fold(im, node)
    elif node.input[0] in im.rank2:
        _alias(im, node)
    else:
        raise im.fail(node, "Unsqueeze of a feature map is not supported")


def _constant(im: _Importer, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if "value" in a:
        im.constants[node.output[0]] = numpy_helper.to_array(a["value"])
    elif "value_float" in a or "value_int" in a:
        im.constants[node.output[0]] = np.asarray(a.get("value_float", a.get("value_int")))
    elif "value_floats" in a or "value_ints" in a:
        im.constants[node.output[0]] = np.asarray(a.get("value_floats", a.get("value_ints")))
    else:
        raise im.fail(node, "this kind of Constant is not supported")


def _shape(im: _Importer, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    if node.input[0] not in im.constants:
        im.tensor(node, node.input[0])  # a value segc follows, whose shape is known
    end = a.get("end")
    im.constants[node.output[0]] = _ShapeOf(node.input[0], int(a.get("start", 0)), None if end is None else int(end))


def _fold(im: _Importer, node: onnx.NodeProto) -> None:
    """Arithmetic on constants and shapes, evaluated on the static shapes."""
    if node.input[0] not in im.constants:
        raise im.fail(node, f"{node.op_type} of a feature map is not supported")
    value = im.static(node.input[0])
    a = _attrs(node)
    if node.op_type == "Cast":
        result = value.astype(onnx.helper.tensor_dtype_to_np_dtype(int(a["to"])))
    elif node.op_type == "Gather":
        result = np.take(value, _static(im, node, node.input[1], "the indices"), axis=int(a.get("axis", 0)))
    elif node.op_type in ("Unsqueeze", "Squeeze"):
        axes = a.get("axes") or (list(_static(im, node, node.input[1], "axes")) if len(node.input) > 1 else None)
        result = _unsqueezed(value, axes) if node.op_type == "Unsqueeze" else np.squeeze(
            value, tuple(int(x) for x in axes) if axes else None)
    else:  # Slice
        result = value[_slices(im, node, value.ndim)]
    im.constants[node.output[0]] = np.asarray(result)


def _unsqueezed(value: np.ndarray, axes) -> np.ndarray:
    rank = value.ndim + len(axes)
    return np.expand_dims(value, tuple(sorted(int(x) % rank for x in axes)))


def _slices(im: _Importer, node: onnx.NodeProto, rank: int) -> tuple:
    """ONNX Slice's starts, ends, axes and steps as a numpy index."""
    inputs = [*node.input, "", ""]
    starts, ends = (_static(im, node, inputs[i], what) for i, what in ((1, "starts"), (2, "ends")))
    axes = _static(im, node, inputs[3], "axes") if inputs[3] else range(len(starts))
    steps = _static(im, node, inputs[4], "steps") if inputs[4] else [1] * len(starts)
    index = [slice(None)] * rank
    for axis, start, end, step in zip(axes, starts, ends, steps):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return tuple(index)


def _identity(im: _Importer, node: onnx.NodeProto) -> None:
    """A pass-through: of a constant (an exporter's wrapped initializer) or a tensor."""
    if node.input[0] in im.constants:
        im.constants[node.output[0]] = im.constants[node.input[0]]
    else:
        _alias(im, node)


fold = _fold  # for import_channels: a Slice of constants
reshape = _flatten  # for import_channels: a Reshape that is no channel shuffle


_ARITHMETIC = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": None}


def _shape_arithmetic(im: _Importer, node: onnx.NodeProto) -> bool:
    """Fold Add, Sub, Mul or Div of values that are all constants or shapes
    (exporters compute split sizes and reshape targets this way); False
    when an operand is a feature map."""
    if node.op_type not in _ARITHMETIC or any(v in im.values or v not in im.constants for v in node.input):
        return False
    a, b = (im.static(v) for v in node.input)
    if node.op_type == "Div":  # ONNX Div of integers truncates toward zero
        result = np.trunc(a / b).astype(np.result_type(a, b)) if np.issubdtype(np.result_type(a, b), np.integer) \
            else a / b
    else:
        result = _ARITHMETIC[node.op_type](a, b)
    im.constants[node.output[0]] = np.asarray(result)
    return True


def _skippable(lower):
    def run(im: _Importer, node: onnx.NodeProto) -> None:
        if node.output[0] not in im.skip and not _shape_arithmetic(im, node):
            lower(im, node)
    return run


SUPPORTED = {op: _skippable(fn) for op, fn in {
    "Conv": _conv, "BatchNormalization": _bn, "Relu": _unary("relu"),
    "Clip": quantized_clip(_clip), "MaxPool": _pool("maxpool"), "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_pool, "Resize": _resize, "Upsample": _resize,
    "Add": _sum, "Sum": _sum, "Concat": _concat, "Gemm": _linear, "MatMul": _linear, "Flatten": _flatten,
    "Reshape": _flatten, "Unsqueeze": _unsqueeze, "Identity": _identity, "Dropout": _identity,
    "Constant": _constant, "Shape": _shape, "Gather": _fold, "Slice": _fold, "Squeeze": _fold, "Cast": _fold,
    **CHANNEL_OPS,
    **DEFORM_OPS,
    **POINTWISE_IMPORT,
    **QUANT_IMPORT,
}.items()}
