"""The cost rules of a deformable layer (``passes/dconv_cost.py``) worked
out by hand: the DRAM traffic of its two invocations in bits (rules 3-5, on
a layer whose word counts are not powers of two, so no sum of them is a
bitwise or), the line buffer's row memories (rule 2), the offset branch's
geometry and the reason reports give.

Layer: 6 → 6 channels, 3×3, on a 6×12×12 input (P = 144 output pixels);
8-bit words.  Offset branch (shape "full"): 2·3·3 = 18 offsets a pixel,
18·144 = 2592 words, written by the branch and read by the sampler.
Weights: main 3·3·6·6 = 324, branch 3·3·6·18 = 972; outputs 6·144 = 864."""

from __future__ import annotations

import dataclasses

from deform_graphs import deformed, network

from segc.hardware import analyse
from segc.ir import Unroll
from segc.passes.dconv_cost import dconv_reason, is_scattered, row_reads, sampling_cycles, window_reads
from segc.passes.hwmodel import ConvGeometry

OFFSETS, MAIN_W, BRANCH_W, OUT = 18 * 144, 3 * 3 * 6 * 6, 3 * 3 * 6 * 18, 6 * 144


def _cost(layer: str, shape=(6, 12, 12), ports: int | None = None) -> dict:
    graph = network(layer, shape, rows=15)
    if ports is not None:
        graph.target = dataclasses.replace(graph.target, line_buffer_ports=ports)
    return analyse(deformed(graph), "paper").node("y").annotations["cost"]


def _parts(layer: str) -> dict:
    return _cost(layer)["parts"]


def test_bounded_invocations_stream_the_input_and_pass_the_offsets_on():
    # bound 2: each invocation streams the 6·12·12 = 864-word input once.
    branch, sampling = _parts("dconv(6, k=3, bound=2)").values()
    assert branch["dram_bits"] == (864 + OFFSETS + BRANCH_W) * 8
    assert sampling["dram_bits"] == (864 + OFFSETS + MAIN_W + OUT) * 8
    assert branch["gather_bits"] == sampling["gather_bits"] == 0
    assert branch["gather_bursts"] == sampling["gather_bursts"] == 0


def test_unbounded_sampling_gathers_its_input():
    # bilinear full: 4·9 = 36 reads a pixel, each of all 6 channels: 144·36·6 = 31104 words gathered.
    sampling = _parts("dconv(6, k=3)")["sampling"]
    assert sampling["dram_gather"] == 144 * 36 * 6
    assert sampling["gather_bits"] == 144 * 36 * 6 * 8
    assert sampling["dram_bits"] == (144 * 36 * 6 + OFFSETS + MAIN_W + OUT) * 8


# Rule 2 with line_buffer_ports = 1 on a target without a depthwise engine (unroll 4, 4, 3, 3): a bounded
# full-shape bilinear window reads its busiest row memory 2 columns × 2 source rows per tap of a kernel row
# (2·k_x), or twice that where adjacent kernel rows share a source row (k_y > 1 at dilation 1).  PE array
# per window: ⌈k_x/3⌉·⌈8/4⌉·⌈k_y/3⌉ = 2 cycles; the layer ⌈8/4⌉·P·max(2, sampler) cycles ("valid": no padding).
def test_row_memories_bound_a_scattered_window():
    one_row = _cost("dconv(8, k=[1, 3], bound=2, padding=\"valid\")", (8, 16, 16), ports=1)  # 16×14 outputs
    assert one_row["parts"]["sampling"]["cycles_compute"] == 2 * 16 * 14 * (2 * 3)
    two_rows = _cost("dconv(8, k=[2, 3], bound=2, padding=\"valid\")", (8, 16, 16), ports=1)  # 15×14 outputs
    assert two_rows["parts"]["sampling"]["cycles_compute"] == 2 * 15 * 14 * (4 * 3)


def test_a_full_shape_offset_branch_keeps_the_dilation():
    # unbounded: the branch (3×3, dilation 1 × 2) is tiled by Eq. 1, and under "paper" a dilated layer
    # gets T_ox = T_oy = 1 (hwmodel.py), whichever axis is dilated.
    for dilation in ("[1, 2]", "[2, 1]"):
        cost = _cost(f"dconv(8, k=3, dilation={dilation})", (8, 16, 16))
        assert cost["tile"] == [1, 1], dilation


def test_reasons_name_the_variant():
    bounded = {"shape": "full", "round": False, "bound": 2, "rows": 7, "rows_available": 15}
    assert dconv_reason(bounded) == ("deformable, bound 2 (full shape, bilinear): input streamed once through "
                                     "7 of 15 line-buffer rows")
    unbounded = {"shape": "square", "round": True, "bound": None, "rows": None, "rows_available": 15}
    assert dconv_reason(unbounded) == ("deformable, unbounded (square shape, rounded): samples gathered from "
                                       "DRAM, not overlapped")


def test_the_sampler_reads_the_input_and_the_offset_map():
    # bound 2: 864 input words streamed once and the 2592 offsets (sums, not bitwise ors: 864 | 2592 = 2912)
    sampling = _parts("dconv(6, k=3, bound=2)")["sampling"]
    assert sampling["dram_in"] == 864 + OFFSETS == 3456


def test_window_reads_and_row_reads_of_other_kernel_sizes():
    # square windows: (2k − k mod 2)² values; 5x5: 9·9, 1x1: 1·1, 4x4: 8·8
    assert [window_reads(k, k, "square", False) for k in (5, 1, 4)] == [81, 1, 64]
    assert window_reads(17, 17, "full", True) == 289 and window_reads(3, 3, "full", False) == 36
    # rounded taps of a 17x17 window (289 reads, past Python's small ints): one row memory serves 17
    wide = ConvGeometry(4, 4, 17, 17, 1, 1, 1, 1, 1, 8, 8)
    assert row_reads(wide, 289) == 17 and row_reads(wide, 4 * 289) == 4 * 17


def test_sampling_cycles_when_the_pe_array_is_slower_than_the_sampler():
    # 8 → 17 channels, 3x3 rounded (9 reads), on 4x4 outputs; P_if 8, P_of 16, P_kx = P_ky = 1:
    # the PE array takes ⌈3/1⌉·⌈17/16⌉·⌈3/1⌉ = 18 cycles a window, the sampler ⌈9/(1·1)⌉ = 9
    graph = network("dconv(17, k=3, round=true)", (8, 4, 4), rows=15)
    target = dataclasses.replace(graph.target, unroll=Unroll(8, 16, 1, 1), depthwise=None)
    geom = ConvGeometry(8, 17, 3, 3, 1, 1, 1, 1, 1, 4, 4)
    cycles = sampling_cycles(geom, 9, target)  # not scattered by default
    assert cycles == 1 * 1 * 16 * 18 and type(cycles) is int
    # P_kx = P_ky = 3 and a line buffer of one port: unscattered (the default) the sampler reads the 9
    # taps in ⌈9/9⌉ = 1 cycle and the PE array takes ⌈17/16⌉ = 2; scattered it would take ⌈3/1⌉ = 3
    ported = dataclasses.replace(target, unroll=Unroll(8, 16, 3, 3), line_buffer_ports=1)
    assert sampling_cycles(geom, 9, ported) == 16 * 2 and sampling_cycles(geom, 9, ported, True) == 16 * 3
    assert not is_scattered({"rows": None, "shape": "full"}) and not is_scattered({"rows": 3, "shape": "square"})
    assert is_scattered({"rows": 3, "shape": "".join(["fu", "ll"])})
