"""Hierarchical layer names (the rules in dsl/naming.py), each checked on a
tiny network against the exact names expected, plus ResNet-18's names
against torchvision's module names (written out by hand below)."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, NETWORK_EXAMPLES

import segc
from segc import SegError

BLOCKS = """
block cbr(x, c) {
    return x -> conv(c, k=3) -> bn -> relu
}

block act(x) {
    return x -> relu
}

block stage(x, c) {
    return x -> cbr(c) -> cbr(c)
}
"""


def names(body: str, blocks: str = BLOCKS) -> list[str]:
    """Layer names, in order, of a network with input ``image`` and ``body``."""
    text = f"{blocks}\nnetwork n {{\n    input image: [3, 16, 16]\n    {body}\n}}\n"
    return [node.name for node in segc.loads(text).nodes()]


# ---------------------------------------------------------------- statement scopes
def test_statement_opens_a_scope() -> None:
    assert names("stem = image -> conv(8, k=3) -> bn -> relu\n    output y = stem") == [
        "image", "stem.conv", "stem.bn", "stem.relu", "output.y",
    ]


def test_repeated_ops_are_numbered_in_creation_order() -> None:
    body = "a = image -> conv(8, k=3) -> relu -> conv(8, k=1) -> bn -> relu -> conv(4, k=1)\n    output y = a"
    assert names(body) == ["image", "a.conv1", "a.relu1", "a.conv2", "a.bn", "a.relu2", "a.conv3", "output.y"]


def test_ops_ending_in_a_digit_are_numbered_after_an_underscore() -> None:
    body = "a = image -> conv(8, k=3) -> relu6 -> conv(8, k=1) -> relu6\n    output y = a"
    assert names(body) == ["image", "a.conv1", "a.relu6_1", "a.conv2", "a.relu6_2", "output.y"]
    assert names("a = image -> relu6\n    b = a -> conv(8, k=1) -> relu6\n    output y = b") == [
        "image", "a", "b.conv", "b.relu6", "output.y",
    ]
    taken = "a = image -> relu6 as relu6_1 -> relu6 -> relu6\n    output y = a"
    assert names(taken) == ["image", "a.relu6_1", "a.relu6_2", "a.relu6_3", "output.y"]


def test_numbering_is_per_scope() -> None:
    body = "a = image -> conv(8, k=1) -> relu\n    b = a -> conv(8, k=1) -> conv(8, k=1)\n    output y = b"
    assert names(body) == ["image", "a.conv", "a.relu", "b.conv1", "b.conv2", "output.y"]


def test_operands_inside_a_statement_share_its_scope() -> None:
    body = "m = add(image -> conv(8, k=1), image -> conv(8, k=3))\n    output y = m"
    assert names(body) == ["image", "m.conv1", "m.conv2", "m.add", "output.y"]


# ---------------------------------------------------------------- block calls
def test_block_calls_in_a_chain_are_numbered() -> None:
    assert names("res2 = image -> cbr(8) -> cbr(8)\n    output y = res2") == [
        "image",
        "res2.0.conv", "res2.0.bn", "res2.0.relu",
        "res2.1.conv", "res2.1.bn", "res2.1.relu",
        "output.y",
    ]


def test_block_numbers_and_op_names_mix() -> None:
    assert names("s = image -> cbr(8) -> maxpool(k=2) -> cbr(8)\n    output y = s") == [
        "image", "s.0.conv", "s.0.bn", "s.0.relu", "s.maxpool", "s.1.conv", "s.1.bn", "s.1.relu", "output.y",
    ]


def test_nested_block_calls() -> None:
    assert names("body = image -> stage(4) -> stage(8)\n    output y = body") == [
        "image",
        "body.0.0.conv", "body.0.0.bn", "body.0.0.relu", "body.0.1.conv", "body.0.1.bn", "body.0.1.relu",
        "body.1.0.conv", "body.1.0.bn", "body.1.0.relu", "body.1.1.conv", "body.1.1.bn", "body.1.1.relu",
        "output.y",
    ]


def test_block_calls_in_a_comprehension_are_numbered() -> None:
    body = "b = [image -> act() for c in [1, 2, 3]]\n    output y = concat(*b)"
    assert names(body) == ["image", "b.0", "b.1", "b.2", "y", "output.y"]


def test_statements_inside_a_block_do_not_open_scopes() -> None:
    blocks = "block two(x) {\n    a = x -> conv(4, k=1) -> relu\n    b = a -> conv(4, k=1)\n    return b\n}\n"
    assert names("t = image -> two()\n    output y = t", blocks) == [
        "image", "t.conv1", "t.relu", "t.conv2", "output.y",
    ]


# ---------------------------------------------------------------- single-child collapse
def test_single_layer_statement_takes_the_statement_name() -> None:
    body = "pooled = image -> avgpool(global=true)\n    fc = pooled -> flatten -> linear(10)\n    output y = fc"
    assert names(body) == ["image", "pooled", "fc.flatten", "fc.linear", "output.y"]


def test_fc_is_the_layer_itself() -> None:
    body = "flat = image -> avgpool(global=true) -> flatten\n    fc = flat -> linear(10)\n    output y = fc"
    assert names(body) == ["image", "flat.avgpool", "flat.flatten", "fc", "output.y"]


def test_single_block_call_puts_its_layers_under_the_statement() -> None:
    assert names("s = image -> cbr(8)\n    output y = s") == ["image", "s.conv", "s.bn", "s.relu", "output.y"]


def test_single_block_call_with_one_layer_collapses_twice() -> None:
    assert names("s = image -> act()\n    output y = s") == ["image", "s", "output.y"]


def test_single_explicit_child_does_not_collapse() -> None:
    assert names("s = image -> relu as r\n    output y = s") == ["image", "s.r", "output.y"]


# ---------------------------------------------------------------- explicit names
def test_explicit_names() -> None:
    assert names("s = image -> conv(8, k=1) as proj -> relu\n    output y = s") == [
        "image", "s.proj", "s.relu", "output.y",
    ]


def test_dotted_explicit_names() -> None:
    body = "s = image -> conv(8, k=1, stride=2) as downsample.0 -> bn as downsample.1\n    output y = s"
    assert names(body) == ["image", "s.downsample.0", "s.downsample.1", "output.y"]


def test_numbering_skips_names_taken_explicitly() -> None:
    body = "s = image -> conv(8, k=1) as conv2 -> conv(8, k=1) -> conv(8, k=1)\n    output y = s"
    assert names(body) == ["image", "s.conv2", "s.conv1", "s.conv3", "output.y"]


def test_sole_unnamed_op_is_numbered_when_its_plain_name_is_taken() -> None:
    body = "s = image -> conv(8, k=1) as conv -> conv(8, k=1)\n    output y = s"
    assert names(body) == ["image", "s.conv", "s.conv1", "output.y"]


def test_explicitly_named_block_call() -> None:
    body = "s = image -> cbr(8) as first -> cbr(8)\n    output y = s"
    assert names(body) == [
        "image", "s.first.conv", "s.first.bn", "s.first.relu", "s.0.conv", "s.0.bn", "s.0.relu", "output.y",
    ]


def test_two_layers_with_one_name_is_an_error() -> None:
    with pytest.raises(SegError, match=r"both be named 's\.x'"):
        names("s = image -> conv(8, k=1) as x -> conv(8, k=1) as x\n    output y = s")


# ---------------------------------------------------------------- outputs
def test_output_layers_are_named_output_dot_name() -> None:
    assert names("a = image -> relu\n    output a") == ["image", "a", "output.a"]
    assert names("output logits = image") == ["image", "output.logits"]


def test_output_value_layers_are_scoped_under_the_output_name() -> None:
    assert names("output logits = image -> conv(4, k=1) -> relu") == [
        "image", "logits.conv", "logits.relu", "output.logits",
    ]
    assert names("output logits = image -> conv(4, k=1)") == ["image", "logits", "output.logits"]


def test_several_outputs() -> None:
    body = "f = image -> relu\n    output a = f -> conv(2, k=1)\n    output b = f -> cbr(3)"
    assert names(body) == ["image", "f", "a", "output.a", "b.conv", "b.bn", "b.relu", "output.b"]


def test_output_prefix_is_reserved() -> None:
    with pytest.raises(SegError, match="reserved"):
        names("output.x = image -> relu\n    output y = image")


# ---------------------------------------------------------------- ResNet-18 and torchvision
def _torchvision_block(prefix: str, downsample: bool) -> list[str]:
    """Module names of one torchvision BasicBlock that hold parameters."""
    names = [f"{prefix}.conv1", f"{prefix}.bn1", f"{prefix}.conv2", f"{prefix}.bn2"]
    return names + ([f"{prefix}.downsample.0", f"{prefix}.downsample.1"] if downsample else [])


# torchvision.models.resnet18().named_modules(), those with parameters (conv,
# bn, linear): torchvision/models/resnet.py, ResNet._make_layer and BasicBlock.
TORCHVISION_RESNET18 = {
    "conv1", "bn1",
    "layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2", "layer1.0.bn2",
    "layer1.1.conv1", "layer1.1.bn1", "layer1.1.conv2", "layer1.1.bn2",
    "layer2.0.conv1", "layer2.0.bn1", "layer2.0.conv2", "layer2.0.bn2",
    "layer2.0.downsample.0", "layer2.0.downsample.1",
    "layer2.1.conv1", "layer2.1.bn1", "layer2.1.conv2", "layer2.1.bn2",
    "layer3.0.conv1", "layer3.0.bn1", "layer3.0.conv2", "layer3.0.bn2",
    "layer3.0.downsample.0", "layer3.0.downsample.1",
    "layer3.1.conv1", "layer3.1.bn1", "layer3.1.conv2", "layer3.1.bn2",
    "layer4.0.conv1", "layer4.0.bn1", "layer4.0.conv2", "layer4.0.bn2",
    "layer4.0.downsample.0", "layer4.0.downsample.1",
    "layer4.1.conv1", "layer4.1.bn1", "layer4.1.conv2", "layer4.1.bn2",
    "fc",
}


def test_resnet18_names_match_torchvision() -> None:
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    weighted = {n.name for n in graph.nodes() if n.op in ("conv", "bn", "linear")}
    assert len(TORCHVISION_RESNET18) == 2 + 4 * 2 * 4 + 3 * 2 + 1
    assert weighted == TORCHVISION_RESNET18


def test_resnet18_layer_kinds_match_torchvision() -> None:
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    for name in TORCHVISION_RESNET18:
        leaf = name.split(".")[-1]
        expected = {"fc": "linear", "0": "conv", "1": "bn"}.get(leaf, "conv" if leaf.startswith("conv") else "bn")
        assert graph.node(name).op == expected, name


def test_resnet18_torchvision_helper_agrees_with_the_table() -> None:
    derived = {"conv1", "bn1", "fc"}
    for stage in range(1, 5):
        derived.update(_torchvision_block(f"layer{stage}.0", downsample=stage > 1))
        derived.update(_torchvision_block(f"layer{stage}.1", downsample=False))
    assert derived == TORCHVISION_RESNET18


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.name)
def test_names_are_deterministic(path) -> None:
    first = [(n.name, n.inputs) for n in segc.load(str(path)).nodes()]
    second = [(n.name, n.inputs) for n in segc.load(str(path)).nodes()]
    assert first == second
    assert len({name for name, _ in first}) == len(first)
