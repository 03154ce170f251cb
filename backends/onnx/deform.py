"""Deformable layers in ONNX: the layer's ``DeformConv2d`` (from
``deform.py``, with the layer's weights) is exported alone by
``torch.onnx.export`` and its nodes are spliced into the model under the
layer's name — values ``LAYER/…``, the input and output renamed to the
layer's operand and result, parameters to their ``state_dict`` names.  The
variant (bound, shape, round) is the deform pass's decision when the layer
has one (its ``deform`` annotation), else the layer's attributes."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import torch

from ...ir import Node, conv_pads
from ...ir.dconv_plan import dconv_variant

__all__ = ["splice_dconv"]


def _module(emitter, node: Node) -> torch.nn.Module:
    from ..torch.deform import DeformConv2d

    a, variant = node.attrs, dconv_variant(node)
    ci = emitter.graph.input_shapes(node)[0].c
    module = DeformConv2d(ci, a["out"], a["k"], a["stride"], conv_pads(a), a["dilation"], a["groups"], a["bias"],
                          a["offset_groups"], variant["shape"], variant["bound"], variant["round"])
    state = {k: torch.as_tensor(np.asarray(emitter.weights[f"{node.name}.{k}"])) for k in module.state_dict()}
    module.load_state_dict(state)
    return module.eval()


def _exported(module: torch.nn.Module, shape) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no constant folding: it would turn a parameter that is reshaped (an ungrouped layer's weight) or
        # broadcast (the bias) into a new initializer 'onnx::…', and import would not find the layer's weights
        torch.onnx.export(module, (torch.zeros(1, *shape),), buffer, opset_version=17, dynamo=False,
                          do_constant_folding=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return onnx.load_from_string(buffer.getvalue())


def splice_dconv(emitter, node: Node) -> None:
    """Append the layer's nodes and initializers to an ONNX emitter."""
    module = _module(emitter, node)
    model = _exported(module, emitter.graph.input_shapes(node)[0])
    params = set(module.state_dict())
    names = {"x": node.inputs[0], "y": node.name, "": ""}

    def rename(value: str) -> str:
        if value not in names:
            names[value] = f"{node.name}.{value}" if value in params else f"{node.name}/{value.strip('/')}"
        return names[value]

    for initializer in model.graph.initializer:
        initializer.name = rename(initializer.name)
        emitter.initializers.append(initializer)
    for index, proto in enumerate(model.graph.node):
        proto.input[:] = [rename(v) for v in proto.input]
        proto.output[:] = [rename(v) for v in proto.output]
        proto.name = f"{node.name}/{proto.name.strip('/') or f'{proto.op_type}_{index}'}"
        emitter.nodes.append(proto)
