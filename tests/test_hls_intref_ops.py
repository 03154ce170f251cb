"""The integer reference (backends/hls/intref*.py) of deformable and
transposed convolutions, the channel shuffle and the pointwise ops: the C
simulation equals it word for word at 16 and 8 bits in fixed point and with
integer-scheme dconv and deconv; words computed by hand for each op on
inputs of a few pixels.  C simulation skipped without g++."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from hls_weights import deform_weights
from test_hls_quant import _graph, _run, needs_gxx

from segc.backends.hls.intmac import per_output_channel
from segc.backends.hls.intref import integer_reference, supported_ops, tensor_values
from segc.backends.hls.intref_mac import _displacement

POINTWISE = """
    a = image -> conv(6, k=3, bias=true)
    output s = a -> sigmoid
    output t = image -> tanh
    output si = a -> silu
    output hs = image -> hardswish
    output hsig = a -> hardsigmoid
    output lr = image -> leakyrelu(0.1)
    output cl = image -> clip(-0.5, 1.25)
    output dv = image -> div(3)
    output sm = a -> softmax
    m = image -> mean
    output sc = mul(image, m)
    output df = sub(image, image -> relu)
    output sh = a -> shuffle(2)
    output dc = image -> deconv(4, k=3, stride=2, padding=1, bias=true)
    output dcg = image -> deconv(4, k=2, stride=2, groups=2)
"""
DEFORM = """
    output full = image -> dconv(4, k=3, bias=true)
    output bounded = image -> dconv(4, k=3, bound=1.5, stride=2)
    output rounded = image -> dconv(4, k=3, bound=2, round=true, dilation=2)
    output square = image -> dconv(4, k=3, shape="square", bound=3, groups=4)
    output square_rounded = image -> dconv(4, k=3, shape="square", bound=3, round=true, offset_groups=2)
    output grouped = image -> dconv(4, k=3, groups=2, offset_groups=2) -> relu
"""
SHUFFLE = """
    a = image -> conv(4, k=3, bias=true)
    output sh = a -> shuffle(2)
    output dc = image -> deconv(4, k=3, stride=2, padding=1, bias=true)
"""
FORMATS = ["*: w=16, a=16, scheme=fixed", "*: w=8, a=8, scheme=fixed", "*: w=8, a=8, scheme=int"]


@needs_gxx
@pytest.mark.parametrize("quantize", FORMATS)
@pytest.mark.parametrize("body", [POINTWISE, DEFORM, SHUFFLE], ids=["pointwise_deconv_shuffle", "dconv", "shuffle"])
def test_c_simulation_equals_the_integer_reference(tmp_path, body, quantize):
    graph = _graph(quantize, body, "[4, 6, 6]")
    _, layers, words, config = _run(tmp_path, graph, weights=deform_weights(graph))
    entries = {entry["name"]: entry for entry in config["layers"]}
    computed = {entry["op"] for entry in entries.values() if entry["name"] in layers}
    ops = {POINTWISE: {"deconv", "shuffle", "softmax", "tanh", "mul", "sub"}, DEFORM: {"dconv"},
           SHUFFLE: {"conv", "shuffle", "deconv"}}
    assert computed >= ops[body]
    for name, traced in layers.items():
        expected = tensor_values(words[name], entries[name]).reshape(traced.shape)
        assert np.array_equal(traced, expected), name
    mac = [e for e in entries.values() if e["op"] in ("dconv", "deconv")]
    assert all(("requant" in e["params"]) == quantize.endswith("int") for e in mac)
    assert {e["bits"] for e in entries.values()} == {16 if "a=16" in quantize else 8}


def test_the_reference_covers_every_op_the_backend_lowers():
    from segc.backends.hls.lower import HLS_LOWERING

    assert {op for op, lower in HLS_LOWERING.items() if lower is not None} <= set(supported_ops())


def _reference(body: str, shape: str, formats: dict, params: list[int], x, extra: dict | None = None):
    """One layer y's words: ``formats`` maps layers to (fraction bits, width[, params])."""
    graph = _graph("", body, shape)
    layers = [{"name": name, "frac": f, "bits": bits, **(rest[0] if rest else {}), **(extra or {}).get(name, {})}
              for name, (f, bits, *rest) in formats.items()]
    words = integer_reference(graph, {"layers": layers}, np.array(params), {"image": np.asarray(x, dtype=float)},
                                every_layer=True)
    return words["y"].reshape(-1).tolist()


def _param(offset: int, words: int, frac: int, bits: int = 16) -> dict:
    return {"offset": offset, "words": words, "frac": frac, "bits": bits}


def _dconv(dx_word: int, deform: dict) -> list[int]:
    """dconv(1, k=1) over [1, 2, 3, 4] (3 fraction bits: 8, 16, 24, 32), its
    offsets (0, dx_word / 2^2) from the offset bias, weight 1.0 (2 at 1 bit)."""
    params = {"offset.weight": _param(0, 2, 0), "offset.bias": _param(2, 2, 2), "weight": _param(4, 1, 1)}
    formats = {"image": (3, 16), "y": (3, 16, {"params": params, "offset_frac": 2, "deform": deform})}
    return _reference("    output y = image -> dconv(1, k=1)\n", "[1, 1, 4]", formats, [0, 0, 0, dx_word, 2],
                      [[[1, 2, 3, 4]]])


@pytest.mark.parametrize("dx_word, rounded, bounds, expected", [
    (2, False, None, [12, 20, 28, 16]),  # +0.5 pixel: midpoints, the last half outside (0)
    (2, True, None, [8, 16, 24, 32]),  # 0.5 rounds half to even: 0
    (10, True, None, [24, 32, 0, 0]),  # 2.5 rounds to 2 (half up would read 3)
    (-2, False, None, [4, 12, 20, 28]),  # -0.5: the first half outside
    (6, False, [-4, 4], [16, 24, 32, 0]),  # 1.5 clamped to the bound 1.0
])
def test_dconv_samples_by_hand(dx_word, rounded, bounds, expected):
    assert _dconv(dx_word, {"shape": "full", "round": rounded, "bound_words": bounds}) == expected


@pytest.mark.parametrize("scale_word, rounded, bounds, expected", [
    (5, False, None, [0, 0, 1, 2, 3]),  # s = 2.5: x − 2.5, midpoints of x − 3 and x − 2, half up
    (7, True, None, [0, 0, 0, 1, 2]),  # s = 3.5: the step 2.5 rounds to 2 (half up: 3): x − 3
    (7, False, [-2, 5], [0, 0, 1, 2, 3]),  # s = 3.5 clamped to the bound 2.5
])
def test_square_dconv_by_hand(scale_word, rounded, bounds, expected):
    """dconv(1, k=3, square) over one row [1, 2, 3, 4, 5] (0 fraction bits),
    weight 1 on the left tap of the middle row only: it samples at
    x − 1 − (s − 1) = x − s (s at 1 fraction bit, from the offset bias)."""
    params = {"offset.weight": _param(0, 1, 1), "offset.bias": _param(1, 1, 1), "weight": _param(2, 9, 0)}
    deform = {"shape": "square", "round": rounded, "bound_words": bounds}
    formats = {"image": (0, 16), "y": (0, 16, {"params": params, "offset_frac": 1, "deform": deform})}
    weight = [0, 0, 0, 1, 0, 0, 0, 0, 0]
    body = '    output y = image -> dconv(1, k=3, shape="square")\n'
    assert _reference(body, "[1, 1, 5]", formats, [0, scale_word, *weight], [[[1, 2, 3, 4, 5]]]) == expected


@pytest.mark.parametrize("scale_word, rounded, expected", [
    (9, False, (-5, 5)),  # s = 2.25: (∓½)·1.25 = ∓0.625 pixels at 3 fraction bits
    (9, True, (0, 0)),  # the step 1.25 rounds to 1, half of it (∓0.5) to 0 (to even)
    (15, True, (-16, 16)),  # the step 2.75 rounds to 3, half of it (∓1.5) to ∓2 (rounding 1.375 once: 1)
])
def test_even_square_kernel_displacements_by_hand(scale_word, rounded, expected):
    """Tap (0, 1) of a 2×2 square kernel lies half a pixel above and right of
    the centre; scales at 2 fraction bits, positions at 3."""
    node = _graph("", '    output y = image -> dconv(1, k=2, shape="square", padding=[0, 0])\n', "[1, 3, 3]").node("y")
    deform = {"shape": "square", "round": rounded, "bound_words": None}
    dy, dx = _displacement(np.full((1, 2, 2), scale_word), node, deform, 2, 0, 0, 1)
    assert (int(dy[0, 0]), int(dx[0, 0])) == expected


def test_deconv_by_hand():
    """deconv(1, k=2, stride=2): input pixel ix writes W·x[ix] at columns
    2ix, 2ix + 1 of both rows; W = [[1, 2], [3, 4]], x = [1, 2]."""
    formats = {"image": (0, 16), "y": (0, 16, {"params": {"weight": _param(0, 4, 0)}})}
    body = "    output y = image -> deconv(1, k=2, stride=2)\n"
    assert _reference(body, "[1, 1, 2]", formats, [1, 2, 3, 4], [[[1, 2]]]) == [1, 2, 2, 4, 3, 4, 6, 8]
    integer = {"y": {"params": {"weight": _param(0, 4, 0), "requant": {"bias": [1], "m": [3], "shift": [1]}}}}
    # (acc + 1)·3 / 2 rounded half up
    assert _reference(body, "[1, 1, 2]", formats, [1, 2, 3, 4], [[[1, 2]]], integer) == [3, 5, 5, 8, 6, 8, 11, 14]


def test_grouped_deconv_weights_by_output_channel():
    """Weights W[c, j] = 2c + j, [C_i = 4, C_o/g = 2] in 2 groups: output
    g·2 + j reads column j of inputs 2g, 2g + 1, with column j's scale."""
    node = _graph("", "    output y = image -> deconv(4, k=1, groups=2)\n", "[4, 1, 1]").node("y")
    words, scales = per_output_channel(node, np.arange(8).reshape(4, 2, 1, 1), np.array([0.5, 0.25]))
    assert words.tolist() == [[0, 2], [1, 3], [4, 6], [5, 7]]
    assert scales.tolist() == [0.5, 0.25, 0.5, 0.25]


def test_shuffle_by_hand():
    """4 channels in 2 groups: channels 0, 2, 1, 3; 0.5, 1.5, 2.5, 3.5 (1 bit)
    requantized to 0 bits, half up."""
    formats = {"image": (1, 16), "y": (0, 16)}
    assert _reference("    output y = image -> shuffle(2)\n", "[4, 1, 1]", formats, [], [[[0.5]], [[1.5]], [[2.5]],
                                                                                            [[3.5]]]) == [1, 3, 2, 4]


def _sigmoid_entry(t: float) -> int:
    return math.floor(2**15 / (1 + math.exp(-t)) + 0.5)


UNARY = [  # op, (fraction bits in, out), input values, words
    ("sigmoid", (4, 7), [0.0, 1.0], [64, (_sigmoid_entry(1.0) + 128) >> 8]),  # table entries at 0 and 1
    ("tanh", (4, 7), [0.0, 0.5], [0, ((_sigmoid_entry(1.0) + 64) >> 7) - 128]),  # 2σ(1) − 1 = tanh(0.5)
    ("silu", (4, 4), [1.0, 0.0], [round(16 * _sigmoid_entry(1.0) / 2**15), 0]),  # 16·σ(1) = 11.7 → 12
    ("hardswish", (4, 4), [1.0, -3.5], [11, 0]),  # 16·4/6 = 10.67 → 11
    ("hardsigmoid", (4, 4), [1.0, 4.0], [11, 16]),
    ("leakyrelu(0.1)", (4, 4), [-1.0, 1.0], [-2, 16]),  # −16·3277/2^15 = −1.6 → −2 (half up)
    ("clip(-0.5, 1.25)", (4, 4), [2.0, -1.0], [20, -8]),
    ("div(3)", (4, 4), [3.0, -1.0], [16, -5]),  # 48·21845/2^16 = 15.9998; −16·… = −5.33
]


@pytest.mark.parametrize("op, fracs, values, expected", UNARY, ids=[u[0] for u in UNARY])
def test_pointwise_by_hand(op, fracs, values, expected):
    formats = {"image": (fracs[0], 16), "y": (fracs[1], 16)}
    assert _reference(f"    output y = image -> {op}\n", "[1, 1, 2]", formats, [], [[values]]) == expected


def test_softmax_by_hand():
    """Channels (1, 0) and (0, 0) at two pixels: exp table entries 2^15 and
    round(2^15/e) = 12055; 2^15·128/(2^15 + 12055) = 93.6 → 94."""
    formats = {"image": (4, 16), "y": (7, 16)}
    words = _reference("    output y = image -> softmax\n", "[2, 1, 2]", formats, [], [[[1.0, 0.0]], [[0.0, 0.0]]])
    assert words == [94, 64, 34, 64]


def test_mul_by_the_mean_and_sub_by_hand():
    """x = (1, 2) at 2 bits: the mean 1.5 (6); x·mean = (24, 48) at 4 bits
    → (6, 12) at 2; x − relu(x) for x = (−1, 2): (−4, 0)."""
    body = "    m = image -> mean\n    output y = mul(image, m)\n"
    formats = {"image": (2, 16), "m": (2, 16), "y": (2, 16)}
    assert _reference(body, "[1, 1, 2]", formats, [], [[[1.0, 2.0]]]) == [6, 12]
    body = "    r = image -> relu\n    output y = sub(image, r)\n"
    formats = {"image": (2, 16), "r": (2, 16), "y": (2, 16)}
    assert _reference(body, "[1, 1, 2]", formats, [], [[[-1.0, 2.0]]]) == [-4, 0]
