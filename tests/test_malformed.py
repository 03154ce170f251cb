"""ONNX import of malformed models (tiny graphs built with onnx.helper):
each is a clear error naming the file and the node, exit status 1, never a
traceback or an internal error."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, numpy_helper
from onnx import helper as h

from segc.cli import main

X = h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
Y = h.make_tensor_value_info("y", TensorProto.FLOAT, None)


def ones(name: str, shape: list[int]) -> TensorProto:
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def dataless(name: str, shape: list[int], raw: bytes = b"") -> TensorProto:
    """A float tensor with a shape and ``raw`` bytes of data (none by default)."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape)
    if raw:
        tensor.raw_data = raw
    return tensor


def external(name: str, shape: list[int], location: str) -> TensorProto:
    tensor = dataless(name, shape)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    return tensor


def conv(weight: list[int], *, bias: list[int] | None = None, **attrs) -> dict:
    inputs, inits = ["x", "w"], [ones("w", weight)]
    if bias is not None:
        inputs.append("b")
        inits.append(ones("b", bias))
    return {"nodes": [h.make_node("Conv", inputs, ["y"], name="conv1", **attrs)], "inits": inits}


def relu(**graph) -> dict:
    return {"nodes": [h.make_node("Relu", ["x"], ["y"], name="act")], **graph}


BN_INPUTS = ["x", "s", "b", "m", "v"]
HEAD = [h.make_node("GlobalAveragePool", ["x"], ["p"], name="gap"), h.make_node("Flatten", ["p"], ["f"], name="flat")]

# case: (graph parts, what the message names besides the file)
CASES = {
    "maxpool without kernel_shape": (
        {"nodes": [h.make_node("MaxPool", ["x"], ["y"], name="pool1")]}, ["'pool1' (MaxPool)", "kernel_shape"]),
    "pads of one value": (
        {"nodes": [h.make_node("MaxPool", ["x"], ["y"], name="pool1", kernel_shape=[2, 2], pads=[1])]},
        ["'pool1' (MaxPool)", "pads", "[1]"]),
    "1-D conv weight": (conv([4]), ["'conv1' (Conv)", "weight", "[4]"]),
    "3-D conv weight": (conv([4, 3, 3]), ["'conv1' (Conv)", "weight", "[4, 3, 3]"]),
    "conv weight for other input channels": (conv([4, 2, 3, 3]), ["'conv1' (Conv)", "[4, 3, 3, 3]", "[4, 2, 3, 3]"]),
    "2-D conv bias": (conv([4, 3, 3, 3], bias=[4, 1]), ["'conv1' (Conv)", "bias", "[4, 1]"]),
    "conv bias of another length": (conv([4, 3, 3, 3], bias=[5]), ["'conv1' (Conv)", "bias", "[5]"]),
    "batch norm parameter of rank 2": (
        {"nodes": [h.make_node("BatchNormalization", BN_INPUTS, ["y"], name="bn1")],
         "inits": [ones("s", [3]), ones("b", [3]), ones("m", [3]), ones("v", [3, 1])]},
        ["'bn1' (BatchNormalization)", "running_var", "[3, 1]"]),
    "batch norm missing parameters": (
        {"nodes": [h.make_node("BatchNormalization", ["x", "s"], ["y"], name="bn1")], "inits": [ones("s", [3])]},
        ["'bn1' (BatchNormalization)", "5 input"]),
    "1-D Gemm weight": (
        {"nodes": [*HEAD, h.make_node("Gemm", ["f", "w"], ["y"], name="fc")], "inits": [ones("w", [3])]},
        ["'fc' (Gemm)", "weight", "[3]"]),
    "Gemm weight for other features": (
        {"nodes": [*HEAD, h.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1)], "inits": [ones("w", [10, 4])]},
        ["'fc' (Gemm)", "[10, 3]", "[10, 4]"]),
    "initializer without data": (
        {"nodes": conv([4, 3, 3, 3])["nodes"], "inits": [dataless("w", [4, 3, 3, 3])]},
        ["'conv1' (Conv)", "initializer 'w'"]),
    "initializer with too few bytes": (
        {"nodes": conv([4, 3, 3, 3])["nodes"], "inits": [dataless("w", [4, 3, 3, 3], b"\0" * 12)]},
        ["'conv1' (Conv)", "initializer 'w'"]),
    "missing external data": (
        {"nodes": conv([4, 3, 3, 3])["nodes"], "inits": [external("w", [4, 3, 3, 3], "missing.bin")]},
        ["'conv1' (Conv)", "initializer 'w'", "missing.bin"]),
    "external data outside the model's folder": (
        {"nodes": conv([4, 3, 3, 3])["nodes"], "inits": [external("w", [4, 3, 3, 3], "../../etc/passwd")]},
        ["'conv1' (Conv)", "initializer 'w'"]),
    "Clip bound that is a vector": (
        {"nodes": [h.make_node("Clip", ["x", "low"], ["y"], name="clip1")], "inits": [ones("low", [2])]},
        ["'clip1' (Clip)", "min", "[2]"]),
    "metadata that is not JSON": (relu(meta="{nope"), ["metadata 'segc.dconv'", "JSON"]),
    "metadata that is a list": (relu(meta="[1, 2]"), ["metadata 'segc.dconv'", '"inputs"']),
    "metadata layer that is a number": (relu(meta='{"act": 3}'), ["metadata 'segc.dconv'", '"inputs"']),
    "metadata inputs that are numbers": (relu(meta='{"act": {"inputs": [1], "attrs": {}}}'),
                                         ["metadata 'segc.dconv'", '"inputs"']),
    "metadata naming an unknown value": (
        {"nodes": [h.make_node("Relu", ["x"], ["y"], name="dc/act")],
         "meta": '{"dc": {"inputs": ["nowhere"], "attrs": {"out": 4}}}'},
        ["'dc' (DeformConv)", "'nowhere'"]),
    "no graph input": (relu(inputs=[]), ["no input"]),
    "no graph output": (relu(outputs=[]), ["no output"]),
    "node without inputs": ({"nodes": [h.make_node("Relu", [], ["y"], name="act")]}, ["'act' (Relu)", "input"]),
    "node without outputs": ({"nodes": [h.make_node("Relu", ["x"], [], name="act")]}, ["'act' (Relu)", "no output"]),
    "input that nothing computes": (
        {"nodes": [h.make_node("Relu", ["ghost"], ["y"], name="act")]}, ["'act' (Relu)", "'ghost'"]),
    "cycle": (
        {"nodes": [h.make_node("Add", ["x", "b"], ["a"], name="add1"), h.make_node("Relu", ["a"], ["b"], name="act"),
                   h.make_node("Identity", ["b"], ["y"], name="out")]},
        ["'add1' (Add)", "'b'", "'act' (Relu)", "cycle"]),
    "Resize scales of two values": (
        {"nodes": [h.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode="nearest", nearest_mode="floor",
                               coordinate_transformation_mode="asymmetric")], "inits": [ones("s", [2])]},
        ["'up' (Resize)"]),
}


def write_model(path, nodes, inits=(), inputs=None, outputs=None, meta=None) -> None:
    graph = h.make_graph(nodes, "g", [X] if inputs is None else inputs, [Y] if outputs is None else outputs,
                         list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    if meta is not None:
        model.metadata_props.add(key="segc.dconv", value=meta)
    path.write_bytes(model.SerializeToString())


@pytest.mark.parametrize("case", CASES)
def test_malformed_model_is_a_clear_error(case, tmp_path, capsys):
    parts, named = CASES[case]
    path = tmp_path / "model.onnx"
    write_model(path, **parts)
    assert main(["import", str(path), "-o", str(tmp_path / "out.seg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: error: "), err
    for part in named:
        assert part in err, (part, err)
    assert "internal error" not in err and "Traceback" not in err
    assert not (tmp_path / "out.seg").exists()


def test_well_formed_conv_still_imports(tmp_path):
    """The checks accept the shapes a correct model has (the control case)."""
    path = tmp_path / "model.onnx"
    write_model(path, **conv([4, 3, 3, 3], bias=[4]))
    assert main(["import", str(path), "-o", str(tmp_path / "out.seg")]) == 0
