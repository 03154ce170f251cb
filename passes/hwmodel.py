"""The analytical model of the accelerator of Mori et al. (DAC 2022),
Sec. 3.2, for one convolution layer (linear layers are 1×1 convolutions on a
1×1 map).

Geometry: C_i, C_o input/output channels, k_x × k_y kernel, stride s,
dilation d, W_o × H_o output, g groups.  Unroll P_if, P_of, P_kx (and P_ky,
1 in the paper).  Tiles T_ox × T_oy of output pixels read T_ix × T_iy input
pixels.

* Eq. 1 (tiling): maximise T_ox·T_oy·k_x·k_y·P_of / (T_ix·T_iy) subject to
  T_ix·T_iy·C_i ≤ Buf_in (words), T_ox ≤ W_o, T_oy ≤ H_o, where
  T_ix = (T_ox − 1)s + k_x (and likewise y).  Ties go to fewer input DRAM
  accesses (Eq. 3), then to the larger tile, then to the wider one.
* Eq. 2 (compute cycles): ⌈C_i/P_if⌉·⌈k_x/P_kx⌉·⌈C_o/P_of⌉·⌈k_y/P_ky⌉·W_o·H_o
  (the paper prints floor brackets; a partial group of channels still takes
  a full pass, so ceiling is meant).
* Eq. 3 (input accesses): ⌈W_o/T_ox⌉·⌈H_o/T_oy⌉·⌈C_o/P_of⌉·T_ix·T_iy·C_i.
* Eq. 4: weights k_x·k_y·C_i·C_o, outputs W_o·H_o·C_o (all in words).

Grouped convolutions (g > 1) are g independent convolutions of C_i/g to
C_o/g channels, which reduces to the equations above for g = 1 and shows why
depthwise layers waste a channel-unrolled PE array.

Tiling modes: ``paper`` gives dilated layers T_ox = T_oy = 1 (the paper's
rule; the k×k dilated samples are fetched alone).  ``dilation-aware`` counts
the input positions a tile of a dilated layer really needs, {o·s + j·d : o <
T, j < k}: that is (T − 1)s + (k − 1)d + 1 once the tile is wide enough to
close the gaps between taps, k·T before that — so dilated layers get real
tiles and never fetch more than under the paper's rule.  ``none`` uses
T = 1 everywhere; ``static`` one tile for all layers (see ``tile.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..ir import Graph, Node, Unroll, conv_pads
from .modes import TILING_MODES

__all__ = ["TILING_MODES", "ConvGeometry", "TileError", "best_tile", "compute_cycles", "dram_accesses", "footprint"]



class TileError(ValueError):
    """No tile fits the input buffer."""


def _ceil(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class ConvGeometry:
    ci: int
    co: int
    kx: int
    ky: int
    sx: int
    sy: int
    dx: int
    dy: int
    groups: int
    wo: int
    ho: int
    pad_x: int = 0
    pad_y: int = 0

    @classmethod
    def of(cls, graph: Graph, node: Node) -> ConvGeometry:
        """The geometry of a conv, dconv, deconv or linear node (found once
        per op, input shape, output shape and attributes: a network repeats a few)."""
        x = graph.input_shapes(node)[0]
        try:
            return _geometry(node.op, x, node.shape, tuple(node.attrs.items()))
        except TypeError:  # an attribute value that is not hashable
            return _geometry.__wrapped__(node.op, x, node.shape, tuple(node.attrs.items()))

    @property
    def depthwise(self) -> bool:
        """One input and one output channel per group (and more than one group)."""
        return 1 < self.groups == self.ci == self.co

    @property
    def dilated(self) -> bool:
        return self.dx > 1 or self.dy > 1

    @property
    def macs(self) -> int:
        return self.wo * self.ho * self.co * (self.ci // self.groups) * self.kx * self.ky


@functools.lru_cache(maxsize=4096)
def _geometry(op: str, x, out, attrs: tuple) -> ConvGeometry:
    if op == "linear":
        return ConvGeometry(x.c, out.c, 1, 1, 1, 1, 1, 1, 1, 1, 1)
    a = dict(attrs)
    if op == "deconv":  # the scatter form (deconv_cost.py): a k×k window over the input grid
        return ConvGeometry(x.c, out.c, a["k"][1], a["k"][0], 1, 1, 1, 1, a["groups"], x.w, x.h)
    pad_y, pad_x = conv_pads(a)
    return ConvGeometry(
        x.c, out.c, a["k"][1], a["k"][0], a["stride"][1], a["stride"][0], a["dilation"][1],
        a["dilation"][0], a["groups"], out.w, out.h, pad_x, pad_y,
    )


@functools.lru_cache(maxsize=256)
def _distinct_positions(s: int, k: int, d: int, n: int) -> np.ndarray:
    """For t = 1..n: how many distinct input positions o·s + j·d (o < t,
    j < k) a tile of t outputs reads."""
    seen = np.zeros((n - 1) * s + (k - 1) * d + 1, dtype=bool)
    taps = np.arange(k) * d
    counts = np.empty(n, dtype=np.int64)
    total = 0
    for o in range(n):
        positions = o * s + taps
        total += int(np.count_nonzero(~seen[positions]))
        seen[positions] = True
        counts[o] = total
    return counts


def footprint(t, s: int, k: int, d: int, dilation_aware: bool):
    """Input positions along one axis that a tile of ``t`` outputs reads
    (``t`` an int or an integer numpy array): the paper's (t − 1)s + k, or
    the exact count of distinct positions when dilation-aware."""
    if not dilation_aware:
        return (t - 1) * s + k
    counts = _distinct_positions(s, k, d, int(np.max(t)))
    return counts[np.asarray(t) - 1]


_CHUNK = 1 << 20  # candidate tiles weighed at once: memory stays bounded whatever the map's size


@functools.lru_cache(maxsize=4096)
def best_tile(geom: ConvGeometry, buffer_words: int, pof: int, mode: str) -> tuple[int, int]:
    """(T_ox, T_oy) by Eq. 1 under ``mode``; TileError if even 1×1 does not fit.
    Remembered per argument set: the layers of a network repeat a few
    geometries.

    Only tiles that fit are weighed: T_ox up to the widest whose input fits
    beside one row of T_oy = 1 (likewise T_oy), and for each T_ox only the
    T_oy that fit with it, a band of rows at a time, so time and memory follow
    the input buffer, not the feature map."""
    aware = mode == "dilation-aware"
    words_per_pixel = geom.ci // geom.groups
    one_x = int(footprint(1, geom.sx, geom.kx, geom.dx, aware))
    one_y = int(footprint(1, geom.sy, geom.ky, geom.dy, aware))
    if one_x * one_y * words_per_pixel > buffer_words:
        raise TileError(
            f"even a 1×1 tile needs {one_x * one_y * words_per_pixel} words of input buffer "
            f"({one_x * one_y} pixels × {words_per_pixel} channels), but the target has {buffer_words}"
        )
    if mode == "none" or (mode == "paper" and geom.dilated):
        return (1, 1)
    pixels = buffer_words // words_per_pixel  # input pixels a tile may read
    tix = _fitting(geom.wo, pixels // one_y, geom.sx, geom.kx, geom.dx, aware)
    tiy = _fitting(geom.ho, pixels // one_x, geom.sy, geom.ky, geom.dy, aware)
    columns = np.searchsorted(tiy, pixels // tix, side="right")  # T_oy that fit with each T_ox
    best, row = None, 0
    while row < len(tix):
        stop = min(len(tix), row + max(1, _CHUNK // int(columns[row])))
        band = _best_in_band(geom, tix[row:stop], tiy[: columns[row]], row, pixels)
        best = band if best is None or band[0] > best[0] else best
        row = stop
    return best[1]


def _fitting(extent: int, most: int, s: int, k: int, d: int, aware: bool) -> np.ndarray:
    """Input footprints of tiles 1, 2, … along one axis, as far as they are
    at most ``most`` pixels (and the tile at most ``extent``)."""
    sizes = footprint(np.arange(1, min(extent, most) + 1, dtype=np.int64), s, k, d, aware)
    return sizes[: int(np.searchsorted(sizes, most, side="right"))]


def _best_in_band(geom: ConvGeometry, tix: np.ndarray, tiy: np.ndarray, first_row: int, pixels: int):
    """The best tile with T_ox in first_row + 1 … first_row + len(tix) and its
    ranking key (ratio, fewer reads, larger, wider), exact in integers."""
    tox = np.arange(first_row + 1, first_row + len(tix) + 1, dtype=np.int64)[:, None]
    toy = np.arange(1, len(tiy) + 1, dtype=np.int64)[None, :]
    area_in = tix[:, None] * tiy[None, :]
    feasible = area_in <= pixels
    area_out = tox * toy
    ratio = np.where(feasible, area_out / area_in, -1.0)
    i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    ties = feasible & (area_out * area_in[i, j] == area_out[i, j] * area_in)  # exact, in integers
    reads = _ceil(geom.wo, tox) * _ceil(geom.ho, toy) * area_in
    reads = np.where(ties, reads, np.iinfo(np.int64).max)
    ties &= reads == reads.min()
    size = np.where(ties, area_out, -1)
    ties &= size == size.max()
    x, y = max(np.argwhere(ties).tolist(), key=lambda c: (c[0], c[1]))
    out, read_in = int(area_out[x, y]), int(area_in[x, y])
    key = (Fraction(out, read_in), -int(reads[x, y]), out, x + first_row, y)
    return key, (x + first_row + 1, y + 1)


def input_tile(geom: ConvGeometry, tile: tuple[int, int], mode: str) -> tuple[int, int]:
    """(T_ix, T_iy) of a tile."""
    aware = mode == "dilation-aware"
    return (
        int(footprint(tile[0], geom.sx, geom.kx, geom.dx, aware)),
        int(footprint(tile[1], geom.sy, geom.ky, geom.dy, aware)),
    )


def compute_cycles(geom: ConvGeometry, unroll: Unroll) -> int:
    """Eq. 2, per group, times the groups."""
    ci, co = geom.ci // geom.groups, geom.co // geom.groups
    per_group = (
        _ceil(ci, unroll.pif) * _ceil(geom.kx, unroll.pkx) * _ceil(co, unroll.pof) * _ceil(geom.ky, unroll.pky)
    )
    return geom.groups * per_group * geom.wo * geom.ho


def dram_accesses(
    geom: ConvGeometry, tile: tuple[int, int], in_tile: tuple[int, int], pof: int
) -> tuple[int, int, int]:
    """Eq. 3 and 4: (input, weight, output) DRAM accesses in words."""
    ci, co = geom.ci // geom.groups, geom.co // geom.groups
    tiles = _ceil(geom.wo, tile[0]) * _ceil(geom.ho, tile[1])
    dram_in = geom.groups * tiles * _ceil(co, pof) * in_tile[0] * in_tile[1] * ci
    dram_w = geom.kx * geom.ky * ci * geom.co
    return dram_in, dram_w, geom.wo * geom.ho * geom.co
