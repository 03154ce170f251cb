"""Channel groups where the flow analysis must split or coarsen elements,
each worked out by hand from the coupling rules of docs/pruning.md: an add
whose operands are cut at different channels, a shuffle of one conv's
output, a shuffle whose parts match only after one is coarsened (and the
group a coarsened conv names), and the fixed channels an unmatched shuffle
makes."""

from __future__ import annotations

import segc
from segc.passes.channels import channel_groups


def groups_of(body: str) -> dict:
    graph = segc.loads(f"network n {{\n    input x: [3, 8, 8]\n{body}\n    output y = z -> conv(5, k=1)\n}}\n")
    made = [g for g in channel_groups(graph) if g.name not in ("x", "y")]
    return {g.name: (g.channels, g.prunable, g.producer_slots) for g in made}


def test_an_add_of_concats_cut_at_different_channels_splits_the_wider_pieces() -> None:
    # concat(a, b) is cut at 2, concat(c, d) at 4: b (channels [2, 8)) splits at its channel 2
    # (tensor channel 4), c at its channel 2; then a ~ c[0:2], b[0:2] ~ c[2:4], b[2:6] ~ d.
    groups = groups_of("""
    a = x -> conv(2, k=1)
    b = x -> conv(6, k=1)
    c = x -> conv(4, k=1)
    d = x -> conv(4, k=1)
    z = add(concat(a, b), concat(c, d))""")
    assert groups == {
        "a": (2, True, (("a", 0, 1), ("c", 0, 1))),
        "b[0:2]": (2, True, (("b", 0, 1), ("c", 2, 1))),
        "b[2:6]": (4, True, (("b", 2, 1), ("d", 0, 1))),
    }


def test_a_shuffle_of_one_conv_ties_its_two_halves() -> None:
    # conv(8) -> shuffle(2): parts [0, 4) and [4, 8) of the same conv, tied channel by channel.
    groups = groups_of("    z = x -> conv(8, k=1) -> shuffle(groups=2)")
    assert groups == {"z.conv[0:4]": (4, True, (("z.conv", 0, 1), ("z.conv", 4, 1)))}


def test_a_shuffle_coarsens_the_part_whose_channels_are_finer_after_a_matching_pair() -> None:
    # Part 0 = c1 (2 channels), s1 (l and r interleaved: 2 channels of 2); part 1 = c2 (2), c3 (4).
    # The first pair already matches; c3 is coarsened to 2 channels of 2 and tied to l and r.
    groups = groups_of("""
    l = x -> conv(2, k=1)
    r = x -> conv(2, k=1)
    c1 = x -> conv(2, k=1)
    c2 = x -> conv(2, k=1)
    c3 = x -> conv(4, k=1)
    s1 = concat(l, r) -> shuffle(groups=2)
    z = concat(c1, s1, c2, c3) -> shuffle(groups=2)""")
    assert groups == {
        "l": (2, True, (("l", 0, 1), ("r", 0, 1), ("c3", 0, 2))),
        "c1": (2, True, (("c1", 0, 1), ("c2", 0, 1))),
    }


def test_an_unmatched_shuffle_makes_fixed_channels_with_no_producer() -> None:
    # a's channels are 2 wide (l and r interleaved); 8 parts of one channel cut inside them.
    graph = segc.loads("""network n {
    input x: [3, 8, 8]
    a = concat(x -> conv(4, k=1), x -> conv(4, k=1)) -> shuffle(groups=2)
    z = a -> shuffle(groups=8)
    output y = z -> conv(5, k=1)
}""")
    made = {g.name: g for g in channel_groups(graph)}["z"]
    assert (made.channels, made.producers, made.prunable) == (8, (), False)



def test_a_group_first_made_by_a_coarsened_conv_counts_whole_channels() -> None:
    # As above with c3 made first: the group is c3's, 4 channels in 2 pairs.
    graph = segc.loads("""network n {
    input x: [3, 8, 8]
    c3 = x -> conv(4, k=1)
    s1 = concat(x -> conv(2, k=1), x -> conv(2, k=1)) -> shuffle(groups=2)
    output y = concat(s1, c3) -> shuffle(groups=2) -> conv(5, k=1)
}""")
    group = {g.name: g for g in channel_groups(graph)}["c3"]
    assert type(group.channels) is int and group.channels == 2
    assert group.producer_slots == (("c3", 0, 2), ("s1.conv1", 0, 1), ("s1.conv2", 0, 1))


def test_a_shuffle_never_coarsens_a_piece_against_one_that_spans_other_channels() -> None:
    # Part 0 = p (l and r interleaved: [0, 2) as one channel of 2), q [2, 6); part 1 = u [0, 1),
    # s ([1, 3) as one channel of 2), t [3, 6). Part 1's bound 1 falls inside p's one channel, and no
    # piece spans the same channels as its counterpart (q [2, 6) against s [1, 3)): unmatched, every
    # group keeps its own channels whole; q stays 4 channels of 1.
    unmatched = False
    groups = groups_of("""
    l = x -> conv(1, k=1)
    r = x -> conv(1, k=1)
    p = concat(l, r) -> shuffle(groups=2)
    q = x -> conv(4, k=1)
    u = x -> conv(1, k=1)
    v = x -> conv(1, k=1)
    w = x -> conv(1, k=1)
    s = concat(v, w) -> shuffle(groups=2)
    t = x -> conv(3, k=1)
    z = concat(p, q, u, s, t) -> shuffle(groups=2)""")
    assert groups == {
        "l": (1, unmatched, (("l", 0, 1), ("r", 0, 1))),
        "q": (4, unmatched, (("q", 0, 1),)),
        "u": (1, unmatched, (("u", 0, 1),)),
        "v": (1, unmatched, (("v", 0, 1), ("w", 0, 1))),
        "t": (3, unmatched, (("t", 0, 1),)),
        "z.shuffle": (12, unmatched, ()),
    }


def test_a_split_after_hundreds_of_elements_ties_the_right_channels() -> None:
    # 270 convs before it: element numbers past 256, which Python does not share between equal ints,
    # so elements must be compared by value. a's halves are added: one group of 4, produced at 0 and 4
    chain = "".join(f"    c{i} = {'x' if i == 0 else f'c{i - 1}'} -> conv(2, k=1)\n" for i in range(270))
    groups = groups_of(chain + """    a = c269 -> conv(8, k=1)
    halves = a -> split(2)
    z = add(halves[0], halves[1])""")
    assert groups["a[0:4]"] == (4, True, (("a", 0, 1), ("a", 4, 1)))
    assert groups["c269"] == (2, True, (("c269", 0, 1),))


def test_a_flattened_concat_places_each_part_at_its_features() -> None:
    # flatten of concat(p[2], q[3]) on a 2x2 map: q's channels begin at feature 2·4 = 8, one channel
    # every 4 features, so the linear layer reads p at 0 and q at 8 (4 features a channel)
    graph = segc.loads("""network n {
    input x: [3, 2, 2]
    p = x -> conv(2, k=1)
    q = x -> conv(3, k=1)
    f = concat(p, q) -> flatten
    output y = f -> linear(5)
}
""")
    consumers = {g.name: (g.consumers, g.consumer_units) for g in channel_groups(graph)}
    assert consumers["p"] == ((("y", 0),), (4,))
    assert consumers["q"] == ((("y", 8),), (4,))


def test_an_add_splits_a_coarse_channel_at_each_bound_it_can_before_giving_up() -> None:
    # s = shuffle(concat(l, r)): 2 channels of 2 (l and r interleaved). The other operand's bounds fall at
    # 2, between s's channels (l and r are cut after channel 0), and at 3, inside s's second channel:
    # unmatched, so nothing is pruned, but l and r are cut in two first
    groups = groups_of("""
    l = x -> conv(2, k=1)
    r = x -> conv(2, k=1)
    s = concat(l, r) -> shuffle(groups=2)
    u = x -> conv(2, k=1)
    v = x -> conv(1, k=1)
    w = x -> conv(1, k=1)
    z = add(s, concat(u, v, w))""")
    assert groups == {
        "l[0:1]": (1, False, (("l", 0, 1), ("r", 0, 1))), "l[1:2]": (1, False, (("l", 1, 1), ("r", 1, 1))),
        "u": (2, False, (("u", 0, 1),)), "v": (1, False, (("v", 0, 1),)), "w": (1, False, (("w", 0, 1),))}
