"""The channel ops slice and shuffle: shapes and attribute errors, the
generated torch module against ``torch.chunk`` and torch's own
``channel_shuffle``, their channel coupling, and pruning through them (the
pruned model equals the unpruned one with the pruned channels masked)."""

from __future__ import annotations

import pytest
from run_op import out_shape, run

import segc
from segc.ir import OPS, AttrError, Coupling, SegError, Shape, ShapeError
from segc.ir.ops_channels import shuffled_channel
from segc.passes.channels import channel_groups
from segc.passes.prune import prune


def test_slice_and_shuffle_shapes():
    assert out_shape("slice", [Shape(10, 4, 5)], start=3, end=7) == Shape(4, 4, 5)
    assert run("slice", [Shape(10, 4, 5)], start=0, end=10) == (Shape(10, 4, 5), 0, 0)
    assert run("shuffle", [Shape(12, 4, 5)], groups=3) == (Shape(12, 4, 5), 0, 0)


@pytest.mark.parametrize(("op", "attrs", "error", "text"), [
    ("slice", {"start": 4, "end": 4}, AttrError, r"slice start \(4\) must be below its end \(4\)"),
    ("slice", {"start": 2, "end": 11}, ShapeError, "slice end 11 is beyond the input's 10 channels"),
    ("slice", {"start": -1, "end": 2}, AttrError, "'start' must be a non-negative integer"),
    ("shuffle", {"groups": 4}, ShapeError, r"shuffle groups=4 must divide the input channels \(10\)"),
    ("shuffle", {"groups": 0}, AttrError, "'groups' must be a positive integer"),
])
def test_bad_attributes(op, attrs, error, text):
    with pytest.raises(error, match=text):
        run(op, [Shape(10, 2, 2)], **attrs)


def test_shuffled_channel_by_hand():
    # 6 channels in 2 groups [0 1 2 | 3 4 5] interleave to 0 3 1 4 2 5
    assert [shuffled_channel(i, 6, 2) for i in range(6)] == [0, 3, 1, 4, 2, 5]
    assert [shuffled_channel(i, 6, 3) for i in range(6)] == [0, 2, 4, 1, 3, 5]


def test_coupling():
    assert OPS["slice"].coupling({"start": 0, "end": 2}, [Shape(4, 1, 1)]) is Coupling.SLICE
    assert OPS["shuffle"].coupling({"groups": 2}, [Shape(4, 1, 1)]) is Coupling.SHUFFLE


NET = """
network unit {
    input x: [12, 6, 6]
    halves = x -> conv(16, k=1) -> bn -> relu
    left = halves -> slice(0, 8)
    right = halves -> slice(8, 16) -> conv(8, k=1) -> relu
    middle = halves -> slice(4, 12) -> conv(6, k=3, groups=2)
    cat = concat(left, right)
    mixed = cat -> shuffle(groups=2)
    output y = mixed -> conv(5, k=1)
    output z = middle
}
"""


def test_module_matches_chunk_and_channel_shuffle():
    torch = pytest.importorskip("torch")
    module = segc.to_torch(segc.loads(NET), None, 2).eval()
    x = torch.randn(2, 12, 6, 6, generator=torch.Generator().manual_seed(1))
    feats = {}
    module.get_submodule("cat").register_forward_hook(lambda m, a, out: feats.update(cat=out))
    module.get_submodule("mixed").register_forward_hook(lambda m, a, out: feats.update(mixed=out))
    module.get_submodule("left").register_forward_hook(lambda m, a, out: feats.update(left=out))
    module.get_submodule("halves.relu").register_forward_hook(lambda m, a, out: feats.update(halves=out))
    with torch.no_grad():
        module(x)
    assert torch.equal(feats["left"], torch.chunk(feats["halves"], 2, dim=1)[0])
    assert torch.equal(feats["mixed"], torch.nn.functional.channel_shuffle(feats["cat"], 2))


def test_slices_cut_groups_and_shuffle_ties_its_parts():
    groups = {g.name: g for g in channel_groups(segc.loads(NET))}
    # the conv's 16 channels are cut at 4, 8 and 12 by the slices: four groups
    assert [n for n in groups if n.startswith("halves.conv")] == [
        "halves.conv[0:4]", "halves.conv[4:8]", "halves.conv[8:12]", "halves.conv[12:16]"]
    # the shuffle's parts (left, right) are tied index by index: right's channels split at left's cut;
    # channel c of part 0 is the shuffle's channels 2c and 2c + 1, read by y
    first = groups["halves.conv[0:4]"]
    assert first.prunable and first.producer_slots == (("halves.conv", 0, 1), ("right.conv", 0, 1))
    assert first.consumers == (("y", 0),) and first.consumer_units == (2,)
    second = groups["halves.conv[4:8]"]  # read by the grouped conv too, and right's [4:8] with it
    assert not second.prunable and second.reason == "grouped conv 'middle.conv' (groups=2)"
    assert second.producer_slots == (("halves.conv", 4, 1), ("right.conv", 4, 1))
    assert second.consumers == (("middle.conv", 0), ("y", 8)) and second.consumer_units == (1, 2)
    assert groups["halves.conv[12:16]"].prunable  # read by the right branch only
    assert "right.conv" not in groups and "mixed" not in groups
    with pytest.raises(SegError, match=r"group 'halves.conv\[4:8\]' cannot be pruned: grouped conv"):
        prune(segc.loads(NET), {"halves.conv[4:8]": 0.5})


PRUNABLE = """
network split {
    input x: [3, 8, 8]
    a = x -> conv(12, k=3) -> bn -> relu
    b = a -> slice(2, 9) -> conv(5, k=1)
    c = a -> slice(6, 12) -> bn
    d = concat(b, c) -> conv(4, k=1)
    output y = concat(d, a -> slice(0, 3))
}
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_pruned_slices_equal_masked(seed):
    pytest.importorskip("torch")
    import test_prune_torch as harness

    graph = segc.loads(PRUNABLE)
    names = [g.name for g in channel_groups(graph) if g.prunable]
    assert names == ["a.conv[3:6]", "a.conv[6:9]", "a.conv[9:12]", "b.conv"]  # [0:3] reaches the output
    rates = dict(zip(names, [0.34, 0.67, 0.5, 0.4]))
    pruned = harness.check_equivalent(graph, rates, seed)
    # a keeps 3 + 2 + 1 + 2 of [0:3] [3:6] [6:9] [9:12]: b takes [2, 9) -> [2, 5 + 1), c [6, 12) -> [5, 8)
    assert (pruned.node("b.slice").attrs["start"], pruned.node("b.slice").attrs["end"]) == (2, 6)
    assert (pruned.node("c.slice").attrs["start"], pruned.node("c.slice").attrs["end"]) == (5, 8)
