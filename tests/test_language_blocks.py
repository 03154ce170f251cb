"""The ``.seg`` language's structure: ``if`` expressions (only the taken
branch makes layers), blocks with default and keyword arguments, ``->``
chaining and multi-input ops."""

from __future__ import annotations

import pytest
from seg_text import int_value, network, ops

import segc
from segc import SegError


# ---------------------------------------------------------------- if expressions
def test_if_else_if_else_values() -> None:
    expr = "if {c} > 8 {{ 1 }} else if {c} > 4 {{ 2 }} else {{ 3 }}"
    assert [int_value(expr.format(c=c)) for c in (9, 8, 5, 4)] == [1, 2, 2, 3]


def test_untaken_branch_is_not_evaluated() -> None:
    assert int_value("if true { 7 } else { 1 // 0 }") == 7
    assert int_value("if false { 1 // 0 } else if true { 8 } else { 1 // 0 }") == 8


BRANCHY = """
block pick(x, c) {
    return if c > 8 {
        x -> conv(c, k=1)
    } else if c > 4 {
        x -> conv(c, k=3) -> bn -> relu
    } else {
        x
    }
}
"""


@pytest.mark.parametrize(("c", "expected_ops"), [
    (16, ["input", "conv", "output"]),
    (8, ["input", "conv", "bn", "relu", "output"]),
    (2, ["input", "output"]),
])
def test_only_the_taken_branch_makes_layers(c: int, expected_ops: list[str]) -> None:
    warnings: list = []
    graph = segc.loads(network(f"output y = x -> pick({c})", BRANCHY), warnings=warnings)
    assert ops(graph) == expected_ops
    assert warnings == []


RESIDUAL = """
block res(x, c, stride=1) {
    y = x -> conv(c, k=3, stride=stride) -> bn -> relu -> conv(c, k=3) -> bn
    s = if stride != 1 or channels(x) != c {
        x -> conv(c, k=1, stride=stride) -> bn
    } else {
        x
    }
    return add(y, s) -> relu
}
"""


@pytest.mark.parametrize(("call", "convs", "bns", "shortcut_stride"), [
    ("res(16)", 2, 2, None),
    ("res(16, stride=2)", 3, 3, (2, 2)),
    ("res(32)", 3, 3, (1, 1)),
    ("res(32, stride=2)", 3, 3, (2, 2)),
])
def test_projection_shortcut_only_when_needed(call: str, convs: int, bns: int, shortcut_stride) -> None:
    graph = segc.loads(network(f"output y = x -> {call}", RESIDUAL))
    assert ops(graph).count("conv") == convs
    assert ops(graph).count("bn") == bns
    pointwise = [n for n in graph.nodes() if n.op == "conv" and n.attrs["k"] == (1, 1)]
    if shortcut_stride is None:
        assert pointwise == []
        add = next(n for n in graph.nodes() if n.op == "add")
        assert add.inputs[1] == "x"
    else:
        assert len(pointwise) == 1
        assert pointwise[0].attrs["stride"] == shortcut_stride
        assert pointwise[0].inputs == ("x",)


# ---------------------------------------------------------------- blocks
BOTTLENECK = """
block b(x, c, mid=c // 4) {
    return x -> conv(mid, k=1) -> conv(c, k=1)
}
"""


@pytest.mark.parametrize(("call", "mid", "out"), [
    ("b(32)", 32 // 4, 32),
    ("b(32, mid=3)", 3, 32),
    ("b(c=64)", 64 // 4, 64),
    ("b(mid=5, c=12)", 5, 12),
    ("b(12, 5)", 5, 12),
])
def test_block_defaults_and_keywords(call: str, mid: int, out: int) -> None:
    graph = segc.loads(network(f"output y = x -> {call}", BOTTLENECK))
    convs = [n for n in graph.nodes() if n.op == "conv"]
    assert [c.attrs["out"] for c in convs] == [mid, out]
    assert graph.node("output.y").shape == (out, 8, 8)


def test_block_call_without_chain() -> None:
    graph = segc.loads(network("output y = b(x, 8)", BOTTLENECK))
    assert [n.attrs["out"] for n in graph.nodes() if n.op == "conv"] == [2, 8]


@pytest.mark.parametrize(("call", "message"), [
    ("b()", "needs argument 'c'"),
    ("b(8, wide=2)", "no parameter 'wide'"),
    ("b(8, c=8)", "given twice"),
    ("b(8, 2, 3)", "takes 3 argument"),
])
def test_block_argument_errors(call: str, message: str) -> None:
    with pytest.raises(SegError, match=message):
        segc.loads(network(f"output y = x -> {call}", BOTTLENECK))


def test_block_locals_do_not_leak() -> None:
    blocks = "block f(x) {\n    inner = x -> relu\n    return inner\n}\n"
    with pytest.raises(SegError, match="undefined name 'inner'"):
        segc.loads(network("a = x -> f()\n    output y = inner", blocks))


# ---------------------------------------------------------------- chains and multi-input ops
def test_chain_left_side_is_the_first_operand() -> None:
    body = "a = x -> relu\n    b = x -> sigmoid\n    c = a -> add(b)\n    d = add(b, a)\n    output y = concat(c, d)"
    graph = segc.loads(network(body))
    assert graph.node("c").inputs == ("a", "b")
    assert graph.node("d").inputs == ("b", "a")


def test_chain_into_conv_and_bare_ops() -> None:
    graph = segc.loads(network("output y = x -> conv(4, k=1) -> relu -> bn"))
    assert ops(graph) == ["input", "conv", "relu", "bn", "output"]
    first = graph.nodes()[1]
    assert first.inputs == ("x",)
    assert first.shape == (4, 8, 8)


def test_multi_input_add_and_concat() -> None:
    body = ("a = x -> relu\n    b = x -> sigmoid\n    c = x -> identity\n"
            "    s = add(a, b, c)\n    output y = concat(s, a, x -> conv(3, k=1))")
    graph = segc.loads(network(body))
    assert graph.node("s").inputs == ("a", "b", "c")
    assert graph.node("s").shape == (16, 8, 8)
    assert graph.node("output.y").shape == (16 + 16 + 3, 8, 8)


def test_add_of_different_shapes_is_an_error() -> None:
    with pytest.raises(SegError, match="same shape"):
        segc.loads(network("output y = add(x, x -> conv(4, k=1))"))
