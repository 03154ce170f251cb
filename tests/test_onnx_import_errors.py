"""ONNX import of models built node by node with ``onnx.helper``: what is
folded away (Identity-wrapped initializers, Constant nodes, shape
arithmetic), dynamic input sizes and ``--input-shape``, and the errors of
models segc cannot import — one message listing every offending node, a
cycle, a dangling input — from the API and from ``segc import`` (exit
status 1, no traceback, nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import segc
from segc.cli import main

FLOAT = TensorProto.FLOAT


def _model(nodes, initializers=(), dims=("n", 3, 8, 8), outputs=("y",)) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "handmade", [helper.make_tensor_value_info("x", FLOAT, list(dims))],
        [helper.make_tensor_value_info(o, FLOAT, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _save(tmp_path: Path, model: onnx.ModelProto, name: str = "m.onnx") -> str:
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return str(path)


def _conv_weights(out: int = 4, cin: int = 3) -> list:
    rng = np.random.default_rng(0)
    return [("w", rng.standard_normal((out, cin, 3, 3)).astype(np.float32)),
            ("b", rng.standard_normal(out).astype(np.float32))]


def _classifier(dims=("n", 3, 8, 8)) -> onnx.ModelProto:
    """TorchScript's pattern: initializers behind Identity, the flatten as
    Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]))."""
    n = helper.make_node
    nodes = [
        n("Identity", ["w"], ["w_id"], name="Identity_0"), n("Identity", ["b"], ["b_id"], name="Identity_1"),
        n("Conv", ["x", "w_id", "b_id"], ["c"], name="/conv/Conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        n("Relu", ["c"], ["r"], name="/relu/Relu"),
        n("GlobalAveragePool", ["r"], ["p"], name="/pool/GlobalAveragePool"),
        n("Shape", ["p"], ["s"], name="/Shape"),
        n("Constant", [], ["zero"], name="/Constant", value=numpy_helper.from_array(np.array(0, np.int64))),
        n("Gather", ["s", "zero"], ["batch"], name="/Gather", axis=0),
        n("Constant", [], ["axes"], name="/Constant_1", value=numpy_helper.from_array(np.array([0], np.int64))),
        n("Unsqueeze", ["batch", "axes"], ["batch1"], name="/Unsqueeze"),
        n("Constant", [], ["rest"], name="/Constant_2", value=numpy_helper.from_array(np.array([-1], np.int64))),
        n("Concat", ["batch1", "rest"], ["target"], name="/Concat", axis=0),
        n("Reshape", ["p", "target"], ["flat"], name="/Reshape"),
        n("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    rng = np.random.default_rng(1)
    fc = [("fc.weight", rng.standard_normal((5, 4)).astype(np.float32)), ("fc.bias", np.zeros(5, np.float32))]
    return _model(nodes, _conv_weights() + fc, dims)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- folding
def test_identity_constant_and_shape_chains_fold_away(tmp_path):
    folded: dict[str, int] = {}
    network, weights = segc.import_onnx(_save(tmp_path, _classifier()), folded=folded)
    # counted by hand from _classifier: 2 Identity, 3 Constant, Shape, Gather, Unsqueeze, Concat, and the
    # Reshape that is only the 2-D view the Gemm reads
    assert folded == {"Concat": 1, "Constant": 3, "Gather": 1, "Identity": 2, "Reshape": 1, "Shape": 1,
                      "Unsqueeze": 1}
    assert [n.op for n in network.nodes()] == ["input", "conv", "relu", "avgpool", "linear", "output"]
    assert set(weights) == {"conv.Conv.weight", "conv.Conv.bias", "fc.weight", "fc.bias"}  # from the node name


def test_import_prints_a_summary_with_what_was_folded(tmp_path, capsys):
    model = _save(tmp_path, _classifier())
    code, out, err = _run(capsys, "import", model, "-o", tmp_path / "c.seg")
    assert code == 0, err
    # MACs by hand: conv 4·3·9 per pixel · 64 pixels = 6912, fc 5·4 = 20 (pooling multiplies nothing) → 6932;
    # parameters: 4·27 + 4 + 5·4 + 5 = 137
    assert out == ("imported network handmade: input x [3, 8, 8]\n"
                   "6 layers, 6.93 k MACs, 137 parameters\n"
                   "folded away: 10 ONNX nodes (Concat ×1, Constant ×3, Gather ×1, Identity ×2, Reshape ×1, "
                   "Shape ×1, Unsqueeze ×1)\n")


def test_resize_sizes_computed_from_shapes(tmp_path):
    """Resize back to the input's H, W, picked from ``Shape(x, start=2)``:
    a stride-2 convolution of 8×12 gives 4×6, so the scale is 2 on both axes."""
    n = helper.make_node
    axes = numpy_helper.from_array(np.array([0], np.int64))
    nodes = [
        n("Conv", ["x", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        n("Shape", ["c"], ["nc"], name="nc", end=2), n("Shape", ["x"], ["hw"], name="hw", start=2),
        n("Constant", [], ["i0"], name="i0", value=numpy_helper.from_array(np.array(0, np.int64))),
        n("Constant", [], ["i1"], name="i1", value=numpy_helper.from_array(np.array(1, np.int64))),
        n("Constant", [], ["axes"], name="axes", value=axes),
        n("Gather", ["hw", "i0"], ["h"], name="h"), n("Gather", ["hw", "i1"], ["w"], name="w"),
        n("Unsqueeze", ["h", "axes"], ["h1"], name="h1"), n("Unsqueeze", ["w", "axes"], ["w1"], name="w1"),
        n("Concat", ["nc", "h1", "w1"], ["sizes"], name="sizes", axis=0),
        n("Resize", ["c", "", "", "sizes"], ["y"], name="up", mode="nearest",
          coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    ]
    network, _ = segc.import_onnx(_save(tmp_path, _model(nodes, _conv_weights(), dims=(1, 3, 8, 12))))
    up = network.node("up")
    assert (list(up.attrs["scale"]), list(up.shape)) == ([2.0, 2.0], [4, 8, 12])


# ---------------------------------------------------------------- dynamic sizes
def test_dynamic_height_and_width_need_input_shape(tmp_path, capsys):
    model = _save(tmp_path, _classifier(dims=("n", 3, "h", "w")))
    code, out, err = _run(capsys, "import", model, "-o", tmp_path / "c.seg")
    assert (code, out) == (1, "")
    assert err == (f"{model}: error: input 'x' [n, 3, h, w] has no fixed H, W: pass --input-shape C,H,W "
                   "(or N,C,H,W) to import it at that size\n")
    assert not (tmp_path / "c.seg").exists() and not (tmp_path / "c.safetensors").exists()


@pytest.mark.parametrize("given", ["3,16,12", "2,3,16,12"])
def test_input_shape_fixes_the_size(tmp_path, given):
    network, _ = segc.import_onnx(_save(tmp_path, _classifier(dims=("n", 3, "h", "w"))),
                                  tuple(int(v) for v in given.split(",")))
    assert [list(n.shape) for n in network.nodes()][:4] == [[3, 16, 12], [4, 16, 12], [4, 16, 12], [4, 1, 1]]


def test_a_missing_dim_is_dynamic_too(tmp_path):
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="relu")])
    model.graph.input[0].type.tensor_type.shape.dim[3].Clear()  # neither value nor name
    with pytest.raises(segc.SegError, match=r"input 'x' \[n, 3, 8, \?\] has no fixed W: pass --input-shape"):
        segc.import_onnx(_save(tmp_path, model))


def test_input_shape_that_contradicts_the_model(tmp_path, capsys):
    model = _save(tmp_path, _classifier(dims=("n", 3, "h", "w")))
    code, _, err = _run(capsys, "import", model, "-o", tmp_path / "c.seg", "--input-shape", "4,16,16")
    assert code == 1
    assert err == f"{model}: error: --input-shape 4,16,16 does not fit input 'x' [n, 3, h, w]: its C is 3\n"


def test_shape_inference_checks_the_given_size(tmp_path):
    """A flatten of all of H·W into a 12-feature classifier fits 3×2×2 only."""
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc.weight"], ["y"], name="fc", transB=1)]
    model = _model(nodes, [("fc.weight", np.ones((2, 12), np.float32))], dims=(1, 3, "h", "w"))
    with pytest.raises(segc.SegError, match=r"the model does not take input 'x' of size \[1, 3, 4, 4\]: .*Gemm"):
        segc.import_onnx(_save(tmp_path, model), (3, 4, 4))


@pytest.mark.parametrize("given", ["3,16", "3,0,4", "a,b,c", "1,2,3,4,5"])
def test_malformed_input_shape_is_a_usage_error(tmp_path, capsys, given):
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "m.onnx", "-o", str(tmp_path / "c.seg"), "--input-shape", given])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith(f"error: argument --input-shape: expected C,H,W or N,C,H,W (positive integers), "
                        f"got '{given}'\n")


# ---------------------------------------------------------------- unsupported models
def test_every_offending_node_is_listed_in_one_message(tmp_path, capsys):
    n = helper.make_node
    nodes = [
        n("Sin", ["x"], ["s"], name="sine"),
        # after a failed node, checked on the shape ONNX infers for its input
        n("Conv", ["s", "w", "b"], ["c"], name="lopsided", kernel_shape=[3, 3], pads=[0, 0, 1, 1]),
        n("Relu", ["c"], ["r"], name="after_lopsided"),  # fine on the inferred shape: not listed
        n("Resize", ["x", "", "scales"], ["u"], name="cubic", mode="cubic"),
        n("Cos", ["s"], ["y"], name="cosine"),
    ]
    model = _save(tmp_path, _model(nodes, [*_conv_weights(), ("scales", np.array([1, 1, 2, 2], np.float32))],
                                   outputs=("y", "r", "u")))
    code, out, err = _run(capsys, "import", model, "-o", tmp_path / "c.seg")
    assert (code, out) == (1, "")
    assert err == (f"{model}: error: 4 nodes cannot be imported:\n"
                   "  node 'sine' (Sin): op outside segc's table\n"
                   "  node 'lopsided' (Conv): asymmetric padding [0, 0, 1, 1] is not supported\n"
                   "  node 'cubic' (Resize): Resize mode 'cubic' with 'half_pixel' coordinates is not supported\n"
                   "  node 'cosine' (Cos): op outside segc's table\n")
    assert "Traceback" not in err and not (tmp_path / "c.seg").exists()


def test_after_a_node_of_unknown_shape_nothing_more_is_checked(tmp_path):
    """An op of a domain ONNX does not know has no inferred shape: the nodes
    using it cannot be checked, and are not listed."""
    n = helper.make_node
    nodes = [n("Mystery", ["x"], ["m"], name="mystery", domain="elsewhere"),
             n("Conv", ["m", "w", "b"], ["y"], name="lopsided", kernel_shape=[3, 3], pads=[0, 0, 1, 1])]
    model = _model(nodes, _conv_weights())
    model.opset_import.append(helper.make_opsetid("elsewhere", 1))
    with pytest.raises(segc.SegError) as caught:
        segc.import_onnx(_save(tmp_path, model))
    assert caught.value.diagnostics[0].message == "node 'mystery' (Mystery): op outside segc's table"


def test_one_offending_node_is_named(tmp_path):
    model = _model([helper.make_node("Sin", ["x"], ["y"], name="sine")])
    with pytest.raises(segc.SegError) as caught:
        segc.import_onnx(_save(tmp_path, model))
    assert caught.value.diagnostics[0].message == "node 'sine' (Sin): op outside segc's table"


def test_a_cycle_names_the_node(tmp_path, capsys):
    n = helper.make_node
    nodes = [n("Relu", ["x"], ["a"], name="first"), n("Add", ["a", "c"], ["b"], name="joined"),
             n("Relu", ["b"], ["c"], name="back"), n("Relu", ["c"], ["y"], name="last")]
    model = _save(tmp_path, _model(nodes))
    code, _, err = _run(capsys, "import", model, "-o", tmp_path / "c.seg")
    assert code == 1
    assert err == (f"{model}: error: node 'joined' (Add): input 'c' is computed by a later node 'back' (Relu): "
                   "the nodes are out of order or form a cycle\n")


def test_a_dangling_input_names_the_node(tmp_path, capsys):
    nodes = [helper.make_node("Add", ["x", "nowhere"], ["y"], name="joined")]
    model = _save(tmp_path, _model(nodes))
    code, _, err = _run(capsys, "import", model, "-o", tmp_path / "c.seg")
    assert code == 1
    assert err == (f"{model}: error: node 'joined' (Add): input 'nowhere' is neither a graph input, an "
                   "initializer nor the output of any node\n")
