"""ONNX import of the ops that move or make channels beyond convolution:
ConvTranspose (as ``deconv``); Slice and Split along channels (as
``slice`` layers, one per part); and the Reshape–Transpose–Reshape pattern
exporters write for a channel shuffle, ``[N, C, H, W] → [N, g, C/g, H, W]``,
axes 1 and 2 swapped, back to ``[N, C, H, W]`` (as ``shuffle``).  A
Transpose anywhere else is refused, naming the node."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from .import_checks import expect_shape
from .importer import _attrs, _Importer

__all__ = ["CHANNEL_OPS"]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _deconv_pads(im: _Importer, node: onnx.NodeProto, a: dict) -> list[int]:
    """[top, left] of symmetric explicit pads; anything else is refused."""
    auto = _text(a.get("auto_pad", "NOTSET"))
    if auto != "NOTSET":
        raise im.fail(node, f"ConvTranspose auto_pad {auto} is not supported; give explicit pads")
    if "output_shape" in a:
        raise im.fail(node, "ConvTranspose output_shape is not supported; give pads and output_padding")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        raise im.fail(node, f"ConvTranspose pads must be [top, left, bottom, right], got {pads}")
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise im.fail(node, f"ConvTranspose asymmetric padding {pads} is not supported")
    return pads[:2]


def _deconv(im: _Importer, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    x = im.tensor(node, node.input[0])
    weight = im.constant(node, node.input[1], "the weight")
    expect_shape(im.path, node, weight, "the weight", [None, None, None, None])
    groups = int(a.get("group", 1))
    bias = len(node.input) > 2 and node.input[2] != ""
    name = im.layer_name(node, node.input[1])
    attrs = {"out": int(weight.shape[1]) * groups, "k": [int(weight.shape[2]), int(weight.shape[3])],
             "stride": list(a.get("strides", [1, 1])), "dilation": list(a.get("dilations", [1, 1])),
             "padding": _deconv_pads(im, node, a), "output_padding": list(a.get("output_padding", [0, 0])),
             "groups": groups, "bias": bias}
    im.values[node.output[0]] = im.add(name, "deconv", [x], attrs, node)
    expect_shape(im.path, node, weight, "the weight", [im.graph.node(x).shape.c, attrs["out"] // groups, *attrs["k"]])
    im.weights[f"{name}.weight"] = weight
    if bias:
        b = im.constant(node, node.input[2], "the bias")
        expect_shape(im.path, node, b, "the bias", [attrs["out"]])
        im.weights[f"{name}.bias"] = b


def _ints(im: _Importer, node: onnx.NodeProto, index: int, what: str) -> list[int] | None:
    """An integer operand: a constant or folded shape arithmetic."""
    if len(node.input) <= index or not node.input[index]:
        return None
    found = im.static(node.input[index])
    if found is None:
        raise im.fail(node, f"{what} must be a constant")
    return [int(v) for v in np.asarray(found).reshape(-1)]


def _channel_axis(im: _Importer, node: onnx.NodeProto, axes: list[int]) -> None:
    if axes not in ([1], [-3]):
        raise im.fail(node, f"{node.op_type} is supported on the channel axis (1) of a feature map only, "
                            f"got axes {axes}")


def _bound(value: int, channels: int) -> int:
    """An ONNX Slice index clamped to [0, C] (negative: from the end)."""
    value = value + channels if value < 0 else value
    return min(max(value, 0), channels)


def _add_slice(im: _Importer, node: onnx.NodeProto, x: str, start: int, end: int, output: str,
               name: str | None = None) -> None:
    if start >= end:
        raise im.fail(node, f"{node.op_type} would take no channels ({start} to {end})")
    layer = im.layer_name(onnx.NodeProto(name=name, op_type=node.op_type) if name else node)
    im.values[output] = im.add(layer, "slice", [x], {"start": start, "end": end}, node)


def _slice(im: _Importer, node: onnx.NodeProto) -> None:
    if node.input[0] not in im.values:  # shape arithmetic on constants
        from .import_ops import fold

        fold(im, node)
        return
    x = im.tensor(node, node.input[0])
    channels = im.graph.node(x).shape.c
    starts, ends = _ints(im, node, 1, "Slice's starts"), _ints(im, node, 2, "Slice's ends")
    axes = _ints(im, node, 3, "Slice's axes")
    _channel_axis(im, node, list(range(len(starts or []))) if axes is None else axes)  # ONNX: all axes from 0
    if any(step != 1 for step in _ints(im, node, 4, "Slice's steps") or [1]):
        raise im.fail(node, "Slice with a step other than 1 is not supported")
    if len(starts or []) != 1 or len(ends or []) != 1:
        raise im.fail(node, "Slice must give one start and one end (on the channel axis)")
    _add_slice(im, node, x, _bound(starts[0], channels), _bound(ends[0], channels), node.output[0])


def _split(im: _Importer, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    x = im.tensor(node, node.input[0])
    channels = im.graph.node(x).shape.c
    _channel_axis(im, node, [int(a.get("axis", 0))])
    sizes = _ints(im, node, 1, "Split's sizes") or [int(v) for v in a.get("split", [])]
    if not sizes:
        parts = len(node.output)
        sizes = [-(-channels // parts)] * (parts - 1)
        sizes.append(channels - sum(sizes))
    if len(sizes) != len(node.output) or sum(sizes) != channels or min(sizes) < 1:
        raise im.fail(node, f"Split sizes {sizes} do not divide the {channels} channels into {len(node.output)} parts")
    used = {v for n in im.model.graph.node for v in n.input} | {v.name for v in im.model.graph.output}
    start = 0
    for part, (size, output) in enumerate(zip(sizes, node.output)):
        if output in used:  # a part nothing reads makes no layer
            _add_slice(im, node, x, start, start + size, output, f"{node.name or 'split'}/{part}")
        start += size


_SHAPE_OPS = ("Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Add", "Sub", "Mul",
              "Div", "Identity")


def _fold_ahead(im: _Importer, value: str, depth: int = 0) -> None:
    """Evaluate a shape value that later nodes compute, before their turn:
    the back Reshape of a channel shuffle may take its target from shape
    arithmetic that comes after the first Reshape (the lowering loop folds
    those nodes again, to the same values)."""
    producer = next((n for n in im.model.graph.node if value in n.output), None)
    if value in im.constants or depth > 64 or producer is None or producer.op_type not in _SHAPE_OPS:
        return
    for operand in (v for v in producer.input if v and v not in im.values):
        _fold_ahead(im, operand, depth + 1)
    shape_of_map = producer.op_type == "Shape" and producer.input[0] in im.values
    if shape_of_map or all(v in im.constants for v in producer.input if v):
        from .import_ops import SUPPORTED

        SUPPORTED[producer.op_type](im, producer)


def _target(im: _Importer, value: str) -> list[int] | None:
    """A Reshape's target shape (folded constants and shape arithmetic,
    evaluated ahead when need be), also from a Constant node."""
    if im.static(value) is None:
        _fold_ahead(im, value)
    found = im.static(value)
    if found is not None:
        return [int(v) for v in np.asarray(found).reshape(-1)]
    for node in im.model.graph.node:
        if node.op_type == "Constant" and value in node.output and "value" in _attrs(node):
            return [int(v) for v in numpy_helper.to_array(_attrs(node)["value"]).reshape(-1)]
    return None


def _shuffle_pattern(im: _Importer, node: onnx.NodeProto, channels: int) -> tuple[int, list] | None:
    """(groups, [Transpose, Reshape]) when ``node`` starts a channel shuffle."""
    dims = _target(im, node.input[1])
    users = [n for n in im.model.graph.node if node.output[0] in n.input]
    if dims is None or len(dims) != 5 or len(users) != 1 or users[0].op_type != "Transpose":
        return None
    transpose = users[0]
    after = [n for n in im.model.graph.node if transpose.output[0] in n.input]
    if list(_attrs(transpose).get("perm", [])) != [0, 2, 1, 3, 4] or len(after) != 1 or after[0].op_type != "Reshape":
        return None
    groups, back = dims[1], _target(im, after[0].input[1])
    if groups is None or groups < 1 or channels % groups or dims[2] not in (channels // groups, -1):
        return None
    if back is None or len(back) != 4 or back[1] not in (channels, -1):
        return None
    return groups, [transpose, after[0]]


def _reshape(im: _Importer, node: onnx.NodeProto) -> None:
    x = im.values.get(node.input[0])
    found = _shuffle_pattern(im, node, im.graph.node(x).shape.c) if x is not None and len(node.input) > 1 else None
    if found is None:
        from .import_ops import reshape

        reshape(im, node)
        return
    groups, folded = found
    im.skip.update(n.output[0] for n in folded)
    im.values[folded[-1].output[0]] = im.add(im.layer_name(folded[-1]), "shuffle", [x], {"groups": groups}, node)


def _transpose(im: _Importer, node: onnx.NodeProto) -> None:
    raise im.fail(node, "Transpose is supported only inside a channel shuffle (Reshape to [N, g, C/g, H, W], "
                        "Transpose perm [0, 2, 1, 3, 4], Reshape back to [N, C, H, W])")


CHANNEL_OPS = {"ConvTranspose": _deconv, "Slice": _slice, "Split": _split, "Reshape": _reshape,
               "Transpose": _transpose}
