"""``split`` in .seg: consecutive channel parts as slice layers; its
mistakes are located errors."""

from __future__ import annotations

import pytest

import segc
from segc.ir import SegError


def network(body: str) -> str:
    return f"network n {{\n    input x: [12, 4, 4]\n{body}\n}}\n"


def test_equal_parts_and_sizes():
    graph = segc.loads(network("""    halves = x -> split(2)
    parts = split(x, [3, 5, 4])
    output y = concat(halves[1], *parts, halves[0])"""))
    slices = [(n.name, n.attrs["start"], n.attrs["end"]) for n in graph.nodes() if n.op == "slice"]
    assert slices == [("halves.slice1", 0, 6), ("halves.slice2", 6, 12),
                      ("parts.slice1", 0, 3), ("parts.slice2", 3, 8), ("parts.slice3", 8, 12)]
    assert graph.node("output.y").shape.c == 24


@pytest.mark.parametrize(("call", "message", "column"), [
    # "    parts = x -> split(" puts the parts argument at column 24
    ("x -> split(5)", "split into 5 equal parts needs a divisor of the 12 channels", 24),
    ("x -> split([6, 5])", "split sizes [6, 5] must be positive and add up to the 12 channels", 24),
    ("x -> split(2.0)", "split takes an integer count of equal parts or a list of integer sizes, got a number", 24),
    ("x -> split(2, at=1)", "split takes no keyword arguments", 27),
    ("split(3)", "split takes a tensor and its parts", 13),
    ("x -> split(2) as halves", "'as' names one layer, and split makes one per part", 30),
])
def test_mistakes_are_located(call, message, column):
    with pytest.raises(SegError) as err:
        segc.loads(network(f"    parts = {call}\n    output y = parts[0]"))
    [diagnostic] = err.value.diagnostics
    assert diagnostic.message.startswith(message)
    assert (diagnostic.span.line, diagnostic.span.column) == (3, column)


def test_split_is_no_block_name_and_chunk_suggests_it():
    with pytest.raises(SegError, match="block 'split' has the name of an op"):
        segc.loads("block split(x) {\n    return x\n}\n" + network("    output y = x"))
    with pytest.raises(SegError, match="did you mean 'split'"):
        segc.loads(network("    output y = x -> chunk(2)"))
