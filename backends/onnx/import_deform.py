"""ONNX import of ``DeformConv`` (ai.onnx, opset 19) as a ``dconv`` layer,
and the window of a convolution, which Conv and DeformConv share.

segc's dconv holds its offset branch: a Conv of the layer's own input with
the main convolution's window (kernel, stride, pads, dilation), ungrouped,
predicting 2·kh·kw·offset_group offsets — what torchvision's and CoDeNet's
modules export (``offset = Conv(X)``, ``Y = DeformConv(X, W, offset, B)``).
That Conv becomes the layer's ``offset.weight`` and ``offset.bias`` (zeros
where it has no bias), and no layer of its own unless something else uses
its result too.  ONNX's offset layout (per offset group, per tap, (Δy, Δx))
is segc's.  Refused, naming the node: a mask (modulated deformable
convolution, DCNv2), an offset computed any other way or with another
window, asymmetric or automatic pads, and (by the layer's shape check) an
offset group that does not divide the input channels.
"""

from __future__ import annotations

import numpy as np
import onnx

from ...ir import conv_pads, offset_channels
from .import_checks import expect_shape, symmetric_pads
from .importer import _attrs, _Importer

__all__ = ["DEFORM_OPS", "conv_window", "offset_branch_only", "vector"]

_WINDOW_KEYS = ("out", "k", "stride", "padding", "dilation", "groups")


def conv_window(im: _Importer, node: onnx.NodeProto, weight: np.ndarray) -> dict:
    """The ``conv`` attributes of a Conv or DeformConv but its bias: out, k
    (from the weight), stride, dilation, groups and padding ("same" where
    the pads are those)."""
    a = _attrs(node)
    expect_shape(im.path, node, weight, "the weight", [None, None, None, None])
    attrs = {"out": int(weight.shape[0]), "k": [int(weight.shape[2]), int(weight.shape[3])],
             "stride": list(a.get("strides", [1, 1])), "dilation": list(a.get("dilations", [1, 1])),
             "groups": int(a.get("group", 1))}
    if list(a.get("kernel_shape", attrs["k"])) != attrs["k"]:
        raise im.fail(node, f"kernel_shape {list(a['kernel_shape'])} differs from the weight's {attrs['k']}")
    pads = symmetric_pads(im.path, node, list(a.get("pads", [0, 0, 0, 0])))
    odd = all(((k - 1) * d) % 2 == 0 for k, d in zip(attrs["k"], attrs["dilation"]))
    same = conv_pads({"padding": "same", "k": attrs["k"], "dilation": attrs["dilation"]}) if odd else None
    attrs["padding"] = "same" if same is not None and list(same) == pads else pads
    return attrs


def offset_branch_only(im: _Importer, node: onnx.NodeProto) -> bool:
    """Whether a Conv's result is used only as the offset of DeformConv
    nodes: it is then their offset branch, not a layer."""
    value = node.output[0]
    users = im.users.get(value, [])
    return bool(users) and all(u.op_type == "DeformConv" and [i for i, v in enumerate(u.input) if v == value] == [2]
                               for u in users) and value not in {v.name for v in im.model.graph.output}


def _deform_conv(im: _Importer, node: onnx.NodeProto) -> None:
    inputs = [*node.input, "", ""]
    if inputs[4]:
        raise im.fail(node, "a mask (modulated deformable convolution, DCNv2) is not supported: segc's dconv "
                            "samples without one")
    x = im.tensor(node, node.input[0])
    weight = im.constant(node, node.input[1], "the weight")
    attrs = {**conv_window(im, node, weight), "bias": bool(inputs[3]),
             "offset_groups": int(_attrs(node).get("offset_group", 1))}
    offset_weight, offset_bias = _offset_branch(im, node, x, attrs)
    name = im.layer_name(node, node.input[1])
    im.values[node.output[0]] = im.add(name, "dconv", [x], attrs, node)
    in_channels = im.graph.node(x).shape.c // attrs["groups"]
    expect_shape(im.path, node, weight, "the weight", [attrs["out"], in_channels, *attrs["k"]])
    im.weights[f"{name}.weight"] = weight
    if attrs["bias"]:
        im.weights[f"{name}.bias"] = vector(im, node, inputs[3], "the bias", attrs["out"])
    im.weights[f"{name}.offset.weight"], im.weights[f"{name}.offset.bias"] = offset_weight, offset_bias


def _offset_branch(im: _Importer, node: onnx.NodeProto, x: str, attrs: dict) -> tuple[np.ndarray, np.ndarray]:
    """The weight and bias of the Conv that computes the node's offset from
    the node's own input with the node's window."""
    conv = next((n for n in im.model.graph.node if node.input[2] in n.output), None)
    if conv is None or conv.op_type != "Conv" or im.values.get(conv.input[0]) != x:
        source = "a graph input or constant" if conv is None else f"node '{conv.name or '?'}' ({conv.op_type})"
        source += f" of '{conv.input[0]}'" if conv is not None and conv.op_type == "Conv" else ""
        raise im.fail(node, f"the offset must be computed by a Conv of the DeformConv's own input "
                            f"'{node.input[0]}' (its offset branch, as torchvision's and CoDeNet's); it comes from "
                            f"{source}")
    weight = im.constant(conv, conv.input[1], "the weight")
    window = conv_window(im, conv, weight)
    want = {**attrs, "out": offset_channels({**attrs, "shape": "full"}), "groups": 1}
    differ = [f"{key} {window[key]} (needs {want[key]})" for key in _WINDOW_KEYS if window[key] != want[key]]
    if differ:
        raise im.fail(node, f"its offset Conv '{conv.name or '?'}' must have the DeformConv's kernel, stride, pads "
                            f"and dilation, ungrouped, with 2·kh·kw·offset_group outputs; it has "
                            + ", ".join(differ))
    expect_shape(im.path, conv, weight, "the weight", [want["out"], im.graph.node(x).shape.c, *attrs["k"]])
    has_bias = len(conv.input) > 2 and conv.input[2] != ""
    bias = vector(im, conv, conv.input[2], "the bias", want["out"]) if has_bias else np.zeros(want["out"], np.float32)
    return weight, bias


def vector(im: _Importer, node: onnx.NodeProto, value: str, what: str, size: int) -> np.ndarray:
    """A constant of shape [size] (a bias, a batch norm parameter)."""
    array = im.constant(node, value, what)
    expect_shape(im.path, node, array, what, [size])
    return array


DEFORM_OPS = {"DeformConv": _deform_conv}
