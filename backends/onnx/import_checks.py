"""Checks of ONNX import on what a malformed model can get wrong: a node's
arity, an initializer's data, a weight's shape, segc's own metadata and
the order of the nodes.  Each failure is a SegError naming the file and,
where there is one, the node (its name and op type)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import external_data_helper, numpy_helper

from ...ir import Diagnostic, SegError
from ...ir.files import open_input
from ...ir.serialize import decode_json

__all__ = ["check_arity", "check_order", "deform_specs", "describe", "expect_shape", "initializers", "node_error",
           "symmetric_pads"]

# Inputs a node needs at least (ops not listed: one); every node needs an output.
MIN_INPUTS = {"Conv": 2, "BatchNormalization": 5, "Gemm": 2, "MatMul": 2, "Reshape": 2, "Gather": 2, "Slice": 3,
              "Resize": 1, "Constant": 0, "DeformConv": 3, "QuantizeLinear": 2,
              "DequantizeLinear": 2}


def describe(node: onnx.NodeProto, message: str) -> str:
    """``node 'NAME' (OP): message``."""
    return f"node '{node.name or node.op_type}' ({node.op_type}): {message}"


def node_error(path: str, node: onnx.NodeProto | None, message: str) -> SegError:
    """``PATH: error: node 'NAME' (OP): message``."""
    return SegError(Diagnostic(describe(node, message) if node is not None else message, path=path))


def check_arity(path: str, node: onnx.NodeProto) -> None:
    needed = MIN_INPUTS.get(node.op_type, 1)
    if len(node.input) < needed:
        raise node_error(path, node, f"needs at least {needed} input(s), has {len(node.input)}")
    if not node.output or not node.output[0]:
        raise node_error(path, node, "has no output")


def check_order(path: str, nodes: Sequence[onnx.NodeProto], known: set[str]) -> None:
    """Every input of a node is a graph input, an initializer or the output
    of an earlier node (ONNX's topological order; a cycle breaks it)."""
    produced = {out: n for n in nodes for out in n.output if out}
    seen = set(known)
    for node in nodes:
        for value in node.input:
            if not value or value in seen:
                continue
            if value in produced:
                later = produced[value]
                raise node_error(path, node, f"input '{value}' is computed by a later node '{later.name or '?'}' "
                                             f"({later.op_type}): the nodes are out of order or form a cycle")
            raise node_error(path, node, f"input '{value}' is neither a graph input, an initializer nor the "
                                         "output of any node")
        seen.update(node.output)


def symmetric_pads(path: str, node: onnx.NodeProto, pads: list[int]) -> list[int]:
    """[top, left] of explicit pads [top, left, bottom, right] that are
    symmetric (or none); anything else is refused."""
    auto_pad = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "auto_pad"), b"NOTSET")
    if auto_pad not in (b"NOTSET", b"VALID"):
        raise node_error(path, node, "auto_pad SAME_* is not supported; give explicit pads")
    if len(pads) not in (0, 4):
        raise node_error(path, node, f"pads must be [top, left, bottom, right], got {pads}")
    if len(pads) == 4 and (pads[0] != pads[2] or pads[1] != pads[3]):
        raise node_error(path, node, f"asymmetric padding {pads} is not supported")
    return [pads[0], pads[1]] if pads else [0, 0]


def expect_shape(path: str, node: onnx.NodeProto, array: np.ndarray, what: str, shape: Sequence[int | None]) -> None:
    """``array`` has ``shape`` (None: any size on that axis)."""
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        wanted = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise node_error(path, node, f"{what} must have shape {wanted}, got {list(array.shape)}")


def initializers(model: onnx.ModelProto, path: str) -> dict[str, np.ndarray]:
    """The model's initializers as arrays; external data is read from the
    model's folder.  A tensor without (enough) data names a node using it."""
    base = os.path.dirname(os.path.abspath(path))
    arrays = {}
    for tensor in model.graph.initializer:
        try:
            if external_data_helper.uses_external_data(tensor):
                _check_external_file(base, tensor)
                external_data_helper.load_external_data_for_tensor(tensor, base)
            arrays[tensor.name] = numpy_helper.to_array(tensor)
        except Exception as err:  # onnx's and numpy's reasons: missing file, too few bytes, unknown type
            raise _tensor_error(model, path, tensor.name, err) from None
    return arrays


def _check_external_file(base: str, tensor: onnx.TensorProto) -> None:
    """The file of an initializer's external data is a regular file within
    the size limit, checked like any input before onnx reads it."""
    location = external_data_helper.ExternalDataInfo(tensor).location
    try:
        with open_input(os.path.join(base, location), "data"):
            pass
    except SegError as err:
        raise ValueError(err.diagnostics[0].message) from None


def _tensor_error(model: onnx.ModelProto, path: str, name: str, err: Exception) -> SegError:
    users = [n for n in model.graph.node if name in n.input]
    reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
    return node_error(path, users[0] if users else None,
                      f"initializer '{name}' has no valid data ({reason})")


def deform_specs(model: onnx.ModelProto, path: str) -> dict[str, dict]:
    """segc's deformable layers from the metadata ``segc.dconv``:
    ``{layer: {"inputs": [value, ...], "attrs": {...}}}``."""
    text = next((p.value for p in model.metadata_props if p.key == "segc.dconv"), "{}")
    try:
        specs = decode_json(text)
    except ValueError as err:
        raise SegError(Diagnostic(f"metadata 'segc.dconv' is not valid JSON ({err})", path=path)) from None
    well_formed = isinstance(specs, dict) and all(
        isinstance(spec, dict) and isinstance(spec.get("attrs"), dict) and isinstance(spec.get("inputs"), list)
        and all(isinstance(v, str) for v in spec["inputs"]) for spec in specs.values())
    if not well_formed:
        raise SegError(Diagnostic("metadata 'segc.dconv' must map each deformable layer to "
                                  '{"inputs": [value names], "attrs": {...}}', path=path))
    return specs
