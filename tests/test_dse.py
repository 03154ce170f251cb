"""Design-space exploration: the unroll grid within the DSP budget the other
units leave, its pruning against the brute-force grid, the front, the CLI
table and JSON.  Expected values are worked out by hand in each test."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from conftest import EXAMPLES

import segc
from segc.cli import main
from segc.hardware import analyse
from segc.passes.dse import breakpoints, buffer_sizes, explore, pareto_front, unroll_grid
from segc.passes.fastmodel import LayerTable, latencies

KIB = 8 * 1024

# 100 DSP blocks, 2 MACs each, 20 for the fixed units: the PE array may use
# 80 blocks, P_if·P_of·P_kx·P_ky ≤ 160.  1 MHz and 10 TB/s: compute-bound.
ONE_CONV = """target budget {
    clock = 1 MHz
    bandwidth = 10000 GB/s
    dsp = 100
    fixed_dsp = 20
    bram = 64
    bram_block = 36 Kibit
    input_buffer = 64 Kibit
    word = 16 bit
    macs_per_dsp = 2
    unroll = {pif: 1, pof: 1, pkx: 1}
}
network one_conv on budget {
    input x: [8, 16, 16]
    output y = x -> conv(16, k=3)
}
"""

# Every way the unroll reaches the model: a 3x3 conv, a grouped deformable
# conv (its offset branch reads all 12 channels, its sampler 36 values per
# window over P_kx·P_ky), a grouped 1x1 conv, a bilinear upsample streamed on
# the P_of lanes (or on an elementwise UNIT); at 1 GB/s memory counts too.
MIXED = """target small {
    clock = 100 MHz
    bandwidth = BANDWIDTH
    dsp = 40
    fixed_dsp = 5
    bram = 64
    bram_block = 36 Kibit
    input_buffer = 32 KiB
    word = 8 bit
    macs_per_dsp = 2
    unroll = {pif: 2, pof: 2, pkx: 1}
    UNIT
}
network mixed on small {
    input x: [6, 12, 12]
    a = x -> conv(12, k=3) -> relu
    b = a -> dconv(10, k=3, groups=2) -> relu
    c = b -> conv(6, k=1, groups=2)
    output y = c -> upsample(8, mode="bilinear")
}
"""


def mixed(bandwidth: str, unit: str = ""):
    return load(MIXED.replace("BANDWIDTH", bandwidth).replace("UNIT", unit), "mixed")


# By hand: ⌈8/v⌉ changes at P_if ∈ {1, 2, 3, 4, 8}; ⌈16/v⌉ at P_of ∈ {1, 2, 3, 4, 6, 8, 16};
# ⌈3/v⌉ at P_kx, P_ky ∈ {1, 2, 3}; the product at most 2 × (100 − 20) = 160.
ONE_CONV_GRID = {(a, b, c, d) for a in (1, 2, 3, 4, 8) for b in (1, 2, 3, 4, 6, 8, 16) for c in (1, 2, 3)
                 for d in (1, 2, 3) if a * b * c * d <= 160}


def load(text: str, name: str):
    return segc.loads(text, str(EXAMPLES / f"{name}.seg"))


def brute_force(target, table) -> np.ndarray:
    """Every integer [P_if, P_of, P_kx, P_ky] within the budget, no pruning:
    macs_per_dsp × (DSPs − the other units)."""
    budget = target.macs_per_dsp * (target.dsp - target.fixed_dsp)
    rows = [(a, b, c, d) for a in range(1, budget + 1) for b in range(1, budget // a + 1)
            for c in range(1, budget // (a * b) + 1) for d in range(1, budget // (a * b * c) + 1)]
    return np.asarray(rows, dtype=np.int64)


def test_breakpoints_of_ceil_division() -> None:
    # ⌈8/v⌉ for v = 1..9: 8 4 3 2 2 2 2 1 1 -> new values at v = 1, 2, 3, 4, 8
    assert breakpoints([8], 9).tolist() == [1, 2, 3, 4, 8]
    # kernels {1, 3, 7}: ⌈3/v⌉ changes at 1, 2, 3; ⌈7/v⌉ at 1, 2, 3, 4, 7
    assert breakpoints([1, 3, 7], 100).tolist() == [1, 2, 3, 4, 7]
    assert breakpoints([8], 3).tolist() == [1, 2, 3]  # capped by the budget
    assert breakpoints([0], 5).tolist() == [1]  # nothing to divide


@pytest.mark.parametrize("cap", [1, 5, 40, 400])
def test_breakpoints_are_where_the_ceiling_changes(cap: int) -> None:
    """Against the definition, v by v, for every n up to 300."""
    for n in range(1, 301):
        expected = [v for v in range(1, cap + 1) if v == 1 or -(-n // v) < -(-n // (v - 1))]
        assert breakpoints([n], cap).tolist() == expected, n
    assert breakpoints([3, 0, 7, 3], 100).tolist() == [1, 2, 3, 4, 7]


def test_a_design_space_too_large_is_an_error(capsys, tmp_path, monkeypatch) -> None:
    from segc.passes import dse

    monkeypatch.setattr(dse, "MAX_UNROLLS", 100)
    source = tmp_path / "one_conv.seg"
    source.write_text(ONE_CONV)
    assert main(["dse", str(source)]) == 1
    err = capsys.readouterr().err
    assert f"target 'budget': {len(ONE_CONV_GRID)} unroll configurations fit its DSP blocks for this network, " \
           "more than dse explores (100); the PE array may have 160 MACs a cycle" in err
    assert "Traceback" not in err


def test_grid_keeps_within_the_dsps_the_fixed_units_leave() -> None:
    graph = analyse(load(ONE_CONV, "one_conv"))
    rows = {tuple(r) for r in unroll_grid(graph.target, LayerTable.of(graph)).tolist()}
    assert rows == ONE_CONV_GRID
    assert (8, 16, 1, 1) in rows  # 128 MACs: 64 DSPs + 20 = 84
    assert (4, 4, 3, 3) in rows  # 144 MACs: 72 DSPs + 20 = 92
    assert (3, 6, 3, 3) not in rows  # 162 MACs: 81 DSPs + 20 = 101 > 100
    assert (4, 16, 3, 1) not in rows  # 192 MACs: 96 DSPs, only fits without the fixed units
    # no product of these values lies in 145..160: the widest array is 144 MACs (16·3·3, 8·6·3, ...)
    assert max(math.ceil(a * b * c * d / 2) for a, b, c, d in rows) == 72 <= 80


def test_one_conv_front_by_hand() -> None:
    """Compute-bound one-layer network: ⌈8/P_if⌉·⌈16/P_of⌉·⌈3/P_kx⌉·⌈3/P_ky⌉·256 cycles at 1 MHz
    (Eq. 2, 16×16 outputs), ⌈P/2⌉ + 20 DSPs; the front of every integer unroll within 160 MACs."""
    graph = load(ONE_CONV, "one_conv")
    front = explore(graph, graph.target, buffers=[64 * KIB]).front()
    best: dict[int, float] = {}
    for a, b, c, d in brute_force(graph.target, None).tolist():
        dsps = -(-a * b * c * d // 2) + 20
        seconds = -(-8 // a) * -(-16 // b) * -(-3 // c) * -(-3 // d) * 256 / 1e6
        best[dsps] = min(best.get(dsps, math.inf), seconds)
    expected, fastest = [], math.inf
    for dsps in sorted(best):
        if best[dsps] < fastest:
            expected.append((dsps, best[dsps]))
            fastest = best[dsps]
    assert [(p.dsp_total, p.latency_s) for p in front] == [(d, pytest.approx(s, rel=1e-9)) for d, s in expected]
    assert expected[0] == (21, 4 * 16 * 9 * 256 / 1e6)  # two MACs in one DSP block (+ 20): P_if = 2
    assert all(p.dsp_total == p.dsp_pe + 20 for p in front)
    assert any(p.pkx == 3 for p in front) and not any(p.pkx == 4 for p in front)
    assert any(p.pky > 1 for p in front)


def test_three_lanes_tie_four_on_a_3x3_kernel() -> None:
    """⌈3/3⌉ = ⌈3/4⌉ = 1: P_kx = 4 costs a third more DSPs for the latency of P_kx = 3."""
    graph = load(ONE_CONV, "one_conv")
    rows = np.asarray([[2, 8, 3, 1], [2, 8, 4, 1]])
    points = explore(graph, graph.target, buffers=[64 * KIB], grid=lambda target, table: rows).points()
    assert [p.dsp_pe for p in points] == [24, 32]
    assert points[0].latency_s == points[1].latency_s == 4 * 2 * 1 * 3 * 256 / 1e6
    assert pareto_front(points) == [points[0]]


@pytest.mark.parametrize(("bandwidth", "unit"), [("1 GB/s", ""), ("100 GB/s", ""),
                                                 ("100 GB/s", "elementwise = {width: 2, dsp: 1}")])
def test_pruning_loses_nothing_against_the_brute_force_grid(bandwidth: str, unit: str) -> None:
    graph = mixed(bandwidth, unit)
    buffers = [8 * KIB, 32 * KIB]
    pruned = explore(graph, graph.target, buffers=buffers)
    full = explore(graph, graph.target, buffers=buffers, grid=brute_force)
    assert 0 < len(pruned) < len(full)
    expected = [(p.dsp_total, p.latency_s) for p in full.front()]
    assert [(p.dsp_total, p.latency_s) for p in pruned.front()] == [(d, pytest.approx(s, rel=1e-12))
                                                                     for d, s in expected]
    assert len(expected) > 5 and max(d for d, _ in expected) <= 40


def test_latencies_are_the_models_for_every_row() -> None:
    """explore costs conv-like and streamed layers apart; the sum is the fast model's."""
    graph = mixed("1 GB/s")
    table = LayerTable.of(analyse(graph))
    explored = explore(graph, graph.target, buffers=[graph.target.input_buffer_bits])
    rows = explored.unrolls[::7]
    direct = latencies(table, graph.target, rows).sum(axis=1)
    assert explored.latency_s[::7].tolist() == pytest.approx(direct.tolist(), rel=1e-12)
    macs = np.asarray(rows).prod(axis=1)
    assert explored.roofline_s[::7].tolist() == pytest.approx((table.macs / (macs * 100e6)).tolist(), rel=1e-12)
    assert explored.dsp_total[::7].tolist() == (-(-macs // 2) + 5).tolist()


def test_dse_command_prints_p_ky_and_both_dsp_figures(capsys, tmp_path) -> None:
    source = tmp_path / "one_conv.seg"
    source.write_text(ONE_CONV)
    assert main(["dse", str(source)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "other units: fixed units 20" in lines[0]
    assert lines[1].split() == ["P_if", "P_of", "P_kx", "P_ky", "buffer_KiB", "DSPs_PE", "DSPs_total", "latency_ms",
                                "roofline_ms", "roofline/latency"]
    first = lines[3].split()  # two MACs a cycle in 1 + 20 DSPs (ties: the smaller P_of): 4·16·9·256 cycles at 1 MHz
    assert first[:4] == ["2", "1", "1", "1"] and first[5:8] == ["1", "21", f"{4 * 16 * 9 * 256 / 1e3:.3f}"]
    assert main(["dse", str(source), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unit_dsps"] == {"fixed units": 20} and data["dsp"] == 100
    point = data["front"][-1]
    assert {"pif", "pof", "pkx", "pky", "input_buffer_bits", "input_buffer_kib", "dsp_pe", "dsp_total", "latency_s",
            "roofline_s"} == set(point)
    assert point["dsp_total"] == point["dsp_pe"] + 20 <= 100
    macs = 8 * 16 * 9 * 256
    unroll = point["pif"] * point["pof"] * point["pkx"] * point["pky"]
    assert point["roofline_s"] == pytest.approx(macs / (unroll * 1e6))


def test_buffer_sizes_leave_the_fixed_units_ram():
    # 100 blocks of 16 Kibit = 1600 Kibit = 200 KiB; the fixed units take 60 blocks (120 KiB): 80 KiB left
    target = dataclasses.replace(segc.load(str(EXAMPLES / "resnet18.seg")).target, bram=100,
                                 bram_block_bits=16 * 1024, input_buffer_bits=16 * 1024 * 8, fixed_bram=60)
    assert buffer_sizes(target) == [8 * 1024 * 8, 16 * 1024 * 8, 32 * 1024 * 8, 64 * 1024 * 8]
