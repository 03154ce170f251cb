"""JSON form of graphs (``segc.ir.serialize``, ``segc.to_json``, ``segc.load``
of ``.json``): round trips of every example network, and precise errors for
hand-edited files (each naming where the problem is, e.g. "nodes[3] ('conv1')").
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from conftest import NETWORK_EXAMPLES

import segc
from segc.ir import OPS, Graph, Node, SegError, Shape, serialize

# nodes: [0] x, [1] stem, [2] a, [3] conv1, [4] bn1, [5] output.y
SMALL = """\
target t {
    clock = 200 MHz
    bandwidth = 9.5 GB/s
    dsp = 1518
    bram = 2713
    bram_block = 20 Kibit
    input_buffer = 128 KiB
    word = 16 bit
    macs_per_dsp = 2
    unroll = {pif: 16, pof: 32, pkx: 4}
}
network n on t {
    input x: [3, 8, 8]
    stem = x -> relu
    a = stem -> relu
    conv1 = a -> conv(4, k=3)
    bn1 = conv1 -> bn
    output y = bn1
}
prune n {
    conv1: 0.5
    keep bn1
}
"""


@pytest.fixture(scope="module", params=NETWORK_EXAMPLES, ids=lambda p: p.name)
def example(request) -> Graph:
    return segc.load(str(request.param))


def small_data() -> dict:
    return json.loads(segc.to_json(segc.loads(SMALL)))


# ---------------------------------------------------------------- round trips

def test_examples_are_found():
    assert {p.name for p in NETWORK_EXAMPLES} >= {"tiny.seg", "resnet18.seg"}


def test_round_trip_gives_an_equal_graph(example):
    again = serialize.loads(segc.to_json(example))
    assert again.structure() == example.structure()
    assert [n.name for n in again.nodes()] == [n.name for n in example.nodes()]


def test_round_trip_text_is_byte_identical(example):
    text = segc.to_json(example)
    assert segc.to_json(serialize.loads(text)) == text
    assert text.endswith("\n")


def test_load_of_a_json_file_equals_the_original(example, tmp_path):
    path = tmp_path / f"{example.name}.json"
    path.write_text(segc.to_json(example), encoding="utf-8")
    loaded = segc.load(str(path))
    assert loaded.structure() == example.structure()
    assert loaded.target == example.target


def test_json_layout():
    data = small_data()
    assert (data["format"], data["version"], data["name"]) == ("segc.graph", 1, "n")
    assert [n["name"] for n in data["nodes"]] == ["x", "stem", "a", "conv1", "bn1", "output.y"]
    conv = data["nodes"][3]
    assert conv["attrs"]["k"] == [3, 3]
    assert conv["shape"] == [4, 8, 8]
    assert data["target"]["clock_hz"] == 200e6
    assert data["target"]["bram_block_bits"] == 20 * 1024
    assert data["target"]["unroll"] == {"pif": 16, "pof": 32, "pkx": 4, "pky": 1}
    assert data["directives"] == {"prune": {"rules": [{"pattern": "conv1", "rate": 0.5}], "keep": ["bn1"]}}


def test_directives_round_trip():
    graph = serialize.loads(segc.to_json(segc.loads(SMALL)))
    prune = graph.directives.prune
    assert [(r.pattern, r.rate) for r in prune.rules] == [("conv1", 0.5)]
    assert [k.pattern for k in prune.keep] == ["bn1"]


def test_annotations_round_trip():
    graph = segc.loads(SMALL)
    conv = graph.node("conv1")
    graph.replace(conv.with_(annotations={"cost": {"cycles": 1234}}))
    again = serialize.loads(segc.to_json(graph))
    assert again.node("conv1").annotations == {"cost": {"cycles": 1234}}


def test_graph_without_target():
    graph = Graph("bare")
    graph.add(Node("x", "input", (), OPS["input"].build_attrs({"c": 1, "h": 2, "w": 2}), Shape(1, 2, 2)))
    graph.add(Node("output.x", "output", ("x",), {}, Shape(1, 2, 2)))
    again = serialize.loads(segc.to_json(graph))
    assert again.target is None
    assert again.directives.prune is None
    assert again.structure() == graph.structure()


# ---------------------------------------------------------------- hand-edited files

def error_of(edit: Callable[[dict], object]) -> str:
    """The message loading SMALL's JSON fails with after ``edit``."""
    data = small_data()
    edit(data)
    with pytest.raises(SegError) as err:
        serialize.loads(json.dumps(data), "g.json")
    assert all(d.path == "g.json" for d in err.value.diagnostics)
    return err.value.render()


def setter(*path, value) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value
    return edit


def deleter(*path) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]
    return edit


@pytest.mark.parametrize(("edit", "expected"), [
    # shapes
    (setter("nodes", 3, "shape", value=[4, 8, 7]),
     "nodes[3] ('conv1'): shape [4, 8, 7] differs from the inferred [4, 8, 8]"),
    (setter("nodes", 0, "shape", value=[3, 8]), "nodes[0] ('x'): shape [3, 8] differs"),
    (setter("nodes", 3, "shape", value="big"), "nodes[3] ('conv1').shape: expected a list"),
    # ops and attributes
    (setter("nodes", 2, "op", value="softplus"), "nodes[2] ('a'): unknown op 'softplus'"),
    (setter("nodes", 3, "attrs", "k", value=[3]), "nodes[3] ('conv1'): 'k' must be a positive integer or a pair"),
    (setter("nodes", 3, "attrs", "groups", value=3), "nodes[3] ('conv1'): conv groups=3 must divide"),
    (setter("nodes", 3, "attrs", "kernel", value=3), "nodes[3] ('conv1'): conv has no attribute 'kernel'"),
    (setter("nodes", 4, "attrs", "eps", value=-1), "nodes[4] ('bn1'): 'eps' must be a non-negative number"),
    (setter("nodes", 3, "attrs", value=[]), "nodes[3] ('conv1').attrs: expected an object"),
    # missing fields
    (deleter("nodes", 4, "attrs"), "nodes[4] ('bn1'): missing 'attrs'"),
    (deleter("nodes", 3, "shape"), "nodes[3] ('conv1'): missing 'shape'"),
    (deleter("nodes", 1, "name"), "nodes[1]: missing 'name'"),
    (deleter("nodes", 1, "op"), "nodes[1] ('stem'): missing 'op'"),
    (deleter("nodes",), "file: missing 'nodes'"),
    (deleter("directives",), "file: missing 'directives'"),
    # operands
    (setter("nodes", 2, "inputs", value=["ghost"]), "nodes[2] ('a'): reads 'ghost', which is not defined before it"),
    (setter("nodes", 2, "inputs", value=["conv1"]), "nodes[2] ('a'): reads 'conv1', which is not defined before it"),
    (setter("nodes", 2, "inputs", value=[1]), "nodes[2] ('a'): reads 1, which is not defined before it"),
    (setter("nodes", 2, "inputs", value=["x", "stem"]), "nodes[2] ('a'): relu takes 1 input, got 2"),
    (setter("nodes", 2, "name", value="stem"), "nodes[2]: layer 'stem' is defined twice"),
    # whole-graph checks
    (setter("nodes", 5, "name", value="2y"), "nodes[5].name: '2y' is not a valid layer name"),
    # target
    (setter("target", "clock_hz", value=1), "target.clock_hz: 1 is out of range [1000, 1e+10]"),
    (setter("target", "word_bits", value=0), "target.word_bits: 0 is out of range [1, 64]"),
    (setter("target", "dsp", value=1518.5), "target.dsp: expected an integer, got 1518.5"),
    (setter("target", "dsp", value=True), "target.dsp: expected an integer or a number, got true"),
    (setter("target", "clock_hz", value="200 MHz"), "target.clock_hz: expected an integer or a number"),
    (setter("target", "dsp", value=1000), "target.unroll: the PE array (16×32×4×1 MACs at 2 per DSP) needs 1024 DSP"),
    (setter("target", "bram", value=10), "target.input_buffer: the buffers need 131072 bytes"),
    (deleter("target", "clock_hz"), "target: missing 'clock_hz'"),
    (setter("target", "unroll", value={"pif": 16, "pof": 32, "pkx": 4}), "target.unroll: missing 'pky'"),
    # prune directives
    (setter("directives", "prune", "rules", 0, "rate", value=1.5),
     "directives.prune.rules[0].rate: must be at least 0 and below 1, got 1.5"),
    (setter("directives", "prune", "rules", 0, "rate", value=-0.1),
     "directives.prune.rules[0].rate: must be at least 0"),
    (setter("directives", "prune", "rules", 0, "rate", value="half"), "directives.prune.rules[0].rate: expected"),
    (setter("directives", "prune", "rules", 0, "rate", value=True), "directives.prune.rules[0].rate: expected"),
    (deleter("directives", "prune", "rules", 0, "pattern"), "directives.prune.rules[0]: missing 'pattern'"),
    (setter("directives", "prune", "keep", value=[3]), "directives.prune.keep[0].keep: expected a string"),
    # format and version
    (setter("version", value=2), "file: version 2 is not supported (this segc reads 1)"),
    (setter("version", value="1"), "file.version: expected an integer"),
    (setter("format", value="onnx"), "file: not a segc graph (format is not 'segc.graph')"),
    (deleter("format",), "file: missing 'format'"),
])
def test_bad_json_names_where(edit, expected):
    assert expected in error_of(edit)


def test_output_feeding_a_layer_is_caught_by_verification():
    def edit(data: dict) -> None:
        extra = {"name": "after", "op": "relu", "inputs": ["output.y"], "attrs": {}, "shape": [4, 8, 8]}
        data["nodes"].append(extra)
    assert "layer 'output.y': an output cannot feed other layers" in error_of(edit)


def test_not_json_at_all():
    with pytest.raises(SegError, match=r"g\.json: error: 1:2: not valid JSON"):
        serialize.loads("{", "g.json")
    with pytest.raises(SegError, match="file: missing 'format'"):
        serialize.loads("[1, 2]", "g.json")


def test_load_reports_the_file_path(tmp_path):
    data = small_data()
    data["nodes"][3]["shape"] = [5, 8, 8]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SegError) as err:
        segc.load(str(path))
    assert err.value.render().startswith(f"{path}: error: nodes[3] ('conv1'): shape [5, 8, 8] differs")


@pytest.mark.parametrize("value", [0, -16])
def test_unroll_factor_out_of_range(value):
    assert "target.unroll" in error_of(setter("target", "unroll", "pif", value=value))


def test_nan_attribute_is_rejected():
    assert "nodes[4] ('bn1')" in error_of(setter("nodes", 4, "attrs", "eps", value=float("nan")))
