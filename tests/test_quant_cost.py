"""Widths in the cost model, the targets' DSP packing and the resource
estimate (passes/widths.py, passes/resources.py, ir/target.py DspPacking):
expectations worked out by hand on a one-layer network; the vectorised and
pruned models against re-annotation on quantized graphs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import EXAMPLES
from test_engines import _load, _machine, check_pruned_latency

import segc
from segc.backends.report.tables import build_report
from segc.cli import main
from segc.hardware import analyse
from segc.ir import DspPacking, SegError
from segc.ir.quant import QuantRule, apply_quantize
from segc.ir.serialize import graph_from_json, graph_to_json
from segc.passes.dse import pe_budget
from segc.passes.fastmodel import LayerTable, latencies

TARGET = """
target h {
    clock = 100 MHz
    bandwidth = 1 GB/s
    dsp = 1000
    bram = 100
    bram_block = 36 Kibit
    input_buffer = 2 KiB
    word = 16 bit
    macs_per_dsp = 1
    dsp_packing = {w16: 1, w8: 2, w4: 4}
    lut = 4000
    unroll = {pif: 4, pof: 32, pkx: 1}
}
"""


def one_conv(quantize: str = "", shape=(16, 8, 8), target: str = TARGET) -> segc.Graph:
    c, h, w = shape
    text = target + f"network n on h {{\n input x: [{c}, {h}, {w}]\n y = x -> conv(32, k=1)\n output o = y\n}}\n"
    return segc.loads(text + (f"quantize n {{\n{quantize}\n}}\n" if quantize else ""), path="q.seg")


def conv_cost(graph: segc.Graph) -> dict:
    return analyse(graph).node("y").annotations["cost"]


# ---------------------------------------------------------------- DRAM bytes and buffers
# 1x1 conv, 16 -> 32 channels on 8x8: the 8x8 tile reads 64 pixels x 16 channels (1,024 words, the whole
# 16-bit buffer), P_of = 32 covers the outputs in one pass: input 1,024 words, weights 512, outputs 2,048.
@pytest.mark.parametrize(("quantize", "dram_bytes"), [
    ("", (1024 + 512 + 2048) * 2),  # the 16-bit word everywhere
    ("*: w=8, a=8, scheme=int", (1024 + 512 + 2048) * 1),
    ("*: w=4, a=8, scheme=int\n x: a=16", 1024 * 2 + 512 // 2 + 2048 * 1),  # input at its producer's 16 bits
])
def test_dram_bytes_follow_each_tensors_width(quantize, dram_bytes):
    cost = conv_cost(one_conv(quantize))
    assert (cost["dram_in"], cost["dram_weight"], cost["dram_out"]) == (1024, 512, 2048)
    assert cost["dram_bits"] == 8 * dram_bytes
    assert cost["latency_memory_s"] == pytest.approx(dram_bytes / 1e9, rel=1e-12)  # 1 GB/s
    assert cost["latency_compute_s"] == pytest.approx(4 * 64 / 100e6, rel=1e-12)  # ⌈16/4⌉·64 cycles


def test_report_gives_widths_and_bytes_per_layer(capsys, tmp_path):
    path = tmp_path / "q.seg"
    path.write_text(TARGET + "network n on h {\n input x: [16, 8, 8]\n y = x -> conv(32, k=1)\n output o = y\n}\n"
                    "quantize n {\n *: w=4, a=8, scheme=int\n}\n", encoding="utf-8")
    assert main(["report", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = next(r for r in data["layers"] if r["name"] == "y")
    assert (row["w_bits"], row["a_bits"], row["dram_bytes"]) == (4, 8, 1024 + 256 + 2048)
    assert data["totals"]["dram_bytes"] == 1024 + 256 + 2048
    assert data["totals"]["dsp_pe"] == 64  # 4·32 MACs, 8-bit operands, two per DSP


def test_input_buffer_holds_words_of_the_input_width():
    # 16x16 map: 2 KiB hold 1,024 16-bit words (64 pixels of 16 channels) or 2,048 8-bit ones (128 pixels)
    for quantize, pixels in (("", 64), ("*: w=8, a=8", 128), ("*: w=8, a=8\n x: a=16", 64)):
        cost = conv_cost(one_conv(quantize, shape=(16, 16, 16)))
        assert cost["input_tile"][0] * cost["input_tile"][1] == pixels
        assert cost["dram_in"] == 16 * 16 * 16  # 1x1: every input word read once whatever the tile


# ---------------------------------------------------------------- DSP packing
def test_dsp_packing_arithmetic():
    target = one_conv().target
    assert target.dsp_packing == DspPacking(((16, 1), (8, 2), (4, 4)))
    # 4·32·1·1 = 128 MACs a cycle; a width uses the narrowest entry at least as wide
    assert [target.pe_dsps_at(b) for b in (16, 12, 8, 6, 4, 2)] == [128, 128, 64, 64, 32, 32]
    assert target.macs_per_dsp_at(17) is None
    plain = dataclasses.replace(target, dsp_packing=None, word_bits=8, macs_per_dsp=2)
    assert [plain.macs_per_dsp_at(b) for b in (8, 4, 9)] == [2, 2, None]  # macs_per_dsp up to the word


def test_dse_budget_follows_the_networks_width():
    graph = segc.load(str(EXAMPLES / "resnet18_int8.seg"))
    eight = LayerTable.of(analyse(graph))
    sixteen = LayerTable.of(analyse(apply_quantize(graph.copy(), [QuantRule("*", (("w", 16), ("a", 16)))])))
    assert pe_budget(graph.target, eight) == 2 * 360 and pe_budget(graph.target, sixteen) == 360


@pytest.mark.parametrize(("packing", "message"), [
    ("{w16: 1, x8: 2}", "'dsp_packing' keys are widths w1 … w64 (w8: 8-bit operands), got 'x8'"),
    ("{w16: 2, w8: 1}", "'dsp_packing': w8 packs 1 MACs per DSP, fewer than w16's 2"),
    ("{w16: 2, w8: 4}", "'dsp_packing' gives 2 MACs per DSP at the 16-bit word, but 'macs_per_dsp' is 1"),
    ("{w8: 2}", "'dsp_packing' implements at most 8 bits, narrower than the 16-bit word"),
    ("{w16: 0}", "'dsp_packing.w16' must be an integer between 1 and 64 MACs per DSP, got 0"),
])
def test_bad_packing_is_a_located_error(packing, message):
    text = TARGET.replace("{w16: 1, w8: 2, w4: 4}", packing)
    with pytest.raises(SegError) as info:
        one_conv(target=text)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.message == message
    assert diagnostic.span.line == text.count("\n", 0, text.index("dsp_packing")) + 1


def test_a_width_the_target_cannot_implement_is_an_error_at_the_rule():
    narrow = TARGET.replace("    dsp_packing = {w16: 1, w8: 2, w4: 4}\n", "").replace("word = 16 bit", "word = 8 bit")
    narrow = narrow.replace("input_buffer = 2 KiB", "input_buffer = 4 KiB")
    with pytest.raises(SegError) as info:
        one_conv("  *: w=8, a=8\n  y: w=16", target=narrow)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.message == ("layer 'y': 16-bit weights are wider than target 'h' implements "
                                  "(its word is 8 bits and it gives no dsp_packing)")
    text = narrow + "network n on h {\n input x: [16, 8, 8]\n y = x -> conv(32, k=1)\n output o = y\n}\n"
    assert (diagnostic.span.line, diagnostic.span.column) == (text.count("\n") + 3, 8)  # the 16 of "  y: w=16"


def test_a_json_graph_with_a_width_too_wide_names_the_layer():
    data = graph_to_json(one_conv("*: w=8, a=8"))
    data["nodes"][1]["quant"]["a_bits"] = 16
    data["target"]["dsp_packing"] = {"w8": 1}
    data["target"]["word_bits"] = 8
    with pytest.raises(SegError, match="layer 'y': 16-bit activations are wider than target 'h' implements "
                                       r"\(its dsp_packing goes up to w8\)"):
        graph_from_json(data, "g.json")


def test_packing_round_trips_through_json_and_seg():
    graph = one_conv()
    assert graph_from_json(graph_to_json(graph)).target == graph.target
    assert "dsp_packing  = {w16: 1, w8: 2, w4: 4}" in segc.api.to_seg(graph)
    assert segc.loads(segc.api.to_seg(graph)).target == graph.target


# ---------------------------------------------------------------- resources
@pytest.mark.parametrize(("quantize", "expected"), [
    # DSP ⌈128 / p⌉; RAM: tile 8·8·16 words and weights 32·16 words, each in 36 Kibit blocks;
    # LUT = FF = 128 lanes · (w + a + ⌈log2 16⌉) bits of accumulator
    ("", {"dsp": 128, "bram": 1 + 1, "lut": 128 * 36, "ff": 128 * 36}),
    ("*: w=8, a=8", {"dsp": 64, "bram": 1 + 1, "lut": 128 * 20, "ff": 128 * 20}),
    ("*: w=4, a=4", {"dsp": 32, "bram": 1 + 1, "lut": 128 * 12, "ff": 128 * 12}),
])
def test_resource_estimate_of_one_conv(quantize, expected):
    graph = analyse(one_conv(quantize))
    assert graph.node("y").annotations["cost"]["resources"] == expected
    totals = build_report(graph, "paper", "")["resources"]
    assert {k: totals[k] for k in expected} == expected  # input and output have no kernel
    assert totals["budget"] == {"dsp": 1000, "bram": 100, "lut": 4000, "ff": None}
    assert totals["fits"] == {"dsp": True, "bram": True, "lut": expected["lut"] <= 4000}


def test_ram_blocks_count_bits_at_each_width():
    # 64x64 map, 64 channels at 16 bits: a 2 KiB buffer tile of 16 pixels → 16·64·16 = 16,384 bits: 1 block;
    # weights 32·64·16 = 32,768 bits: 1 block. A 1 Kibit block: 16 + 32 blocks.
    small = TARGET.replace("bram_block = 36 Kibit", "bram_block = 1 Kibit").replace("bram = 100", "bram = 1000")
    cost = conv_cost(one_conv(shape=(64, 64, 64), target=small))
    assert cost["input_tile"][0] * cost["input_tile"][1] == 16
    assert cost["resources"]["bram"] == 16 + 32


# ---------------------------------------------------------------- vectorised models on quantized graphs
def _mixed(graph: segc.Graph) -> segc.Graph:
    """Every layer at its own widths, cycling through 4, 8 and 16 bits."""
    graph = graph.copy()
    word, macs = graph.target.word_bits, graph.target.macs_per_dsp
    packing = DspPacking(tuple((b, max(1, macs * word // b)) for b in (16, 8, 4)))
    graph.target = dataclasses.replace(graph.target, dsp_packing=packing)
    rules = [QuantRule(node.name, (("w", (8, 4, 16)[i % 3]), ("a", (4, 16, 8)[i % 3]), ("scheme", "int")))
             for i, node in enumerate(graph.nodes())]
    return apply_quantize(graph, rules)


@pytest.mark.parametrize(("name", "conv_input"), [("codenet_shufflenet", "tiled"), ("tiny_seg", "streamed"),
                                                  ("dconvs", "tiled"), ("dconvs", "streamed")])
def test_vectorised_model_agrees_on_quantized_graphs(name, conv_input):
    graph = analyse(_mixed(_machine(_load(name), conv_input)))
    table = LayerTable.of(graph)
    assert len(set(table.in_bits.tolist())) == 3  # the widths really differ
    expected = [graph.node(n).annotations["cost"]["latency_s"] for n in table.names]
    u = graph.target.unroll
    got = latencies(table, graph.target, np.array([[u.pif, u.pof, u.pkx, u.pky]]))[0]
    assert got.tolist() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("name", "conv_input"), [("codenet_shufflenet", "tiled"), ("tiny_seg", "streamed"),
                                                  ("dconvs", "streamed")])
def test_pruned_latency_equals_reannotation_on_quantized_graphs(name, conv_input):
    check_pruned_latency(_mixed(_machine(_load(name), conv_input)), seed=5)
