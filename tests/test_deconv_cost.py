"""The cost rule of transposed convolutions (``passes/deconv_cost.py``, the
scatter form): one layer worked out by hand, and the vectorised and pruned
models agreeing with re-annotation number for number on networks of
deconvs (plain, depthwise, grouped, followed by streamed ops)."""

from __future__ import annotations

import numpy as np
import pytest
from test_engines import MACHINE, _machine, _with_unroll, cost_of, one_layer

import segc
from segc.hardware import analyse
from segc.passes.channels import channel_groups, kept_channels
from segc.passes.fastmodel import LayerTable, latencies
from segc.passes.prune import prune
from segc.passes.pruned_cost import PrunedCost


def test_one_deconv_by_hand():
    # 32 -> 8 channels, k=4, stride 2, padding 1 on 16x16 -> 8x32x32; unroll pif 4, pof 4, pkx 3, pky 3.
    cost = cost_of(one_layer("deconv(8, k=4, stride=2, padding=1)"))
    # Eq. 2 over the 16x16 input grid: ceil(32/4)·ceil(4/3)·ceil(8/4)·ceil(4/3)·16·16
    assert cost["cycles_compute"] == 8 * 2 * 2 * 2 * 16 * 16
    assert cost["macs"] == 32 * 8 * 4 * 4 * 16 * 16
    assert cost["dram_weight"] == 4 * 4 * 32 * 8
    assert cost["dram_out"] == 8 * 32 * 32  # the real output, not the grid's 8·16·16
    tox, toy = cost["tile"]
    tix, tiy = cost["input_tile"]
    assert (tix, tiy) == (tox + 3, toy + 3)  # the k - 1 border of a stride-1 window
    assert cost["dram_in"] == -(-16 // tox) * -(-16 // toy) * -(-8 // 4) * tix * tiy * 32  # Eq. 3
    assert cost["rule"] == "conv" and cost["engine"] == "pe"
    assert "scatter form" in cost["reason"]


DECONVS = MACHINE + """
network deconvs on m {
    input x: [3, 16, 16]
    a = x -> conv(24, k=3, stride=2) -> bn -> relu
    b = a -> deconv(16, k=2, stride=2, bias=true) -> relu
    c = b -> deconv(16, k=3, padding=1, groups=16)
    d = c -> deconv(12, k=3, stride=2, padding=1, output_padding=1)
    e = d -> upsample(2) -> deconv(6, k=4, stride=2, padding=1, groups=2) -> bn
    output y = e -> conv(5, k=1)
}
"""


@pytest.mark.parametrize("conv_input", ["tiled", "streamed"])
def test_vectorised_model_agrees(conv_input):
    graph = analyse(_machine(segc.loads(DECONVS), conv_input))
    table = LayerTable.of(graph)
    assert sum(graph.node(name).op == "deconv" for name in table.names) == 4
    for other in [(8, 8, 3, 3), (4, 16, 1, 1), (3, 5, 2, 1)]:
        rerun = analyse(_with_unroll(graph, other))
        expected = [rerun.node(n).annotations["cost"]["latency_s"] for n in table.names]
        assert latencies(table, graph.target, np.array([other]))[0].tolist() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("conv_input", ["tiled", "streamed"])
def test_pruned_latency_and_macs_equal_reannotation(conv_input):
    graph = _machine(segc.loads(DECONVS), conv_input)
    groups = channel_groups(graph)
    assert [g.name for g in groups if g.prunable] == ["a.conv", "b.deconv"]  # d feeds a grouped deconv
    model = PrunedCost(analyse(graph), groups)
    rng = np.random.default_rng(5)
    for _ in range(4):
        rates = {g.name: float(rng.choice([0.0, 0.25, 0.5, 0.75])) for g in groups if g.prunable}
        kept = np.asarray([[kept_channels(g, rates.get(g.name, 0.0)) for g in groups]])
        pruned = analyse(prune(graph, rates, strict=False)[0])
        costs = [n.annotations["cost"] for n in pruned.nodes()]
        assert model.latency(kept)[0] == pytest.approx(sum(c["latency_s"] for c in costs), rel=1e-12)
        assert model.macs(kept)[0] == sum(c["macs"] for c in costs)
