"""Op-table cases that the other ``test_ops_*`` modules left open: integer
work counts, the exact range messages of every ``minimum``, defaults a
``.seg`` without the attribute gets, and comparisons against strings and
large integers that come from parsed ``.seg`` text (not interned literals).

Every expected value is written out by hand in the test.
"""

from __future__ import annotations

import json

import pytest
from run_op import run

import segc
from segc.ir import OPS, Coupling, Shape


def _net(chain: str, shape: str = "[4, 8, 8]") -> segc.Network:
    return segc.loads(f"network n {{\n    input x: {shape}\n    output y = x -> {chain}\n}}")


def _error(chain: str, shape: str = "[4, 8, 8]") -> str:
    with pytest.raises(segc.SegError) as caught:
        _net(chain, shape)
    return caught.value.diagnostics[0].message


def _node(net: segc.Network, op: str):
    nodes = [node for node in net.nodes() if node.op == op]
    assert len(nodes) == 1
    return nodes[0]


def _layer(net: segc.Network, op: str) -> dict:
    rows = [row for row in net.layers if row["op"] == op]
    assert len(rows) == 1
    return rows[0]


# ---------------------------------------------------------------- work counts

def test_grouped_conv_counts_are_exact_integers():
    # 4 -> 6 channels in 2 groups, 3x3 "same" on 5x5: 2 input channels per group.
    out, macs, params = run("conv", [Shape(4, 5, 5)], out=6, k=3, groups=2)
    assert out == Shape(6, 5, 5)
    assert (macs, params) == (5 * 5 * 6 * 2 * 3 * 3, 6 * 2 * 3 * 3)
    assert type(macs) is int and type(params) is int


@pytest.mark.parametrize(("f_in", "f_out", "expected"), [
    (3, 5, 3 * 5 + 5),  # 15 + 5: the bias bits overlap the weights' bits
    (3, 1, 3 * 1 + 1),
])
def test_linear_params_add_the_bias(f_in, f_out, expected):
    _, _, params = run("linear", [Shape(f_in, 1, 1)], out=f_out)
    assert params == expected


def test_explicit_full_dconv_counts_its_offset_branch():
    # main 3x3 conv 4 -> 8: 8*4*9 = 288 weights; the "full" offset branch predicts
    # 2*3*3 = 18 offsets from a 3x3 window over 4 channels: 18*4*9 weights + 18 biases.
    layer = _layer(_net('dconv(8, k=3, shape="full")'), "dconv")
    assert layer["params"] == 8 * 4 * 9 + 18 * 4 * 9 + 18
    assert layer["macs"] == 8 * 8 * (8 * 4 * 9 + 18 * 4 * 9)


def test_full_dconv_edited_with_a_string_built_at_run_time():
    # A hand-edited node keeps the caller's string object; it still verifies and
    # counts the same 18-offset branch as above.
    net = _net("dconv(8, k=3)")
    node = _node(net, "dconv")
    full = "".join(["fu", "ll"])
    net.replace(node.with_(attrs={**node.attrs, "shape": full}))
    assert net.check() == []
    assert _layer(net, "dconv")["params"] == 8 * 4 * 9 + 18 * 4 * 9 + 18


def test_bn_eps_defaults_to_pytorchs():
    # torch.nn.BatchNorm2d(eps=1e-05)
    assert _node(_net("bn()"), "bn").attrs["eps"] == 1e-5


def test_dconv_interpolates_unless_round_is_given():
    net = _net("dconv(8, k=3)")
    assert _node(net, "dconv").attrs["round"] is False


# ---------------------------------------------------------------- channel coupling

def test_grouped_conv_with_as_many_outputs_as_inputs_is_not_depthwise():
    conv = OPS["conv"]
    attrs = conv.build_attrs({"out": 8, "k": 1, "groups": 2})
    assert conv.coupling(attrs, [Shape(8, 4, 4)]) is Coupling.GROUPED


def test_depthwise_conv_of_many_channels_read_from_text_is_depthwise():
    # 512 channels written three times in the text: three distinct int objects
    net = _net("conv(512, k=3, groups=512)", "[512, 4, 4]")
    node = _node(net, "conv")
    assert OPS["conv"].coupling(node.attrs, [Shape(512, 4, 4)]) is Coupling.DEPTHWISE


# ---------------------------------------------------------------- dconv sampling shape

@pytest.mark.parametrize("k", ["[3, 5]", "[5, 3]"])
def test_square_dconv_refuses_an_oblong_kernel(k):
    assert _error(f'dconv(8, k={k}, shape="square")') == 'dconv shape="square" needs a square kernel'


@pytest.mark.parametrize("chain", [
    'dconv(8, k=[3, 5], shape="full")',
    'dconv(8, k=[257, 257], shape="square")',  # equal kernel sides beyond the small-int cache
])
def test_dconv_kernels_accepted(chain):
    assert _node(_net(chain), "dconv").shape == Shape(8, 8, 8)


# ---------------------------------------------------------------- range messages

@pytest.mark.parametrize(("chain", "message"), [
    ("conv(8, k=0)", "'k' must be a positive integer or a pair [h, w] of them, got 0"),
    ("conv(8, k=3, dilation=0)", "'dilation' must be a positive integer or a pair [h, w] of them, got 0"),
    ("conv(8, k=1, groups=0)", "'groups' must be a positive integer, got 0"),
    ("maxpool(k=0)", "'k' must be a positive integer or a pair [h, w] of them, got 0"),
    ("maxpool(k=2, stride=0)", "'stride' must be a positive integer or a pair [h, w] of them, got 0"),
    ("maxpool(k=2, padding=-1)",
     "'padding' must be \"same\", \"valid\", a non-negative integer or a pair [h, w] of them, got -1"),
    ("bn(eps=-0.5)", "'eps' must be a non-negative number, got -0.5"),
    ("flatten() -> linear(0)", "'out' must be a positive integer, got 0"),
])
def test_out_of_range_attribute_message(chain, message):
    assert _error(chain) == message


@pytest.mark.parametrize(("chain", "op", "expected"), [
    ("conv(8, k=3, dilation=1)", "conv", Shape(8, 8, 8)),
    ("maxpool(k=2, padding=0)", "maxpool", Shape(4, 4, 4)),
    ("avgpool(global=true, padding=0)", "avgpool", Shape(4, 1, 1)),
])
def test_lowest_allowed_values_are_accepted(chain, op, expected):
    assert _layer(_net(chain), op)["shape"] == list(expected)


# ---------------------------------------------------------------- pooling

def test_global_avgpool_refuses_same_padding():
    assert _error('avgpool(global=true, padding="same")') == "avgpool(global=true) takes no k, stride or padding"


@pytest.mark.parametrize(("chain", "expected"), [
    # "same" at stride 1 pads 1 on each side of a 3x3 window: the size is kept
    ('maxpool(k=3, stride=1, padding="same")', Shape(4, 8, 8)),
    # padding 3 is not more than half of 7; stride 7: (8 + 2*3 - 7) // 7 + 1 = 2
    ("maxpool(k=7, padding=3)", Shape(4, 2, 2)),
])
def test_pool_padding_accepted(chain, expected):
    assert _node(_net(chain), "maxpool").shape == expected


def test_empty_pool_message_names_the_oblong_window():
    message = _error("maxpool(k=[5, 3])", "[4, 4, 4]")
    assert message == "pooling output would be empty: the 4×4 input is smaller than the 5×3 window"


# ---------------------------------------------------------------- upsample

def test_bilinear_upsample_from_text_takes_align_corners():
    net = _net('upsample(2, mode="bilinear", align_corners=true)')
    assert _node(net, "upsample").shape == Shape(4, 16, 16)


# ---------------------------------------------------------------- concat

def test_concat_of_one_tensor_is_that_tensor():
    # concat takes one or more inputs; one input passes through unchanged
    assert _node(_net("concat()"), "concat").shape == Shape(4, 8, 8)


# ---------------------------------------------------------------- operand counts

def test_json_input_with_an_operand_names_its_arity(tmp_path):
    # a JSON graph whose second input reads the first
    two_inputs = "network n {\n    input x: [4, 8, 8]\n    input x2: [4, 8, 8]\n    output y = add(x, x2)\n}"
    data = json.loads(segc.loads(two_inputs).to_json())
    data["nodes"][1]["inputs"] = ["x"]
    path = tmp_path / "n.json"
    path.write_text(json.dumps(data))
    with pytest.raises(segc.SegError) as caught:
        segc.load(path)
    assert "input takes 0 inputs, got 1" in caught.value.diagnostics[0].message
