"""The cost model of ``cost.py``, vectorised with numpy: the per-layer
quantities that do not depend on the unroll factors are gathered once
(:class:`LayerTable`), then :func:`latencies` evaluates many unroll
configurations at once — what design-space exploration and the pruning
search need.  It must agree with the ``cost`` pass number for number
(tested).  Deformable layers follow ``dconv_cost.py``: the sampler bounds the
pipeline at max(PE, sampler) per window, and gathered words count as compute
time.

Eq. 5 with calibration: a layer takes max(c, m) + (1 − φ)·min(c, m) plus
its rule's fixed cost, where c = cycles / clock and m = words · word bytes /
bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..ir import Graph, Target
from .cost import Calibration
from .dconv_cost import offset_branch
from .deform import current_plan
from .hwmodel import ConvGeometry

__all__ = ["LayerTable", "latencies"]


@dataclass(frozen=True)
class LayerTable:
    """Arrays over the layers that take time (annotated by ``tile`` and
    ``cost``); conv-like and streaming layers are told apart by ``is_conv``."""

    names: tuple[str, ...]
    rules: tuple[str, ...]
    is_conv: np.ndarray
    ci: np.ndarray  # per group
    co: np.ndarray  # per group
    groups: np.ndarray
    kx: np.ndarray
    ky: np.ndarray
    pixels: np.ndarray  # W_o·H_o
    tiles: np.ndarray  # ⌈W_o/T_ox⌉·⌈H_o/T_oy⌉
    in_area: np.ndarray  # T_ix·T_iy
    other_words: np.ndarray  # offset-branch traffic (dconv); reads + writes (stream, residual)
    stream_work: np.ndarray  # elements × taps of streaming layers
    off_ci: np.ndarray  # deformable offset branch: input channels (0: no branch)
    off_co: np.ndarray
    off_kx: np.ndarray
    off_ky: np.ndarray
    is_dconv: np.ndarray  # deformable rows (dconv_cost.py): the Eq. 3 term is the offset branch's
    reads: np.ndarray  # sampler reads per window (dconv; 0 otherwise)
    stream_per_channel: np.ndarray  # bounded dconv: input words per input channel, H_i·W_i
    gather_per_channel: np.ndarray  # unbounded dconv: gathered words per input channel, P·reads
    branch_reads: np.ndarray  # 1: the offset branch reads its input by Eq. 3 (unbounded dconv)
    macs: int

    @classmethod
    def of(cls, graph: Graph) -> LayerTable:
        rows = [n for n in graph.nodes() if n.annotations["cost"]["rule"] not in ("free", "fused")]
        keys = ("ci", "co", "groups", "kx", "ky", "pixels", "tiles", "in_area", "other_words", "stream_work",
                "off_ci", "off_co", "off_kx", "off_ky", "is_dconv", "reads", "stream_per_channel",
                "gather_per_channel", "branch_reads")
        columns: dict[str, list] = {k: [] for k in keys}
        for node in rows:
            _fill(graph, node, columns)
        arrays = {k: np.asarray(v, dtype=bool if k == "is_dconv" else np.int64) for k, v in columns.items()}
        macs = sum(n.annotations["cost"]["macs"] for n in graph.nodes())
        return cls(tuple(n.name for n in rows), tuple(n.annotations["cost"]["rule"] for n in rows),
                   np.asarray([n.annotations["cost"]["rule"] == "conv" for n in rows]), macs=macs, **arrays)


def _fill(graph: Graph, node, columns: dict[str, list]) -> None:
    cost = node.annotations["cost"]
    values = dict.fromkeys(columns, 0)
    values.update(groups=1, kx=1, ky=1)
    if cost["rule"] == "conv":
        geom = ConvGeometry.of(graph, node)
        tox, toy = cost["tile"]
        tix, tiy = cost["input_tile"]
        values.update(
            ci=geom.ci // geom.groups, co=geom.co // geom.groups, groups=geom.groups, kx=geom.kx, ky=geom.ky,
            pixels=geom.wo * geom.ho, tiles=-(-geom.wo // tox) * -(-geom.ho // toy), in_area=tix * tiy,
            other_words=cost["dram_weight"] + cost["dram_out"] - geom.kx * geom.ky * geom.ci * geom.co // geom.groups
            - geom.wo * geom.ho * geom.co,
        )
        if node.op == "dconv":
            values.update(_dconv_columns(graph, node, geom))
    else:
        values.update(other_words=cost["dram_in"] + cost["dram_out"], stream_work=_stream_work(cost, graph.target))
    for key, value in values.items():
        columns[key].append(value)


def _dconv_columns(graph: Graph, node, geom: ConvGeometry) -> dict[str, int]:
    cost, plan = node.annotations["cost"], current_plan(graph, node)
    branch = offset_branch(geom, node, plan["shape"])
    branch_weights = branch.kx * branch.ky * branch.ci * branch.co
    x = graph.input_shapes(node)[0]
    bounded = plan["rows"] is not None
    return {
        "off_ci": branch.ci, "off_co": branch.co, "off_kx": branch.kx, "off_ky": branch.ky, "is_dconv": 1,
        "reads": cost["window_reads"], "stream_per_channel": x.h * x.w if bounded else 0,
        "gather_per_channel": 0 if bounded else geom.wo * geom.ho * cost["window_reads"],
        "branch_reads": 0 if bounded else 1, "other_words": branch_weights + 2 * branch.co * geom.wo * geom.ho,
    }


def _stream_work(cost: dict, target: Target) -> int:
    """Elements × taps, recovered from the cycles at the graph's P_of."""
    return cost["cycles_compute"] * target.unroll.pof if cost["rule"] == "stream" else 0


def _ceil(a, b):
    return -(-a // b)


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
    cal = calibration or Calibration()
    pif, pof, pkx, pky = (unrolls[:, i:i + 1] for i in range(4))
    table = replace(table, **(columns or {}))
    ci = table.ci if ci is None else ci
    co = table.co if co is None else co
    window = np.maximum(_ceil(table.kx, pkx) * _ceil(co, pof) * _ceil(table.ky, pky), _ceil(table.reads, pkx * pky))
    conv_cycles = table.groups * _ceil(ci, pif) * window * table.pixels
    conv_cycles = conv_cycles + _ceil(table.off_ci, pif) * _ceil(table.off_kx, pkx) * _ceil(table.off_co, pof) \
        * _ceil(table.off_ky, pky) * table.pixels
    channels = table.groups * ci
    gather = table.gather_per_channel * channels
    dconv_in = table.branch_reads * table.tiles * _ceil(table.off_co, pof) * table.in_area * table.off_ci \
        + table.stream_per_channel * channels + gather
    dram_in = np.where(table.is_dconv, dconv_in, table.groups * table.tiles * _ceil(co, pof) * table.in_area * ci)
    stream_cycles = _ceil(table.stream_work, pof)
    cycles = np.where(table.is_conv, conv_cycles, stream_cycles)
    weights = table.groups * table.kx * table.ky * ci * co
    outputs = table.groups * table.pixels * co
    words = np.where(table.is_conv, dram_in + weights + outputs, 0) + table.other_words - gather
    compute = cycles / target.clock_hz + gather * target.word_bytes / target.bandwidth
    memory = words * target.word_bytes / target.bandwidth
    fixed = np.asarray([cal.fixed_s.get(rule, 0.0) for rule in table.rules])
    return np.maximum(compute, memory) + (1 - cal.overlap) * np.minimum(compute, memory) + fixed
