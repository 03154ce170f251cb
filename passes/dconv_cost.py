"""The cost of a deformable convolution (``dconv``) on the accelerator of
``cost.py``, in every CoDeNet variant (Huang et al., EMC2 2019: bounded,
square, rounded, depthwise).  Geometry as in ``hwmodel.py``: C_i, C_o, g
groups, k_y × k_x kernel, P = H_o·W_o output pixels; unroll P_if, P_of,
P_kx, P_ky.

A deformable layer is two invocations (the ``parts`` of its cost, each
with its own time and overhead; the layer takes their sum):

1. Offset branch (``offsets``): an ordinary convolution — k × k to 2·k²·G
   offsets for shape "full", 1 × 1 to G scales for "square" (``ir/ops.py``)
   — costed by Eq. 2 and Eq. 4.  It writes its offset map (n_off·P words)
   to DRAM, and the sampling convolution reads it back, as CoDeNet's engine
   takes its offsets as an input stream (hls/top/deform.h: ``offsets``).
2. Sampling and the main convolution run as a two-stage pipeline per output
   pixel and block of P_if input channels (per group).  The PE array takes
   ⌈k_x/P_kx⌉·⌈(C_o/g)/P_of⌉·⌈k_y/P_ky⌉ cycles (Eq. 2's inner factors); the
   sampler reads the window through the P_kx·P_ky ports that feed a plain
   convolution, ⌈reads/(P_kx·P_ky)⌉ cycles, where reads per window are
   * rounded offsets: k_y·k_x, one per tap — rounding removes interpolation
     (CoDeNet's ``DeformConvWithOffsetRound``; the hardware uses integers);
   * bilinear, shape "full": 4·k_y·k_x, the four neighbours of every tap
     (Dai et al. 2017, eq. 3);
   * bilinear, shape "square": (2k_y − k_y mod 2)·(2k_x − k_x mod 2) —
     square shares interpolation across the window: every tap of a row
     shares one vertical position and weights, every tap of a column one
     horizontal position, and the centre row and column of an odd kernel
     fall on the grid (tap (i, j) moves by (i − (k−1)/2)·(s − 1)·d), so only
     two source rows per off-centre tap row are read (25 reads for 3 × 3,
     not 36).
   The layer takes g·⌈(C_i/g)/P_if⌉·P·max(PE, sampler) cycles.  Depthwise
   changes the compute: with one output channel per group the PE array
   needs one cycle per window, so a bilinear sampler, not the MACs, bounds
   the layer (4× for "full"); a full convolution's 256 output channels hide
   it (PE 32 cycles against at most 4).  On a target with a depthwise
   engine of L lanes × T taps, depthwise layers sample through its taps:
   ⌈C/L⌉·P·max(⌈k_x·k_y/T⌉, ⌈reads/T⌉) cycles.  A bounded full-shape
   window's taps each address their own line-buffer row and column; where
   the target gives ``line_buffer_ports`` (reads per cycle of each row
   memory: CoDeNet's conv.h partitions the line buffer by row, one block
   RAM of two ports per row), the rows are read in parallel and the busiest
   row memory sets the pace, ⌈row_reads/ports⌉ cycles (``row_reads``: the
   taps of a kernel row share its memory while offsets stay within a row —
   an assumption; taps that move into one row would cost up to
   ⌈reads/ports⌉).  A plain or square window reads whole rows: CoDeNet's
   "multi-ported" square shape.
3. Input, bounded (a line buffer, ``ir/linebuffer.py``): the input streams
   through the buffer once, C_i·H_i·W_i words, every output channel computed
   from the buffered rows with the weights on chip ("Buffers inputs in the
   on-chip line buffer to allow spatial reuse", CoDeNet).  The offset branch
   streams it too, in its own invocation.
4. Input, unbounded: no reuse — each output pixel gathers its window's
   samples (all C_i channels, each neighbour a separate DRAM read),
   P·reads·C_i words, once for all output channels; the offset branch is an
   ordinary convolution tiled by Eq. 1 and read by Eq. 3.  A gather's address
   depends on data, so nothing is prefetched: the PE array waits for it and
   its DRAM time adds to the compute time instead of overlapping it (the
   ``dram_gather`` words; Eq. 5 applies to the regular streams).  Each
   sampled position is one scattered access (``gather_bursts`` = P·reads,
   all C_i channels of a pixel lying together), which costs the target's
   access latency (``timing.py``).  CoDeNet's
   measurements agree in kind: unbounded offsets add about the same time to
   the full (+15.9 ms) and the depthwise layer (+18.6 ms), whose compute
   differs twenty-fold.
5. Weights: Eq. 4 for the main and the branch convolution; outputs: P·C_o.
"""

from __future__ import annotations

from ..ir import Graph, Node, Target, offset_channels
from .hwmodel import ConvGeometry, compute_cycles, dram_accesses
from .widths import io_bits

__all__ = ["dconv_cost", "dconv_reason", "is_scattered", "offset_branch", "row_reads", "sampler_cycles",
           "sampling_cycles", "window_reads"]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def offset_branch(geom: ConvGeometry, node: Node, shape: str | None = None) -> ConvGeometry:
    """The offset-predicting convolution of a dconv (CoDeNet): same window
    for shape "full", 1×1 for "square" (``shape`` overrides the layer's)."""
    shape = shape or node.attrs["shape"]
    full = shape == "full"
    attrs = {**node.attrs, "shape": shape}
    return ConvGeometry(
        geom.ci, offset_channels(attrs), geom.kx if full else 1, geom.ky if full else 1, geom.sx, geom.sy,
        geom.dx if full else 1, geom.dy if full else 1, 1, geom.wo, geom.ho,
    )


def window_reads(kh: int, kw: int, shape: str, rounded: bool) -> int:
    """Input values the sampler reads per output pixel and channel."""
    if rounded:
        return kh * kw
    if shape == "square":
        return (2 * kh - kh % 2) * (2 * kw - kw % 2)
    return 4 * kh * kw


def row_reads(geom: ConvGeometry, reads: int) -> int:
    """The most reads one row memory of the line buffer serves per window
    of scattered taps, when offsets keep each tap near its kernel row:
    k_x rounded taps; bilinear, 2·k_x (two columns of each tap, in each of
    its two rows), or 4·k_x where adjacent kernel rows share a source row
    (k_y > 1 at dilation 1)."""
    if reads == geom.kx * geom.ky:
        return geom.kx
    return 4 * geom.kx if geom.ky > 1 and geom.dy == 1 else 2 * geom.kx


def sampler_cycles(geom: ConvGeometry, reads: int, target: Target, depthwise: bool, scattered: bool) -> int:
    """Sampler cycles per window: scattered taps through the line buffer's
    ports, ⌈row_reads/ports⌉ (its rows are separate memories, read in
    parallel), where the target gives them; else a window's worth of reads
    per cycle — the P_kx·P_ky ports that feed a plain convolution, or the
    depthwise engine's taps."""
    if scattered and target.line_buffer_ports is not None:
        return _ceil(row_reads(geom, reads), target.line_buffer_ports)
    ports = target.depthwise.taps if depthwise else target.unroll.pkx * target.unroll.pky
    return _ceil(reads, ports)


def sampling_cycles(geom: ConvGeometry, reads: int, target: Target, scattered: bool = False) -> int:
    """Cycles of the sampler → PE array pipeline (rule 2), or, for a
    depthwise layer on the target's depthwise engine of L lanes × T taps,
    ⌈C/L⌉·P·max(⌈k_x·k_y/T⌉, sampler cycles)."""
    engine = target.depthwise
    on_engine = engine is not None and geom.depthwise
    sampler = sampler_cycles(geom, reads, target, on_engine, scattered)
    if on_engine:
        window = max(_ceil(geom.kx * geom.ky, engine.taps), sampler)
        return _ceil(geom.groups, engine.lanes) * geom.wo * geom.ho * window
    u = target.unroll
    ci, co = geom.ci // geom.groups, geom.co // geom.groups
    pe = _ceil(geom.kx, u.pkx) * _ceil(co, u.pof) * _ceil(geom.ky, u.pky)
    return geom.groups * _ceil(ci, u.pif) * geom.wo * geom.ho * max(pe, sampler)


def is_scattered(plan: dict) -> bool:
    """A bounded full-shape window: its taps address the line buffer one by one."""
    return plan["rows"] is not None and plan["shape"] == "full"


def dconv_cost(graph: Graph, node: Node, target: Target, plan: dict, tiling: dict) -> dict:
    """The ``cost`` fields of a dconv under the variant ``plan`` (a ``deform``
    annotation); ``tiling``: the offset branch's tile when unbounded.  Two
    invocations (``parts``): the offset branch, which writes the offset map,
    and the sampling convolution, which reads it; the totals are their sums."""
    geom = ConvGeometry.of(graph, node)
    branch = offset_branch(geom, node, plan["shape"])
    reads = window_reads(geom.ky, geom.kx, plan["shape"], plan["round"])
    pixels = geom.wo * geom.ho
    offsets = branch.co * pixels
    _, main_w, main_out = dram_accesses(geom, (1, 1), (1, 1), target.unroll.pof)
    tile, in_tile = tuple(tiling["tile"]), tuple(tiling["input_tile"])
    branch_in, branch_w, _ = dram_accesses(branch, tile, in_tile, target.unroll.pof)
    x = graph.input_shapes(node)[0]
    if plan["rows"] is not None:
        gather, bursts = 0, 0
        branch_in = main_in = x.c * x.h * x.w  # each streams the input through the line buffer once
    else:
        gather, bursts = pixels * reads * geom.ci, pixels * reads
        main_in = gather
    in_bits, w_bits, out_bits = io_bits(graph, node)  # the offset map at the input's width (widths.py)
    parts = {
        "offsets": {"cycles_compute": compute_cycles(branch, target.unroll), "dram_in": branch_in,
                    "dram_weight": branch_w, "dram_out": offsets, "dram_gather": 0, "gather_bursts": 0,
                    "dram_bits": (branch_in + offsets) * in_bits + branch_w * w_bits, "gather_bits": 0},
        "sampling": {"cycles_compute": sampling_cycles(geom, reads, target, is_scattered(plan)),
                     "dram_in": main_in + offsets, "dram_weight": main_w, "dram_out": main_out,
                     "dram_gather": gather, "gather_bursts": bursts,
                     "dram_bits": (main_in + offsets) * in_bits + main_w * w_bits + main_out * out_bits,
                     "gather_bits": gather * in_bits},
    }
    totals = {key: sum(part[key] for part in parts.values()) for key in parts["offsets"]}
    return {"rule": "conv", **totals, "parts": parts, "window_reads": reads, "tile": list(tile),
            "input_tile": list(in_tile)}


def dconv_reason(plan: dict) -> str:
    """How the layer was costed, for reports."""
    shape = f"{plan['shape']} shape, {'rounded' if plan['round'] else 'bilinear'}"
    if plan["rows"] is None:
        return f"deformable, unbounded ({shape}): samples gathered from DRAM, not overlapped"
    return (f"deformable, bound {plan['bound']} ({shape}): input streamed once through "
            f"{plan['rows']} of {plan['rows_available']} line-buffer rows")
