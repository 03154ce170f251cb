"""passes/widths.py by hand: which producer's width a layer reads at, the
zeros of a layer without inputs or weights, and Buf_in = ⌊bits / b⌋ (Eq. 1)."""

from __future__ import annotations

from test_quant_cost import TARGET

import segc
from segc.passes.widths import buffer_words, input_bits, io_bits

# Two producers at different widths (a at 4 bits, b at 16) meet in an add; the pool has no weights.
NETWORK = """
network n on h {
    input x: [16, 8, 8]
    a = x -> conv(16, k=1)
    b = x -> conv(16, k=1)
    s = add(a, b)
    p = s -> maxpool(k=2)
    output o = p
}
quantize n {
    *: w=8, a=8, scheme=int
    a: a=4
    b: a=16
}
"""


def _graph(target: str = TARGET) -> segc.Graph:
    return segc.loads(target + NETWORK, path="widths.seg")


def test_a_layer_reads_each_input_at_its_producers_width():
    graph = _graph()
    add = graph.node("s")
    assert input_bits(graph, add) == 4  # the first input, a's 4 bits, unless another index is asked
    assert (input_bits(graph, add, 0), input_bits(graph, add, 1)) == (4, 16)
    assert io_bits(graph, add) == (4, 0, 8)  # first input, no weights, its own 8 bits


def test_no_inputs_and_no_weights_count_zero_bits():
    graph = _graph()
    assert io_bits(graph, graph.node("x")) == (0, 0, 8)  # the network's input: nothing read, no weights
    assert io_bits(graph, graph.node("p")) == (8, 0, 8)
    assert io_bits(graph, graph.node("a")) == (8, 8, 4)


def test_buffer_words_round_down_to_whole_words():
    # 2 KiB = 16,384 bits: 1,365 words of 12 bits (16,380 bits), 4,096 of 4 bits, 1,024 of 16 bits
    graph = segc.loads(TARGET + NETWORK.replace("a: a=4", "a: a=12"), path="widths.seg")
    assert buffer_words(graph, graph.node("s")) == 1365
    graph = _graph()
    assert (buffer_words(graph, graph.node("s")), buffer_words(graph, graph.node("p"))) == (4096, 2048)
