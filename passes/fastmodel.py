"""The cost model of ``cost.py``, vectorised with numpy: the per-layer
quantities that do not depend on the unroll factors are gathered once
(:class:`LayerTable`), then :func:`latencies` evaluates many unroll
configurations at once — what design-space exploration and the pruning
search need.  It must agree with the ``cost`` pass number for number
(tested): the engines of ``engines.py`` (PE array by Eq. 2-4, depthwise
engine, elementwise unit or P_of lanes), the deformable rules of
``dconv_cost.py`` (the sampler bounds the pipeline at max(PE, sampler) per
window; gathered words and bursts count as compute time), the widths of
``widths.py`` (each row's input, weight and output bits) and the times of
``timing.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..ir import Graph, Target
from .cost import Calibration
from .dconv_cost import is_scattered, offset_branch, row_reads
from .deform import current_plan
from .hwmodel import ConvGeometry
from .timing import layer_times
from .widths import io_bits

__all__ = ["LayerTable", "latencies"]


@dataclass(frozen=True)
class LayerTable:
    """Arrays over the layers that take time (annotated by ``tile`` and
    ``cost``); conv-like and streaming layers are told apart by ``is_conv``."""

    names: tuple[str, ...]
    rules: tuple[str, ...]
    is_conv: np.ndarray
    on_depthwise: np.ndarray  # on the target's depthwise engine
    on_unit: np.ndarray  # streamed on the elementwise unit (else on the P_of lanes)
    invocations: np.ndarray
    ci: np.ndarray  # per group
    co: np.ndarray  # per group
    groups: np.ndarray
    kx: np.ndarray
    ky: np.ndarray
    pixels: np.ndarray  # W_o·H_o
    tiles: np.ndarray  # ⌈W_o/T_ox⌉·⌈H_o/T_oy⌉
    in_area: np.ndarray  # T_ix·T_iy
    in_bits: np.ndarray  # bits of a word of the first input (and of a deformable layer's offset map)
    w_bits: np.ndarray  # bits of a weight word (0: no weights)
    out_bits: np.ndarray  # bits of an output word
    other_bits: np.ndarray  # reads + writes in bits (stream, residual; a deconv's outputs beyond its grid)
    stream_work: np.ndarray  # elements × taps of streaming layers
    off_ci: np.ndarray  # deformable offset branch: input channels (0: no branch)
    off_co: np.ndarray
    off_kx: np.ndarray
    off_ky: np.ndarray
    is_dconv: np.ndarray  # deformable rows (dconv_cost.py): two invocations, offset branch and sampling
    scattered: np.ndarray  # bounded full-shape dconv: taps read through the line buffer's ports
    reads: np.ndarray  # sampler reads per window (dconv; 0 otherwise)
    row_reads: np.ndarray  # scattered taps: the most reads one line-buffer row memory serves per window
    stream_per_channel: np.ndarray  # input read once (line buffer): H_i·W_i per channel
    gather_per_channel: np.ndarray  # unbounded dconv: gathered words per input channel, P·reads (= bursts)
    branch_reads: np.ndarray  # 1: the offset branch reads its input by Eq. 3 (unbounded dconv), else streams it
    macs: int

    @classmethod
    def of(cls, graph: Graph) -> LayerTable:
        rows = [n for n in graph.nodes() if n.annotations["cost"]["rule"] not in ("free", "fused")]
        keys = ("on_depthwise", "on_unit", "invocations", "ci", "co", "groups", "kx", "ky", "pixels", "tiles",
                "in_area", "in_bits", "w_bits", "out_bits", "other_bits", "stream_work", "off_ci", "off_co", "off_kx",
                "off_ky", "is_dconv", "scattered", "reads", "row_reads", "stream_per_channel", "gather_per_channel",
                "branch_reads")
        columns: dict[str, list] = {k: [] for k in keys}
        for node in rows:
            _fill(graph, node, columns)
        flags = ("is_dconv", "scattered", "on_depthwise", "on_unit")
        arrays = {k: np.asarray(v, dtype=bool if k in flags else np.int64) for k, v in columns.items()}
        macs = sum(n.annotations["cost"]["macs"] for n in graph.nodes())
        return cls(tuple(n.name for n in rows), tuple(n.annotations["cost"]["rule"] for n in rows),
                   np.asarray([n.annotations["cost"]["rule"] == "conv" for n in rows]), macs=macs, **arrays)


def _fill(graph: Graph, node, columns: dict[str, list]) -> None:
    cost = node.annotations["cost"]
    values = dict.fromkeys(columns, 0)
    in_bits, w_bits, out_bits = io_bits(graph, node)
    values.update(groups=1, kx=1, ky=1, invocations=cost["invocations"], on_depthwise=cost["engine"] == "depthwise",
                  on_unit=cost["engine"] == "elementwise", in_bits=in_bits, w_bits=w_bits, out_bits=out_bits)
    if cost["rule"] == "conv":
        geom = ConvGeometry.of(graph, node)
        tox, toy = cost["tile"]
        tix, tiy = cost["input_tile"]
        values.update(
            ci=geom.ci // geom.groups, co=geom.co // geom.groups, groups=geom.groups, kx=geom.kx, ky=geom.ky,
            pixels=geom.wo * geom.ho, tiles=-(-geom.wo // tox) * -(-geom.ho // toy), in_area=tix * tiy,
            other_bits=(cost["dram_weight"] - geom.kx * geom.ky * geom.ci * geom.co // geom.groups) * w_bits
            + (cost["dram_out"] - geom.wo * geom.ho * geom.co) * out_bits,
        )
        if node.op == "dconv":
            values.update(_dconv_columns(graph, node, geom))
        elif node.annotations["tiling"].get("stream"):  # depthwise engine, or conv_input "streamed"
            x = graph.input_shapes(node)[0]
            values.update(stream_per_channel=x.h * x.w)
    else:
        values.update(other_bits=cost["dram_bits"], stream_work=cost.get("stream_work", 0))
    for key, value in values.items():
        columns[key].append(value)


def _dconv_columns(graph: Graph, node, geom: ConvGeometry) -> dict[str, int]:
    cost, plan = node.annotations["cost"], current_plan(graph, node)
    branch = offset_branch(geom, node, plan["shape"])
    x = graph.input_shapes(node)[0]
    bounded = plan["rows"] is not None
    return {
        "off_ci": branch.ci, "off_co": branch.co, "off_kx": branch.kx, "off_ky": branch.ky, "is_dconv": 1,
        "scattered": is_scattered(plan), "reads": cost["window_reads"],
        "row_reads": row_reads(geom, cost["window_reads"]),
        "stream_per_channel": x.h * x.w if bounded else 0,
        "gather_per_channel": 0 if bounded else geom.wo * geom.ho * cost["window_reads"],
        "branch_reads": 0 if bounded else 1, "other_bits": 0,
    }


def _ceil(a, b):
    return -(-a // b)


def _sampler(table: LayerTable, target: Target, window_ports) -> np.ndarray:
    """Sampler cycles per window (``dconv_cost.sampler_cycles``): the busiest
    line-buffer row memory through its ports when the taps are scattered
    (and the target gives them), else ``window_ports`` reads a cycle."""
    if target.line_buffer_ports is None:
        return _ceil(table.reads, window_ports)
    return np.where(table.scattered, _ceil(table.row_reads, target.line_buffer_ports),
                    _ceil(table.reads, window_ports))


def _conv_cycles(table: LayerTable, target: Target, unrolls: np.ndarray, ci, co, groups) -> np.ndarray:
    """Eq. 2 (or the depthwise engine's rule) with the deformable sampler."""
    pif, pof, pkx, pky = (unrolls[:, i:i + 1] for i in range(4))
    pe = _ceil(table.kx, pkx) * _ceil(co, pof) * _ceil(table.ky, pky)
    window = np.maximum(pe, _sampler(table, target, pkx * pky))
    cycles = groups * _ceil(ci, pif) * window * table.pixels
    if target.depthwise is not None:
        lanes, taps = target.depthwise.lanes, target.depthwise.taps
        engine = np.maximum(_ceil(table.kx * table.ky, taps), _sampler(table, target, taps))
        cycles = np.where(table.on_depthwise, _ceil(groups, lanes) * engine * table.pixels, cycles)
    return cycles


def _stream_cycles(table: LayerTable, target: Target, pof: np.ndarray) -> np.ndarray:
    lanes = _ceil(table.stream_work, pof)
    if target.elementwise is None:
        return lanes
    return np.where(table.on_unit, np.ceil(table.stream_work / target.elementwise.width), lanes)


def _offset_branch(table: LayerTable, target: Target, unrolls: np.ndarray, channels) -> np.ndarray:
    """Latency of the deformable rows' offset-branch invocation (0 elsewhere):
    Eq. 2 cycles; its input by Eq. 3 (unbounded) or streamed once (bounded),
    Eq. 4 weights, the offset map written."""
    pif, pof, pkx, pky = (unrolls[:, i:i + 1] for i in range(4))
    cycles = _ceil(table.off_ci, pif) * _ceil(table.off_kx, pkx) * _ceil(table.off_co, pof) \
        * _ceil(table.off_ky, pky) * table.pixels
    reads = np.where(table.branch_reads > 0, table.tiles * _ceil(table.off_co, pof) * table.in_area * table.off_ci,
                     table.stream_per_channel * channels)
    bits = (reads + table.off_co * table.pixels) * table.in_bits \
        + table.off_ci * table.off_co * table.off_kx * table.off_ky * table.w_bits
    bits = np.where(table.is_dconv, bits, 0)
    return layer_times(target, cycles, bits, 0, 0, table.is_dconv.astype(np.int64))[3]


def latencies(table: LayerTable, target: Target, unrolls: np.ndarray, calibration: Calibration | None = None,
              ci: np.ndarray | None = None, co: np.ndarray | None = None,
              columns: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Per-layer latency (s), shape (configurations, layers), for unroll
    rows [P_if, P_of, P_kx, P_ky] (one row, or one per configuration).

    ``ci``/``co`` (configurations × layers, channels per group) replace the
    table's channel counts of convolutions, as pruning does (Eq. 2-4 follow
    them; tiles stay as chosen for the table).  ``columns`` replaces any
    other column of the table the same way (configurations × layers), as
    the pruning search does for groups, tiles and streamed words.
    """
    target = (calibration or Calibration()).apply(target)
    pof = unrolls[:, 1:2]
    table = replace(table, **(columns or {}))
    ci = table.ci if ci is None else ci
    co = table.co if co is None else co
    channels = table.groups * ci
    gather = table.gather_per_channel * channels
    eq3_in = np.where(table.stream_per_channel > 0, 0, table.groups * table.tiles * _ceil(co, pof) * table.in_area * ci)
    dram_in = np.where(table.is_dconv, gather, eq3_in) + table.stream_per_channel * channels \
        + table.off_co * table.pixels  # a deformable layer's sampling reads the offset map
    cycles = np.where(table.is_conv, _conv_cycles(table, target, unrolls, ci, co, table.groups),
                      _stream_cycles(table, target, pof))
    weights = table.groups * table.kx * table.ky * ci * co
    outputs = table.groups * table.pixels * co
    conv_bits = dram_in * table.in_bits + weights * table.w_bits + outputs * table.out_bits
    bits = np.where(table.is_conv, conv_bits, 0) + table.other_bits
    bursts = np.where(gather > 0, table.gather_per_channel, 0)
    invocations = table.invocations - table.is_dconv  # the offset branch is the other invocation
    main = layer_times(target, cycles, bits, gather * table.in_bits, bursts, invocations)[3]
    return _offset_branch(table, target, unrolls, channels) + main
