"""The cost model of ``cost.py``, vectorised with numpy: the per-layer
quantities that do not depend on the unroll factors are gathered once
(:class:`LayerTable`), then :func:`latencies` evaluates many unroll
configurations at once — what design-space exploration and the pruning
search need.  It must agree with the ``cost`` pass number for number
(tested).

Eq. 5 with calibration: a layer takes max(c, m) + (1 − φ)·min(c, m) plus
its rule's fixed cost, where c = cycles / clock and m = words · word bytes /
bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Target
from .cost import Calibration, offset_branch
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
    macs: int

    @classmethod
    def of(cls, graph: Graph) -> LayerTable:
        rows = [n for n in graph.nodes() if n.annotations["cost"]["rule"] not in ("free", "fused")]
        keys = ("ci", "co", "groups", "kx", "ky", "pixels", "tiles", "in_area", "other_words", "stream_work",
                "off_ci", "off_co", "off_kx", "off_ky")
        columns: dict[str, list] = {k: [] for k in keys}
        for node in rows:
            _fill(graph, node, columns)
        arrays = {k: np.asarray(v, dtype=np.int64) for k, v in columns.items()}
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
            branch = offset_branch(geom, node)
            values.update(off_ci=branch.ci, off_co=branch.co, off_kx=branch.kx, off_ky=branch.ky)
    else:
        values.update(other_words=cost["dram_in"] + cost["dram_out"], stream_work=_stream_work(cost, graph.target))
    for key, value in values.items():
        columns[key].append(value)


def _stream_work(cost: dict, target: Target) -> int:
    """Elements × taps, recovered from the cycles at the graph's P_of."""
    return cost["cycles_compute"] * target.unroll.pof if cost["rule"] == "stream" else 0


def _ceil(a, b):
    return -(-a // b)


def latencies(table: LayerTable, target: Target, unrolls: np.ndarray, calibration: Calibration | None = None,
              ci: np.ndarray | None = None, co: np.ndarray | None = None) -> np.ndarray:
    """Per-layer latency (s), shape (configurations, layers), for unroll
    rows [P_if, P_of, P_kx, P_ky] (one row, or one per configuration).

    ``ci``/``co`` (configurations × layers, channels per group) replace the
    table's channel counts of convolutions, as pruning does (Eq. 2-4 follow
    them; tiles stay as chosen for the table).
    """
    cal = calibration or Calibration()
    pif, pof, pkx, pky = (unrolls[:, i:i + 1] for i in range(4))
    ci = table.ci if ci is None else ci
    co = table.co if co is None else co
    conv_cycles = table.groups * _ceil(ci, pif) * _ceil(table.kx, pkx) * _ceil(co, pof) \
        * _ceil(table.ky, pky) * table.pixels
    conv_cycles = conv_cycles + _ceil(table.off_ci, pif) * _ceil(table.off_kx, pkx) * _ceil(table.off_co, pof) \
        * _ceil(table.off_ky, pky) * table.pixels
    dram_in = table.groups * table.tiles * _ceil(co, pof) * table.in_area * ci
    stream_cycles = _ceil(table.stream_work, pof)
    cycles = np.where(table.is_conv, conv_cycles, stream_cycles)
    weights = table.groups * table.kx * table.ky * ci * co
    outputs = table.groups * table.pixels * co
    words = np.where(table.is_conv, dram_in + weights + outputs, 0) + table.other_words
    compute = cycles / target.clock_hz
    memory = words * target.word_bytes / target.bandwidth
    fixed = np.asarray([cal.fixed_s.get(rule, 0.0) for rule in table.rules])
    return np.maximum(compute, memory) + (1 - cal.overlap) * np.minimum(compute, memory) + fixed
