"""The pruned model against the unpruned one: its output equals the unpruned
model's output with the pruned channels masked to zero after every layer
that carries them (exact up to float error), on ResNet-18, DeepLabV3+ and a
small network of every coupling kind; parameter counts against a hand
formula; channel choice by L1 magnitude; the ``segc prune`` command."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from conftest import EXAMPLES  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import segc  # noqa: E402
from segc.passes.channels import channel_groups  # noqa: E402
from segc.passes.prune import prune  # noqa: E402


def small(path: Path, size: int) -> segc.ir.Graph:
    text = re.sub(r"input image: \[3, \d+, \d+\]", f"input image: [3, {size}, {size}]", path.read_text("utf-8"))
    return segc.loads(text, str(path))


def random_weights(graph, seed: int) -> dict[str, np.ndarray]:
    """Seeded initial weights with BN statistics and deformable offsets made non-trivial."""
    rng = np.random.default_rng(seed)
    weights = {k: v.numpy().copy() for k, v in segc.to_torch(graph, None, seed).state_dict().items()}
    for key, value in weights.items():
        if key.endswith(("running_mean", "bn.bias", "offset.weight")) or re.search(r"bn\d?\.bias$", key):
            weights[key] = rng.normal(scale=0.2, size=value.shape).astype(value.dtype)
        elif key.endswith("running_var") or re.search(r"bn\d?\.weight$", key):
            weights[key] = rng.uniform(0.5, 2.0, size=value.shape).astype(value.dtype)
    return weights


@dataclass(frozen=True)
class Mask:
    """Where a group's channels sit, as the mask needs them: ``(layer, offset,
    unit)`` of every producer and every member carrying them."""

    name: str
    channels: int
    producer_slots: tuple[tuple[str, int, int], ...]
    member_slots: tuple[tuple[str, int, int], ...]


def l1_choice(group: Mask, kept: int, weights) -> np.ndarray:
    """The kept channels, chosen here independently: largest summed L1 norms, lower index on ties."""
    norms = sum(np.abs(weights[f"{p}.weight"][o:o + group.channels * u]).reshape(group.channels, -1).sum(1)
                .astype(np.float64) for p, o, u in group.producer_slots)
    return np.sort(sorted(range(group.channels), key=lambda c: (-norms[c], c))[:kept])


def kept_count(channels: int, rate: float) -> int:
    """⌊(1 − rate)·C + ½⌋, at least 1 (the documented rule, restated here)."""
    return max(1, int((1.0 - rate) * channels + 0.5 + 1e-9))


def masked_output(graph, weights, rates, x, masks=None):
    """The unpruned model with every pruned channel zeroed after each layer
    carrying it.  ``masks`` (written by hand in a test) says where each
    group's channels sit; without it, ``channel_groups`` does (a consistency
    check only, for the examples too large to work out by hand)."""
    if masks is None:
        masks = [Mask(g.name, g.channels, g.producer_slots, g.member_slots) for g in channel_groups(graph)]
    module = segc.to_torch(graph, weights)
    hooks = []
    for group in masks:
        if group.name not in rates:
            continue
        kept = l1_choice(group, kept_count(group.channels, rates[group.name]), weights)
        removed = np.setdiff1d(np.arange(group.channels), kept)
        for name, offset, unit in [*group.producer_slots, *group.member_slots]:
            index = torch.from_numpy((offset + removed[:, None] * unit + np.arange(unit)).ravel())

            def zero(mod, args, out, index=index):
                out = out.clone()
                out[:, index] = 0
                return out
            hooks.append(module.get_submodule(name).register_forward_hook(zero))
    with torch.no_grad():
        return module(x)


def check_equivalent(graph, rates, seed: int = 0, tolerance: float = 1e-4, masks=None) -> segc.ir.Graph:
    weights = random_weights(graph, seed)
    pruned, sliced = prune(graph, rates, weights)
    x = torch.randn(2, *graph.inputs[0].shape, generator=torch.Generator().manual_seed(seed))
    expected = masked_output(graph, weights, rates, x, masks)
    with torch.no_grad():
        got = segc.to_torch(pruned, sliced)(x)
    for e, g in zip(*(t if isinstance(t, tuple) else (t,) for t in (expected, got))):
        assert torch.allclose(e, g, atol=tolerance, rtol=1e-4), (e - g).abs().max()
    return pruned


def random_rates(graph, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {g.name: float(rng.uniform(0.0, 0.8)) for g in channel_groups(graph) if g.prunable}


@pytest.mark.parametrize("example", ["resnet18.seg", "deeplabv3plus_r18.seg", "codenet_shufflenet.seg"])
def test_pruned_equals_masked(example: str) -> None:
    graph = small(EXAMPLES / example, 64)
    check_equivalent(graph, random_rates(graph, 1))


EVERY_COUPLING = """
network every {
    input image: [3, 16, 16]
    stem = image -> conv(8, k=3)
    stem_bn = stem -> bn
    stem_relu = stem_bn -> relu
    dw = stem_relu -> conv(8, k=3, groups=8)
    pw = dw -> conv(8, k=1)
    res = add(stem_relu, pw)
    ddw = res -> dconv(8, k=3, groups=8, bound=2)
    left = ddw -> conv(6, k=1)
    right = res -> conv(5, k=1, bias=true)
    cat = concat(left, right)
    wide = res -> conv(11, k=1)
    mixed = add(cat, wide)
    cat_bn = mixed -> bn
    pool = cat_bn -> maxpool(k=2)
    up = pool -> upsample(2, mode="bilinear")
    fuse = up -> dconv(7, k=3)
    area = fuse -> avgpool(k=4)
    flat = area -> flatten
    fc = flat -> linear(5)
    output y = fc
}
"""


# EVERY_COUPLING's groups, worked out by hand: the add ties pw to stem; the
# depthwise dw and ddw carry stem's channels; wide (11) is added to the
# concat of left (6) and right (5), so it is cut at 6; the flatten after the
# 4x4 average pool gives each of fuse's channels 16 features; fc is the
# output and is not pruned.
EVERY_COUPLING_MASKS = [
    Mask("stem", 8, (("stem", 0, 1), ("pw", 0, 1)),
         tuple((name, 0, 1) for name in ("stem_bn", "stem_relu", "dw", "res", "ddw"))),
    Mask("left", 6, (("left", 0, 1), ("wide", 0, 1)),
         tuple((name, 0, 1) for name in ("cat", "mixed", "cat_bn", "pool", "up"))),
    Mask("right", 5, (("right", 0, 1), ("wide", 6, 1)),
         tuple((name, 6, 1) for name in ("cat", "mixed", "cat_bn", "pool", "up"))),
    Mask("fuse", 7, (("fuse", 0, 1),), (("area", 0, 1), ("flat", 0, 16))),
]


def test_channel_groups_of_every_coupling_as_worked_out_by_hand() -> None:
    groups = [g for g in channel_groups(segc.loads(EVERY_COUPLING)) if g.prunable]
    got = [Mask(g.name, g.channels, g.producer_slots, g.member_slots) for g in groups]
    assert got == EVERY_COUPLING_MASKS


@settings(max_examples=12, deadline=None)
@given(st.lists(st.floats(0.0, 0.9), min_size=4, max_size=4), st.integers(0, 3))
def test_random_rates_keep_equivalence(values: list[float], seed: int) -> None:
    graph = segc.loads(EVERY_COUPLING)
    rates = {mask.name: rate for mask, rate in zip(EVERY_COUPLING_MASKS, values)}
    pruned = check_equivalent(graph, rates, seed, masks=EVERY_COUPLING_MASKS)
    pruned.verify()


THREE_INPUT_ADD = """
network three {
    input image: [3, 8, 8]
    a = image -> conv(8, k=3)
    b = image -> conv(8, k=1)
    c = image -> conv(8, k=3, bias=true)
    s = add(a, b, c)
    r = s -> relu
    h = r -> conv(4, k=1)
    output y = h
}
"""


def test_a_three_input_add_prunes_all_three_producers_together() -> None:
    # One group of 8: the add ties a, b and c channel by channel; s and r
    # carry it; h reads it.  Rate 0.5 keeps ⌊0.5·8 + ½⌋ = 4 channels of each.
    graph = segc.loads(THREE_INPUT_ADD)
    masks = [Mask("a", 8, (("a", 0, 1), ("b", 0, 1), ("c", 0, 1)), (("s", 0, 1), ("r", 0, 1)))]
    pruned = check_equivalent(graph, {"a": 0.5}, seed=3, masks=masks)
    assert [pruned.node(name).shape.c for name in ("a", "b", "c", "s", "r")] == [4, 4, 4, 4, 4]
    assert pruned.input_shapes(pruned.node("h"))[0].c == 4
    pruned.verify()


def resnet18_params(stem: int, widths: list[int], inner: list[int]) -> int:
    """ResNet-18's parameters for given channel counts: stream widths per stage, inner width per block."""
    total = 3 * 49 * stem + 2 * stem + widths[-1] * 1000 + 1000
    previous = stem
    for stage, width in enumerate(widths):
        for block in range(2):
            cin, mid = (previous if block == 0 else width), inner[2 * stage + block]
            total += cin * mid * 9 + 2 * mid + mid * width * 9 + 2 * width
            if block == 0 and stage > 0:
                total += cin * width + 2 * width  # the shortcut projection
        previous = width
    return total


def test_parameter_count_matches_the_hand_formula() -> None:
    assert resnet18_params(64, [64, 128, 256, 512], [64, 64, 128, 128, 256, 256, 512, 512]) == 11_689_512
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    pruned, _ = prune(graph, {g.name: 0.3 for g in channel_groups(graph) if g.prunable})
    # ⌊0.7·C + ½⌋: 64 → 45, 128 → 90, 256 → 179, 512 → 358
    expected = resnet18_params(45, [45, 90, 179, 358], [45, 45, 90, 90, 179, 179, 358, 358])
    assert sum(r.params for r in segc.summarize(pruned)) == expected
    module = segc.to_torch(pruned)
    assert sum(p.numel() for p in module.parameters()) == expected  # genuinely smaller


def test_channels_chosen_by_summed_l1_norm() -> None:
    graph = segc.loads("""network n {
    input image: [1, 4, 4]
    a = image -> conv(4, k=1)
    b = image -> conv(4, k=1)
    s = add(a, b)
    h = s -> conv(1, k=1)
    output y = h
}""")
    weights = {"a.weight": np.array([1, 5, 3, 2], np.float32).reshape(4, 1, 1, 1),
               "b.weight": np.array([3, 0, -1, 0], np.float32).reshape(4, 1, 1, 1),
               "h.weight": np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)}
    # summed L1 norms [4, 5, 4, 2]: keep 2 → channel 1, then 0 (tie with 2, lower index)
    _, sliced = prune(graph, {"a": 0.5}, weights)
    assert sliced["a.weight"].ravel().tolist() == [1, 5] and sliced["b.weight"].ravel().tolist() == [3, 0]
    assert sliced["h.weight"].ravel().tolist() == [0, 1]


def test_rate_zero_keeps_weights_and_outputs() -> None:
    graph = small(EXAMPLES / "tiny.seg", 32)
    weights = random_weights(graph, 0)
    pruned, sliced = prune(graph, {g.name: 0.0 for g in channel_groups(graph) if g.prunable}, weights)
    assert pruned.structure() == graph.structure()
    assert sliced.keys() == weights.keys() and all(np.array_equal(sliced[k], weights[k]) for k in weights)
