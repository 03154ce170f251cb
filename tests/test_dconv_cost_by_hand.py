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
from segc.passes.dconv_cost import dconv_reason

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
    cost = _cost("dconv(8, k=3, dilation=[1, 2])", (8, 16, 16))
    assert cost["tile"] == [1, 1]


def test_reasons_name_the_variant():
    bounded = {"shape": "full", "round": False, "bound": 2, "rows": 7, "rows_available": 15}
    assert dconv_reason(bounded) == ("deformable, bound 2 (full shape, bilinear): input streamed once through "
                                     "7 of 15 line-buffer rows")
    unbounded = {"shape": "square", "round": True, "bound": None, "rows": None, "rows_available": 15}
    assert dconv_reason(unbounded) == ("deformable, unbounded (square shape, rounded): samples gathered from "
                                       "DRAM, not overlapped")
