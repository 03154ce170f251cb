"""Pruning through a channel shuffle: the groups of two ShuffleNetV2-style
units worked out by hand, and the pruned model against the unpruned one with
the pruned channels masked."""

from __future__ import annotations

import pytest

import segc
from segc.ir import SegError
from segc.passes.channels import channel_groups
from segc.passes.prune import prune

# a: left and right interleaved, output 2c + p is part p's channel c.  The split takes a's
# channels [0, 8): left[c], right[c] for c < 4; the second shuffle interleaves them with branch,
# so branch's channels 2c and 2c + 1 go with left[c] and b's channels [4c, 4c + 4) are channel c.
UNITS = """
network units {
    input x: [4, 8, 8]
    stem = x -> conv(8, k=1) -> bn -> relu
    left = stem -> conv(8, k=1) -> bn -> relu
    right = stem -> conv(8, k=3) -> bn -> relu
    a = concat(left, right) -> shuffle(groups=2)
    halves = a -> split(2)
    branch = halves[1] -> conv(8, k=1) -> bn -> relu
    b = concat(halves[0], branch) -> shuffle(groups=2)
    output y = b -> conv(5, k=1)
}
"""

THREE = """
network three {
    input x: [3, 6, 6]
    stem = x -> conv(6, k=1) -> relu
    parts = concat(stem -> conv(4, k=1), stem -> conv(4, k=3), stem -> conv(4, k=1) -> bn)
    output y = parts -> shuffle(groups=3) -> conv(5, k=1)
}
"""


def groups_of(text: str) -> dict:
    return {g.name: g for g in channel_groups(segc.loads(text))}


def test_groups_of_two_units_by_hand() -> None:
    groups = groups_of(UNITS)
    assert list(groups) == ["x", "stem.conv", "left.conv[0:4]", "left.conv[4:8]", "y"]
    first = groups["left.conv[0:4]"]  # through both shuffles to y
    assert first.prunable and first.channels == 4
    assert first.producer_slots == (("left.conv", 0, 1), ("right.conv", 0, 1), ("branch.conv", 0, 2))
    assert ("a.shuffle", 0, 2) in first.member_slots and ("b.shuffle", 0, 4) in first.member_slots
    assert first.consumers == (("y", 0),) and first.consumer_units == (4,)
    second = groups["left.conv[4:8]"]  # a's channels [8, 16): the split's second half, read by branch
    assert second.prunable and second.channels == 4
    assert second.producer_slots == (("left.conv", 4, 1), ("right.conv", 4, 1))
    assert second.consumers == (("branch.conv", 0),) and second.consumer_units == (2,)
    assert groups["stem.conv"].prunable and not groups["x"].prunable and not groups["y"].prunable


def test_pruned_shapes_through_shuffles() -> None:
    pruned, _ = prune(segc.loads(UNITS), {"left.conv[0:4]": 0.5, "left.conv[4:8]": 0.75})
    # left and right keep 2 + 1 channels each, branch 2 pairs; a keeps 6 = 2·3, b 8 = 4·2
    assert [pruned.node(n).shape.c for n in ("left.conv", "right.conv", "branch.conv")] == [3, 3, 4]
    assert [pruned.node(n).shape.c for n in ("a.shuffle", "b.shuffle")] == [6, 8]
    assert pruned.node("halves.slice1").attrs == {"start": 0, "end": 4}
    assert pruned.node("halves.slice2").attrs == {"start": 4, "end": 6}


def test_three_parts_tie_index_by_index() -> None:
    groups = groups_of(THREE)
    tied = groups["parts.conv1"]
    assert tied.prunable and tied.channels == 4
    assert tied.producers == ("parts.conv1", "parts.conv2", "parts.conv3")
    assert tied.consumers == (("y.conv", 0),) and tied.consumer_units == (3,)


@pytest.mark.parametrize("text, names", [
    (UNITS, ["stem.conv", "left.conv[0:4]", "left.conv[4:8]"]),
    (THREE, ["stem.conv", "parts.conv1"]),
])
@pytest.mark.parametrize("rates", [(0.25, 0.5, 0.75), (0.5, 0.25, 0.5), (0.75, 0.75, 0.25)])
def test_pruned_equals_masked(text: str, names: list[str], rates: tuple[float, ...]) -> None:
    pytest.importorskip("torch")
    import test_prune_torch as harness

    for seed in (0, 1):
        harness.check_equivalent(segc.loads(text), dict(zip(names, rates)), seed)


def test_unmatched_parts_and_inputs_are_refused() -> None:
    # 16 parts of one channel each: a's channels (2 wide) cannot be cut in two
    groups = groups_of(UNITS.replace("output y = b", "output z = a -> shuffle(groups=16)\n    output y = b"))
    reason = "channel shuffle 'z' (groups=16) of parts whose channels cannot be matched"
    assert [(g.prunable, g.reason) for g in groups.values()][2:5] == [(False, reason)] * 3  # both halves and z
    fixed = """
    network fixed {
        input x: [4, 6, 6]
        output y = concat(x, x -> conv(4, k=1)) -> shuffle(groups=2) -> conv(3, k=1)
    }
    """
    group = groups_of(fixed)["x"]  # the conv's channels are tied to the network input's
    assert group.producers == ("y.conv1",) and not group.prunable and group.reason == "network input 'x'"
    with pytest.raises(SegError, match="group 'x' cannot be pruned: network input 'x'"):
        prune(segc.loads(fixed), {"x": 0.5})
