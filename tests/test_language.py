"""The ``.seg`` language's op options (``upsample(to=)``, dconv, global
pooling, grouped convolutions), syntax errors per definition, unused
blocks, and unknown-op suggestions.  Values, blocks and files: the other
``test_language_*`` modules."""

from __future__ import annotations

import pytest
from seg_text import network

import segc
from segc import SegError


# ---------------------------------------------------------------- op options
def test_upsample_to_another_tensor() -> None:
    body = "small = x -> maxpool(k=4)\n    output y = small -> upsample(to=x, mode=\"bilinear\")"
    graph = segc.loads(network(body, inputs="input x: [16, 12, 20]"))
    up = graph.node("y")
    assert up.inputs == ("small", "x")
    assert up.shape == (16, 12, 20)
    assert up.attrs["mode"] == "bilinear"
    assert up.attrs["scale"] is None


def test_upsample_by_a_scale() -> None:
    graph = segc.loads(network("output y = x -> upsample(2)"))
    assert graph.node("y").shape == (16, 16, 16)
    assert graph.node("y").attrs["mode"] == "nearest"


def test_dconv_options() -> None:
    body = 'output y = x -> dconv(16, k=3, groups=channels(x), bound=6, shape="square", round=true)'
    attrs = segc.loads(network(body)).node("y").attrs
    assert (attrs["bound"], attrs["shape"], attrs["round"], attrs["groups"]) == (6.0, "square", True, 16)


def test_dconv_defaults() -> None:
    attrs = segc.loads(network("output y = x -> dconv(8, k=3)")).node("y").attrs
    assert (attrs["bound"], attrs["shape"], attrs["round"], attrs["offset_groups"]) == (None, "full", False, 1)


@pytest.mark.parametrize(("call", "message"), [
    ('dconv(8, k=3, shape="circle")', "one of"),
    ('dconv(8, k=[3, 5], shape="square")', "square kernel"),
    ("dconv(8, k=3, bound=-1)", "non-negative"),
])
def test_dconv_errors(call: str, message: str) -> None:
    with pytest.raises(SegError, match=message):
        segc.loads(network(f"output y = x -> {call}"))


def test_global_average_pooling() -> None:
    graph = segc.loads(network("output y = x -> avgpool(global=true) -> flatten -> linear(10)"))
    pool = next(n for n in graph.nodes() if n.op == "avgpool")
    assert pool.shape == (16, 1, 1)
    assert graph.node("output.y").shape == (10, 1, 1)


def test_depthwise_and_grouped_conv() -> None:
    body = "dw = x -> conv(channels(x), k=3, groups=channels(x))\n    output y = dw -> conv(32, k=1, groups=4)"
    graph = segc.loads(network(body))
    assert graph.node("dw").attrs["groups"] == 16
    assert graph.node("dw").shape == (16, 8, 8)
    assert graph.node("y").attrs["groups"] == 4
    rows = {r.name: r for r in segc.summarize(graph)}
    assert rows["dw"].macs == 8 * 8 * 16 * (16 // 16) * 3 * 3
    assert rows["y"].params == 32 * (16 // 4) * 1 * 1


def test_groups_must_divide_channels() -> None:
    with pytest.raises(SegError, match="groups=3"):
        segc.loads(network("output y = x -> conv(12, k=1, groups=3)"))


def test_syntax_errors_are_reported_per_definition_up_to_ten() -> None:
    """Twelve networks, each with one syntax error on its third line: the
    first ten are reported, in order, each at its own line."""
    broken = "".join(f"network n{i} {{\n    input x: [3, 8, 8]\n    output y = x -> relu(\n}}\n" for i in range(12))
    with pytest.raises(segc.ir.SegError) as raised:
        segc.loads(broken)
    lines = [d.span.line for d in raised.value.diagnostics]
    assert lines == [4 * i + 4 for i in range(10)]


def test_a_block_nothing_calls_gets_a_warning() -> None:
    text = ("block used(x) {\n    return x -> relu\n}\n\nblock spare(x) {\n    return x -> nosuchop\n}\n\n"
            "network n {\n    input x: [3, 8, 8]\n    output y = x -> used()\n}\n")
    warnings: list = []
    segc.loads(text, warnings=warnings)
    assert [(w.message, w.span.line, w.severity) for w in warnings] == [("block 'spare' is never used", 5, "warning")]


@pytest.mark.parametrize(("call", "expected"), [
    # true typos of segc ops still get the op
    ("covn", "unknown op or block 'covn'; did you mean 'conv'?"),
    ("maxpol", "unknown op or block 'maxpol'; did you mean 'maxpool'?"),
    ("relu66", "unknown op or block 'relu66'; did you mean 'relu6'?"),
    # other frameworks' names for segc's ops
    ("Conv2d", "unknown op or block 'Conv2d'; did you mean 'conv'?"),
    ("batch_norm", "unknown op or block 'batch_norm'; did you mean 'bn'?"),
    ("deform_conv", "unknown op or block 'deform_conv'; did you mean 'dconv'?"),
    # one edit from a different op: say it is unsupported, never suggest the look-alike
    ("ConvTranspose2d", "unknown op or block 'ConvTranspose2d'; did you mean 'deconv'?"),
    ("conv_transpose", "unknown op or block 'conv_transpose'; did you mean 'deconv'?"),
    ("upconv", "unknown op or block 'upconv'; did you mean 'deconv'?"),
    ("deconvv", "unknown op or block 'deconvv'; did you mean 'deconv'?"),
    ("elu", "activation 'elu' is not supported; segc has relu, relu6, sigmoid, hardsigmoid, hardswish, silu, "
            "leakyrelu, tanh and clip"),
    ("prelu", "activation 'prelu' is not supported"),
])
def test_unknown_op_suggestions_do_not_cross_to_other_ops(call: str, expected: str) -> None:
    with pytest.raises(SegError) as err:
        segc.loads(network(f"output y = x -> {call}(4)"))
    [diagnostic] = err.value.diagnostics
    assert diagnostic.message.startswith(expected)
    assert "did you mean 'dconv'" not in diagnostic.message or call == "deform_conv"
    assert "did you mean 'relu'" not in diagnostic.message
