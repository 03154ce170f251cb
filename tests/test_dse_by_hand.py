"""The pieces of the design-space exploration worked out by hand on layer
tables written out in the test: the PE array's operand width and budget,
the breakpoints of ⌈n/v⌉ against their definition, the kernel pairs, the
lanes of streamed layers, the power-of-two grid, buffer sizes, the front's
tie-breaks and the edge cases of an exploration (nothing fits, no DSPs)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dse import ONE_CONV, mixed

import segc
from segc.cli import main
from segc.hardware import analyse
from segc.ir.target import ElementwiseUnit
from segc.passes import dse
from segc.passes.dse import (
    DsePoint,
    breakpoints,
    buffer_sizes,
    explore,
    pareto_front,
    pe_budget,
    pe_macs_per_dsp,
    pe_operand_bits,
    power_of_two_grid,
    unroll_grid,
)
from segc.passes.fastmodel import LayerTable

KIB = 8 * 1024
FLAGS = ("is_conv", "on_depthwise", "on_unit", "is_dconv", "scattered")


def table(**columns) -> LayerTable:
    """A layer table of the given columns (one entry per layer), every other column 0."""
    size = len(next(iter(columns.values())))
    arrays = {f.name: np.zeros(size, dtype=bool if f.name in FLAGS else np.int64)
              for f in dataclasses.fields(LayerTable) if f.name not in ("names", "rules", "macs")}
    arrays.update({name: np.asarray(values, dtype=arrays[name].dtype) for name, values in columns.items()})
    return LayerTable(names=tuple(f"l{i}" for i in range(size)), rules=("conv",) * size, macs=0, **arrays)


def one_conv_target(**changes):
    return dataclasses.replace(segc.loads(ONE_CONV, str(EXAMPLES / "one_conv.seg")).target, **changes)


def ultra96():
    text = 'import "targets/ultra96.seg"\nnetwork t on ultra96_codenet {\n    input x: [1, 2, 2]\n    output y = x\n}\n'
    return segc.loads(text, str(EXAMPLES / "t.seg")).target


# ---------------------------------------------------------------- the PE array
def test_the_pe_arrays_operands_are_the_widest_of_its_own_layers() -> None:
    # an 8-bit conv (6-bit input, 4-bit weights: 6) and an 8-bit one on the PE array; a 16-bit depthwise
    # layer on its engine and a 16-bit streamed layer do not count
    layers = table(is_conv=[True, True, True, False], on_depthwise=[False, False, True, False],
                   in_bits=[6, 8, 16, 16], w_bits=[4, 8, 16, 0])
    target = one_conv_target()  # 16-bit words
    assert pe_operand_bits(target, layers) == 8
    assert pe_operand_bits(target, None) == 16  # no table: the word
    only_depthwise = table(is_conv=[True], on_depthwise=[True], in_bits=[8], w_bits=[8])
    assert pe_operand_bits(target, only_depthwise) == 16


def test_a_packed_dsp_does_more_macs_on_narrow_operands() -> None:
    target = ultra96()  # dsp_packing = {w16: 1, w8: 2, w4: 4}; macs_per_dsp = 2 (the 8-bit word's entry)
    assert target.macs_per_dsp == 2
    at = {bits: table(is_conv=[True], in_bits=[bits], w_bits=[bits]) for bits in (16, 8, 4)}
    assert [pe_macs_per_dsp(target, at[bits]) for bits in (16, 8, 4)] == [1, 2, 4]
    plain = one_conv_target()  # no packing: macs_per_dsp = 2 up to the 16-bit word, none wider
    assert pe_macs_per_dsp(plain, at[8]) == 2
    assert pe_macs_per_dsp(plain, table(is_conv=[True], in_bits=[32], w_bits=[8])) == 2  # beyond it: the default


def test_the_budget_is_what_the_other_units_leave_and_never_negative() -> None:
    assert pe_budget(one_conv_target()) == 2 * (100 - 20)
    assert pe_budget(one_conv_target(fixed_dsp=100)) == 0
    assert pe_budget(one_conv_target(fixed_dsp=130)) == 0
    packed = table(is_conv=[True], in_bits=[8], w_bits=[8])
    assert pe_budget(ultra96(), packed) == 2 * (ultra96().dsp - sum(ultra96().unit_dsps.values()))


# ---------------------------------------------------------------- breakpoints
def test_breakpoints_at_the_smallest_caps_and_of_counts_that_divide_nothing() -> None:
    assert breakpoints([5], 0).tolist() == []
    assert breakpoints([0], 0).tolist() == []
    assert breakpoints([0], 1).tolist() == [1]
    assert breakpoints([], 3).tolist() == [1]
    assert breakpoints([1], 2).tolist() == [1]  # ⌈1/v⌉ = 1 for every v
    assert breakpoints([-7, 0, 4], 10).tolist() == [1, 2, 4]  # ⌈4/v⌉: 4 2 2 1; counts ≤ 0 change nothing


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5000), max_size=4), st.integers(0, 6000))
def test_breakpoints_are_every_value_of_the_ceiling(counts: list[int], cap: int) -> None:
    """v is a breakpoint of ⌈n/v⌉ exactly when v = ⌈n/q⌉ for some q in 1..n (and v = 1)."""
    expected = {1} | {-(-n // q) for n in counts if n > 0 for q in range(1, n + 1)}
    assert breakpoints(counts, cap).tolist() == sorted(v for v in expected if v <= cap)


# ---------------------------------------------------------------- kernel pairs
def test_kernel_pairs_of_a_3x3_kernel_and_a_sampler_of_five_reads_by_hand() -> None:
    # signature (⌈3/P_kx⌉, ⌈3/P_ky⌉, ⌈5/(P_kx·P_ky)⌉); a pair stays when lowering either factor by one
    # changes it: P_kx = 4 never (⌈3/4⌉ = ⌈3/3⌉ and 5 reads need no more than 3 lanes there), P_ky = 4
    # neither, but (1, 5) and (5, 1) read all 5 in one step
    layers = table(is_conv=[True, True], kx=[3, 1], ky=[3, 1], reads=[5, 0])
    everything = [(1, 1), (1, 2), (1, 3), (1, 5), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (5, 1)]
    assert dse._kernel_pairs(layers, 1000).tolist() == [list(p) for p in everything]
    for budget in (5, 6):
        assert dse._kernel_pairs(layers, budget).tolist() == [list(p) for p in everything if p[0] * p[1] <= budget]
    # 1x1 kernels only: one pair, whatever the budget; a 1x3 and a 3x1 kernel: three lanes on one side only
    assert dse._kernel_pairs(table(is_conv=[True], kx=[1], ky=[1]), 100).tolist() == [[1, 1]]
    assert dse._kernel_pairs(table(is_conv=[True], kx=[1], ky=[3]), 100).tolist() == [[1, 1], [1, 2], [1, 3]]
    assert dse._kernel_pairs(table(is_conv=[True], kx=[3], ky=[1]), 100).tolist() == [[1, 1], [2, 1], [3, 1]]


def test_kernel_pairs_of_a_wide_kernel_and_an_offset_branch() -> None:
    # a 5x1 kernel (⌈5/P_kx⌉ changes at 1, 2, 3, 5) and an offset branch of a 1x2 kernel (P_ky 1, 2);
    # a streamed layer's kernel is not the PE array's
    layers = table(is_conv=[True, False], kx=[5, 7], ky=[1, 7], off_kx=[1, 0], off_ky=[2, 0])
    assert dse._kernel_pairs(layers, 100).tolist() == [[a, b] for a in (1, 2, 3, 5) for b in (1, 2)]


def test_the_lanes_of_streamed_layers_count_only_off_the_elementwise_unit() -> None:
    # a conv of 2 channels (P_of 1, 2) and a streamed layer of 7 elements x taps: on the P_of lanes
    # its ⌈7/P_of⌉ changes at 1, 2, 3, 4, 7; on the elementwise unit it is not on the lanes
    layers = table(is_conv=[True, False], ci=[1, 0], co=[2, 0], kx=[1, 1], ky=[1, 1], stream_work=[0, 7],
                   on_unit=[False, True], in_bits=[16, 16], w_bits=[16, 0])
    lanes = one_conv_target()
    unit = dataclasses.replace(lanes, elementwise=ElementwiseUnit(width=2, dsp=1))
    assert sorted({row[1] for row in unroll_grid(lanes, layers).tolist()}) == [1, 2, 3, 4, 7]
    assert sorted({row[1] for row in unroll_grid(unit, layers).tolist()}) == [1, 2]
    first = table(is_conv=[False, True], ci=[0, 1], co=[0, 2], kx=[1, 1], ky=[1, 1], stream_work=[7, 0],
                  on_unit=[True, False], in_bits=[16, 16], w_bits=[0, 16])  # the streamed layer first
    assert sorted({row[1] for row in unroll_grid(unit, first).tolist()}) == [1, 2]


def test_a_grid_of_exactly_the_limit_is_explored(monkeypatch) -> None:
    graph = analyse(segc.loads(ONE_CONV, str(EXAMPLES / "one_conv.seg")))
    rows = len(unroll_grid(graph.target, LayerTable.of(graph)))
    monkeypatch.setattr(dse, "MAX_UNROLLS", rows)
    assert len(unroll_grid(graph.target, LayerTable.of(graph))) == rows
    monkeypatch.setattr(dse, "MAX_UNROLLS", rows - 1)
    with pytest.raises(segc.SegError, match=f"{rows} unroll configurations"):
        unroll_grid(graph.target, LayerTable.of(graph))


def test_the_limit_is_four_million_configurations_a_buffer(tmp_path, capsys) -> None:
    # 20 chained 1x1 convs of 1000..1380 channels and a 31x31 one: hundreds of P_if and P_of values
    # times 121 kernel pairs, within 20 million MACs a cycle
    chain = [f"    c{i} = {'a' if i == 0 else f'c{i - 1}'} -> conv({1000 + 20 * i}, k=1)" for i in range(20)]
    body = ["    a = x -> conv(16, k=31)", *chain]
    source = tmp_path / "wide.seg"
    source.write_text(ONE_CONV.split("network")[0].replace("dsp = 100", "dsp = 10000000")
                      + "network wide on budget {\n    input x: [16, 40, 40]\n" + "\n".join(body)
                      + "\n    output y = c19\n}\n")
    assert main(["dse", str(source)]) == 1
    assert "more than dse explores (4,000,000); the PE array may have 19,999,960 MACs a cycle" in \
        capsys.readouterr().err


# ---------------------------------------------------------------- power-of-two grid, buffers
def test_the_power_of_two_grid_by_hand() -> None:
    # 8 MACs a cycle: 2^i · 2^j · 2^k ≤ 8, i + j + k ≤ 3: 20 rows, P_ky = 1
    target = one_conv_target(dsp=24)  # 2 × (24 − 20)
    rows = power_of_two_grid(target).tolist()
    expected = [[2**i, 2**j, 2**k, 1] for i in range(4) for j in range(4) for k in range(4) if i + j + k <= 3]
    assert rows == expected and len(rows) == 20
    assert power_of_two_grid(target, max_factor=2).tolist() == [r for r in expected if max(r[:3]) <= 2]
    assert power_of_two_grid(target, max_factor=6, max_pkx=1).tolist() == [
        [a, b, 1, 1] for a in (1, 2, 4) for b in (1, 2, 4) if a * b <= 8]
    assert power_of_two_grid(one_conv_target(fixed_dsp=100)).shape == (0, 4)
    # by default factors up to 256 and P_kx up to 8: 360 MACs a cycle hold (256, 1, 1, 1) and (1, 1, 8, 1)
    wide = power_of_two_grid(one_conv_target(dsp=200)).tolist()
    assert [256, 1, 1, 1] in wide and [1, 1, 8, 1] in wide
    assert max(max(row) for row in wide) == 256 and max(row[2] for row in wide) == 8


def test_buffer_sizes_up_to_exactly_the_room_left() -> None:
    # 64 blocks of 8 Kibit = 64 KiB, nothing else on chip: 8, 16, 32, 64 KiB; the target's own 24 KiB too
    target = one_conv_target(bram=64, bram_block_bits=8 * 1024, input_buffer_bits=24 * KIB)
    assert buffer_sizes(target) == [8 * KIB, 16 * KIB, 24 * KIB, 32 * KIB, 64 * KIB]
    assert buffer_sizes(dataclasses.replace(target, input_buffer_bits=64 * KIB)) == [8 * KIB, 16 * KIB, 32 * KIB,
                                                                                     64 * KIB]
    # a target whose own buffer (64 KiB) is larger than the chip holds (48 KiB): not offered
    assert buffer_sizes(dataclasses.replace(target, bram=48, input_buffer_bits=64 * KIB)) == [8 * KIB, 16 * KIB,
                                                                                            32 * KIB]


# ---------------------------------------------------------------- points and fronts
def point(dsp: int, latency: float, buffer: int = 8, pky: int = 1, pkx: int = 1, pof: int = 1, pif: int = 1):
    return DsePoint(pif, pof, pkx, pky, buffer * KIB, dsp, dsp, latency, 0.0)


def test_the_front_by_hand_with_its_tie_breaks() -> None:
    points = [point(10, 5.0, buffer=16), point(10, 5.0, buffer=8, pky=2), point(10, 5.0, buffer=8, pky=1, pkx=3),
              point(12, 5.0), point(12, 4.0, pof=2), point(12, 4.0, pif=2, pof=1), point(14, 4.5), point(20, 1.0)]
    # 10 DSPs: the 8 KiB buffer, then P_ky 1 (P_kx 3); 12: 4.0 (P_of 1, though P_if 2); 14 is beaten by 12
    assert pareto_front(points) == [points[2], points[5], points[7]]


def test_the_explorations_front_is_the_front_of_its_points() -> None:
    graph = mixed("1 GB/s")
    explored = explore(graph, graph.target, buffers=[8 * KIB, 32 * KIB])
    assert len(explored.front()) > 5
    assert explored.front() == pareto_front(explored.points())


@pytest.mark.parametrize(("larger", "smaller"), [
    ([16, 1, 1, 1], [15, 1, 1, 1]),  # ⌈8/P_if⌉ = 1, ⌈16/2⌉ = ⌈15/2⌉ = 8 DSPs
    ([1, 10, 1, 1], [1, 9, 1, 1]),  # ⌈16/P_of⌉ = 2, 5 DSPs
    ([1, 1, 4, 1], [1, 1, 3, 1]),  # ⌈3/P_kx⌉ = 1, 2 DSPs
    ([1, 1, 1, 4], [1, 1, 1, 3]),  # ⌈3/P_ky⌉ = 1, 2 DSPs
])
def test_the_explorations_front_breaks_a_tie_on_the_unroll_by_the_smaller_factor(larger, smaller) -> None:
    # one_conv (8 to 16 channels, 3x3): two rows that differ in one factor, with the same latency on the
    # same DSPs, tie on every other key; the smaller factor is kept, in either order
    graph = segc.loads(ONE_CONV, str(EXAMPLES / "one_conv.seg"))
    for rows in ([larger, smaller], [smaller, larger]):
        explored = explore(graph, graph.target, buffers=[64 * KIB], grid=lambda target, layers, r=rows: np.array(r))
        assert explored.latency_s[0] == explored.latency_s[1] and explored.dsp_total[0] == explored.dsp_total[1]
        assert [[p.pif, p.pof, p.pkx, p.pky] for p in explored.front()] == [smaller]
        assert explored.front() == pareto_front(explored.points())


def test_points_and_explorations_are_immutable_and_a_point_gives_its_buffer_in_kib() -> None:
    first = point(10, 5.0, buffer=24)
    assert first.to_json()["input_buffer_kib"] == 24.0
    assert dataclasses.replace(first, input_buffer_bits=12 * 1024).to_json()["input_buffer_kib"] == 1.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.pif = 2
    graph = mixed("1 GB/s")
    with pytest.raises(dataclasses.FrozenInstanceError):
        explore(graph, graph.target, buffers=[32 * KIB]).latency_s = np.zeros(0)


def test_an_exploration_where_nothing_fits_is_empty() -> None:
    graph = mixed("1 GB/s")
    too_small = explore(graph, graph.target, buffers=[64])  # 64 bits: no layer's tile fits
    assert len(too_small) == 0 and too_small.unrolls.shape == (0, 4) and too_small.front() == []
    no_dsps = dataclasses.replace(graph.target, fixed_dsp=graph.target.dsp)
    empty = explore(graph, no_dsps, buffers=[32 * KIB])
    assert len(empty) == 0 and empty.latency_s.shape == (0,) and empty.front() == []


def test_chunks_of_any_size_cost_every_row_once(monkeypatch) -> None:
    graph = mixed("1 GB/s")
    whole = explore(graph, graph.target, buffers=[32 * KIB])
    monkeypatch.setattr(dse, "CHUNK", 7 * 3)  # 3 rows of 7 layers (or fewer) at a time
    chunked = explore(graph, graph.target, buffers=[32 * KIB])
    assert chunked.latency_s.tolist() == whole.latency_s.tolist()


def test_the_pe_arrays_dsps_follow_the_packing_of_an_int4_network() -> None:
    # ultra96: four 4-bit MACs a DSP (two at its 8-bit word); 3x3 conv of 8 to 16 channels on 16x16 outputs
    text = (EXAMPLES / "targets" / "ultra96.seg").read_text() + """
network small on ultra96_codenet {
    input x: [8, 16, 16]
    output y = x -> conv(16, k=3, padding=1)
}
quantize small {
    *: w=4, a=4, scheme=int
}
"""
    graph = segc.loads(text, str(EXAMPLES / "small.seg"))
    explored = explore(graph, graph.target, buffers=[graph.target.input_buffer_bits])
    macs = explored.unrolls.prod(axis=1)
    assert explored.macs_per_dsp == 4 and explored.pe_bits == 4
    assert explored.dsp_pe.tolist() == [math.ceil(m / 4) for m in macs.tolist()]
