"""passes/resources.py by hand on the depthwise engine and on streamed layers
(docs/quantization.md, "Resources"): a 16-lane, 9-tap engine and a 3-wide
elementwise unit on the one-layer target of test_quant_cost."""

from __future__ import annotations

import pytest
from test_quant_cost import TARGET

import segc
from segc.hardware import analyse

ENGINES = "    depthwise = {lanes: 16, taps: 9}\n    elementwise = {width: 3}\n"
# d: 3x3 depthwise, e: 1x1 depthwise (one term per accumulator), then add, maxpool, upsample streamed.
NETWORK = """
network n on h {
    input x: [16, 8, 8]
    d = x -> conv(16, k=3, groups=16)
    e = d -> conv(16, k=1, groups=16)
    s = add(x, e) -> maxpool(k=2)
    u = s -> upsample(scale=2)
    output o = u
}
"""
EIGHT_BIT = "quantize n {\n    *: w=8, a=8, scheme=int\n}\n"


def _costs(engines: str = ENGINES, quantize: str = "", block: str = "36 Kibit") -> dict[str, dict]:
    target = TARGET.replace("    lut = 4000\n", "    lut = 4000\n" + engines)
    target = target.replace("bram_block = 36 Kibit", f"bram_block = {block}")
    graph = analyse(segc.loads(target + NETWORK + quantize, path="resources.seg"))
    return {node.name: node.annotations["cost"] for node in graph.nodes()}


@pytest.mark.parametrize(("quantize", "bits", "per_dsp"), [("", 16, 1), (EIGHT_BIT, 8, 2)])
def test_depthwise_engine_lanes_times_taps(quantize, bits, per_dsp):
    costs = _costs(quantize=quantize)
    lanes = 16 * 9
    # accumulator: w + a + ⌈log2(C_i/g·k·k)⌉ bits; 3x3: ⌈log2 9⌉ = 4; 1x1: one term, still a 1-bit carry
    for name, log_terms in (("d", 4), ("e", 1)):
        assert costs[name]["engine"] == "depthwise"
        resources = costs[name]["resources"]
        assert resources["dsp"] == lanes // per_dsp
        assert resources["lut"] == resources["ff"] == lanes * (2 * bits + log_terms)


def test_depthwise_ram_blocks_hold_the_engines_channels():
    costs = _costs(block="1 Kibit")
    tix, tiy = costs["d"]["input_tile"]
    assert (tix, tiy) == (8, 3)
    # tile: 8·3 pixels · 16 lanes' channels · 16 bits = 6,144 bits = 6 blocks;
    # weights: 16 lanes · 16 channels · 9 taps · 16 bits = 36,864 bits = 36 blocks
    assert costs["d"]["resources"]["bram"] == 6 + 36


def test_an_engines_own_dsp_count_replaces_the_packing():
    costs = _costs(engines="    depthwise = {lanes: 16, taps: 9, dsp: 50}\n    elementwise = {width: 3, dsp: 7}\n")
    assert costs["d"]["resources"]["dsp"] == costs["e"]["resources"]["dsp"] == 50
    assert [costs[n]["resources"]["dsp"] for n in ("s.add", "s.maxpool", "u")] == [7, 7, 7]


@pytest.mark.parametrize(("quantize", "bits", "dsp"), [("", 16, 3), (EIGHT_BIT, 8, 2)])  # ⌈3 / p⌉
def test_streamed_layers_on_the_elementwise_unit(quantize, bits, dsp):
    costs = _costs(quantize=quantize)
    for name in ("s.add", "s.maxpool", "u"):
        assert (costs[name]["rule"], costs[name]["engine"]) == ("stream", "elementwise")
        assert costs[name]["resources"] == {"dsp": dsp, "bram": 0, "lut": 3 * bits, "ff": 3 * bits}


def test_streamed_layers_without_a_unit_use_the_pof_lanes():
    costs = _costs(engines="    depthwise = {lanes: 16, taps: 9}\n")
    for name in ("s.add", "s.maxpool", "u"):
        assert costs[name]["rule"] == "stream"
        assert costs[name]["resources"] == {"dsp": 0, "bram": 0, "lut": 32 * 16, "ff": 32 * 16}  # P_of = 32
    assert costs["x"]["resources"] == dict.fromkeys(("dsp", "bram", "lut", "ff"), 0)


def test_operands_are_the_wider_of_weights_and_input_not_the_output():
    # 4-bit weights, 8-bit activations, but d writes 4 bits: d multiplies 8-bit inputs (p = 2),
    # e reads d's 4 bits (p = 4) and writes 8; accumulators w + a_in + ⌈log2 terms⌉
    costs = _costs(quantize="quantize n {\n    *: w=4, a=8, scheme=int\n    d: a=4\n}\n")
    assert costs["d"]["resources"]["dsp"] == 144 // 2
    assert costs["e"]["resources"]["dsp"] == 144 // 4
    assert costs["d"]["resources"]["lut"] == 144 * (4 + 8 + 4)
    assert costs["e"]["resources"]["lut"] == 144 * (4 + 4 + 1)


def test_a_grouped_conv_on_the_pe_array_holds_its_groups_channels():
    text = TARGET.replace("bram_block = 36 Kibit", "bram_block = 1 Kibit") + (
        "network n on h {\n input x: [16, 8, 8]\n g = x -> conv(16, k=1, groups=4)\n output o = g\n}\n")
    cost = analyse(segc.loads(text, path="grouped.seg")).node("g").annotations["cost"]
    assert (cost["engine"], cost["input_tile"]) == ("pe", [8, 8])
    # C_i/g = 4: tile 8·8·4·16 = 4,096 bits = 4 blocks, weights P_of 32 · 4 · 16 = 2,048 bits = 2 blocks;
    # U = 4·32 = 128 lanes of 16 + 16 + ⌈log2 4⌉ = 34 bits
    assert cost["resources"] == {"dsp": 128, "bram": 4 + 2, "lut": 128 * 34, "ff": 128 * 34}
