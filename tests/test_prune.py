"""Channel groups, kept counts, rates and the pruned graph, checked by hand
on small networks (no torch here; see test_prune_torch.py for numerics)."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES
from hypothesis import given
from hypothesis import strategies as st

import segc
from segc.dsl.rates import parse_rates
from segc.ir import SegError
from segc.passes.base import run_pipeline
from segc.passes.channels import ChannelGroup, channel_groups, kept_channels, pruned_shapes
from segc.passes.prune import prune
from segc.passes.prune_rates import expand_set_rates, rate_sets, resolve_rates, share_rates
from segc.passes.registry import parse_pipeline


def net(body: str, size: int = 8, extra: str = "") -> segc.ir.Graph:
    return segc.loads(f"network n {{\n    input image: [3, {size}, {size}]\n{body}\n}}\n{extra}")


def groups_by_name(graph) -> dict[str, ChannelGroup]:
    return {g.name: g for g in channel_groups(graph)}


RESIDUAL = """
    a = image -> conv(8, k=3)
    a_bn = a -> bn
    a_relu = a_bn -> relu
    b = a_relu -> conv(8, k=3)
    b_bn = b -> bn
    sum = add(a_relu, b_bn)
    sum_relu = sum -> relu
    head = sum_relu -> conv(2, k=1)
    output y = head
"""


def test_residual_add_ties_both_producers() -> None:
    a = groups_by_name(net(RESIDUAL))["a"]
    assert a.channels == 8 and a.producers == ("a", "b") and a.prunable
    assert a.members == ("a_bn", "a_relu", "b_bn", "sum", "sum_relu")
    assert a.consumers == (("b", 0), ("head", 0))


def test_output_and_input_are_not_prunable() -> None:
    groups = groups_by_name(net(RESIDUAL))
    assert (groups["image"].prunable, groups["image"].reason) == (False, "network input 'image'")
    assert (groups["head"].prunable, groups["head"].reason) == (False, "network output 'y'")
    assert list(groups) == ["image", "a", "head"]  # topological


def test_concat_consumer_offsets() -> None:
    graph = net("""
    p = image -> conv(4, k=1)
    q = image -> conv(6, k=1)
    cat = concat(p, q)
    r = cat -> conv(2, k=1)
    output y = r
""")
    groups = groups_by_name(graph)
    assert groups["p"].consumers == (("r", 0),) and groups["q"].consumers == (("r", 4),)
    assert groups["q"].member_slots == (("cat", 4, 1),)
    # p keeps 2 of 4, q keeps 3 of 6: r reads 5 channels
    assert pruned_shapes(graph, list(groups.values()), {"p": 2, "q": 3}) == {"p": (3, 2), "q": (3, 3), "r": (5, 2)}


def test_depthwise_passes_channels_through() -> None:
    graph = net("""
    a = image -> conv(8, k=1)
    dw = a -> conv(8, k=3, groups=8)
    b = dw -> conv(4, k=1)
    output y = b
""")
    groups = groups_by_name(graph)
    assert groups["a"].members == ("dw",) and groups["a"].consumers == (("b", 0),)
    assert pruned_shapes(graph, list(groups.values()), {"a": 3})["dw"] == (3, 3)
    pruned, _ = prune(graph, {"a": 0.5})
    assert pruned.node("dw").attrs["groups"] == 4 and pruned.node("dw").attrs["out"] == 4


def test_flatten_then_linear_counts_features_per_channel() -> None:
    graph = net("""
    a = image -> conv(4, k=3, stride=3)
    flat = a -> flatten
    fc = flat -> linear(5)
    output y = fc
""", size=9)
    a = groups_by_name(graph)["a"]  # 9x9 / 3 = 3x3: 9 features per channel
    assert a.consumers == (("fc", 0),) and a.consumer_units == (9,)
    assert pruned_shapes(graph, [a], {"a": 1})["fc"] == (9, 5)


def test_grouped_conv_is_not_prunable() -> None:
    groups = groups_by_name(net("""
    a = image -> conv(8, k=1)
    g = a -> conv(8, k=1, groups=2)
    b = g -> conv(4, k=1)
    output y = b
"""))
    assert not groups["a"].prunable and groups["a"].reason == "grouped conv 'g' (groups=2)"
    assert not groups["g"].prunable


def test_add_of_a_concat_splits_the_other_producer() -> None:
    graph = net("""
    p = image -> conv(4, k=1)
    q = image -> conv(4, k=1)
    r = image -> conv(8, k=1)
    s = add(concat(p, q), r) as sum
    output y = s -> conv(2, k=1)
""")
    groups = groups_by_name(graph)
    assert list(groups) == ["image", "p", "q", "y"]  # r's channels [0, 4) join p, [4, 8) join q
    assert (groups["p"].producers, groups["p"].producer_offsets) == (("p", "r"), (0, 0))
    assert (groups["q"].producers, groups["q"].producer_offsets) == (("q", "r"), (0, 4))
    assert groups["q"].consumers == (("y", 4),)
    assert pruned_shapes(graph, list(groups.values()), {"p": 1, "q": 2})["r"] == (3, 3)


def test_add_of_tensors_whose_channels_cannot_be_matched() -> None:
    groups = groups_by_name(net("""
    a = image -> conv(2, k=1, stride=4)
    flat = a -> flatten
    b = flat -> linear(8)
    s = add(flat, b) as sum
    output y = s -> linear(3)
"""))  # a's 2 channels are 4 features each, b's 8 features one each
    assert not groups["a"].prunable and groups["b"].reason == "add 's.sum' of tensors whose channels cannot be matched"


def test_keep_rule_protects_the_whole_group() -> None:
    graph = net(RESIDUAL, extra="prune n {\n    keep b_bn\n}\n")
    a = groups_by_name(graph)["a"]
    assert (a.prunable, a.reason) == (False, "keep rule 'b_bn'")


ASPP = """
    s = image -> conv(8, k=1)
    a = s -> conv(4, k=1)
    b = s -> conv(4, k=3, dilation=2)
    pooled = s -> avgpool(global=true)
    c = pooled -> conv(4, k=1)
    c_up = c -> upsample(to=s)
    cat = concat(a, b, c_up)
    p = cat -> conv(4, k=1)
    out = p -> conv(2, k=1)
    output y = out
"""


def test_aspp_branches_are_siblings() -> None:
    graph = net(ASPP)
    groups = channel_groups(graph)
    sets = rate_sets(groups, graph)
    assert sets == [["s"], ["a", "b", "c"], ["p"]]
    assert share_rates({"b": 0.5, "p": 0.25}, sets) == {"a": 0.5, "b": 0.5, "c": 0.5, "p": 0.25}
    assert expand_set_rates(sets, [0.0, 0.5, 0.25]) == {"s": 0.0, "a": 0.5, "b": 0.5, "c": 0.5, "p": 0.25}


def test_resnet18_groups() -> None:
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    groups = groups_by_name(graph)
    # the stem and layer1's residual stream; one group per block's inner conv; layer2-4 streams
    assert groups["conv1"].producers == ("conv1", "layer1.0.conv2", "layer1.1.conv2")
    assert groups["layer2.0.conv2"].producers == ("layer2.0.conv2", "layer2.0.downsample.0", "layer2.1.conv2")
    assert sum(g.prunable for g in groups.values()) == 12
    assert ["layer2.0.conv1", "layer2.0.conv2"] in rate_sets(list(groups.values()), graph)  # shortcut siblings


@pytest.mark.parametrize(("channels", "rate", "pof", "kept"), [
    (10, 0.25, None, 8),  # 7.5 rounds half up
    (10, 0.35, None, 7),  # 6.5 → 7
    (10, 0.99, None, 1),  # at least one
    (5, 0.9, None, 1),  # 0.5 → 1, though (1 − 0.9)·5 < 0.5 in floating point
    (64, 0.3, 32, 32),  # 44.8 → 45, nearer 32 than 64
    (64, 0.25, 32, 64),  # 48: a tie, keeps more
    (40, 0.05, 32, 40),  # 38: nearer C = 40 than 32
    (24, 0.5, 32, 24),  # no multiple of 32 fits: all kept
    (10, 0.0, None, 10),
])
def test_kept_channels(channels: int, rate: float, pof: int | None, kept: int) -> None:
    group = ChannelGroup("g", channels, ("g",), (), (), True, "")
    assert kept_channels(group, rate, pof) == kept


@given(st.integers(1, 600), st.floats(0, 0.999), st.sampled_from([None, 1, 4, 16, 32]))
def test_kept_channels_bounds(channels: int, rate: float, pof: int | None) -> None:
    kept = kept_channels(ChannelGroup("g", channels, ("g",), (), (), True, ""), rate, pof)
    assert 1 <= kept <= channels
    assert pof is None or kept % pof == 0 or kept == channels


def test_unprunable_group_keeps_everything() -> None:
    assert kept_channels(ChannelGroup("g", 10, ("g",), (), (), False, "network output 'y'"), 0.5) == 10


def test_rate_zero_is_the_identity() -> None:
    graph = segc.load(str(EXAMPLES / "deeplabv3plus_r18.seg"))
    pruned, _ = prune(graph, {g.name: 0.0 for g in channel_groups(graph) if g.prunable})
    assert pruned.structure()[3] == graph.structure()[3]


def test_resolve_rates_last_rule_wins_and_reports_mistakes() -> None:
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    groups = channel_groups(graph)
    directives = parse_rates("layer*: 0.5\nlayer2.*: 0.25\n", "r.txt")
    rates = resolve_rates(graph, groups, directives)
    assert rates["layer2.0.conv2"] == 0.25 and rates["layer3.0.conv2"] == 0.5 and "fc" not in rates
    assert rates["conv1"] == 0.5  # layer1.*.conv2 produce the stem's group
    bad = parse_rates("fc: 0.5\nlayer9.*: 0.5\nfcc: 0.2\n", "r.txt")
    with pytest.raises(SegError) as err:
        resolve_rates(graph, groups, bad)
    assert [d.message for d in err.value.diagnostics] == [
        "'fc' matches only layers that cannot be pruned (fc: network output 'logits')",
        "'layer9.*' matches no conv, dconv or linear layer of network 'resnet18'",
        "no layer named 'fcc' in network 'resnet18'; did you mean 'fc'?",
    ]
    assert [d.span.line for d in err.value.diagnostics] == [1, 2, 3]


def test_rates_file_syntax() -> None:
    text = '# rates\nlayer1.*: 0.3   # inline\n"fc": 0\n\nkeep conv1, layer4.*\n'
    directives = parse_rates(text, "r.txt")
    assert [(r.pattern, r.rate) for r in directives.rules] == [("layer1.*", 0.3), ("fc", 0.0)]
    assert [k.pattern for k in directives.keep] == ["conv1", "layer4.*"]
    with pytest.raises(SegError) as err:
        parse_rates("a: 1\nb: x\nc 0.5\n", "r.txt")
    assert [str(d.span) + " " + d.message for d in err.value.diagnostics] == [
        "r.txt:1:4 a pruning rate must be at least 0 and below 1, got 1",
        "r.txt:2:4 expected a pruning rate (a number in [0, 1)), got 'x'",
        "r.txt:3:1 expected 'PATTERN: RATE' or 'keep PATTERN, ...'",
    ]


def test_prune_rejects_bad_rates() -> None:
    graph = net(RESIDUAL)
    with pytest.raises(SegError, match="no channel group named 'aa'; did you mean 'a'"):
        prune(graph, {"aa": 0.5})
    with pytest.raises(SegError, match="group 'head' cannot be pruned: network output 'y'"):
        prune(graph, {"head": 0.5})
    with pytest.raises(SegError, match="got 1"):
        prune(graph, {"a": 1.0})
    with pytest.raises(SegError, match=r"pruning 0.95 of the 8 channels of group 'a' \(a, b\) would leave none; "
                                        r"a rate of at most 0.9375 keeps one"):
        prune(graph, {"a": 0.95})
    assert prune(graph, {"a": 0.95}, strict=False)[0].node("a").shape.c == 1


def test_prune_pass_reads_the_directives() -> None:
    path = EXAMPLES / "deeplabv3plus_r18.seg"
    graph = segc.loads(path.read_text("utf-8").replace("[3, 960, 960]", "[3, 64, 64]"), str(path))
    pruned, notes = run_pipeline(graph, parse_pipeline("prune{snap=true}"))
    assert pruned.node("res5.0.conv2").shape.c == 256 and pruned.node("res5.1.conv1").shape.c == 256
    assert pruned.node("aspp.0.conv").shape.c == 192  # 0.75 · 256 = 192 = 6 · P_of (32)
    assert pruned.node("stem.conv").shape.c == 64  # keep stem.conv
    assert pruned.node("aspp.project.conv").annotations["prune"] == {"in": (1280, 960), "out": (256, 192)}
    assert pruned.directives.prune.rules == () and len(pruned.directives.prune.keep) == 2
    assert notes == ["prune: 9 of 23 channel groups pruned: 3072 → 1920 channels"]
    again, _ = run_pipeline(pruned, parse_pipeline("prune"))  # rates applied once: nothing left to do
    assert again.structure() == pruned.structure()
    with pytest.raises(SegError, match="'rate' must be at least 0 and below 1"):
        run_pipeline(graph, parse_pipeline("prune{rate=1.2}"))


def test_prune_pass_counts_split_groups() -> None:
    graph = segc.load(str(EXAMPLES / "codenet_shufflenet.seg"))
    pruned, notes = run_pipeline(graph, parse_pipeline("prune{rate=0.5}"))
    # the stem, each unit's branch width (the first 1x1 conv, w/2 at stage width w: down units 1, units
    # 3 + 7 + 3), the neck 256 + 128 + 64 and three heads of 64; and, through the shuffles, the halves of
    # the interleaved channels a unit's split cuts whole: 29 (stage 2), 58 + 29 (stage 3) and 116 + 58 +
    # 29 + 29 (stage 4, whose last 29 reach the neck); those of 29 keep 15
    before = 24 + 4 * 58 + 8 * 116 + 4 * 232 + (256 + 128 + 64) + 3 * 64
    through = [29, 58, 29, 116, 58, 29, 29]
    after = before // 2 + sum((c + 1) // 2 for c in through)
    assert notes == [f"prune: 30 of 46 channel groups pruned: {before + sum(through)} → {after} channels"]
    assert pruned.node("stage2.1.conv").shape.c == 29  # 58, half kept
    assert pruned.node("stage2.1.0.conv1").shape.c == 29  # its depthwise conv follows
    assert pruned.node("stage2.1.0.conv2").shape.c == 58  # tied to channels the next unit's split cuts
    # the down unit's channels [29, 58) of each branch, 2 wide after the shuffle, keep 15
    assert pruned.node("stage2.0.0.conv2").shape.c == 29 + 15
    assert pruned.node("stage2.1.slice2").attrs == {"start": 58, "end": 58 + 2 * 15}


def test_codenet_units_split_and_shuffle() -> None:
    groups = groups_by_name(segc.load(str(EXAMPLES / "codenet_shufflenet.seg")))
    # the down unit's branches are tied index by index; the next split cuts their interleaved channels at
    # channel 29, each output channel of the shuffle holding one of each branch
    second = groups["stage2.0.0.conv2[29:58]"]
    assert second.prunable and second.channels == 29
    assert second.producer_slots == (("stage2.0.0.conv2", 29, 1), ("stage2.0.1.conv2", 29, 1))
    assert second.consumers == (("stage2.1.conv", 0),) and second.consumer_units == (2,)
    # the first half joins unit 1's branch (two channels per channel), 4 wide after its shuffle: unit 2's
    # split at 58 = 4·14 + 2 cuts a channel
    first = groups["stage2.0.0.conv2[0:29]"]
    assert first.producer_slots[-1] == ("stage2.1.0.conv2", 0, 2)
    assert not first.prunable and first.reason == "slice 'stage2.2.slice1' cuts a channel's features"
    branch = groups["stage2.1.conv"]
    assert branch.prunable and branch.channels == 58 and branch.consumers == (("stage2.1.0.conv2", 0),)
    # stage 4 (232 = 8·29 per half): the channels stay whole through all four shuffles; the last 29,
    # 16 wide, reach the neck's first pointwise conv
    last = groups["stage4.0.0.conv2[0:29]"]
    assert last.prunable and last.consumers[-1] == ("neck.0.conv", 0) and last.consumer_units[-1] == 16
    # image; 23 + 7 prunable; stage 2: unit 1's tied halves, unit 2's branch end, unit 2's shuffle output
    # cut in two; stage 3: unit 2's tied halves, unit 3's branch end, unit 3's shuffle output cut in
    # two, the first half cut again by units 5 and 6, unit 7's branch end and shuffle; 3 heads' last convs
    assert (len(groups), sum(g.prunable for g in groups.values())) == (1 + 30 + 4 + 8 + 3, 30)
