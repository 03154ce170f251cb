"""A graph read back from segc's JSON behaves as the graph it was written
from: the same tiles, engines, costs and vectorised latencies, the same
channel groups, and the same pruned layers and weights.  Strings read from
JSON are new objects (not the interned literals a ``.seg`` network's op
names are), so code that compared names by identity would differ here."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXAMPLES
from test_engines import MACHINE

import segc
from segc.hardware import analyse
from segc.passes import hwmodel
from segc.passes.channels import channel_groups
from segc.passes.fastmodel import LayerTable, latencies
from segc.passes.prune import prune

# beside the examples: a depthwise deformable layer on a depthwise engine, a softmax and a mean
ENGINES = MACHINE + """network engines on m {
    input x: [16, 12, 12]
    a = x -> conv(16, k=3, groups=16, stride=2) -> dconv(16, k=3, groups=16)
    b = a -> softmax
    output y = b -> mean
}
"""
NETWORKS = ("tiny_seg", "codenet_shufflenet", "unet_small", "deeplabv3plus_r18", "efficientnet_b0", "engines")


def both(name: str, tmp_path) -> tuple[segc.Graph, segc.Graph]:
    graph = segc.loads(ENGINES) if name == "engines" else segc.load(str(EXAMPLES / f"{name}.seg"))
    path = tmp_path / f"{name}.json"
    path.write_text(segc.to_json(graph), encoding="utf-8")
    read = segc.load(str(path))
    assert any(node.op is not seg_node.op for node, seg_node in zip(read.nodes(), graph.nodes()))
    return graph, read


def costs(graph: segc.Graph) -> tuple[list, list]:
    """Every layer's tiling and cost annotations, and the vectorised latencies at two unrolls, with the
    hardware model's caches emptied first (so that nothing comes from the other graph's entries)."""
    for cached in (hwmodel._geometry, hwmodel.best_tile, hwmodel._distinct_positions):
        cached.cache_clear()
    annotated = analyse(graph)
    layers = [(n.name, n.annotations.get("tiling"), n.annotations.get("cost")) for n in annotated.nodes()]
    rows = np.array([[4, 8, 3, 3], [16, 16, 1, 1]])
    return layers, latencies(LayerTable.of(annotated), annotated.target, rows).tolist()


@pytest.mark.parametrize("name", NETWORKS)
def test_a_json_graph_costs_as_the_seg_graph(name: str, tmp_path) -> None:
    graph, read = both(name, tmp_path)
    assert costs(read) == costs(graph)


@pytest.mark.parametrize("name", NETWORKS[:-1])  # "engines" has no prunable group
def test_a_json_graph_prunes_as_the_seg_graph(name: str, tmp_path) -> None:
    graph, read = both(name, tmp_path)
    groups = channel_groups(graph)
    assert channel_groups(read) == groups
    rates = {g.name: 0.5 for g in groups if g.prunable}
    assert rates
    weights = segc.api.weight_arrays(graph, seed=0)
    pruned, sliced = prune(graph, rates, weights)
    pruned_json, sliced_json = prune(read, rates, weights)
    assert [(n.name, n.shape) for n in pruned.nodes()] == [(n.name, n.shape) for n in pruned_json.nodes()]
    assert sliced.keys() == sliced_json.keys()
    assert all(np.array_equal(sliced[k], sliced_json[k]) for k in sliced)
