"""Bit widths as a search dimension beside pruning rates: the genome, the
candidate graphs, their latency from the cost model, and the search with
accuracy of fake-quantized candidates on data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXAMPLES

import segc
from segc.hardware import report
from segc.ir import SegError
from segc.ir.quant import LayerQuant
from segc.passes.search_space import search_space
from segc.pruning_search import SearchOptions, export_point, search
from segc.width_search import candidate_graph, candidate_latencies, parse_widths

WEIGHTED = ("stem.conv", "down.conv", "context.0.conv", "context.1.conv", "classifier")  # tiny_seg, in order


def _tiny_seg(section: str = ""):
    return segc.loads((EXAMPLES / "tiny_seg.seg").read_text() + section, str(EXAMPLES / "tiny_seg.seg"))


def test_widths_are_parsed_as_bits_or_weight_over_activation_bits():
    assert parse_widths("16,8,4/8") == ((16, 16), (8, 8), (4, 8))
    assert parse_widths(None) == ()
    with pytest.raises(SegError, match="--widths takes bits separated by commas, each N or W/A"):
        parse_widths("8,x")
    with pytest.raises(SegError, match=r"bit widths: w = 32 bits is outside \[2, 16\]"):
        search_space(_tiny_seg(), widths=((32, 8),))


def test_a_width_locus_follows_the_rate_loci_for_each_layer_with_weights():
    graph = _tiny_seg()
    plain, space = search_space(graph), search_space(graph, widths=((16, 16), (8, 8), (4, 8)))
    assert space.loci == plain.loci and space.width_layers == WEIGHTED
    assert space.genes == len(plain.loci) + 5
    assert space.upper().tolist() == [len(plain.rates) - 1] * len(plain.loci) + [2] * 5
    genome = [0] * len(plain.loci) + [2, 0, 1, 1, 2]
    assert space.layer_widths(genome) == {"stem.conv": (4, 8), "down.conv": (16, 16), "context.0.conv": (8, 8),
                                          "context.1.conv": (8, 8), "classifier": (4, 8)}
    assert plain.upper().tolist() == [len(plain.rates) - 1] * len(plain.loci) and plain.layer_widths(genome) == {}


def test_a_candidate_keeps_the_networks_scheme_and_takes_its_widths():
    graph = _tiny_seg("\nquantize tiny_seg {\n    *: w=8, a=8, scheme=int\n}\n")
    space = search_space(graph, widths=((8, 8), (4, 6)))
    genome = [1] * len(space.loci) + [1, 0, 0, 0, 1]
    candidate, _ = candidate_graph(graph, space, genome)
    assert candidate.node("stem.conv").quant == LayerQuant("int", 6, 4)
    assert candidate.node("down.conv").quant == LayerQuant("int", 8, 8)
    assert candidate.node("stem.relu").quant == LayerQuant("int", 8, None)  # the section's rule
    assert candidate.node("down.conv").shape.c < graph.node("down.conv").shape.c  # pruned at rate index 1


def test_an_unpruned_candidate_at_the_targets_word_costs_the_unpruned_network():
    graph = _tiny_seg()  # arria10: 16-bit words
    space = search_space(graph, widths=((16, 16),))
    latency = candidate_latencies(graph, space, np.zeros((1, space.genes), dtype=np.int64), "paper", None)
    assert latency[0] == pytest.approx(report(graph)["totals"]["latency_s"], rel=1e-12)


def test_widths_need_data_and_a_latency_or_ops_objective():
    with pytest.raises(SegError, match="--widths needs accuracy on data"):
        SearchOptions(widths=((8, 8),)).check()
    with pytest.raises(SegError, match="--widths works with --objective latency or ops"):
        SearchOptions(widths=((8, 8),), data="synthetic", objective="dsp-latency").check()


def test_a_joint_search_reports_and_exports_each_points_widths():
    graph = _tiny_seg()
    arrays = segc.api.weight_arrays(graph, seed=1)
    options = SearchOptions(pop=4, gen=2, seed=0, data="synthetic:16", samples=4, workers=0, widths=((16, 16), (4, 8)))
    document = search(graph, arrays, options)
    assert document["widths"] == [[16, 16], [4, 8]] and document["baseline"] is not None
    for point in document["front"]:
        assert list(point["layer_widths"]) == list(WEIGHTED)
        assert all(pair in ([16, 16], [4, 8]) for pair in point["layer_widths"].values())
        assert 0 <= point["accuracy"] <= 1
    text, _ = export_point(graph, arrays, document, 0)
    exported = segc.loads(text, str(EXAMPLES / "tiny_seg.seg"))
    w, a = document["front"][0]["layer_widths"]["stem.conv"]
    assert (exported.node("stem.conv").quant.w_bits, exported.node("stem.conv").quant.a_bits) == (w, a)


def test_the_upper_gene_is_the_last_index_of_an_even_number_of_choices():
    space = search_space(_tiny_seg(), rates=(0.0, 0.5), widths=((16, 16), (8, 8)))
    assert space.upper().tolist() == [1] * len(space.loci) + [1] * len(WEIGHTED)
