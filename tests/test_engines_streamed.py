"""Streamed layers on the elementwise unit and on the P_of lanes
(passes/engines.py): the taps of each op as docs/targets.md lists them,
⌈elements·taps / width⌉ cycles, and the inputs read (not a shape-only
operand); every number worked out by hand in the table.  And the reasons
the PE array's layers give."""

from __future__ import annotations

import pytest
from test_engines import MACHINE, cost_of

import segc

# MACHINE: elementwise unit of width 3 taps per cycle; P_of = 4 lanes.
# (the lines before, layer y, stream work = output elements · taps, DRAM words in, DRAM words out)
STREAMED = [
    # 8×8 → 3×4 by a 3×2 window, stride 2: 8·3·4 = 96 outputs of 6 taps; reads 8·64
    (("input x: [8, 8, 8]",), "x -> maxpool(k=[3, 2], stride=2)", 96 * 6, 512, 96),
    # global: each of the 8 outputs takes all 4·6 pixels of its channel
    (("input x: [8, 4, 6]",), "x -> avgpool(global=true)", 8 * 24, 192, 8),
    (("input x: [8, 4, 6]",), "x -> mean()", 8 * 24, 192, 8),
    # softmax: three passes over the channels (maximum, sum of exponentials, division); an
    # activation not fused into a convolution: one tap
    (("input x: [8, 4, 6]",), "x -> softmax", 192 * 3, 192, 192),
    (("input x: [8, 4, 6]",), "x -> relu", 192, 192, 192),
    (("input x: [8, 4, 6]",), "x -> tanh", 192, 192, 192),
    (("input x: [8, 4, 6]",), "x -> bn", 192, 192, 192),
    # one tap per input: three inputs of 128 each
    (("input x: [8, 4, 4]", "a = x -> relu", "b = x -> sigmoid"), "add(x, a, b)", 128 * 3, 3 * 128, 128),
    (("input x: [8, 4, 4]", "a = x -> relu"), "mul(x, a)", 128 * 2, 2 * 128, 128),
    # nearest: 1 tap per output; bilinear: 4; the size given by s is not read
    (("input x: [8, 4, 4]",), "x -> upsample(2)", 512, 128, 512),
    (("input x: [8, 4, 4]", "input s: [3, 8, 8]"), 'x -> upsample(to=s, mode="bilinear")', 512 * 4, 128, 512),
]


def streamed(before: tuple[str, ...], layer: str, target: str = MACHINE) -> dict:
    """The cost of ``output y = layer`` after the lines ``before``."""
    lines = "".join(f" {line}\n" for line in before)
    graph = segc.loads(target + f"network n on m {{\n{lines} output y = {layer}\n}}\n")
    return cost_of(graph)


@pytest.mark.parametrize(("before", "layer", "work", "dram_in", "dram_out"), STREAMED)
def test_streamed_layers_on_the_elementwise_unit(before, layer, work, dram_in, dram_out):
    cost = streamed(before, layer)
    assert (cost["engine"], cost["rule"]) == ("elementwise", "stream")
    assert cost["stream_work"] == work
    assert cost["cycles_compute"] == -(-work // 3)
    assert (cost["dram_in"], cost["dram_weight"], cost["dram_out"]) == (dram_in, 0, dram_out)


def test_streamed_layers_on_the_lanes_round_up():
    # 3 channels of 1×3 through softmax: 9 outputs · 3 taps = 27 on 4 lanes: ⌈27/4⌉ = 7 cycles
    plain = MACHINE.replace("    elementwise = {width: 3}\n", "")
    cost = streamed(("input x: [3, 1, 3]",), "x -> softmax", target=plain)
    assert (cost["engine"], cost["cycles_compute"], cost["stream_work"]) == ("lanes", 7, 27)
    assert cost["reason"] == "streams its inputs and output through DRAM on the P_of lanes"


def test_a_fractional_unit_width_rounds_the_cycles_up():
    # width 2.5 taps per cycle: 2·8·8 = 128 nearest outputs take ⌈128 / 2.5⌉ = ⌈51.2⌉ = 52 cycles
    slow = MACHINE.replace("elementwise = {width: 3}", "elementwise = {width: 2.5}")
    cost = streamed(("input x: [2, 4, 4]",), "x -> upsample(2)", target=slow)
    assert (cost["cycles_compute"], cost["reason"]) == (52, "elementwise unit, 2.5 taps per cycle")


def test_layers_on_the_pe_array_name_their_equations():
    streaming = MACHINE.replace("    line_buffer = 15\n", '    line_buffer = 15\n    conv_input = "streamed"\n')
    assert streamed(("input x: [8, 8, 8]",), "x -> conv(8, k=3)")["reason"] == "Eq. 2-5"
    assert streamed(("input x: [8, 2, 2]", "f = x -> flatten"), "f -> linear(10)")["reason"] == "Eq. 2-5"
    assert streamed(("input x: [8, 8, 8]",), "x -> conv(8, k=3)", streaming)["reason"] == (
        "Eq. 2, 4-5, input streamed once")


def test_a_streamed_layers_bits_are_its_words_at_their_widths_and_a_strided_depthwise_layer_reads_its_input():
    # relu over 32×16×16 8-bit words: 8,192 read and 8,192 written, no weights
    relu = cost_of(segc.loads(MACHINE + "network n on m {\n input x: [32, 16, 16]\n output y = x -> relu\n}\n"))
    assert (relu["dram_in"], relu["dram_weight"], relu["dram_out"]) == (8192, 0, 8192)
    assert relu["dram_bits"] == (8192 + 8192) * 8
    # a depthwise 3x3 at stride 2 on the engine: it streams its 32·16·16 input once, writes 32·8·8
    depthwise = cost_of(segc.loads(MACHINE + "network n on m {\n input x: [32, 16, 16]\n"
                                   " output y = x -> conv(32, k=3, groups=32, stride=2)\n}\n"))
    assert (depthwise["dram_in"], depthwise["dram_weight"], depthwise["dram_out"]) == (8192, 32 * 9, 2048)
