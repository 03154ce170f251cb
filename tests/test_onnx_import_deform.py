"""ONNX ``DeformConv`` (opset 19) built node by node and imported as a
``dconv``: the result against onnxruntime's own DeformConv kernel (an
implementation independent of segc), the offset Conv folded into the layer
(or kept where something else uses it too), and every DeformConv segc's
dconv cannot represent listed in one error, from the API and from
``segc import``; and segc's own deformable export (plain ops and metadata,
not DeformConv) coming back with its parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import segc
from segc.cli import main

torch = pytest.importorskip("torch")

C, H, W = 4, 9, 9


def _model(nodes, arrays: dict, outputs=("y",)) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "deformable", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, W])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in arrays.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def _save(tmp_path: Path, model: onnx.ModelProto) -> str:
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return str(path)


def _layer(name: str, source: str = "x", k=(3, 3), out: int = 4, groups: int = 1, offset_groups: int = 1,
           bias: bool = True, offset_bias: bool = True, **window) -> tuple[list, dict]:
    """``offset = Conv(source)``, ``name = DeformConv(x, W, offset[, B])``:
    the nodes and their weights (offsets of a few pixels)."""
    rng = np.random.default_rng(len(name))
    channels = 2 * k[0] * k[1] * offset_groups
    arrays = {f"{name}.w": rng.standard_normal((out, C // groups, *k)),
              f"{name}.ow": rng.standard_normal((channels, C, *k)) * 0.5}
    arrays.update({f"{name}.b": rng.standard_normal(out)} if bias else {})
    arrays.update({f"{name}.ob": rng.standard_normal(channels)} if offset_bias else {})
    offset = helper.make_node("Conv", [source, f"{name}.ow"] + ([f"{name}.ob"] if offset_bias else []),
                              [f"{name}.off"], name=f"{name}_offset", kernel_shape=list(k), **window)
    deform = helper.make_node("DeformConv", ["x", f"{name}.w", f"{name}.off"] + ([f"{name}.b"] if bias else []),
                              [name], name=name, group=groups, offset_group=offset_groups, **window)
    return [offset, deform], arrays


WINDOWS = {
    "same": {"pads": [1, 1, 1, 1]},
    "strided_dilated": {"strides": [2, 2], "dilations": [2, 2], "pads": [2, 2, 2, 2]},
    "grouped_two_offset_groups": {"groups": 2, "offset_groups": 2, "out": 6, "pads": [1, 1, 1, 1]},
    "depthwise_unpadded_no_biases": {"groups": 4, "bias": False, "offset_bias": False},
    "three_by_one": {"k": (3, 1), "pads": [1, 0, 1, 0], "strides": [1, 2]},
}


@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS)
def test_deform_conv_matches_onnxruntime(tmp_path, window):
    nodes, arrays = _layer("d", **window)
    model = _model(nodes, arrays, outputs=("d",))
    folded: dict[str, int] = {}
    graph, weights = segc.import_onnx(_save(tmp_path, model), folded=folded)
    assert [n.op for n in graph.nodes()] == ["input", "dconv", "output"] and folded == {"Conv": 1}
    layer = graph.node("d")
    assert layer.attrs["offset_groups"] == window.get("offset_groups", 1)
    assert layer.attrs["bias"] == window.get("bias", True)
    assert np.array_equal(weights["d.offset.weight"], arrays["d.ow"].astype(np.float32))
    x = np.random.default_rng(1).standard_normal((1, C, H, W)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None,
                                                                                                      {"x": x})[0]
    with torch.no_grad():
        got = segc.to_torch(graph, weights)(torch.from_numpy(x)).numpy()
    again = ort.InferenceSession(segc.to_onnx(graph, weights), providers=["CPUExecutionProvider"])
    for result in (got, again.run(None, {graph.inputs[0].name: x})[0]):
        assert result.shape == expected.shape
        assert np.abs(result - expected).max() <= 1e-4 * np.abs(expected).max()


def test_an_offset_used_elsewhere_too_stays_a_conv_layer(tmp_path):
    nodes, arrays = _layer("d", pads=[1, 1, 1, 1])
    graph, weights = segc.import_onnx(_save(tmp_path, _model(nodes, arrays, outputs=("d", "d.off"))))
    assert [n.op for n in graph.nodes()] == ["input", "conv", "output", "dconv", "output"]
    conv = next(n for n in graph.nodes() if n.op == "conv")
    assert np.array_equal(weights[f"{conv.name}.weight"], weights["d.offset.weight"])


def _unrepresentable() -> onnx.ModelProto:
    """Six DeformConvs segc's dconv cannot be, each for one reason, in one model."""
    n = helper.make_node
    mask, arrays = _layer("masked", pads=[1, 1, 1, 1])
    mask[1].input.append("mask")
    arrays["mask"] = np.ones((1, 9, H, W))
    relu, relu_arrays = _layer("from_relu", pads=[1, 1, 1, 1])
    relu[0] = n("Relu", ["x"], ["from_relu.off"], name="relu")  # offsets not from a conv (and 4 channels)
    other, other_arrays = _layer("other_input", source="x2", pads=[1, 1, 1, 1])
    strided, strided_arrays = _layer("strided_offset", pads=[1, 1, 1, 1])
    strided[0].attribute.append(helper.make_attribute("strides", [2, 2]))
    asymmetric, asymmetric_arrays = _layer("asymmetric", pads=[0, 0, 1, 1])
    odd_groups, odd_arrays = _layer("three_offset_groups", offset_groups=3, pads=[1, 1, 1, 1])
    nodes = [n("Relu", ["x"], ["x2"], name="x2"), *mask, *relu, *other, *strided, *asymmetric, *odd_groups]
    for more in (relu_arrays, other_arrays, strided_arrays, asymmetric_arrays, odd_arrays):
        arrays.update(more)
    return _model(nodes, arrays, outputs=[n.output[0] for n in nodes if n.op_type == "DeformConv"])


UNREPRESENTABLE = """6 nodes cannot be imported:
  node 'masked' (DeformConv): a mask (modulated deformable convolution, DCNv2) is not supported: segc's dconv \
samples without one
  node 'from_relu' (DeformConv): the offset must be computed by a Conv of the DeformConv's own input 'x' (its offset \
branch, as torchvision's and CoDeNet's); it comes from node 'relu' (Relu)
  node 'other_input' (DeformConv): the offset must be computed by a Conv of the DeformConv's own input 'x' (its \
offset branch, as torchvision's and CoDeNet's); it comes from node 'other_input_offset' (Conv) of 'x2'
  node 'strided_offset' (DeformConv): its offset Conv 'strided_offset_offset' must have the DeformConv's kernel, \
stride, pads and dilation, ungrouped, with 2·kh·kw·offset_group outputs; it has stride [2, 2] (needs [1, 1])
  node 'asymmetric' (DeformConv): asymmetric padding [0, 0, 1, 1] is not supported
  node 'three_offset_groups' (DeformConv): dconv offset_groups=3 must divide the input channels (4)"""


def test_unrepresentable_deform_convs_are_listed_in_one_error(tmp_path):
    with pytest.raises(segc.SegError) as caught:
        segc.import_onnx(_save(tmp_path, _unrepresentable()))
    assert caught.value.diagnostics[0].message == UNREPRESENTABLE


def test_segc_import_lists_them_and_writes_nothing(tmp_path, capsys):
    path = _save(tmp_path, _unrepresentable())
    assert main(["import", path, "-o", str(tmp_path / "out.seg")]) == 1
    err = capsys.readouterr().err
    assert err == f"{path}: error: {UNREPRESENTABLE}\n"
    assert not (tmp_path / "out.seg").exists() and not (tmp_path / "out.safetensors").exists()


def test_segc_own_deformable_export_comes_back(tmp_path):
    """segc exports a dconv's sampling as plain ops (not DeformConv) and
    names the layer in its metadata; importing that gives the layer back."""
    from deform_graphs import network

    graph = network('dconv(8, k=3, bias=true, offset_groups=2) -> dconv(8, k=3, groups=8, bound=2, shape="square", '
                    'round=true)', shape=(4, 8, 8))
    rng = np.random.default_rng(0)
    weights = {k: rng.standard_normal(v.shape).astype(np.float32) * 0.5
               for k, v in segc.to_torch(graph).state_dict().items()}
    (tmp_path / "m.onnx").write_bytes(segc.to_onnx(graph, weights))
    assert "DeformConv" not in {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    imported, imported_weights = segc.import_onnx(str(tmp_path / "m.onnx"))
    assert imported.layers == graph.layers
    x = torch.from_numpy(rng.standard_normal((1, 4, 8, 8)).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(segc.to_torch(imported, imported_weights)(x), segc.to_torch(graph, weights)(x))


def test_segc_deformable_layer_without_its_parameters_is_refused(tmp_path):
    from deform_graphs import network

    model = onnx.load_from_string(segc.to_onnx(network("dconv(8, k=3, bias=true)", shape=(4, 8, 8))))
    renamed = {"y.weight": "y/onnx::Reshape_1", "y.bias": "y/onnx::Add_2"}  # as an earlier segc export had them
    for tensor in model.graph.initializer:
        tensor.name = renamed.get(tensor.name, tensor.name)
    for node in model.graph.node:
        node.input[:] = [renamed.get(v, v) for v in node.input]
    with pytest.raises(segc.SegError) as caught:
        segc.import_onnx(_save(tmp_path, model))
    assert caught.value.diagnostics[0].message == (
        "node 'y' (DeformConv): segc's deformable layer lacks its parameters y.weight, y.bias (an earlier segc "
        "export folded them away: export the network again)")
