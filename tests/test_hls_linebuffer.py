"""The line buffer of bounded deformable layers in the HLS design: the rows
it holds (worked by hand, and never more than the deform pass plans), no
read outside it for the per-op and example variants, and a read outside it
still going to DRAM (the words unchanged) and counted."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segc.backends.hls.linebuffer import round_half_even, sampled_rows
from segc.ir.linebuffer import rows_needed

F = 13  # offset fraction bits of the configurations below


def _config(k: int, dilation: int, bound: float, square: bool, rounded: bool) -> dict:
    low, high = (1 - bound, bound) if square else (-bound, bound)
    return {"FRAC_OFF": F, "ROUND": rounded, "SQUARE": square, "KH": k, "DH": dilation,
            "BOUND_LO": int(np.floor(low * 2.0**F + 0.5)), "BOUND_HI": int(np.floor(high * 2.0**F + 0.5))}


@pytest.mark.parametrize(("k", "dilation", "bound", "square", "rounded", "expected"), [
    # full, bilinear: rows floor(-b) .. ceil((k-1)d + b)
    (3, 1, 1.5, False, False, (-2, 7)),  # -2 .. 4
    (3, 1, 2.0, False, False, (-2, 7)),  # whole-row offsets: the row below has weight 0 at ±2
    (3, 1, 0.3, False, False, (-1, 5)),  # -1 .. 3
    # full, rounded: rows round(-b) .. (k-1)d + round(b), half to even
    (3, 2, 2.0, False, True, (-2, 9)),  # -2 .. 6
    (3, 1, 1.5, False, True, (-2, 7)),  # ±1.5 rounds to ±2
    (3, 1, 2.5, False, True, (-2, 7)),  # ±2.5 rounds to ±2
    # square: tap i at (k-1)d/2 + (i - (k-1)/2)·s·d, s in [1 - b, b]
    (3, 1, 3.0, True, False, (-2, 7)),  # 1 ± 3
    (3, 1, 6.0, True, True, (-5, 13)),  # CoDeNet's neck: 1 ± 6
    (3, 2, 1.5, True, False, (-1, 7)),  # 2 ± 3
    (2, 1, 1.5, True, False, (-1, 4)),  # 0.5 ± 0.75: rows -1 .. 2
])
def test_rows_by_hand(k, dilation, bound, square, rounded, expected):
    assert sampled_rows(_config(k, dilation, bound, square, rounded)) == expected


def test_round_half_even_matches_numpy():
    values = np.arange(-70, 71)
    assert [round_half_even(int(v), 3) for v in values] == list(np.round(values / 8).astype(int))


@settings(max_examples=200, deadline=None)
@given(k=st.sampled_from([1, 3, 5, 7]), dilation=st.integers(1, 4), eighths=st.integers(4, 64),
       square=st.booleans(), rounded=st.booleans())
def test_never_more_rows_than_the_deform_pass_plans(k, dilation, eighths, square, rounded):
    bound = eighths / 8
    _, rows = sampled_rows(_config(k, dilation, bound, square, rounded))
    assert rows == rows_needed(k, dilation, "square" if square else "full", bound, rounded)


def test_rounded_square_with_a_fractional_bound():
    """k = 5, d = 1, b = 2.5: steps s − 1 in [−2.5, 1.5] round (half to even)
    to [−2, 2]; the outer taps, 2 taps from the centre row 2, move by 2·2 on
    top of their own 2: rows −4 .. 8 = 13, where the pass plans
    2·⌈4·2.5/2⌉ + 1 = 11 would miss (|s| ≤ b = 2.5, but the rounded step reaches 3)."""
    assert sampled_rows(_config(5, 1, 2.5, True, True)) == (-4, 13)
    assert sampled_rows(_config(5, 1, 2.5, True, True))[1] <= rows_needed(5, 1, "square", 2.5, rounded=True)


def test_even_square_kernel():
    """k = 2, b = 1.5, bilinear: taps at 0.5 ± 0.5·s, s in [−0.5, 1.5]: positions
    −0.25 … 1.25, rows −1 … 2 = 4 (2·⌈1.5/2⌉ + 1 = 3, centred on a row, would miss)."""
    assert sampled_rows(_config(2, 1, 1.5, True, False)) == (-1, 4)
    assert sampled_rows(_config(2, 1, 1.5, True, False))[1] <= rows_needed(2, 1, "square", 1.5)


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


def _bounded_layers(config: dict) -> list[dict]:
    return [layer for layer in config["layers"] if "line_buffer" in layer]


@needs_gxx
def test_a_read_outside_the_window_goes_to_dram(tmp_path, monkeypatch):
    """With every window one row short at each end, reads miss (and are
    counted) and the words are the same."""
    pytest.importorskip("torch")
    from hls_weights import deform_weights
    from test_hls_sim import _graph

    from segc.backends.hls import lower_conv as hls_lower_conv
    from segc.hls import HlsOptions, simulate

    graph = _graph("""
    output bounded = image -> dconv(4, k=3, bound=1.5, stride=2)
    output square = image -> dconv(3, k=3, shape="square", bound=3, groups=3)""", shape="[3, 10, 12]")
    np.save(tmp_path / "x.npy", np.random.default_rng(3).standard_normal((1, 3, 10, 12)).astype(np.float32))
    options = HlsOptions(weights=deform_weights(graph), input=str(tmp_path / "x.npy"))
    exact = hls_lower_conv.sampled_rows
    runs = []
    for shrink in (0, 1):
        folder = tmp_path / f"shrink{shrink}"
        if shrink:
            monkeypatch.setattr(hls_lower_conv, "sampled_rows",
                                lambda config: (exact(config)[0] + 1, exact(config)[1] - 2))
        result = simulate(graph, options, folder=str(folder), opt="-O1")
        runs.append((result, (folder / "output.bin").read_bytes()))
    (exact_run, exact_words), (short_run, short_words) = runs
    assert exact_run["line_buffer_misses"] == 0
    assert short_run["line_buffer_misses"] > 0
    assert short_words == exact_words
    for layer in _bounded_layers(exact_run["config"]):
        assert layer["line_buffer"]["rows"] <= layer["line_buffer"]["deform_rows"], layer["name"]
    assert {layer["name"]: layer["line_buffer"]["rows"] for layer in _bounded_layers(exact_run["config"])} == {
        "bounded": 7, "square": 7}


def test_example_windows_fit_the_planned_rows():
    """codenet_shufflenet's bounded necks: 13 rows (1 ± 6), as the deform pass plans."""
    pytest.importorskip("torch")
    from conftest import EXAMPLES

    import segc
    from segc.hls import HlsOptions, build_project

    graph = segc.load(str(EXAMPLES / "codenet_shufflenet.seg"))
    files, _ = build_project(graph, HlsOptions())
    layers = _bounded_layers(json.loads(files["config.json"]))
    assert [layer["name"] for layer in layers] == ["neck.0.dconv", "neck.1.dconv", "neck.2.dconv"]
    for layer in layers:
        assert layer["line_buffer"]["first_row"] == -5
        assert layer["line_buffer"]["rows"] == layer["line_buffer"]["deform_rows"] == 13


@needs_gxx
def test_the_examples_deformable_neck_reads_only_its_window(tmp_path):
    """codenet_shufflenet's neck layer (depthwise, square, rounded, bound 6) on
    a small input: no read outside the line buffer, within the error bound."""
    pytest.importorskip("torch")
    from hls_weights import deform_weights
    from test_hls_sim import _check, _graph

    graph = _graph('    output y = image -> conv(8, k=1) -> '
                   'dconv(8, k=3, groups=8, bound=6, shape="square", round=true)', "ultra96_codenet", "[3, 16, 12]")
    _check(graph, tmp_path, deform_weights(graph))  # asserts no line-buffer miss
