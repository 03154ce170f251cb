"""Pruning through the pointwise ops: a squeeze-and-excitation branch's
[C, 1, 1] scale couples to the tensor it scales, a sub couples its inputs,
activations pass channels through; the pruned model equals the unpruned
one with the pruned channels masked (the harness of test_prune_torch)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_prune_torch import check_equivalent  # noqa: E402

import segc  # noqa: E402
from segc.passes.channels import channel_groups  # noqa: E402

SE_NETWORK = """
network se {
    input image: [3, 12, 12]
    stem = image -> conv(8, k=3) -> bn -> hardswish
    expand = stem -> conv(12, k=1) -> bn -> silu
    squeeze = expand -> mean -> conv(4, k=1, bias=true) -> relu
    excite = squeeze -> conv(12, k=1, bias=true) -> hardsigmoid
    scaled = mul(expand, excite)
    project = scaled -> conv(8, k=1) -> leakyrelu(0.1)
    diff = sub(stem, project) -> tanh -> clip(-0.5, 0.5) -> div(2)
    head = diff -> conv(6, k=3) -> softmax
    output y = head -> conv(4, k=1)
    output pooled = head -> conv(5, k=1) -> mean(keepdims=false)
}
"""


def test_squeeze_and_excitation_couples_the_scale_to_what_it_scales():
    graph = segc.loads(SE_NETWORK)
    groups = {g.name: g for g in channel_groups(graph)}
    assert sorted(groups["expand.conv"].producers) == ["excite.conv", "expand.conv"]
    assert sorted(groups["stem.conv"].producers) == ["project.conv", "stem.conv"]
    assert not groups["head.conv"].prunable and "softmax" in groups["head.conv"].reason


@settings(max_examples=8, deadline=None)
@given(st.lists(st.floats(0.0, 0.7), min_size=3, max_size=3), st.integers(0, 3))
def test_pruned_se_network_equals_the_masked_one(values, seed):
    graph = segc.loads(SE_NETWORK)
    names = [g.name for g in channel_groups(graph) if g.prunable]
    assert names == ["stem.conv", "expand.conv", "squeeze.conv"]  # softmax keeps head.conv's channels
    pruned = check_equivalent(graph, dict(zip(names, values)), seed)
    pruned.verify()
    kept = {n.name: n.shape.c for n in pruned.nodes()}
    assert kept["excite.conv"] == kept["expand.conv"] == kept["scaled"]
