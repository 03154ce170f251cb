"""Channel groups of small graphs written out whole, every field worked out
by hand from the coupling rules of docs/pruning.md (adds of two and three
inputs, concat, split, depthwise, grouped conv, deconv), and the pruned
shapes and slice bounds they imply, counted by hand."""

from __future__ import annotations

import dataclasses

import pytest

import segc
from segc.passes.channels import ChannelGroup, channel_groups, kept_channels, pruned_shapes, pruned_slices


def net(body: str) -> segc.ir.Graph:
    return segc.loads(f"network n {{\n    input x: [3, 8, 8]\n{body}\n}}\n")


def the_input(consumers: tuple[str, ...]) -> ChannelGroup:
    """x's 3 channels: read by ``consumers`` at offset 0, never pruned."""
    return ChannelGroup("x", 3, (), (), tuple((name, 0) for name in consumers), False, "network input 'x'",
                        consumer_units=(1,) * len(consumers))


def source(name: str, channels: int, consumers=(), members=(), reason: str = "", **fields) -> ChannelGroup:
    """A group one conv produces whole (offset 0, one filter per channel)."""
    return ChannelGroup(name, channels, (name,), tuple(dict.fromkeys(m for m, _, _ in members)),
                        tuple(consumers), not reason, reason, consumer_units=(1,) * len(consumers),
                        member_slots=tuple(members), producer_offsets=(0,), producer_units=(1,), **fields)


TWO_INPUT_ADD = """
    p = x -> conv(6, k=1)
    q = x -> conv(6, k=1, bias=true)
    s = add(p, q)
    r = s -> relu
    h = r -> conv(4, k=1)
    output y = h
"""


def test_an_add_of_two_convs_ties_them_channel_by_channel() -> None:
    # p and q produce the same 6 channels (the add), s and r carry them, h reads them at 0.
    tied = ChannelGroup("p", 6, ("p", "q"), ("s", "r"), (("h", 0),), True, "", consumer_units=(1,),
                        member_slots=(("s", 0, 1), ("r", 0, 1)), producer_offsets=(0, 0), producer_units=(1, 1))
    assert channel_groups(net(TWO_INPUT_ADD)) == [
        the_input(("p", "q")), tied, source("h", 4, reason="network output 'y'")]


def test_an_add_of_three_convs_and_the_shapes_it_prunes() -> None:
    graph = net("""
    p = x -> conv(4, k=1)
    q = x -> conv(4, k=3, padding=1)
    r = x -> conv(4, k=1) -> bn
    s = add(p, q, r)
    t = s -> conv(5, k=1)
    output y = t -> conv(2, k=1)
""")
    groups = channel_groups(graph)
    tied = ChannelGroup("p", 4, ("p", "q", "r.conv"), ("r.bn", "s"), (("t", 0),), True, "", consumer_units=(1,),
                        member_slots=(("r.bn", 0, 1), ("s", 0, 1)), producer_offsets=(0, 0, 0),
                        producer_units=(1, 1, 1))
    assert groups == [the_input(("p", "q", "r.conv")), tied, source("t", 5, (("y", 0),)),
                      source("y", 2, reason="network output 'y'")]
    # keeping 1 of p's 4 and 2 of t's 5: each producer outputs 1, t reads 1 and outputs 2, y reads 2
    assert pruned_shapes(graph, groups, {"p": 1, "t": 2}) == {
        "p": (3, 1), "q": (3, 1), "r.conv": (3, 1), "t": (1, 2), "y": (2, 2)}


def test_a_concat_places_each_input_at_its_offset() -> None:
    graph = net("""
    p = x -> conv(2, k=1)
    q = x -> conv(5, k=1)
    cat = concat(p, q)
    b = cat -> bn
    output y = b -> conv(3, k=1)
""")
    groups = channel_groups(graph)
    # q's 5 channels sit at [2, 7) of cat and b, and y reads them from 2
    assert groups == [
        the_input(("p", "q")),
        source("p", 2, (("y", 0),), (("cat", 0, 1), ("b", 0, 1))),
        source("q", 5, (("y", 2),), (("cat", 2, 1), ("b", 2, 1))),
        source("y", 3, reason="network output 'y'")]
    assert pruned_shapes(graph, groups, {"p": 1, "q": 3}) == {"p": (3, 1), "q": (3, 3), "y": (4, 3)}


SPLIT = """
    a = x -> conv(8, k=1)
    halves = a -> split(2)
    b = halves[0] -> conv(3, k=1)
    c = halves[1] -> conv(3, k=1)
    output y = concat(b, c) -> conv(2, k=1)
"""


def test_a_split_cuts_its_input_into_two_groups() -> None:
    groups = channel_groups(net(SPLIT))
    first = ChannelGroup("a[0:4]", 4, ("a",), ("halves.slice1",), (("b", 0),), True, "", consumer_units=(1,),
                         member_slots=(("halves.slice1", 0, 1),), producer_offsets=(0,), producer_units=(1,))
    second = ChannelGroup("a[4:8]", 4, ("a",), ("halves.slice2",), (("c", 0),), True, "", consumer_units=(1,),
                          member_slots=(("halves.slice2", 0, 1),), producer_offsets=(4,), producer_units=(1,))
    assert groups == [the_input(("a",)), first, second,
                      source("b", 3, (("y.conv", 0),), (("y.concat", 0, 1),)),
                      source("c", 3, (("y.conv", 3),), (("y.concat", 3, 1),)),
                      source("y.conv", 2, reason="network output 'y'")]


def test_split_bounds_move_down_by_the_channels_pruned_before_them() -> None:
    graph = net(SPLIT)
    groups = channel_groups(graph)
    # a keeps 2 of [0, 4) and 3 of [4, 8): the first half is [0, 4 - 2), the second [4 - 2, 8 - 2 - 1)
    assert pruned_slices(graph, groups, {"a[0:4]": 2, "a[4:8]": 3}) == {
        "halves.slice1": (0, 2), "halves.slice2": (2, 5)}
    assert pruned_slices(graph, groups, {"a[4:8]": 1}) == {"halves.slice1": (0, 4), "halves.slice2": (4, 5)}
    assert pruned_slices(graph, groups, {}) == {"halves.slice1": (0, 4), "halves.slice2": (4, 8)}
    assert pruned_shapes(graph, groups, {"a[0:4]": 2, "a[4:8]": 3, "b": 1}) == {
        "a": (3, 5), "b": (2, 1), "c": (3, 3), "y.conv": (4, 2)}


def test_a_depthwise_conv_is_a_member_that_shrinks_on_both_sides() -> None:
    graph = net("""
    a = x -> conv(6, k=1)
    dw = a -> conv(6, k=3, padding=1, groups=6)
    output y = dw -> conv(2, k=1)
""")
    groups = channel_groups(graph)
    assert groups == [the_input(("a",)), source("a", 6, (("y", 0),), (("dw", 0, 1),)),
                      source("y", 2, reason="network output 'y'")]
    assert pruned_shapes(graph, groups, {"a": 4}) == {"a": (3, 4), "dw": (4, 4), "y": (4, 2)}


def test_a_grouped_conv_holds_both_the_groups_it_reads_and_the_one_it_makes() -> None:
    groups = channel_groups(net("""
    a = x -> conv(4, k=1)
    g = a -> conv(6, k=1, groups=2)
    output y = g -> conv(2, k=1)
"""))
    assert groups == [the_input(("a",)), source("a", 4, (("g", 0),), reason="grouped conv 'g' (groups=2)"),
                      source("g", 6, (("y", 0),), reason="grouped conv 'g' (groups=2)"),
                      source("y", 2, reason="network output 'y'")]


def test_a_deconv_produces_a_group_with_its_weight_transposed() -> None:
    groups = channel_groups(net("""
    a = x -> conv(4, k=1)
    up = a -> deconv(6, k=2, stride=2)
    output y = up -> conv(2, k=1)
"""))
    assert groups == [the_input(("a",)), source("a", 4, (("up", 0),)),
                      source("up", 6, (("y", 0),), transposed=("up",)), source("y", 2, reason="network output 'y'")]


def test_a_group_left_without_offsets_starts_at_zero_one_filter_per_channel() -> None:
    group = ChannelGroup("a", 4, ("a", "b"), (), (), True, "")
    assert group.producer_slots == (("a", 0, 1), ("b", 0, 1))


def test_a_group_first_produced_by_a_coarsened_conv_is_named_after_it_whole() -> None:
    # m = shuffle(concat(l, r)): channel c of l's 3 is m[2c:2c + 2]; o = shuffle(concat(m, p)) ties m's
    # 3 two-wide channels to p's 6, two by two: p (defined first) is coarsened to 3 channels of 2 filters,
    # all of its 6, so the group is "p", not a range; o holds each channel 4 wide
    graph = net("""
    p = x -> conv(6, k=1)
    l = x -> conv(3, k=1)
    r = x -> conv(3, k=1)
    m = concat(l, r) -> shuffle(groups=2)
    o = concat(m, p) -> shuffle(groups=2)
    output y = o -> conv(2, k=1)
""")
    group = channel_groups(graph)[1]
    assert (group.name, group.channels) == ("p", 3)
    assert group.producer_slots == (("p", 0, 2), ("l", 0, 1), ("r", 0, 1))
    assert group.member_slots == (("m.concat", 0, 1), ("m.concat", 3, 1), ("m.shuffle", 0, 2),
                                  ("o.concat", 0, 2), ("o.concat", 6, 2), ("o.shuffle", 0, 4))
    assert (group.consumers, group.consumer_units) == ((("y", 0),), (4,))


def test_a_depthwise_conv_after_a_shuffle_loses_two_channels_per_group_channel() -> None:
    graph = net("""
    l = x -> conv(4, k=1)
    r = x -> conv(4, k=1)
    a = concat(l, r) -> shuffle(groups=2)
    dw = a -> conv(8, k=3, padding=1, groups=8)
    output y = dw -> conv(2, k=1)
""")
    groups = channel_groups(graph)
    assert groups[1].member_slots[-1] == ("dw", 0, 2)
    # keeping 1 of l's 4 channels removes 3, two of dw's channels each: 8 - 6 = 2 on both sides
    assert pruned_shapes(graph, groups, {"l": 1}) == {"l": (3, 1), "r": (3, 1), "dw": (2, 2), "y": (2, 2)}


def test_kept_counts_snapped_to_small_and_odd_multiples() -> None:
    def kept(channels: int, rate: float, pof: int) -> int:
        return kept_channels(ChannelGroup("g", channels, ("g",), (), (), True, ""), rate, pof)

    assert kept(10, 0.35, 2) == 8  # 6.5 + ½ → 7: 6 and 8 are as near, the larger is kept
    assert kept(33, 0.1, 32) == 32  # 29.7 + ½ → 30: 32 is nearer than C = 33
    assert kept(33, 0.0, 32) == 33


def test_groups_are_immutable() -> None:
    group = ChannelGroup("a", 4, ("a",), (), (), True, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        group.channels = 2


def test_linear_producers_are_not_transposed() -> None:
    groups = channel_groups(segc.loads("""network n {
    input x: [3, 4, 4]
    a = x -> conv(2, k=1)
    f = a -> flatten
    fc = f -> linear(5)
    output y = fc -> linear(3)
}"""))
    # a's 2 channels are 4·4 = 16 features each after the flatten
    flattened = ChannelGroup("a", 2, ("a",), ("f",), (("fc", 0),), True, "", consumer_units=(16,),
                             member_slots=(("f", 0, 16),), producer_offsets=(0,), producer_units=(1,))
    assert groups == [the_input(("a",)), flattened, source("fc", 5, (("y", 0),)),
                      source("y", 3, reason="network output 'y'")]


def test_groups_of_one_layer_are_ordered_by_where_they_start_in_it() -> None:
    # a's halves are added crosswise to r's: a[0:4] ties r[4:8], a[4:8] ties r[0:4]; both groups start
    # in a, so a[0:4] (from channel 0) comes first, whatever r's offsets
    groups = channel_groups(net("""
    a = x -> conv(8, k=1)
    halves = a -> split(2)
    r = x -> conv(8, k=1)
    parts = r -> split(2)
    s = add(halves[1], parts[0])
    t = add(halves[0], parts[1])
    output y = concat(s, t) -> conv(2, k=1)
"""))
    assert [(g.name, g.producer_slots) for g in groups[1:3]] == [
        ("a[0:4]", (("a", 0, 1), ("r", 4, 1))), ("a[4:8]", (("a", 4, 1), ("r", 0, 1)))]


def test_slots_recorded_before_a_split_are_listed_by_offset_within_each_layer() -> None:
    # c = concat(a, b) is read by r (a member) and h (a consumer) before a's split cuts a at channel 2;
    # d then ties a[2:4] to b, so that group holds c's and r's channels 2-3 and 4-5 and h reads it
    # at 2 and at 4: listed by offset, though b's slots (4) were recorded before a[2:4]'s (2)
    groups = channel_groups(net("""
    a = x -> conv(4, k=1)
    b = x -> conv(2, k=1)
    c = concat(a, b)
    r = c -> relu
    h = r -> conv(3, k=1)
    halves = a -> split(2)
    d = add(halves[1], b)
    output y = concat(h, d) -> conv(2, k=1)
"""))
    tied = ChannelGroup("a[2:4]", 2, ("a", "b"), ("c", "r", "halves.slice2", "d", "y.concat"),
                        (("h", 2), ("h", 4), ("y.conv", 3)), True, "", consumer_units=(1, 1, 1),
                        member_slots=(("c", 2, 1), ("c", 4, 1), ("r", 2, 1), ("r", 4, 1), ("halves.slice2", 0, 1),
                                      ("d", 0, 1), ("y.concat", 3, 1)),
                        producer_offsets=(2, 0), producer_units=(1, 1))
    first = ChannelGroup("a[0:2]", 2, ("a",), ("c", "r"), (("h", 0),), True, "", consumer_units=(1,),
                         member_slots=(("c", 0, 1), ("r", 0, 1)), producer_offsets=(0,), producer_units=(1,))
    assert groups == [the_input(("a", "b")), first, tied, source("h", 3, (("y.conv", 0),), (("y.concat", 0, 1),)),
                      source("y.conv", 2, reason="network output 'y'")]
