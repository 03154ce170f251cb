"""Offset statistics (``segc offsets``): a model whose offset branch predicts
known constants (weights zero, biases set), so every statistic and the
suggested bound can be worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import segc
from segc.backends.torch.offsets import collect_offsets, offset_table, read_inputs, suggested_bound
from segc.cli import main
from segc.ir import SegError

TARGET = """
target t {
    clock = 100 MHz
    bandwidth = 1 GB/s
    dsp = 1000
    bram = 100
    bram_block = 36 Kibit
    input_buffer = 4 KiB
    line_buffer = 15
    word = 8 bit
    macs_per_dsp = 1
    unroll = {pif: 4, pof: 4, pkx: 3, pky: 3}
}
"""
# One pixel's 18 offsets (Δy, Δx for 9 taps): 3.4, −0.5, 1.0 and fifteen zeros.
BIASES = {0: 3.4, 1: -0.5, 5: 1.0}


def _model(layer: str, biases: dict[int, float]):
    graph = segc.loads(TARGET + f"network n on t {{\n input x: [4, 8, 8]\n output y = x -> {layer}\n}}\n")
    module = segc.to_torch(graph)
    branch = module.y.offset
    branch.weight.data.zero_()
    branch.bias.data.zero_()
    for channel, value in biases.items():
        branch.bias.data[channel] = value
    return graph, module


def _row(layer: str, biases: dict[int, float], share: float) -> dict:
    graph, module = _model(layer, biases)
    offsets = collect_offsets(graph, module, read_inputs(graph, "2", 0))
    row, = offset_table(graph, offsets, share)
    return row


def test_full_shape_statistics_and_suggested_bounds():
    # Sizes |v| per pixel: fifteen 0, 0.5, 1.0, 3.4 ('same' padding: 8×8 pixels, 2 images).
    row = _row("dconv(4, k=3, bound=2)", BIASES, 0.99)
    assert row["values"] == 2 * 8 * 8 * 18
    assert row["mean"] == pytest.approx((0.5 + 1.0 + 3.4) / 18, rel=1e-6)
    # inverted CDF: 15/18 = 83.3 % are 0, 16/18 = 88.9 % at most 0.5, 17/18 = 94.4 % at most 1.0
    assert (row["q50"], row["q90"]) == (0.0, 1.0)
    assert row["q99"] == pytest.approx(3.4) and row["max"] == pytest.approx(3.4)
    assert row["clipped_at_bound"] == pytest.approx(1 / 18)  # only 3.4 exceeds the bound 2
    assert row["suggested_bound"] == 4  # ⌈3.4⌉: the 99th percentile is 3.4
    assert row["clipped_at_suggestion"] == 0.0
    # the 15-row line buffer allows (15 − 1 − 2)/2 = 6; bound 4 needs 2 + 1 + 8 = 11 rows
    assert (row["largest_bound_that_fits"], row["suggestion_rows"]) == (6, 11)
    for share, bound in ((0.90, 1), (0.85, 1), (0.80, 0)):  # 1.0 → 1; 0.5 → 1; 0 → 0
        assert _row("dconv(4, k=3, bound=2)", BIASES, share)["suggested_bound"] == bound


def test_square_shape_sizes_are_max_of_s_and_one_minus_s():
    # one scale per pixel: s = 2.5 needs b >= 2.5; s = −1.2 needs b >= 1 − s = 2.2; both → 3
    for scale, size in ((2.5, 2.5), (-1.2, 2.2)):
        row = _row('dconv(4, k=3, shape="square", bound=3)', {0: scale}, 0.99)
        assert row["values"] == 2 * 8 * 8 and row["max"] == pytest.approx(size)
        assert row["suggested_bound"] == 3 and row["clipped_at_bound"] == 0.0


def test_suggested_bound_is_the_smallest_integer_keeping_the_share():
    sizes = np.array([0.0, 0.2, 0.9, 1.0, 1.1, 7.5])
    assert [suggested_bound(sizes, p) for p in (0.5, 4 / 6, 5 / 6, 1.0)] == [1, 1, 2, 8]


def test_inputs_from_files(tmp_path):
    graph, _ = _model("dconv(4, k=3, bound=2)", BIASES)
    array = np.ones((3, 4, 8, 8), dtype=np.float32)
    np.save(tmp_path / "x.npy", array)
    torch.save({"x": torch.zeros(2, 4, 8, 8)}, tmp_path / "x.pt")
    assert read_inputs(graph, str(tmp_path / "x.npy"), 0)[0].shape == (3, 4, 8, 8)
    assert read_inputs(graph, str(tmp_path / "x.pt"), 0)[0].shape == (2, 4, 8, 8)
    torch.save({"image": torch.zeros(2, 4, 8, 8)}, tmp_path / "bad.pt")
    with pytest.raises(SegError, match="no tensor for input 'x'"):
        read_inputs(graph, str(tmp_path / "bad.pt"), 0)
    np.save(tmp_path / "small.npy", np.ones((1, 4, 4, 4), dtype=np.float32))
    with pytest.raises(SegError, match=r"input 'x' must be \[N, 4, 8, 8\], got \[1, 4, 4, 4\]"):
        read_inputs(graph, str(tmp_path / "small.npy"), 0)
    with pytest.raises(SegError, match="from 1 to 4096"):
        read_inputs(graph, "0", 0)


def test_offsets_command(tmp_path, capsys):
    path = tmp_path / "n.seg"
    path.write_text(TARGET + "network n on t {\n    input x: [4, 8, 8]\n"
                    "    output y = x -> dconv(4, k=3, bound=2)\n}\n")
    _, module = _model("dconv(4, k=3, bound=2)", BIASES)
    torch.save(module.state_dict(), tmp_path / "w.pt")
    assert main(["offsets", str(path), "--weights", str(tmp_path / "w.pt"), "--inputs", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"][0]["suggested_bound"] == 4
    assert main(["offsets", str(path), "--weights", str(tmp_path / "w.pt"), "--percentile", "90"]) == 0
    out = capsys.readouterr().out
    assert "bound for 90%" in out and "yes (≤ 6)" in out
    with pytest.raises(SystemExit) as stop:  # a command-line mistake: argparse's exit 2
        main(["offsets", str(path), "--weights", str(tmp_path / "w.pt"), "--percentile", "120"])
    assert stop.value.code == 2
    assert "--percentile: expected a percentage above 0 and at most 100, got '120'" in capsys.readouterr().err
