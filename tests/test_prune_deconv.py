"""Pruning through transposed convolutions: a deconv is the source of its
output channels and a consumer of its input channels (a depthwise one a
member); the pruned model equals the unpruned one with the pruned channels
masked (the harness of ``test_prune_torch``), channels chosen by the L1 norm
of each output channel's filters, which a deconv keeps on axis 1."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import test_prune_torch as harness  # noqa: E402

import segc  # noqa: E402
from segc.passes.channels import channel_groups  # noqa: E402

NET = """
network unet_tiny {
    input image: [3, 8, 8]
    enc = image -> conv(8, k=3) -> bn -> relu
    down = enc -> maxpool(k=2)
    mid = down -> conv(12, k=3) -> relu
    up = mid -> deconv(6, k=2, stride=2, bias=true)
    dw = up -> deconv(6, k=3, padding=1, groups=6)
    cat = concat(enc, dw)
    output y = cat -> conv(2, k=1)
}
"""


def l1_transposed(graph):
    """The harness's L1 choice, computed here on deconv weights turned to [C_o, C_i, k, k]."""
    deconvs = {n.name for n in graph.nodes() if n.op == "deconv"}
    plain = harness.l1_choice

    def choose(group, kept, weights):
        turned = {k: (np.swapaxes(v, 0, 1) if k.rsplit(".", 1)[0] in deconvs and k.endswith(".weight") else v)
                  for k, v in weights.items()}
        return plain(group, kept, turned)
    return choose


def test_deconv_couples_like_a_convolution():
    groups = {g.name: g for g in channel_groups(segc.loads(NET))}
    assert groups["up"].producers == ("up",) and groups["up"].transposed == ("up",)
    assert ("dw", 0, 1) in groups["up"].member_slots  # depthwise: a member
    assert ("up", 0) in groups["mid.conv"].consumers


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_deconv_equals_masked(monkeypatch, seed):
    graph = segc.loads(NET)
    monkeypatch.setattr(harness, "l1_choice", l1_transposed(graph))
    rates = {"enc.conv": 0.5, "mid.conv": 0.4, "up": 0.5}
    pruned = harness.check_equivalent(graph, rates, seed)
    shapes = {n.name: n.shape.c for n in pruned.nodes()}
    assert (shapes["up"], shapes["dw"], shapes["mid.conv"]) == (3, 3, 7)


def test_unet_example_pruned_equals_masked(monkeypatch):
    from conftest import EXAMPLES

    graph = harness.small(EXAMPLES / "unet_small.seg", 32)
    monkeypatch.setattr(harness, "l1_choice", l1_transposed(graph))
    rates = harness.random_rates(graph, 4)
    assert {"dec3.deconv", "dec2.deconv", "dec1.deconv"} <= set(rates)
    harness.check_equivalent(graph, rates, 4)


def test_a_two_channel_depthwise_deconv_pruned_to_one(monkeypatch):
    graph = segc.loads("""
network two {
    input image: [3, 8, 8]
    up = image -> deconv(2, k=2, stride=2)
    dw = up -> deconv(2, k=3, padding=1, groups=2)
    output y = dw -> conv(2, k=1)
}
""")
    monkeypatch.setattr(harness, "l1_choice", l1_transposed(graph))
    pruned = harness.check_equivalent(graph, {"up": 0.5}, 0)
    assert {n.name: n.shape.c for n in pruned.nodes()}["dw"] == 1
