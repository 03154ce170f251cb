"""Design-space exploration of the accelerator: every unroll configuration
(P_if, P_of, P_kx, P_ky) whose PE array fits the DSP blocks the target's
other units (depthwise engine, elementwise unit, fixed units) leave, and
every input-buffer size that fits its on-chip RAM, each costed with the
analytical model; the result is the Pareto set of latency against all the
DSP blocks used (PE array + the other units).

The full integer grid is huge (P_if·P_of·P_kx·P_ky up to twice the DSP
count), so :func:`unroll_grid` keeps only the values that can matter for
the network.  The model sees a factor P only through ⌈n/P⌉ for the
network's counts n (``fastmodel.py``): P_if through the input channels per
group, P_of through the output channels per group and the work of layers
streamed on the P_of lanes, P_kx and P_ky through the kernel widths and
heights and, jointly, the deformable sampler's reads per window
⌈reads/(P_kx·P_ky)⌉.  A value v whose every ⌈n/v⌉ equals ⌈n/(v−1)⌉ gives
the latency of v − 1 with more DSPs: dominated.  So each factor runs only
over the breakpoints of ⌈n/v⌉ (for each n, the smallest v giving each
distinct value: v = ⌈n/q⌉, q = 1..n) — P_kx over {1, 2, 3, 4, 7} for kernels
{1, 3, 7}: lanes beyond the kernel idle — and nothing is lost (tested
against the brute-force grid).

The PE array's DSP blocks follow the network's widths: at the widest
operand width b of the layers on the PE array (the wider of a layer's
weights and input), one DSP does ``Target.macs_per_dsp_at(b)`` MACs (the
target's ``dsp_packing``), so narrower networks fit larger arrays in the
same DSPs; the other units keep their DSPs.

Each point also carries the compute-only roofline bound
MACs / (P_if·P_of·P_kx·P_ky · clock), the latency of a PE array that never
waits for memory nor wastes a lane, so the distance to the limit is visible.
Tiles depend on the buffer size but not on the unroll factors (P_of is a
constant factor of Eq. 1), so they are chosen once per buffer size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..ir import Diagnostic, Graph, SegError, Target
from .base import run_pipeline
from .cost import Calibration, CostPass
from .deform import DeformPass
from .fastmodel import LayerTable, latencies
from .tile import TilePass

__all__ = ["DsePoint", "Exploration", "breakpoints", "buffer_sizes", "explore", "pareto_front", "pe_budget",
           "pe_macs_per_dsp", "pe_operand_bits", "power_of_two_grid", "unroll_grid"]

KIB = 8 * 1024  # bits
CHUNK = 1 << 18  # configurations × layers costed at once (bounded memory)
MAX_UNROLLS = 4_000_000  # per buffer size
Grid = Callable[[Target, LayerTable], np.ndarray]


@dataclass(frozen=True)
class DsePoint:
    pif: int
    pof: int
    pkx: int
    pky: int
    input_buffer_bits: int
    dsp_pe: int  # the PE array's DSP blocks
    dsp_total: int  # with the depthwise engine, elementwise unit and fixed units
    latency_s: float
    roofline_s: float

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "input_buffer_kib": self.input_buffer_bits / KIB}


def pe_operand_bits(target: Target, table: LayerTable | None) -> int:
    """The widest operands of the layers on the PE array (the word without a table)."""
    on_pe = table.is_conv & ~table.on_depthwise if table is not None else np.zeros(0, dtype=bool)
    return int(np.maximum(table.in_bits, table.w_bits)[on_pe].max()) if on_pe.any() else target.word_bits


def pe_macs_per_dsp(target: Target, table: LayerTable | None = None) -> int:
    """MACs one DSP of the PE array does for the network's widths."""
    return target.macs_per_dsp_at(pe_operand_bits(target, table)) or target.macs_per_dsp


def pe_budget(target: Target, table: LayerTable | None = None) -> int:
    """MACs per cycle the PE array may have: p × the DSP blocks the other
    units leave (⌈M / p⌉ ≤ D ⇔ M ≤ p·D), p = :func:`pe_macs_per_dsp`."""
    return pe_macs_per_dsp(target, table) * max(0, target.dsp - sum(target.unit_dsps.values()))


def breakpoints(counts: Iterable[int], cap: int) -> np.ndarray:
    """The v in 1..cap at which ⌈n/v⌉ takes a new value for some n in
    ``counts`` (v = 1 always; counts ≤ 0 change nothing), sorted: the values
    ⌈n/q⌉, q = 1..n, found in O(√n) as every v with v(v−1) ≤ n (there
    n/(v−1) − n/v ≥ 1) and ⌈n/q⌉ for q ≤ √n + 1 (every larger breakpoint)."""
    found = [np.ones(1 if cap >= 1 else 0, dtype=np.int64)]
    for n in {int(c) for c in counts if c > 0}:
        root = math.isqrt(n)
        small = np.arange(1, min(root + 1, cap) + 1, dtype=np.int64)
        large = -(-n // np.arange(1, root + 2, dtype=np.int64))
        found += [small[small * (small - 1) <= n], large[large <= cap]]
    return np.unique(np.concatenate(found))


def _kernel_pairs(table: LayerTable, budget: int) -> np.ndarray:
    """(P_kx, P_ky) pairs within the budget where neither factor can drop by
    one and keep every ⌈k_x/P_kx⌉, ⌈k_y/P_ky⌉ and ⌈reads/(P_kx·P_ky)⌉."""
    conv = table.is_conv
    widths = np.unique(np.concatenate((table.kx[conv], table.off_kx[conv])))
    heights = np.unique(np.concatenate((table.ky[conv], table.off_ky[conv])))
    reads = np.unique(table.reads[conv])
    reads = reads[reads > 0]

    def signature(pkx: int, pky: int) -> tuple:
        return (tuple(-(-widths // pkx)), tuple(-(-heights // pky)), tuple(-(-reads // (pkx * pky))))

    top = int(max(widths.max(initial=1), heights.max(initial=1), reads.max(initial=1)))

    def kept(pkx: int, pky: int) -> bool:
        own = signature(pkx, pky)
        return (pkx == 1 or signature(pkx - 1, pky) != own) and (pky == 1 or signature(pkx, pky - 1) != own)

    pairs = [(a, b) for a in range(1, top + 1) for b in range(1, top + 1) if a * b <= budget and kept(a, b)]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def unroll_grid(target: Target, table: LayerTable) -> np.ndarray:
    """[P_if, P_of, P_kx, P_ky] rows whose PE array fits the DSP blocks the
    target's other units leave, pruned to the values that can change the
    network's latency (module docstring): P_if over the breakpoints of the
    input channels per group, P_of of the output channels per group and of
    the work streamed on the P_of lanes, (P_kx, P_ky) by :func:`_kernel_pairs`."""
    budget = pe_budget(target, table)
    conv = table.is_conv
    on_lanes = ~conv if target.elementwise is None else ~conv & ~table.on_unit
    pifs = breakpoints(np.concatenate((table.ci[conv], table.off_ci[conv])), budget)
    pofs = breakpoints(np.concatenate((table.co[conv], table.off_co[conv], table.stream_work[on_lanes])), budget)
    pairs = _kernel_pairs(table, budget)
    kx, ky = np.repeat(pairs[:, 0], len(pifs)), np.repeat(pairs[:, 1], len(pifs))
    pif = np.tile(pifs, len(pairs))
    counts = np.searchsorted(pofs, budget // (pif * kx * ky), side="right")  # the P_of values that fit
    if counts.sum() > MAX_UNROLLS:
        raise SegError(Diagnostic(
            f"target '{target.name}': {int(counts.sum()):,} unroll configurations fit its DSP blocks for this network, "
            f"more than dse explores ({MAX_UNROLLS:,}); the PE array may have {budget:,} MACs a cycle"))
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.column_stack([np.repeat(pif, counts), pofs[within], np.repeat(kx, counts), np.repeat(ky, counts)])


def power_of_two_grid(target: Target, table: LayerTable | None = None, max_factor: int = 256,
                      max_pkx: int = 8) -> np.ndarray:
    """Power-of-two [P_if, P_of, P_kx, 1] rows within :func:`pe_budget` (the
    grid of the pruning search, whose channel counts change as it prunes)."""
    powers = [2**i for i in range(max_factor.bit_length()) if 2**i <= max_factor]
    budget = pe_budget(target, table)
    rows = [(a, b, c, 1) for a in powers for b in powers for c in powers if c <= max_pkx if a * b * c <= budget]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def buffer_sizes(target: Target, smallest_kib: int = 8) -> list[int]:
    """Power-of-two input buffers (bits) from ``smallest_kib`` KiB up to the
    on-chip RAM the other buffers and the fixed units leave, plus the
    target's own size."""
    room = target.bram_bits - (target.buffer_bits - target.input_buffer_bits)
    sizes = {target.input_buffer_bits}
    size = smallest_kib * KIB
    while size <= room:
        sizes.add(size)
        size *= 2
    return sorted(s for s in sizes if s <= room)


@dataclass(frozen=True)
class Exploration:
    """Every configuration costed, as arrays of one row per configuration."""

    target: Target
    unrolls: np.ndarray  # [P_if, P_of, P_kx, P_ky]
    buffer_bits: np.ndarray
    latency_s: np.ndarray
    roofline_s: np.ndarray
    dsp_pe: np.ndarray  # the PE array's DSP blocks
    dsp_total: np.ndarray  # with the other units'
    pe_bits: int = 0  # the PE array's operand width (pe_operand_bits)
    macs_per_dsp: int = 0  # MACs per DSP at that width

    def __len__(self) -> int:
        return len(self.latency_s)

    def point(self, i: int) -> DsePoint:
        pif, pof, pkx, pky = (int(v) for v in self.unrolls[i])
        return DsePoint(pif, pof, pkx, pky, int(self.buffer_bits[i]), int(self.dsp_pe[i]), int(self.dsp_total[i]),
                        float(self.latency_s[i]), float(self.roofline_s[i]))

    def points(self) -> list[DsePoint]:
        return [self.point(i) for i in range(len(self))]

    def front(self) -> list[DsePoint]:
        """:func:`pareto_front` of every point, computed on the arrays."""
        u = self.unrolls
        order = np.lexsort((u[:, 0], u[:, 1], u[:, 2], u[:, 3], self.buffer_bits, self.latency_s, self.dsp_total))
        ordered = self.latency_s[order]
        best_before = np.concatenate(([np.inf], np.minimum.accumulate(ordered)[:-1]))
        return [self.point(i) for i in order[ordered < best_before].tolist()]


def explore(graph: Graph, target: Target, tiling: str = "paper", calibration: Calibration | None = None,
            buffers: list[int] | None = None, grid: Grid = unroll_grid) -> Exploration:
    """Cost every configuration of ``grid`` (target, layer table → unroll
    rows) at every buffer size; buffers too small for a layer are skipped."""
    parts: list[tuple[np.ndarray, int, np.ndarray]] = []
    macs, pe_bits = 0, target.word_bits
    for bits in buffers or buffer_sizes(target):
        sized = dataclasses.replace(target, input_buffer_bits=bits)
        table = _layer_table(graph, sized, tiling, calibration)
        if table is not None:
            rows = grid(sized, table)
            parts.append((rows, bits, _total_latencies(table, sized, rows, calibration)))
            macs, pe_bits = table.macs, pe_operand_bits(target, table)
    unrolls = np.concatenate([rows for rows, _, _ in parts]) if parts else np.empty((0, 4), dtype=np.int64)
    buffer_bits = np.concatenate([np.full(len(rows), bits, dtype=np.int64) for rows, bits, _ in parts] or [[]])
    latency = np.concatenate([totals for _, _, totals in parts] or [[]])
    macs_per_cycle = unrolls.prod(axis=1)
    per_dsp = target.macs_per_dsp_at(pe_bits) or target.macs_per_dsp
    dsp_pe = -(-macs_per_cycle // per_dsp)
    roofline = macs / (macs_per_cycle * target.clock_hz)
    return Exploration(target, unrolls, buffer_bits.astype(np.int64), latency, roofline, dsp_pe,
                       dsp_pe + sum(target.unit_dsps.values()), pe_bits, per_dsp)


def _layer_table(graph: Graph, target: Target, tiling: str, calibration: Calibration | None) -> LayerTable | None:
    """The network annotated for ``target``; None when a layer does not fit its buffer."""
    candidate = graph.copy()
    candidate.target = target
    try:
        annotated, _ = run_pipeline(candidate, [DeformPass(), TilePass(tiling), CostPass(calibration or Calibration())])
    except SegError:
        return None
    return LayerTable.of(annotated)


def _total_latencies(table: LayerTable, target: Target, rows: np.ndarray,
                     calibration: Calibration | None) -> np.ndarray:
    """The network's latency for each unroll row.  Conv-like layers see P_of
    only through ⌈n/P_of⌉ of their channel counts and streamed layers only
    P_of (``fastmodel.py``), so the first are costed once per distinct
    (P_if, class of P_of, P_kx, P_ky), the second once per P_of, and added."""
    if not len(rows):
        return np.empty(0)
    conv = table.is_conv
    classes = breakpoints(np.concatenate((table.co[conv], table.off_co[conv])), int(rows[:, 1].max()))
    keyed = rows.copy()
    keyed[:, 1] = classes[np.searchsorted(classes, rows[:, 1], side="right") - 1]
    distinct, conv_row = _unique_rows(keyed)
    pofs, pof_row = np.unique(rows[:, 1], return_inverse=True)
    lanes = np.ones((len(pofs), 4), dtype=np.int64)
    lanes[:, 1] = pofs
    convs = _layer_sums(table, target, distinct, calibration, conv)
    streams = _layer_sums(table, target, lanes, calibration, ~conv)
    return convs[conv_row] + streams[pof_row]


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(rows, axis=0, return_inverse=True) through one integer key
    per row, a number in the radices of the columns (sorting rows is slower)."""
    keys = np.zeros(len(rows), dtype=np.int64)
    for column in rows.T:
        keys = keys * (int(column.max()) + 1) + column
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return rows[first], inverse


def _layer_sums(table: LayerTable, target: Target, rows: np.ndarray, calibration: Calibration | None,
                layers: np.ndarray) -> np.ndarray:
    """Σ latency over the ``layers`` (a mask) for each row, costed in chunks
    of at most :data:`CHUNK` configurations × layers (bounded memory)."""
    arrays = {f.name: getattr(table, f.name)[layers] for f in dataclasses.fields(table)
              if isinstance(getattr(table, f.name), np.ndarray)}
    kept = [i for i, keep in enumerate(layers.tolist()) if keep]
    part = dataclasses.replace(table, names=tuple(table.names[i] for i in kept),
                               rules=tuple(table.rules[i] for i in kept), **arrays)
    step = max(1, CHUNK // max(1, len(kept)))
    return np.concatenate([latencies(part, target, rows[i:i + step], calibration).sum(axis=1)
                           for i in range(0, len(rows), step)])


def pareto_front(points: list[DsePoint]) -> list[DsePoint]:
    """Points no other point beats on both latency and DSPs in all (ties:
    the smaller buffer, then the smaller P_ky, P_kx, P_of, P_if)."""
    ordered = sorted(points, key=lambda p: (p.dsp_total, p.latency_s, p.input_buffer_bits, p.pky, p.pkx, p.pof,
                                            p.pif))
    front: list[DsePoint] = []
    for point in ordered:
        if not front or point.latency_s < front[-1].latency_s:
            front.append(point)
    return front
