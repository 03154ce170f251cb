"""Elaboration builds an op's attributes and shape once per distinct
(op, argument values, input shapes) and reuses them for layers alike; a
block call's layers carry its call sites."""

from __future__ import annotations

import gc

import pytest
from seg_text import network

import segc
from segc import SegError


def test_layers_alike_get_their_own_shapes():
    graph = segc.loads(network("output y = x -> conv(8, k=3, stride=2) -> conv(8, k=3, stride=2) -> "
                               "conv(8, k=3, stride=2)", inputs="input x: [3, 16, 16]"))
    convs = [n for n in graph.nodes() if n.op == "conv"]
    # padding 1: (16 + 2 - 3) // 2 + 1 = 8, then 4, then 2
    assert [tuple(n.shape) for n in convs] == [(8, 8, 8), (8, 4, 4), (8, 2, 2)]
    assert [n.attrs["k"] for n in convs] == [(3, 3)] * 3 and [n.attrs["stride"] for n in convs] == [(2, 2)] * 3


def test_a_boolean_is_not_the_integer_one():
    text = network("output y = add(x -> conv(8, k=1), x -> conv(8, k=true))", inputs="input x: [3, 8, 8]")
    with pytest.raises(SegError, match="'k' must be a positive integer or a pair"):
        segc.loads(text)


def test_a_float_is_not_the_integer():
    text = network("output y = add(x -> conv(8, k=1), x -> conv(8, k=1.0))", inputs="input x: [3, 8, 8]")
    with pytest.raises(SegError, match=r"got 1\.0 \(use // for integer division"):
        segc.loads(text)


BLOCKS = """
block inner(x) {
    return x -> relu
}
block outer(x) {
    return x -> inner -> inner
}
"""


def test_layers_carry_the_call_sites_of_their_blocks():
    text = network("output y = x -> outer -> relu", blocks=BLOCKS)
    graph = segc.loads(text)
    traces = {n.name: [text[s.start:s.end] for s in n.trace] for n in graph.nodes() if n.op == "relu"}
    assert traces == {"y.0.0": ["outer", "inner"], "y.0.1": ["outer", "inner"], "y.relu": []}


def test_the_evaluator_goes_without_the_cyclic_collector():
    """``segc report`` pauses the collector throughout: the elaboration's
    layers must be freed by reference counting once the graph is built."""
    from segc.dsl.calls import CallEvaluator

    gc.collect()
    gc.disable()
    try:
        segc.loads(network("output y = x -> outer -> relu", blocks=BLOCKS))
        alive = [o for o in gc.get_objects() if type(o) is CallEvaluator]  # type(): no attribute lookups
    finally:
        gc.enable()
    assert alive == []
