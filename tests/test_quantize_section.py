"""The ``quantize`` section: per-layer number formats on the IR
(``Node.quant``), resolved from glob rules, printed, serialized, and
located errors for bad rules."""

from __future__ import annotations

import json

import pytest

from segc.api import format_source, loads, to_json, to_seg
from segc.ir import SegError
from segc.ir.quant import LayerQuant, QuantRule, apply_quantize, layer_quant, resolve, widths
from segc.ir.serialize import graph_from_json

TARGET = """
target t8 {
    clock = 100 MHz
    bandwidth = 1 GB/s
    dsp = 360
    bram = 216
    bram_block = 36 Kibit
    input_buffer = 64 KiB
    word = 8 bit
    macs_per_dsp = 2
    dsp_packing = {w16: 1, w8: 2, w4: 4}
    unroll = {pif: 4, pof: 4, pkx: 1, pky: 1}
}
"""

NETWORK = TARGET + """
network tiny on t8 {
    input x: [3, 16, 16]
    c1 = x -> conv(8, k=3) -> relu
    c2 = c1 -> conv(8, k=3) -> relu
    output y = c2 -> conv(4, k=1)
}
"""


def _load(section: str):
    return loads(NETWORK + section, path="q.seg")


def _formats(graph) -> dict:
    return {node.name: node.quant for node in graph.nodes()}


def test_the_last_rule_setting_an_option_wins_and_widths_default_to_the_word():
    graph = _load("quantize tiny {\n  *: w=4, a=8, scheme=int\n  c2.*: w=16\n  c2.relu: a=4\n}\n")
    formats = _formats(graph)
    assert formats["c1.conv"] == LayerQuant("int", 8, 4)
    assert formats["c2.conv"] == LayerQuant("int", 8, 16)  # w from the second rule, a from the first
    assert formats["c2.relu"] == LayerQuant("int", 4, None)  # no weights: no weight width
    assert formats["x"] == LayerQuant("int", 8, None)
    only_a = _load("quantize tiny {\n  c1.conv: a=4\n}\n")
    assert only_a.node("c1.conv").quant == LayerQuant("fixed", 4, 8)  # w: the target's 8-bit word; scheme fixed
    assert only_a.node("c2.conv").quant is None


def test_unquantized_layers_compute_in_the_targets_word():
    graph = _load("quantize tiny {\n  c1.conv: w=4, a=4\n  *: scheme=float\n  c1.conv: w=2, scheme=fixed\n}\n")
    assert graph.node("c2.conv").quant is None
    assert widths(graph, graph.node("c2.conv")) == (8, 8)
    assert widths(graph, graph.node("c2.relu")) == (None, 8)
    assert layer_quant(graph, graph.node("c1.conv")) == LayerQuant("fixed", 4, 2)  # a from the first rule
    assert _load("quantize tiny {\n  *: scheme=float\n  c1.conv: w=4\n}\n").node("c1.conv").quant is None


def test_fixed_point_fraction_bits_are_kept_and_only_weighted_layers_get_w_frac():
    graph = _load("quantize tiny {\n  *: w=8, a=8, w_frac=6, a_frac=4\n}\n")
    assert graph.node("c1.conv").quant == LayerQuant("fixed", 8, 8, 4, 6)
    assert graph.node("c1.relu").quant == LayerQuant("fixed", 8, None, 4, None)


def test_printing_and_json_give_the_same_formats_back():
    graph = _load("quantize tiny {\n  *: w=4, a=8, scheme=int\n  c2.conv: w=8, a=16\n  y: scheme=float\n}\n")
    again = loads(to_seg(graph), path="printed.seg")
    assert _formats(again) == _formats(graph)
    assert graph_from_json(json.loads(to_json(graph))).structure() == graph.structure()
    text = to_seg(graph)
    assert text.count("\n    ") - text[:text.index("quantize")].count("\n    ") == 3  # '*' plus two exceptions


def test_formats_are_part_of_the_graphs_identity():
    plain, quantized = _load(""), _load("quantize tiny {\n  *: w=8, a=8\n}\n")
    assert plain.structure() != quantized.structure()
    assert "quantize" not in to_seg(plain)


def test_apply_quantize_replaces_every_layers_format():
    graph = _load("quantize tiny {\n  *: w=8, a=8\n}\n")
    apply_quantize(graph, [QuantRule("c1.conv", (("w", 4),))])
    assert graph.node("c1.conv").quant == LayerQuant("fixed", 8, 4)
    assert graph.node("c2.conv").quant is None


def test_resolve_refuses_fraction_bits_on_an_integer_layer():
    with pytest.raises(ValueError, match="scheme"):
        resolve([QuantRule("*", (("scheme", "int"), ("a_frac", 3)))], "c", "conv", 8)


def test_the_formatter_keeps_a_quantize_section():
    text = NETWORK + "quantize tiny {\n*:w=8,a=8,scheme=int\n}\n"
    assert "quantize tiny {\n    *: w=8, a=8, scheme=int\n}" in format_source(text)


@pytest.mark.parametrize(("rule", "message", "caret"), [
    ("*: w=3.5", "w must be an integer, got 3.5", "3.5"),
    ("*: bits=8", "quantize rules have no option 'bits'", "bits"),
    ("nope.*: w=8", "'nope.*' matches no layer of network 'tiny'", "nope.*"),
    ("*: w=32", "w = 32 bits is outside [2, 16]", "32"),
    ("*: w=1", "w = 1 bits is outside [2, 16]", "1"),
    ("*: scheme=dbl", "scheme must be one of fixed, int, float, got 'dbl'", "dbl"),
    ("*: a_frac=40", "a_frac = 40 fraction bits is outside [-16, 24]", "40"),
    ("*: scheme=int, a_frac=4", "apply to scheme \"fixed\", not \"int\"", "*: scheme=int, a_frac=4"),
    ("*: w=8, w=4", "option 'w' is given twice", "w"),
])
def test_a_bad_rule_is_a_located_error(rule, message, caret):
    with pytest.raises(SegError) as info:
        _load(f"quantize tiny {{\n    {rule}\n}}\n")
    diagnostic = info.value.diagnostics[0]
    assert message in diagnostic.message
    line = (NETWORK + "quantize tiny {\n").count("\n") + 1
    assert diagnostic.span.line == line
    column = 5 + rule.rindex(caret) if caret != rule else 5
    assert diagnostic.span.column == column


def test_a_section_for_an_unknown_network_is_an_error():
    with pytest.raises(SegError, match="quantize section for unknown network 'tinny'"):
        _load("quantize tinny {\n  *: w=8\n}\n")


def test_a_network_quantized_twice_is_an_error():
    with pytest.raises(SegError, match="quantize section for network 'tiny' is defined twice"):
        _load("quantize tiny {\n  *: w=8\n}\nquantize tiny {\n  *: w=4\n}\n")


@pytest.mark.parametrize(("quant", "message"), [
    ({"scheme": "int", "a_bits": 8, "w_bits": None}, "needs w_bits"),
    ({"scheme": "bf16", "a_bits": 8, "w_bits": 8}, "must be fixed or int"),
    ({"scheme": "int", "a_bits": 99, "w_bits": 8}, "a = 99 bits is outside"),
    ({"scheme": "int", "a_bits": 8, "w_bits": 8, "a_frac": 2}, "fraction bits apply to scheme fixed"),
    ({"scheme": "int", "w_bits": 8}, "missing 'a_bits'"),
])
def test_a_bad_format_in_json_names_the_layer(quant, message):
    data = json.loads(to_json(_load("")))
    conv = next(n for n in data["nodes"] if n["name"] == "c1.conv")
    conv["quant"] = quant
    with pytest.raises(SegError) as info:
        graph_from_json(data, "g.json")
    assert "c1.conv" in str(info.value) and message in str(info.value)


def test_passes_keep_every_layers_format():
    from segc.passes.base import run_pipeline
    from segc.passes.registry import parse_pipeline

    graph = _load("quantize tiny {\n  *: w=4, a=8, scheme=int\n}\n")
    annotated, _ = run_pipeline(graph, parse_pipeline("deform,tile,cost"))
    assert annotated.node("c1.conv").annotations["cost"]
    assert _formats(annotated) == _formats(graph)
    assert annotated.node("c1.conv").quant == LayerQuant("int", 8, 4)
