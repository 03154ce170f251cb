"""Hypothesis strategies that corrupt an ONNX model: bytes flipped,
truncated, inserted or overwritten; and the protobuf edited with knowledge
of its structure (attributes removed or made extreme, dimensions changed,
values renamed, nodes, initializers, inputs and outputs deleted, op types
and data types changed, the metadata replaced).

Not a test module: imported by ``test_fuzz_onnx`` and the fuzz campaign.
"""

from __future__ import annotations

from pathlib import Path

from conftest import EXAMPLES
from fuzz_checks import ACCEPTED, CLEAN, HANG_SECONDS, cli_verdict, run_cli, time_limit
from hostile_names import HOSTILE
from hypothesis import note
from hypothesis import strategies as st
from onnx import ModelProto, TensorProto

EXTREME_INTS = (0, -1, -(2**62), 1, 2, 3, 7, 2**31, 2**62)
EXTREME_FLOATS = (0.0, -1.0, float("nan"), float("inf"), 1e38, -1e-38)
OP_TYPES = ("Conv", "Relu", "MaxPool", "AveragePool", "BatchNormalization", "Add", "Concat", "Resize", "Gemm",
            "Flatten", "GlobalAveragePool", "Clip", "Sigmoid", "Identity", "Reshape", "NoSuchOp", "")
DATA_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.UINT8, TensorProto.STRING,
              TensorProto.UNDEFINED, 1000)
METADATA = ("", "{", "[]", '{"x": 1}', '{"stem.conv": {"inputs": ["image"], "attrs": {"out": -1}}}',
            "[" * 5000 + "]" * 5000)


def _pick(draw, items):
    return draw(st.sampled_from(list(items))) if len(items) else None


def remove_attribute(draw, model: ModelProto) -> None:
    node = _pick(draw, [n for n in model.graph.node if n.attribute])
    if node is not None:
        del node.attribute[draw(st.integers(0, len(node.attribute) - 1))]


def extreme_attribute(draw, model: ModelProto) -> None:
    node = _pick(draw, [n for n in model.graph.node if n.attribute])
    if node is None:
        return
    attribute = _pick(draw, node.attribute)
    if attribute.ints:
        attribute.ints[draw(st.integers(0, len(attribute.ints) - 1))] = draw(st.sampled_from(EXTREME_INTS))
        if draw(st.booleans()):
            attribute.ints.append(draw(st.sampled_from(EXTREME_INTS)))
    elif attribute.type == attribute.FLOAT:
        attribute.f = draw(st.sampled_from(EXTREME_FLOATS))
    elif attribute.type == attribute.STRING:
        attribute.s = draw(st.sampled_from([b"", b"nonsense", b"\xff\xfe", b"nearest", b"linear"]))
    else:
        attribute.i = draw(st.sampled_from(EXTREME_INTS))


def change_dims(draw, model: ModelProto) -> None:
    """An initializer's dims, or a graph input's shape (without its data)."""
    tensors = [t for t in model.graph.initializer if t.dims]
    shapes = [v.type.tensor_type.shape for v in model.graph.input if v.type.tensor_type.shape.dim]
    if tensors and draw(st.booleans()):
        tensor = _pick(draw, tensors)
        tensor.dims[draw(st.integers(0, len(tensor.dims) - 1))] = draw(st.sampled_from(EXTREME_INTS))
    elif shapes:
        dims = _pick(draw, shapes).dim
        dim = dims[draw(st.integers(0, len(dims) - 1))]
        if draw(st.booleans()):
            dim.dim_value = draw(st.sampled_from(EXTREME_INTS))
        else:
            dim.dim_param = draw(st.sampled_from(["N", "", "height"]))


def rename_value(draw, model: ModelProto) -> None:
    """A node's input or output renamed: to another value's name, a hostile
    name or nothing."""
    node = _pick(draw, [n for n in model.graph.node if n.input or n.output])
    if node is None:
        return
    names = [v for n in model.graph.node for v in (*n.input, *n.output)]
    values = node.input if node.input and (not node.output or draw(st.booleans())) else node.output
    values[draw(st.integers(0, len(values) - 1))] = draw(st.sampled_from((*names, *HOSTILE)))


def delete_part(draw, model: ModelProto) -> None:
    part = draw(st.sampled_from([model.graph.node, model.graph.initializer, model.graph.input, model.graph.output]))
    if len(part):
        del part[draw(st.integers(0, len(part) - 1))]


def change_type(draw, model: ModelProto) -> None:
    if draw(st.booleans()) and len(model.graph.node):
        _pick(draw, model.graph.node).op_type = draw(st.sampled_from(OP_TYPES))
    elif len(model.graph.initializer):
        _pick(draw, model.graph.initializer).data_type = draw(st.sampled_from(DATA_TYPES))


def replace_metadata(draw, model: ModelProto) -> None:
    del model.metadata_props[:]
    model.metadata_props.add(key="segc.dconv", value=draw(st.sampled_from(METADATA)))
    if draw(st.booleans()):
        model.opset_import[0].version = draw(st.sampled_from([1, 7, 11, 17, 99]))


STRUCTURAL = (remove_attribute, extreme_attribute, change_dims, rename_value, delete_part, change_type,
              replace_metadata)


def corrupt_bytes(draw, data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    if kind == "flip" and at < len(data):
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1:]
    if kind == "truncate":
        return data[:at]
    chunk = draw(st.binary(min_size=1, max_size=16))
    return data[:at] + chunk + data[at + (len(chunk) if kind == "overwrite" else 0):]


@st.composite
def corrupted_model(draw, data: bytes) -> bytes:
    """The model after one to three structural edits, or one to three byte
    corruptions."""
    if draw(st.booleans()):
        model = ModelProto.FromString(data)
        edits = [draw(st.sampled_from(STRUCTURAL)) for _ in range(draw(st.integers(1, 3)))]
        for edit in edits:
            edit(draw, model)
        note(f"edits: {[e.__name__ for e in edits]}")
        return model.SerializeToString()
    for _ in range(draw(st.integers(1, 3))):
        data = corrupt_bytes(draw, data)
    return data


def import_verdict(model: Path, folder: Path) -> str:
    """``segc import MODEL -o FOLDER/imported.seg`` within the hang limit:
    accepted with a .seg file that ``segc check`` accepts, or rejected
    cleanly with no file written (else what went wrong)."""
    output = folder / "imported.seg"
    output.unlink(missing_ok=True)
    with time_limit(HANG_SECONDS):
        verdict, _ = cli_verdict(["import", model, "-o", output], model)
        if verdict == ACCEPTED:
            checked, _ = cli_verdict(["check", output], output)
            if checked != ACCEPTED:
                return f"imported .seg {checked}"
    if verdict in CLEAN and output.exists() != (verdict == ACCEPTED):
        return "output written on failure" if output.exists() else "no output on success"
    return verdict


# name: (file, --network): plain layers with weights; upsample; a deformable layer (the metadata).
SOURCES = {"tiny": ("tiny.seg", None), "tiny_seg": ("tiny_seg.seg", None),
           "dw_square": ("codenet_layer.seg", "dw_square")}


def source_models(folder: Path) -> dict[str, Path]:
    """The models to corrupt: ``segc export --to onnx`` of SOURCES, written in ``folder``."""
    models = {}
    for key, (name, network) in SOURCES.items():
        output = folder / f"{key}.onnx"
        code, _, err = run_cli(["export", str(EXAMPLES / name), *(["--network", network] if network else []),
                                "--to", "onnx", "-o", str(output)])
        assert code == 0, err
        models[key] = output
    return models
