"""Latency and MACs of pruned variants of an annotated graph, for many
candidates at once (the pruning search's hardware objective).

Removing ``r_g`` channels of group ``g`` changes, for every layer, only
channel counts, each an affine function of the removed counts ``R``
(candidates × groups): ``C' = C − R·D`` where ``D[g, layer]`` counts the
channels a layer loses per channel of ``g`` (the slot's unit for producers,
members and consumers, see ``channels.py``).  From the new
counts, Eq. 1–5 are evaluated as the ``cost`` pass does (``fastmodel.py``):

* conv, dconv, deconv, linear: channels per group, groups (depthwise layers lose
  groups), and the tile, which Eq. 1 re-chooses since fewer input channels
  let larger tiles fit the input buffer (memoised per layer and input
  channel count);
* streamed layers: work (elements × taps) and DRAM words scale with the
  channels they write and read, each tensor at its width (``widths.py``);
  a residual add reads its other inputs;
* fused and free layers stay free.

The result equals re-annotating the pruned graph with ``tile`` and ``cost``
(tested), at a small fraction of the cost.
"""

from __future__ import annotations

import numpy as np

from ..ir import Coupling, Graph
from ..ir.quant import widths
from .channels import ChannelGroup
from .cost import Calibration
from .deconv_cost import extra_output_pixels
from .fastmodel import LayerTable, latencies
from .hwmodel import ConvGeometry
from .tile import retile

__all__ = ["PrunedCost"]


class PrunedCost:
    """Pruned-network latency (s) and MACs for rows of kept channel counts."""

    def __init__(self, graph: Graph, groups: list[ChannelGroup], tiling: str = "paper",
                 calibration: Calibration | None = None):
        if tiling == "static":
            raise ValueError("the pruning search re-tiles layer by layer; use tiling paper, dilation-aware or none")
        self.graph, self.groups, self.tiling = graph, groups, tiling
        self.calibration = calibration or Calibration()
        self.table = LayerTable.of(graph)
        self.channels = np.asarray([g.channels for g in groups], dtype=np.int64)
        self._tiles: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._build()

    # ---------------------------------------------------------- set-up
    def _out_loss(self) -> dict[str, np.ndarray]:
        """Output channels each layer loses per removed channel of each group."""
        loss: dict[str, np.ndarray] = {}
        for j, group in enumerate(self.groups):
            for name, _, unit in (*group.producer_slots, *group.member_slots):
                loss.setdefault(name, np.zeros(len(self.groups), np.int64))[j] += unit
        return loss

    def _in_loss(self) -> dict[str, np.ndarray]:
        """Input channels each weighted layer loses per removed channel of each group."""
        loss: dict[str, np.ndarray] = {}
        for j, group in enumerate(self.groups):
            for (name, _), unit in zip(group.consumers, group.consumer_units):
                loss.setdefault(name, np.zeros(len(self.groups), np.int64))[j] += unit
        return loss

    def _build(self) -> None:
        graph, table, n = self.graph, self.table, len(self.groups)
        out_loss, in_loss = self._out_loss(), self._in_loss()
        zero = np.zeros(n, np.int64)
        rows = [graph.node(name) for name in table.names]
        self.depthwise = np.asarray([_is_depthwise(graph, node) for node in rows])
        self.ci_total = table.ci * table.groups
        self.co_total = table.co * table.groups
        d_in, d_out, d_work, d_bits = [], [], [], []
        for node, depthwise, work in zip(rows, self.depthwise, table.stream_work):
            out = out_loss.get(node.name, zero)
            d_out.append(out)
            d_in.append(out if depthwise else in_loss.get(node.name, zero))
            d_work.append(work // node.shape.c * out)  # elements × taps scale with the channels
            d_bits.append(self._streamed_bits(node, out_loss, zero) + self._deconv_bits(node, out_loss, zero))
        self.d_in, self.d_out = np.stack(d_in, 1), np.stack(d_out, 1)  # groups × rows
        self.d_work, self.d_bits = np.stack(d_work, 1), np.stack(d_bits, 1)

    def _deconv_bits(self, node, out_loss: dict[str, np.ndarray], zero: np.ndarray) -> np.ndarray:
        """Output bits beyond the input grid a deconv saves per removed output channel."""
        if node.op != "deconv":
            return zero
        return out_loss.get(node.name, zero) * extra_output_pixels(self.graph, node) * widths(self.graph, node)[1]

    def _streamed_bits(self, node, out_loss: dict[str, np.ndarray], zero: np.ndarray) -> np.ndarray:
        """DRAM bits a streamed or residual layer saves per removed channel."""
        rule = node.annotations["cost"]["rule"]
        if rule not in ("stream", "residual"):
            return zero
        first = 1 if rule == "residual" else 0
        names = [(node.name, node)] if rule == "stream" else []
        names += [(name, self.graph.node(name)) for k, name in enumerate(node.inputs)
                  if k >= first and k not in node.opdef.shape_only]
        bits = zero
        for name, tensor in names:
            bits = bits + out_loss.get(name, zero) * (tensor.shape.h * tensor.shape.w) * widths(self.graph, tensor)[1]
        return bits

    # ---------------------------------------------------------- evaluation
    def columns(self, kept: np.ndarray) -> dict[str, np.ndarray]:
        """The layer table's columns (candidates × rows) for kept counts
        (candidates × groups)."""
        removed = self.channels[None, :] - np.asarray(kept, dtype=np.int64)
        ci_total = self.ci_total - removed @ self.d_in
        co_total = self.co_total - removed @ self.d_out
        groups = np.where(self.depthwise, ci_total, self.table.groups)
        ci, co = ci_total // groups, co_total // groups
        tiles, in_area = self._retile(ci_total, groups)
        off_ci = np.where(self.table.off_ci > 0, ci_total, 0)
        return {
            "ci": ci, "co": co, "groups": groups, "tiles": tiles, "in_area": in_area, "off_ci": off_ci,
            "stream_work": self.table.stream_work - removed @ self.d_work,
            "other_bits": self.table.other_bits - removed @ self.d_bits,
        }

    def _retile(self, ci_total: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tiles, in_area = np.empty_like(ci_total), np.empty_like(ci_total)
        for row in np.flatnonzero(self.table.is_conv):
            values = [self._tile(row, int(c), int(g)) for c, g in zip(ci_total[:, row], groups[:, row])]
            tiles[:, row], in_area[:, row] = np.asarray(values).T
        return tiles, in_area

    def _tile(self, row: int, ci: int, groups: int) -> tuple[int, int]:
        """(⌈W_o/T_ox⌉·⌈H_o/T_oy⌉, T_ix·T_iy) of a row at ``ci`` input channels in ``groups`` groups."""
        key = (row, ci, groups)
        if key not in self._tiles:
            node = self.graph.node(self.table.names[row])
            geom = ConvGeometry.of(self.graph, node)
            (tox, toy), (tix, tiy) = retile(self.graph, node, self.tiling, ci, groups)
            self._tiles[key] = (-(-geom.wo // tox) * -(-geom.ho // toy), tix * tiy)
        return self._tiles[key]

    def latency(self, kept: np.ndarray) -> np.ndarray:
        """Total latency (s) per candidate on the graph's unroll factors."""
        return self.latency_of(self.columns(kept))

    def latency_of(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """:meth:`latency` from the candidates' :meth:`columns`."""
        u = self.graph.target.unroll
        unrolls = np.asarray([[u.pif, u.pof, u.pkx, u.pky]])
        return latencies(self.table, self.graph.target, unrolls, self.calibration, columns=columns).sum(axis=1)

    def best_latency(self, kept: np.ndarray, unrolls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(latency, index of the unroll row that gives it) per candidate:
        the fastest of ``unrolls`` (e.g. every configuration within the
        DSP budget) for each pruned network."""
        return self.best_latency_of(self.columns(kept), unrolls)

    def best_latency_of(self, columns: dict[str, np.ndarray], unrolls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`best_latency` from the candidates' :meth:`columns`."""
        count = len(columns["ci"])
        best, which = np.empty(count), np.empty(count, dtype=np.int64)
        for i in range(count):
            one = {key: value[i:i + 1] for key, value in columns.items()}
            totals = latencies(self.table, self.graph.target, unrolls, self.calibration, columns=one).sum(axis=1)
            which[i] = int(np.argmin(totals))
            best[i] = totals[which[i]]
        return best, which

    def macs(self, kept: np.ndarray) -> np.ndarray:
        """MACs per candidate: Σ groups·(C_i/g)·(C_o/g)·k_x·k_y·W_o·H_o over
        weighted layers, plus the offset branches of deformable layers."""
        return self.macs_of(self.columns(kept))

    def macs_of(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """:meth:`macs` from the candidates' :meth:`columns`."""
        t = self.table
        main = columns["groups"] * columns["ci"] * columns["co"] * t.kx * t.ky * t.pixels
        offsets = columns["off_ci"] * t.off_co * t.off_kx * t.off_ky * t.pixels
        return np.where(t.is_conv, main + offsets, 0).sum(axis=1)

def _is_depthwise(graph: Graph, node) -> bool:
    if node.op not in ("conv", "dconv", "deconv"):
        return False
    return node.opdef.coupling(node.attrs, graph.input_shapes(node)) is Coupling.DEPTHWISE

