"""Design-space exploration of the accelerator: every power-of-two unroll
configuration (P_if, P_of, P_kx; P_ky = 1 as in the paper) and input-buffer
size that fits the target's DSP and on-chip RAM budget, each costed with the
analytical model; the result is the Pareto set of latency against PE-array
DSP blocks.

Each point also carries the compute-only roofline bound
MACs / (P_if·P_of·P_kx·P_ky · clock), the latency of a PE array that never
waits for memory nor wastes a lane, so the distance to the limit is visible.
Tiles depend on the buffer size but not on the unroll factors (P_of is a
constant factor of Eq. 1), so they are chosen once per buffer size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Target
from .base import run_pipeline
from .cost import Calibration, CostPass
from .deform import DeformPass
from .fastmodel import LayerTable, latencies
from .tile import TilePass

__all__ = ["DsePoint", "buffer_sizes", "explore", "pareto_front", "unroll_grid"]

KIB = 8 * 1024  # bits


@dataclass(frozen=True)
class DsePoint:
    pif: int
    pof: int
    pkx: int
    input_buffer_bits: int
    dsp_pe: int
    latency_s: float
    roofline_s: float

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "input_buffer_kib": self.input_buffer_bits / KIB}


def unroll_grid(target: Target, max_factor: int = 256, max_pkx: int = 8) -> np.ndarray:
    """Power-of-two [P_if, P_of, P_kx, 1] rows whose PE array fits the DSPs."""
    powers = [2**i for i in range(max_factor.bit_length()) if 2**i <= max_factor]
    rows = [(a, b, c, 1) for a in powers for b in powers for c in powers if c <= max_pkx
            if -(-a * b * c // target.macs_per_dsp) <= target.dsp]
    return np.asarray(rows, dtype=np.int64)


def buffer_sizes(target: Target, smallest_kib: int = 8) -> list[int]:
    """Power-of-two input buffers (bits) from ``smallest_kib`` KiB up to the
    on-chip RAM, plus the target's own size."""
    sizes = {target.input_buffer_bits}
    size = smallest_kib * KIB
    while size <= target.bram_bits:
        sizes.add(size)
        size *= 2
    return sorted(s for s in sizes if s <= target.bram_bits)


def explore(graph: Graph, target: Target, tiling: str = "paper", calibration: Calibration | None = None,
            buffers: list[int] | None = None) -> list[DsePoint]:
    """Cost every configuration; buffers too small for a layer are skipped."""
    from ..ir import SegError

    grid = unroll_grid(target)
    points: list[DsePoint] = []
    for bits in buffers or buffer_sizes(target):
        sized = dataclasses.replace(target, input_buffer_bits=bits)
        candidate = graph.copy()
        candidate.target = sized
        try:
            passes = [DeformPass(), TilePass(tiling), CostPass(calibration or Calibration())]
            annotated, _ = run_pipeline(candidate, passes)
        except SegError:
            continue  # some layer does not fit this buffer
        table = LayerTable.of(annotated)
        totals = latencies(table, sized, grid, calibration).sum(axis=1)
        for row, latency in zip(grid.tolist(), totals.tolist()):
            macs_per_cycle = row[0] * row[1] * row[2] * row[3]
            points.append(DsePoint(
                row[0], row[1], row[2], bits, -(-macs_per_cycle // target.macs_per_dsp), latency,
                table.macs / (macs_per_cycle * target.clock_hz),
            ))
    return points


def pareto_front(points: list[DsePoint]) -> list[DsePoint]:
    """Points no other point beats on both latency and DSPs (ties: the
    smaller buffer, then the smaller P_kx, P_of)."""
    ordered = sorted(points, key=lambda p: (p.dsp_pe, p.latency_s, p.input_buffer_bits, p.pkx, p.pof))
    front: list[DsePoint] = []
    for point in ordered:
        if not front or point.latency_s < front[-1].latency_s:
            front.append(point)
    return front
