"""The graph IR (``segc.ir.Graph``, ``Node``), its verifier (``Graph.problems`` /
``Graph.verify``) and ``segc.ir.summarize``, on small graphs built by hand.

Shapes and work counts are computed by hand in each test.
"""

from __future__ import annotations

import pytest

from segc.ir import OPS, Graph, Node, SegError, Shape, summarize


def make(name: str, op: str, inputs=(), shape: Shape | None = None, **attrs) -> Node:
    """A node with canonical attributes."""
    return Node(name, op, tuple(inputs), OPS[op].build_attrs(attrs), shape)


def chain() -> Graph:
    """x [3, 8, 8] -> conv(4, k=3) -> bn -> relu -> output."""
    graph = Graph("n")
    graph.add(make("x", "input", (), Shape(3, 8, 8), c=3, h=8, w=8))
    graph.add(make("conv", "conv", ["x"], Shape(4, 8, 8), out=4, k=3))
    graph.add(make("bn", "bn", ["conv"], Shape(4, 8, 8)))
    graph.add(make("relu", "relu", ["bn"], Shape(4, 8, 8)))
    graph.add(make("output.y", "output", ["relu"], Shape(4, 8, 8)))
    return graph


def residual() -> Graph:
    """x -> a = relu(x); s = add(x, x); t = add(a, s) -> output."""
    graph = Graph("res")
    shape = Shape(2, 4, 4)
    graph.add(make("x", "input", (), shape, c=2, h=4, w=4))
    graph.add(make("a", "relu", ["x"], shape))
    graph.add(make("s", "add", ["x", "x"], shape))
    graph.add(make("t", "add", ["a", "s"], shape))
    graph.add(make("output.t", "output", ["t"], shape))
    return graph


def messages(graph: Graph, context: str | None = None) -> list[str]:
    return [d.message for d in graph.problems(context)]


# ---------------------------------------------------------------- reading

def test_sound_graphs_have_no_problems():
    assert chain().problems() == []
    assert residual().problems() == []
    chain().verify()


def test_topological_order_is_insertion_order():
    assert [n.name for n in chain().nodes()] == ["x", "conv", "bn", "relu", "output.y"]
    assert chain().topo_order() == ["x", "conv", "bn", "relu", "output.y"]
    assert [n.name for n in residual()] == ["x", "a", "s", "t", "output.t"]


def test_topological_order_is_deterministic_when_insertion_order_is_not_topological():
    graph = residual()
    # t reads a node added after it; order falls back to a sort that keeps insertion order where it can
    graph.add(make("b", "relu", ["x"], Shape(2, 4, 4)))
    graph.replace(make("t", "add", ["b", "s"], Shape(2, 4, 4)))
    order = graph.topo_order()
    assert order == ["x", "a", "s", "b", "t", "output.t"]
    assert residual_after_same_edits().topo_order() == order


def residual_after_same_edits() -> Graph:
    graph = residual()
    graph.add(make("b", "relu", ["x"], Shape(2, 4, 4)))
    graph.replace(make("t", "add", ["b", "s"], Shape(2, 4, 4)))
    return graph


def test_len_contains_node():
    graph = chain()
    assert len(graph) == 5
    assert "bn" in graph and "nope" not in graph
    assert graph.node("bn").op == "bn"
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        graph.node("nope")


def test_producers_keep_operand_order_and_repeats():
    graph = residual()
    assert [n.name for n in graph.producers("s")] == ["x", "x"]
    assert [n.name for n in graph.producers("t")] == ["a", "s"]
    assert graph.producers("x") == []


def test_consumers_in_insertion_order_each_once():
    graph = residual()
    assert [n.name for n in graph.consumers("x")] == ["a", "s"]
    assert [n.name for n in graph.consumers("s")] == ["t"]
    assert graph.consumers("output.t") == []


def test_inputs_outputs_and_input_shapes():
    graph = residual()
    assert [n.name for n in graph.inputs] == ["x"]
    assert [n.name for n in graph.outputs] == ["output.t"]
    assert graph.outputs[0].output_name == "t"
    assert graph.node("x").output_name == "x"
    assert graph.input_shapes(graph.node("s")) == [Shape(2, 4, 4), Shape(2, 4, 4)]


# ---------------------------------------------------------------- editing

def test_add_refuses_duplicates_and_unknown_operands():
    graph = chain()
    with pytest.raises(ValueError, match="already exists"):
        graph.add(make("bn", "relu", ["conv"], Shape(4, 8, 8)))
    with pytest.raises(ValueError, match="unknown layer"):
        graph.add(make("z", "relu", ["ghost"], Shape(4, 8, 8)))


def test_replace_changes_operands_and_edges():
    graph = residual()
    graph.replace(make("t", "add", ["x", "a"], Shape(2, 4, 4)))
    assert [n.name for n in graph.producers("t")] == ["x", "a"]
    assert [n.name for n in graph.consumers("s")] == []
    assert [n.name for n in graph.consumers("x")] == ["a", "s", "t"]
    assert messages(graph) == ["layer 's': does not reach any output"]


def test_replace_from_repeated_operands_drops_the_edge():
    graph = residual()
    graph.replace(make("s", "add", ["a", "a"], Shape(2, 4, 4)))
    assert [n.name for n in graph.consumers("x")] == ["a"]
    assert [n.name for n in graph.consumers("a")] == ["s", "t"]
    assert graph.problems() == []


def test_replace_refuses_unknown_operands():
    with pytest.raises(ValueError, match="unknown layer"):
        chain().replace(make("bn", "bn", ["ghost"], Shape(4, 8, 8)))


def test_remove_is_refused_while_consumers_exist():
    graph = chain()
    with pytest.raises(ValueError, match="'bn' is still read by relu"):
        graph.remove("bn")
    assert "bn" in graph


def test_remove_a_dead_layer():
    graph = chain()
    graph.add(make("dead", "relu", ["conv"], Shape(4, 8, 8)))
    assert messages(graph) == ["layer 'dead': does not reach any output"]
    graph.remove("dead")
    assert "dead" not in graph
    assert [n.name for n in graph.consumers("conv")] == ["bn"]
    assert graph.problems() == []


def test_copy_is_equal_and_independent():
    graph = chain()
    other = graph.copy()
    assert other.structure() == graph.structure()
    other.add(make("extra", "relu", ["relu"], Shape(4, 8, 8)))
    assert "extra" not in graph
    assert other.structure() != graph.structure()


def test_structure_compares_everything_that_defines_the_network():
    assert chain().structure() == chain().structure()
    renamed = chain()
    renamed.name = "m"
    assert renamed.structure() != chain().structure()
    changed = chain()
    changed.replace(make("bn", "bn", ["conv"], Shape(4, 8, 8), eps=1e-3))
    assert changed.structure() != chain().structure()


def test_annotations_and_spans_do_not_count_in_equality():
    node = make("r", "relu", ["x"], Shape(1, 1, 1))
    assert node.with_(annotations={"cost": 3}) == node
    assert node.with_(shape=Shape(2, 1, 1)) != node


# ---------------------------------------------------------------- verify

def test_wrong_stored_shape():
    graph = chain()
    graph.replace(make("output.y", "output", ["relu"], Shape(4, 8, 7)))
    assert messages(graph) == [
        "layer 'output.y': stored shape [4, 8, 7] differs from the inferred shape [4, 8, 8]",
    ]


def test_wrong_stored_shape_is_checked_against_the_stored_operand_shapes():
    # each layer is checked locally: bn's wrong shape also makes relu's (right) shape disagree
    graph = chain()
    graph.replace(make("bn", "bn", ["conv"], Shape(4, 8, 7)))
    assert messages(graph) == [
        "layer 'bn': stored shape [4, 8, 7] differs from the inferred shape [4, 8, 8]",
        "layer 'relu': stored shape [4, 8, 8] differs from the inferred shape [4, 8, 7]",
    ]


def test_unknown_op():
    graph = chain()
    graph.replace(Node("relu", "softplus", ("bn",), {}, Shape(4, 8, 8)))
    assert messages(graph) == ["layer 'relu': unknown op 'softplus'"]


def test_bad_attribute_value():
    graph = chain()
    graph.replace(Node("bn", "bn", ("conv",), {"eps": -1.0}, Shape(4, 8, 8)))
    [message] = messages(graph)
    assert message.startswith("layer 'bn': 'eps' must be a non-negative number")


def test_attributes_not_in_canonical_form():
    graph = chain()
    attrs = dict(graph.node("conv").attrs, k=3)  # canonical is (3, 3)
    graph.replace(Node("conv", "conv", ("x",), attrs, Shape(4, 8, 8)))
    assert messages(graph) == ["layer 'conv': attributes are not in canonical form"]


def test_unknown_attribute():
    graph = chain()
    graph.replace(Node("relu", "relu", ("bn",), {"inplace": True}, Shape(4, 8, 8)))
    [message] = messages(graph)
    assert "relu has no attribute 'inplace'" in message


def test_wrong_operand_count():
    graph = chain()
    graph.replace(make("relu", "relu", ["bn", "conv"], Shape(4, 8, 8)))
    assert messages(graph) == ["layer 'relu': relu takes 1 input, got 2"]
    graph = residual()
    graph.replace(make("s", "add", ["x"], Shape(2, 4, 4)))
    assert messages(graph) == ["layer 's': add takes at least 2 inputs, got 1"]


def test_shape_rule_failure_is_reported():
    graph = residual()
    graph.add(make("c", "conv", ["x"], Shape(3, 4, 4), out=3, k=1))
    graph.replace(make("t", "add", ["a", "c", "s"], Shape(2, 4, 4)))
    assert messages(graph) == ["layer 't': add inputs must have the same shape, got [2, 4, 4] and [3, 4, 4]"]


def test_cycle():
    graph = chain()
    graph.replace(make("conv", "conv", ["relu"], Shape(4, 8, 8), out=4, k=3))
    assert not graph.is_acyclic()
    assert messages(graph) == ["network 'n' has a cycle: conv → bn → relu → conv"]
    with pytest.raises(SegError, match="has a cycle"):
        graph.verify()


def test_layer_not_reaching_an_output():
    graph = chain()
    graph.add(make("side", "relu", ["conv"], Shape(4, 8, 8)))
    graph.add(make("side2", "relu", ["side"], Shape(4, 8, 8)))
    assert messages(graph) == ["layer 'side': does not reach any output", "layer 'side2': does not reach any output"]


def test_output_feeding_a_layer():
    graph = chain()
    graph.add(make("after", "relu", ["output.y"], Shape(4, 8, 8)))
    assert "layer 'output.y': an output cannot feed other layers" in messages(graph)


def test_missing_input_and_output():
    assert messages(Graph("empty")) == ["network 'empty' has no input", "network 'empty' has no output"]
    graph = Graph("no_out")
    graph.add(make("x", "input", (), Shape(3, 8, 8), c=3, h=8, w=8))
    assert messages(graph) == ["network 'no_out' has no output"]


@pytest.mark.parametrize("name", ["1conv", "a-b", "a..b", "a.", "", "conv 1"])
def test_invalid_names(name):
    graph = chain()
    graph.add(make(name, "relu", ["relu"], Shape(4, 8, 8)))
    graph.add(make("output.z", "output", [name], Shape(4, 8, 8)))
    assert messages(graph) == [f"layer '{name}': not a valid layer name (letters, digits and underscores (ASCII), "
                               "in parts joined by dots, not starting with a digit)"]


@pytest.mark.parametrize("name", ["_x", "layer1.0.conv1", "res5.0.downsample.0", "output.logits"])
def test_valid_hierarchical_names(name):
    graph = chain()
    graph.add(make(name, "relu", ["relu"], Shape(4, 8, 8)))
    graph.add(make("output.z", "output", [name], Shape(4, 8, 8)))
    assert graph.problems() == []


def test_every_problem_is_listed():
    graph = chain()
    graph.replace(make("output.y", "output", ["relu"], Shape(4, 8, 7)))
    graph.add(make("side", "relu", ["conv"], Shape(4, 8, 8)))
    assert len(graph.problems()) == 2
    with pytest.raises(SegError) as err:
        graph.verify()
    assert len(err.value.diagnostics) == 2


def test_context_prefixes_messages():
    graph = chain()
    graph.replace(make("output.y", "output", ["relu"], Shape(4, 8, 7)))
    graph.add(make("side", "relu", ["conv"], Shape(4, 8, 8)))
    assert messages(graph, context="after pass 'x'") == [
        "after pass 'x': layer 'output.y': stored shape [4, 8, 7] differs from the inferred shape [4, 8, 8]",
        "after pass 'x': layer 'side': does not reach any output",
    ]
    graph.replace(make("conv", "conv", ["relu"], Shape(4, 8, 8), out=4, k=3))
    expected = "after pass 'x': network 'n' has a cycle: conv → bn → relu → conv"
    assert messages(graph, context="after pass 'x'") == [expected]
    with pytest.raises(SegError, match="after pass 'tile': network 'n' has a cycle"):
        graph.verify(context="after pass 'tile'")


# ---------------------------------------------------------------- summarize

def test_summarize_rows_and_totals():
    graph = Graph("cls")
    graph.add(make("x", "input", (), Shape(3, 8, 8), c=3, h=8, w=8))
    graph.add(make("conv", "conv", ["x"], Shape(16, 4, 4), out=16, k=3, stride=2, bias=True))
    graph.add(make("bn", "bn", ["conv"], Shape(16, 4, 4)))
    graph.add(make("relu", "relu", ["bn"], Shape(16, 4, 4)))
    graph.add(make("pool", "avgpool", ["relu"], Shape(16, 1, 1), **{"global": True}))
    graph.add(make("fc", "linear", ["pool"], Shape(10, 1, 1), out=10))
    graph.add(make("output.logits", "output", ["fc"], Shape(10, 1, 1)))
    graph.verify()
    rows = summarize(graph)
    assert [r.name for r in rows] == ["x", "conv", "bn", "relu", "pool", "fc", "output.logits"]
    by_name = {r.name: r for r in rows}
    assert (by_name["conv"].macs, by_name["conv"].params) == (4 * 4 * 16 * 3 * 3 * 3, 16 * 3 * 3 * 3 + 16)
    assert (by_name["bn"].macs, by_name["bn"].params) == (0, 2 * 16)
    assert (by_name["fc"].macs, by_name["fc"].params) == (16 * 10, 16 * 10 + 10)
    assert by_name["pool"].shape == Shape(16, 1, 1)
    assert sum(r.macs for r in rows) == 4 * 4 * 16 * 3 * 3 * 3 + 16 * 10
    assert sum(r.params for r in rows) == (16 * 27 + 16) + 2 * 16 + (16 * 10 + 10)
    assert by_name["fc"].to_json() == {"name": "fc", "op": "linear", "shape": [10, 1, 1], "macs": 160,
                                       "params": 170}


def test_summarize_residual_has_no_work():
    assert sum(r.macs + r.params for r in summarize(residual())) == 0
