"""Eq. 1-5 of Mori et al. (Sec. 3.2) on small layers, every expected number
worked out by hand in the comments."""

from __future__ import annotations

import pytest

import segc
from segc.hardware import analyse
from segc.passes.cost import CostPass

TARGET = """
target t {
    clock = 200 MHz
    bandwidth = 9.5 GB/s
    dsp = 1518
    bram = 2713
    bram_block = 20 Kibit
    input_buffer = BUFFER
    word = 16 bit
    macs_per_dsp = 2
    unroll = {pif: 16, pof: 32, pkx: 4}
}
"""


def _cost(body: str, buffer: str = "128 KiB", mode: str = "paper", layer: str = "y") -> dict:
    text = TARGET.replace("BUFFER", buffer) + f"network n on t {{\n{body}\n output y\n}}\n"
    graph = analyse(segc.loads(text), mode)
    return graph.node(layer).annotations["cost"]


def test_3x3_conv_whole_map_in_one_tile():
    # Ci=20, Co=40, 10x10 output, 3x3, stride 1.  Buffer 2880 words = 20 · 144:
    # the whole 10x10 tile needs 12·12·20 = 2880 words, and the reuse
    # T_ox·T_oy/(T_ix·T_iy) grows with the tile, so Eq. 1 takes it.
    cost = _cost("input x: [20, 10, 10]\n y = x -> conv(40, k=3)", buffer="5760 B")
    assert (cost["tile"], cost["input_tile"]) == ([10, 10], [12, 12])
    assert cost["cycles_compute"] == 2 * 1 * 2 * 3 * 10 * 10  # ⌈20/16⌉·⌈3/4⌉·⌈40/32⌉·3·W·H = 1200
    assert cost["dram_in"] == 1 * 1 * 2 * 12 * 12 * 20  # tiles · ⌈40/32⌉ · T_ix·T_iy · Ci = 5760
    assert cost["dram_weight"] == 3 * 3 * 20 * 40
    assert cost["dram_out"] == 10 * 10 * 40
    assert cost["latency_compute_s"] == pytest.approx(1200 / 200e6)
    memory = (5760 + 7200 + 4000) * 2 / 9.5e9
    assert cost["latency_memory_s"] == pytest.approx(memory)
    assert cost["latency_s"] == pytest.approx(1200 / 200e6)  # Eq. 5: the larger
    assert cost["bound"] == "compute"


def test_3x3_conv_tile_limited_by_the_buffer():
    # Same layer, buffer 1680 words = 20 · 84: T_ix·T_iy <= 84.  Candidates:
    # 7x7 (9·9 = 81, reuse 49/81 = 0.605), 6x8 or 8x6 (48/80 = 0.600),
    # 10x5 or 5x10 (50/84 = 0.595): Eq. 1 picks 7x7; ⌈10/7⌉² = 4 tiles.
    cost = _cost("input x: [20, 10, 10]\n y = x -> conv(40, k=3)", buffer="3360 B")
    assert (cost["tile"], cost["input_tile"]) == ([7, 7], [9, 9])
    assert cost["dram_in"] == 4 * 2 * 81 * 20


def test_7x7_stride_2():
    # Ci=3, Co=64, 32x32 input, k=7, s=2, padding 3: 16x16 output.  The whole
    # map: T_ix = 15·2 + 7 = 37, 37·37·3 = 4107 words fit a 4107-word buffer.
    cost = _cost("input x: [3, 32, 32]\n y = x -> conv(64, k=7, stride=2)", buffer="8214 B")
    assert (cost["tile"], cost["input_tile"]) == ([16, 16], [37, 37])
    assert cost["cycles_compute"] == 1 * 2 * 2 * 7 * 16 * 16  # ⌈3/16⌉·⌈7/4⌉·⌈64/32⌉·7·256 = 7168
    assert cost["dram_in"] == 1 * 2 * 37 * 37 * 3


def test_1x1_stride_2_prefers_single_pixels():
    # 1x1, s=2: reuse T/((T-1)·2 + 1) is largest at T=1 (1 > 2/3 > ...), so
    # each output reads exactly its own pixel: 16 tiles · ⌈16/32⌉ · 1 · 8.
    cost = _cost("input x: [8, 8, 8]\n y = x -> conv(16, k=1, stride=2)")
    assert cost["tile"] == [1, 1]
    assert cost["dram_in"] == 16 * 1 * 1 * 8
    assert cost["cycles_compute"] == 1 * 1 * 1 * 1 * 4 * 4  # ⌈8/16⌉·⌈1/4⌉·⌈16/32⌉·1·16


def test_1x1_ties_go_to_fewer_reads_then_the_larger_tile():
    # 1x1, s=1: every tile has reuse 1.  Reads ⌈4/T⌉·T per axis are 4 for
    # T in {1, 2, 4} and 6 for T=3; among the ties the largest tile wins.
    cost = _cost("input x: [16, 4, 4]\n y = x -> conv(16, k=1)")
    assert cost["tile"] == [4, 4]


def test_channels_not_multiples_of_the_unroll():
    # Ci=17, Co=33 on 16/32/4: ⌈17/16⌉ = 2 and ⌈33/32⌉ = 2 passes, k=5: ⌈5/4⌉ = 2.
    cost = _cost("input x: [17, 6, 6]\n y = x -> conv(33, k=5)")
    assert cost["cycles_compute"] == 2 * 2 * 2 * 5 * 6 * 6


def test_dilated_layer_paper_and_dilation_aware():
    # 3x3, d=2, Ci=Co=4, 8x8.  Paper: T=1 and the 3x3 samples alone:
    # 64 tiles · ⌈4/32⌉ · 3·3 · 4 = 2304 words.  Dilation-aware: the 8 outputs
    # of a row read positions {o + 2j : o < 8, j < 3} = 0..11, 12 of them;
    # the whole 8x8 tile needs 12·12·4 = 576 words and is read once.
    body = "input x: [4, 8, 8]\n y = x -> conv(4, k=3, dilation=2)"
    paper = _cost(body, mode="paper")
    assert (paper["tile"], paper["input_tile"], paper["dram_in"]) == ([1, 1], [3, 3], 64 * 1 * 9 * 4)
    aware = _cost(body, mode="dilation-aware")
    assert (aware["tile"], aware["input_tile"], aware["dram_in"]) == ([8, 8], [12, 12], 1 * 1 * 144 * 4)


def test_none_mode_and_the_buffer_error():
    cost = _cost("input x: [20, 10, 10]\n y = x -> conv(40, k=3)", mode="none")
    assert cost["tile"] == [1, 1] and cost["dram_in"] == 100 * 2 * 9 * 20
    # a 1x1 tile of a 3x3 conv over 64 channels needs 9·64 = 576 words
    with pytest.raises(segc.SegError, match=r"layer 'y': even a 1×1 tile needs 576 words .* has 512"):
        _cost("input x: [64, 4, 4]\n y = x -> conv(8, k=3)", buffer="1 KiB")


def test_static_mode_uses_one_tile_for_all_layers():
    # Buffer 2048 words.  Layer a (Ci=8, 3x3): T_i = T+2, (T+2)²·8 <= 2048 → T <= 14.
    # Layer b (Ci=32, 3x3): (T+2)²·32 <= 2048 → T <= 6.  Static: T = 6 for both.
    body = "input x: [8, 16, 16]\n a = x -> conv(32, k=3)\n y = a -> conv(8, k=3)"
    assert _cost(body, buffer="4 KiB", mode="static", layer="a")["tile"] == [6, 6]
    assert _cost(body, buffer="4 KiB", mode="static", layer="y")["tile"] == [6, 6]
    assert _cost(body, buffer="4 KiB", mode="paper", layer="a")["tile"] == [14, 14]


def test_grouped_conv_is_per_group():
    # Depthwise 3x3 over 64 channels, 8x8: 64 groups of 1 channel each;
    # cycles 64 · ⌈1/16⌉·⌈3/4⌉·⌈1/32⌉·3 · 64 pixels.
    cost = _cost("input x: [64, 8, 8]\n y = x -> conv(64, k=3, groups=64)")
    assert cost["cycles_compute"] == 64 * 1 * 1 * 1 * 3 * 64
    assert cost["dram_weight"] == 3 * 3 * 1 * 64


def test_rules_of_other_ops():
    body = ("input x: [8, 4, 4]\n c = x -> conv(8, k=3) -> bn -> relu\n s = add(c, x)\n"
            " y = s -> upsample(2, mode=\"bilinear\")")
    text = TARGET.replace("BUFFER", "128 KiB") + f"network n on t {{\n{body}\n output y\n}}\n"
    graph = analyse(segc.loads(text))
    rules = {n.name: n.annotations["cost"]["rule"] for n in graph.nodes()}
    assert rules == {"x": "free", "c.conv": "conv", "c.bn": "fused", "c.relu": "fused", "s": "residual",
                     "y": "stream", "output.y": "free"}
    residual = graph.node("s").annotations["cost"]
    assert residual["dram_in"] == 8 * 4 * 4 and residual["cycles_compute"] == 0  # reads the shortcut only
    up = graph.node("y").annotations["cost"]
    assert up["cycles_compute"] == 8 * 8 * 8 * 4 // 32  # 4 taps per bilinear output, P_of lanes
    assert (up["dram_in"], up["dram_out"]) == (8 * 4 * 4, 8 * 8 * 8)
    for node in graph.nodes():
        assert node.annotations["cost"]["reason"]  # every rule says what it did


def test_eq3_breaks_a_tie_on_eq1_against_the_larger_tile():
    # 1x1, s=1, Ci=16, 4x4 output: every tile has reuse 1, so Eq. 1 ties all
    # tiles that fit.  Buffer 384 B = 192 words = 12 pixels of 16 channels.
    # Reads per tile set, Eq. 3 without channels: ⌈4/T_ox⌉·⌈4/T_oy⌉·T_ox·T_oy:
    #   4x3, 3x4 (the largest, 12 px): 1·2·12 = 24;   3x3: 2·2·9 = 36;
    #   4x2, 2x4, 2x2, 4x1, 1x4, 1x1 …: 16 (the fewest).
    # Among the fewest, the largest is 8 px (4x2, 2x4), the wider 4x2.
    # dram_in = 2 tiles · ⌈16/32⌉ · 4·2 · 16 = 256 words (the larger 4x3: 384).
    cost = _cost("input x: [16, 4, 4]\n y = x -> conv(16, k=1)", buffer="384 B")
    assert (cost["tile"], cost["input_tile"]) == ([4, 2], [4, 2])
    assert cost["dram_in"] == 2 * 1 * 4 * 2 * 16


PKY_TARGET = """
target t {
    clock = 100 MHz
    bandwidth = 1 GB/s
    dsp = 600
    bram = 600
    bram_block = 20 Kibit
    input_buffer = 64 KiB
    word = 16 bit
    macs_per_dsp = 2
    unroll = {pif: 4, pof: 8, pkx: 2, pky: 3}
}
"""


def test_eq2_divides_the_kernel_rows_by_p_ky():
    # Ci=6, Co=10, k=5x5, 4x4 output (padding 2), unroll 4/8/2/3 (96 MACs = 48 DSPs):
    # ⌈6/4⌉·⌈5/2⌉·⌈10/8⌉·⌈5/3⌉·W·H = 2·3·2·2·16 = 384 cycles (ignoring P_ky: 960).
    text = PKY_TARGET + "network n on t {\n input x: [6, 4, 4]\n y = x -> conv(10, k=5)\n output y\n}\n"
    cost = analyse(segc.loads(text)).node("y").annotations["cost"]
    assert cost["cycles_compute"] == 2 * 3 * 2 * 2 * 4 * 4
    assert cost["latency_compute_s"] == pytest.approx(384 / 100e6)


def test_tiles_weighed_in_several_bands_keep_the_best_of_all():
    # 1x1, s=1, Ci=1, 1500x1500: every tile has reuse 1 and the whole map fits a
    # buffer of 2.25 M words, so Eq. 1 and Eq. 3 (1500² reads, the fewest) and the
    # size pick the whole map.  1500 x 1500 candidates exceed the 2^20 weighed at
    # once: rows 1-699, 700-1398 and 1399-1500 are weighed apart, the best in the last.
    cost = _cost("input x: [1, 1500, 1500]\n y = x -> conv(2, k=1)", buffer="4500000 B")
    assert (cost["tile"], cost["dram_in"]) == ([1500, 1500], 1500 * 1500)


def test_layers_without_time_name_no_engine_and_cost_needs_tiles():
    body = "input x: [8, 4, 4]\n c = x -> conv(8, k=3) -> bn -> relu\n y = c"
    text = TARGET.replace("BUFFER", "128 KiB") + f"network n on t {{\n{body}\n output y\n}}\n"
    costs = {n.name: n.annotations["cost"] for n in analyse(segc.loads(text)).nodes()}
    # fused layers run in the convolution's pipeline, inputs and outputs need no engine; neither takes time
    assert [(costs[n]["engine"], costs[n]["bound"]) for n in ("x", "c.bn", "c.relu")] == [
        ("none", "none"), ("pipeline", "none"), ("pipeline", "none")]
    with pytest.raises(segc.SegError, match=r"layer 'c\.conv' has no tiling; run 'tile' before 'cost'"):
        CostPass().run(segc.loads(text))
