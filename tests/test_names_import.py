"""Names that come in from files segc did not write: ONNX names that are
not ASCII or not UTF-8, a file name with a newline."""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402

import segc  # noqa: E402
from segc.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> onnx.ModelProto:
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["export", str(EXAMPLES / "tiny.seg"), "--to", "onnx", "-o", str(path)]) == 0
    return onnx.load(str(path))


def _node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.name == name)


def _rename_value(model: onnx.ModelProto, old: str, new: str) -> None:
    for init in model.graph.initializer:
        init.name = new if init.name == old else init.name
    for node in model.graph.node:
        node.input[:] = [new if v == old else v for v in node.input]


def test_onnx_names_that_are_not_ascii_are_mapped_to_valid_names(tiny_onnx, tmp_path):
    model = onnx.ModelProto()
    model.CopyFrom(tiny_onnx)
    model.graph.name = "r\u00e9seau"
    _node(model, "stem.relu").name = "st\u00e9m/relu\u2028"
    _rename_value(model, "stem.conv.weight", "__st\u00e9m.conv.weight")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    net = segc.load(str(path))
    assert net.name == "r_seau"
    layers = [n.name for n in net.nodes()]
    assert layers[1:4] == ["__st_m.conv", "stem.bn", "st_m.relu_"]
    assert next(iter(net.to_torch().state_dict())) == "__st_m.conv.weight"


def test_onnx_names_that_are_not_utf8_are_an_error(tiny_onnx, tmp_path, capsys):
    model = onnx.ModelProto()
    model.CopyFrom(tiny_onnx)
    _node(model, "stem.bn").name = "BBBBBBBB"
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString().replace(b"BBBBBBBB", b"BB\xc3(BBBB"))
    assert main(["import", str(path), "-o", str(tmp_path / "out.seg")]) == 1
    assert capsys.readouterr().err == (f"{path}: error: node #1 ('BatchNormalization'): b'BB\\xc3(BBBB': "
                                       "a name that is not UTF-8 text, as ONNX requires\n")


def test_a_newline_in_the_onnx_file_name_stays_in_the_header_comment(tiny_onnx, tmp_path):
    path = tmp_path / "a\nnetwork evil {}\n#.onnx"
    onnx.save(tiny_onnx, str(path))
    out = tmp_path / "out.seg"
    assert main(["import", str(path), "-o", str(out)]) == 0
    first = out.read_text().splitlines()[0]
    assert first == "# imported by segc from a\\nnetwork evil {}\\n#.onnx; weights in out.safetensors"
    assert segc.load(str(out)).name == "tiny"
