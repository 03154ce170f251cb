"""ONNX import of the ops that move or make channels beyond convolution:
ConvTranspose (as ``deconv``)."""

from __future__ import annotations

import onnx

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


CHANNEL_OPS = {"ConvTranspose": _deconv}
