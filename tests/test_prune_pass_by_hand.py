"""The prune pass and ``prune`` on a three-group network worked out by hand:
which rates are refused, the rebuilt layers and their ``prune`` annotations,
the directives left after pruning, the pass's note and changed flag, and
the channels chosen by L1 importance (docs/pruning.md)."""

from __future__ import annotations

import numpy as np
import pytest

import segc
from segc.ir import SegError
from segc.passes.channels import ChannelGroup
from segc.passes.prune import PrunePass, channel_importance, choose_channels, prune

# Groups: x (input), a (a's 6 channels through the depthwise dw), y (output): only a is prunable.
NET = """network n {
    input x: [3, 8, 8]
    a = x -> conv(6, k=1)
    dw = a -> conv(6, k=3, padding=1, groups=6)
    output y = dw -> conv(2, k=1)
}
prune n {
    a: 0.5
    keep y
}
"""


def test_rates_refused_and_a_zero_rate_on_a_fixed_group() -> None:
    graph = segc.loads(NET)
    with pytest.raises(SegError, match=r"group 'a': a pruning rate must be at least 0 and below 1, got -0.1"):
        prune(graph, {"a": -0.1})
    with pytest.raises(SegError, match=r"group 'a': a pruning rate must be at least 0 and below 1, got 1.5"):
        prune(graph, {"a": 1.5})
    with pytest.raises(SegError, match=r"group 'y' cannot be pruned: network output 'y'"):
        prune(graph, {"y": 0.01})
    pruned, weights = prune(graph, {"y": 0.0})  # nothing removed: allowed
    assert weights is None and [n.shape.c for n in pruned.nodes()] == [3, 6, 6, 2, 2]


def test_the_rebuilt_layers_and_their_annotations() -> None:
    pruned, _ = prune(segc.loads(NET), {"a": 0.5})  # ⌊0.5·6 + ½⌋ = 3 kept
    layers = {node.name: node for node in pruned.nodes()}
    assert (layers["a"].attrs["out"], layers["a"].attrs["groups"]) == (3, 1)
    assert (layers["dw"].attrs["out"], layers["dw"].attrs["groups"]) == (3, 3)  # depthwise: groups = channels
    assert layers["y"].attrs["out"] == 2
    assert {name: node.annotations.get("prune") for name, node in layers.items()} == {
        "x": None, "a": {"in": (3, 3), "out": (6, 3)}, "dw": {"in": (6, 3), "out": (6, 3)},
        "y": {"in": (6, 3), "out": (2, 2)}, "output.y": None}
    # the rates are applied, the keep rules stay
    assert pruned.directives.prune.rules == ()
    assert [rule.pattern for rule in pruned.directives.prune.keep] == ["y"]


def test_the_pass_note_and_changed_flag() -> None:
    graph = segc.loads(NET)
    same = PrunePass(rate=0.0).run(graph)
    assert (same.changed, same.notes) == (False, ("1 of 3 channel groups pruned: 6 → 6 channels",))
    halved = PrunePass(rate=0.5).run(graph)
    assert (halved.changed, halved.notes) == (True, ("1 of 3 channel groups pruned: 6 → 3 channels",))
    assert halved.graph.node("dw").shape.c == 3
    directed = PrunePass().run(graph)  # rate -1: the network's prune section (a: 0.5)
    assert directed.notes == ("1 of 3 channel groups pruned: 6 → 3 channels",)
    with pytest.raises(SegError, match="snapping to P_of needs a target; network 'n' has none"):
        PrunePass(rate=0.5, snap=True).run(graph)
    with pytest.raises(SegError, match=r"'rate' must be at least 0 and below 1 \(or -1.*got -0.5"):
        PrunePass(rate=-0.5).run(graph)


def test_channels_chosen_by_importance_ties_to_the_lower_index() -> None:
    # two producers, the group at offset 1 of b with 2 filters per channel (b: 1 + 3·2 = 7 filters)
    group = ChannelGroup("g", 3, ("a", "b"), (), (), True, "", producer_offsets=(0, 1), producer_units=(1, 2))
    weights = {"a.weight": np.array([1.0, -4.0, 2.0]).reshape(3, 1, 1, 1),
               "b.weight": np.array([9.0, 1.0, -1.0, 0.0, 0.0, 3.0, -2.0]).reshape(7, 1, 1, 1)}
    # I_0 = 1 + |1| + |-1| = 3, I_1 = 4 + 0 + 0 = 4, I_2 = 2 + 3 + 2 = 7 (b's filter 0 is not the group's)
    assert channel_importance(group, weights).tolist() == [3.0, 4.0, 7.0]
    assert choose_channels(group, 2, weights).tolist() == [1, 2]
    assert choose_channels(group, 2, None).tolist() == [0, 1]  # no weights: the first ones
    assert choose_channels(group, 3, weights).tolist() == [0, 1, 2]
    tied = {"a.weight": np.array([2.0, 1.0, 2.0]).reshape(3, 1, 1, 1), "b.weight": np.zeros((7, 1, 1, 1))}
    assert choose_channels(group, 1, tied).tolist() == [0]
    with pytest.raises(SegError, match=r"the weights have no 'b.weight' \(layer 'b'\)"):
        channel_importance(group, {"a.weight": weights["a.weight"]})


def test_a_two_channel_depthwise_conv_pruned_to_one() -> None:
    graph = segc.loads(NET.replace("conv(6", "conv(2").replace("groups=6", "groups=2"))
    pruned, _ = prune(graph, {"a": 0.5})  # ⌊0.5·2 + ½⌋ = 1 kept
    assert (pruned.node("dw").attrs["out"], pruned.node("dw").attrs["groups"]) == (1, 1)
    # with weights: a's filter 1 has the larger L1 norm, so channel 1 stays; dw keeps its filter 1 whole
    weights = {"a.weight": np.array([[[[1.0]]] * 3, [[[2.0]]] * 3]), "dw.weight": np.arange(18.0).reshape(2, 1, 3, 3),
               "y.weight": np.arange(4.0).reshape(2, 2, 1, 1)}
    _, sliced = prune(graph, {"a": 0.5}, weights)
    assert sliced["a.weight"].tolist() == [[[[2.0]]] * 3]
    assert sliced["dw.weight"].tolist() == np.arange(9.0, 18.0).reshape(1, 1, 3, 3).tolist()
    assert sliced["y.weight"].tolist() == [[[[1.0]]], [[[3.0]]]]


def test_a_missing_bias_names_its_layer() -> None:
    graph = segc.loads(NET.replace("a = x -> conv(6, k=1)", "a = x -> conv(6, k=1, bias=true) -> relu")
                       .replace("a: 0.5", "a.conv: 0.5"))
    weights = {"a.conv.weight": np.ones((6, 3, 1, 1))}
    with pytest.raises(SegError, match=r"the weights have no 'a.conv.bias' \(layer 'a.conv'\)"):
        prune(graph, {"a.conv": 0.5}, weights)


SIBLINGS = """network s {
    input x: [3, 8, 8]
    a = x -> conv(8, k=1)
    b = x -> conv(300, k=1)
    output y = concat(a, b) -> conv(2, k=1)
}
prune s {
    a: 0.5
    b: 0.25
}
"""


def test_siblings_keep_their_own_rates_unless_asked_and_an_unchanged_large_network_is_unchanged() -> None:
    # a and b read the same input: by default each keeps its own rate (4 of 8, 225 of 300); with
    # siblings both take the first one's, a's 0.5 (150 of 300)
    graph = segc.loads(SIBLINGS)
    own = PrunePass().run(graph)
    assert (own.graph.node("a").shape.c, own.graph.node("b").shape.c) == (4, 225)
    shared = PrunePass(siblings=True).run(graph)
    assert (shared.graph.node("a").shape.c, shared.graph.node("b").shape.c) == (4, 150)
    # 308 channels before and after (counts above 256 are compared by value)
    same = PrunePass(rate=0.0).run(graph)
    assert (same.changed, same.notes) == (False, ("2 of 4 channel groups pruned: 308 → 308 channels",))


def test_an_unchanged_layer_gets_no_prune_annotation_and_the_pass_rate_limits() -> None:
    graph = segc.loads(NET)
    pruned, _ = prune(graph, {"a": 0.0})
    assert [node.name for node in pruned.nodes() if "prune" in node.annotations] == []
    # -1 (however written) means the network's prune section; anything else must lie in [0, 1)
    explicit = PrunePass(rate=float("-1")).run(graph)
    assert explicit.notes == PrunePass().run(graph).notes == ("1 of 3 channel groups pruned: 6 → 3 channels",)
    for rate in (-2.0, 1.0):
        with pytest.raises(SegError, match=r"'rate' must be at least 0 and below 1"):
            PrunePass(rate=rate).run(graph)
