"""The geometry the hardware model reads off a layer (``ConvGeometry.of``
in ``passes/hwmodel.py``) and its derived properties, every number worked
out by hand from the layer: output sizes by PyTorch's formula
⌊(n + 2p − d·(k − 1) − 1)/s⌋ + 1, MACs as H_o·W_o·C_o·(C_i/g)·k_h·k_w,
a transposed convolution over its input grid (deconv_cost.py)."""

from __future__ import annotations

import pytest

import segc
from segc.ir import Unroll
from segc.passes.hwmodel import ConvGeometry, compute_cycles, dram_accesses


def _geometry(shape: str, layer: str) -> ConvGeometry:
    graph = segc.loads(f"network n {{\n input x: {shape}\n output y = x -> {layer}\n}}\n")
    node = next(n for n in graph.nodes() if n.op not in ("input", "output", "flatten"))
    return ConvGeometry.of(graph, node)


def test_grouped_strided_rectangular_conv():
    # [12, 10, 8], k 3 (rows) × 5 (columns), stride 1 × 2, valid: H_o = 10 − 3 + 1 = 8, W_o = ⌊3/2⌋ + 1 = 2
    geom = _geometry("[12, 10, 8]", 'conv(6, k=[3, 5], stride=[1, 2], groups=3, padding="valid")')
    assert geom == ConvGeometry(12, 6, 5, 3, 2, 1, 1, 1, 3, 2, 8, 0, 0)
    assert geom.macs == 8 * 2 * 6 * (12 // 3) * 3 * 5
    assert not geom.depthwise and not geom.dilated


def test_padding_and_dilation_per_axis():
    # k 3, dilation 2 (rows) × 1 (columns), "same": pads d·(k − 1)/2 = 2 rows and 1 column
    geom = _geometry("[4, 9, 7]", "conv(4, k=3, dilation=[2, 1])")
    assert (geom.dy, geom.dx, geom.pad_y, geom.pad_x, geom.ho, geom.wo) == (2, 1, 2, 1, 9, 7)
    assert geom.dilated
    assert _geometry("[4, 9, 7]", "conv(4, k=3, dilation=[1, 2])").dilated


def test_linear_is_a_pointwise_conv_on_one_pixel():
    geom = _geometry("[5, 2, 2]", "flatten -> linear(7)")
    assert geom == ConvGeometry(20, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    assert geom.macs == 20 * 7


def test_deconv_is_a_stride_1_window_over_its_input_grid():
    # [4, 5, 6], k 2 × 3, stride 2: the scatter form's window runs over the 5 × 6 input, stride 1
    geom = _geometry("[4, 5, 6]", "deconv(3, k=[2, 3], stride=2)")
    assert geom == ConvGeometry(4, 3, 3, 2, 1, 1, 1, 1, 1, 6, 5)
    assert geom.macs == 4 * 3 * 2 * 3 * 5 * 6  # the op table's C_i·(C_o/g)·k_h·k_w·H_i·W_i


@pytest.mark.parametrize(("shape", "layer", "depthwise"), [
    ("[8, 6, 6]", "conv(8, k=3, groups=8)", True),
    ("[2, 6, 6]", "conv(2, k=3, groups=2)", True),  # the fewest groups a depthwise layer has
    ("[512, 2, 2]", "conv(512, k=3, groups=512)", True),  # counts compared by value (512 is no cached int)
    ("[8, 6, 6]", "conv(16, k=3, groups=8)", False),  # two output channels a group
    ("[8, 6, 6]", "conv(8, k=3)", False),
    ("[1, 6, 6]", "conv(1, k=3)", False),  # one channel, one group: a plain convolution
])
def test_depthwise_means_one_channel_in_and_out_of_each_of_several_groups(shape, layer, depthwise):
    assert _geometry(shape, layer).depthwise is depthwise


def test_counts_of_a_grouped_layer_are_whole_numbers():
    """Eq. 2-4 per group of the grouped layer above (3 groups of 4 → 2 channels, k 3 × 5, 8 × 2 outputs),
    unroll P_if 16, P_of 32, P_kx 4, P_ky 1: counts are ints (reports print 288, not 288.0)."""
    geom = ConvGeometry(12, 6, 5, 3, 2, 1, 1, 1, 3, 2, 8)
    cycles = compute_cycles(geom, Unroll(16, 32, 4))
    assert cycles == 3 * (1 * 2 * 1 * 3) * 2 * 8 and type(cycles) is int  # g·⌈4/16⌉·⌈5/4⌉·⌈2/32⌉·⌈3/1⌉·W·H
    # one 2 × 8 tile reading 5 × 10 pixels: 3 groups · 1 tile · ⌈2/32⌉ · 5·10 · 4 channels
    accesses = dram_accesses(geom, (2, 8), (5, 10), 32)
    assert accesses == (3 * 1 * 1 * 5 * 10 * 4, 5 * 3 * 4 * 6, 2 * 8 * 6)
    assert all(type(words) is int for words in accesses)
