"""Eq. 1 and 3 of the hardware model (``passes/hwmodel.py``) in the cases
the other hardware tests leave out, worked out by hand: dilation-aware
footprints at strides above 1, the best tile found in the first of several
bands of candidates, and the input traffic of a grouped layer."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from test_hwmodel import _cost

import segc
from segc import SegError
from segc.passes.hwmodel import ConvGeometry, best_tile, footprint, input_tile


@pytest.mark.parametrize(("s", "k", "d", "expected"), [
    # stride 2, k 3, dilation 2: taps o·2 + {0, 2, 4} are the even positions 0 … 2(t − 1) + 4: t + 2
    (2, 3, 2, [3, 4, 5, 6, 7]),
    # stride 2, k 3, dilation 1: no gaps, (t − 1)·2 + 3
    (2, 3, 1, [3, 5, 7, 9, 11]),
    # stride 3, k 2: windows {3o, 3o + 1} never meet: k·t
    (3, 2, 1, [2, 4, 6, 8, 10]),
    # stride 1, k 3, dilation 3: k·t until t = d closes the gaps, then (t − 1) + 6 + 1
    (1, 3, 3, [3, 6, 9, 10, 11]),
])
def test_dilation_aware_footprint_by_hand(s, k, d, expected):
    assert footprint(np.arange(1, 6), s, k, d, True).tolist() == expected
    assert int(footprint(2, s, k, d, True)) == expected[1]  # a tile of two outputs alone
    assert footprint(np.arange(1, 6), s, k, d, False).tolist() == [(t - 1) * s + k for t in range(1, 6)]


def test_the_best_tile_of_the_first_band_is_kept():
    """1×1, C_i = 1 on a 1100 (rows) × 1031 (columns) map; 2200 B = 1100 words.
    Every tile has reuse 1 (Eq. 1 ties), so the fewest reads (Eq. 3) decide:
    ⌈1031/T_ox⌉·⌈1100/T_oy⌉·T_ox·T_oy is 1031·1100 only where T_ox divides 1031
    (a prime: 1 or 1031) and T_oy divides 1100; of those that fit (T_ox·T_oy ≤
    1100), 1 × 1100 is the largest.  Candidates: T_ox up to 1031, with T_oy up to
    1100 for T_ox = 1, more than the 2^20 weighed at once, so T_ox 1-953 and
    954-1031 are weighed apart; the second band's best, 1031 × 1, is worse."""
    cost = _cost("input x: [1, 1100, 1031]\n y = x -> conv(2, k=1)", buffer="2200 B")
    assert cost["tile"] == [1, 1100]
    assert cost["dram_in"] == 1031 * 1 * 1 * 1 * 1100 * 1  # tiles · ⌈2/32⌉ · T_ix·T_iy · C_i


def test_grouped_layer_reads_its_input_per_group():
    # depthwise 3×3 over 64 channels, 8×8, 128 KiB: each group's 10×10 input (1 word a pixel) in one
    # tile, Eq. 3 per group: 64 groups · 1 tile · ⌈1/32⌉ · 10·10 · 1 = 6400 words
    cost = _cost("input x: [64, 8, 8]\n y = x -> conv(64, k=3, groups=64)")
    assert (cost["tile"], cost["input_tile"]) == ([8, 8], [10, 10])
    assert cost["dram_in"] == 64 * 1 * 1 * 10 * 10 * 1
    # two groups of 4 → 8 channels: ⌈(8/2)/32⌉ = 1 pass of output channels; 10·10·4 words a group
    grouped = _cost("input x: [8, 8, 8]\n y = x -> conv(8, k=3, groups=2)")
    assert grouped["dram_in"] == 2 * 1 * 1 * 10 * 10 * 4


def _eq1_by_enumeration(wo: int, ho: int, k: int, pixels: int) -> list[int]:
    """Eq. 1 at stride 1 for C_i = 1 by trying every tile: the best reuse, then
    the fewest reads (Eq. 3), then the larger tile, then the wider."""
    def key(tox, toy):
        tix, tiy = tox + k - 1, toy + k - 1
        reads = -(-wo // tox) * -(-ho // toy) * tix * tiy
        return Fraction(tox * toy, tix * tiy), -reads, tox * toy, tox
    fits = [(x, y) for x in range(1, wo + 1)
            for y in range(1, min(ho, pixels // (x + k - 1) - k + 1) + 1)]  # (y + k − 1)·(x + k − 1) ≤ pixels
    return list(max(fits, key=lambda tile: key(*tile)))


def test_a_map_wider_than_the_buffer_holds_in_one_band():
    """3×3, C_i = 1, 1000 rows × 1100 columns, 6000 B = 3000 words: no tile
    wider than 998 fits beside a 3-row window, and the candidates (998 widths
    by up to 998 heights) are weighed in one band.  The best: 58 × 48, whose
    60 × 50 input fills the buffer, reuse 2784/3000 = 0.928."""
    cost = _cost("input x: [1, 1000, 1100]\n y = x -> conv(2, k=3)", buffer="6000 B")
    assert cost["tile"] == _eq1_by_enumeration(1100, 1000, 3, 3000)


def test_a_static_tile_reads_the_gaps_of_a_strided_window():
    # 1×1 at stride 2 on 16 × 8 × 8: the static tile is the whole 4 × 4 output, and (paper's Eq. 1 input
    # tile) it reads the 3 skipped pixels between its 4 taps too: (4 − 1)·2 + 1 = 7 a side
    cost = _cost("input x: [16, 8, 8]\n y = x -> conv(16, k=1, stride=2)", mode="static")
    assert (cost["tile"], cost["input_tile"]) == ([4, 4], [7, 7])
    assert cost["dram_in"] == 1 * 1 * 7 * 7 * 16  # one tile · ⌈16/32⌉ · T_ix·T_iy · C_i


def test_the_buffer_error_counts_pixels_and_channels():
    # a 1×1 tile of a 3×3 conv over 64 channels: 3·3 = 9 pixels × 64 = 576 words; 1 KiB of 16-bit words = 512
    with pytest.raises(SegError) as err:
        _cost("input x: [64, 4, 4]\n y = x -> conv(8, k=3)", buffer="1 KiB")
    assert err.value.diagnostics[0].message == (
        "layer 'y': even a 1×1 tile needs 576 words of input buffer (9 pixels × 64 channels), but the target has 512")


def _runtime(text: str) -> str:
    """``text`` as a new string object, as a mode read from a command line is (not the interned literal)."""
    return "".join(list(text))


def test_modes_are_compared_by_value_not_identity():
    # 3x3 at dilation 2 on 16x16, C_i = 1, 400 or 60 words: the paper's Eq. 1 does not tile dilated layers,
    # the dilation-aware footprint does (1x1: 3 pixels a side, not 5)
    dilated = ConvGeometry(1, 8, 3, 3, 1, 1, 2, 2, 1, 16, 16)
    assert best_tile.__wrapped__(dilated, 400, 1, _runtime("paper")) == (1, 1)
    assert best_tile.__wrapped__(dilated, 400, 1, _runtime("none")) == (1, 1)
    # dilation-aware: a side of t outputs reads 3 pixels for t = 1, else t + 4 (taps o + {0, 2, 4});
    # Eq. 1 by enumeration over the tiles whose input fits 60 pixels (with the paper's t + 4: 4x3)
    def side(t):
        return 3 if t == 1 else t + 4

    def key(tile):
        tox, toy = tile
        reads = -(-16 // tox) * -(-16 // toy) * side(tox) * side(toy)
        return Fraction(tox * toy, side(tox) * side(toy)), -reads, tox * toy, tox, toy
    fits = [(x, y) for x in range(1, 17) for y in range(1, 17) if side(x) * side(y) <= 60]
    assert best_tile.__wrapped__(dilated, 60, 1, _runtime("dilation-aware")) == max(fits, key=key) == (16, 1)
    assert input_tile(dilated, (1, 1), _runtime("dilation-aware")) == (3, 3)


def test_a_one_by_one_tile_may_fill_the_buffer_exactly():
    # 3x3 over 64 channels: 9 pixels × 64 = 576 words, exactly the buffer
    full = ConvGeometry(64, 8, 3, 3, 1, 1, 1, 1, 1, 4, 4)
    assert best_tile.__wrapped__(full, 576, 1, "paper") == (1, 1)


# 1x1, C_i = 1, a 3-wide and 4-high map, 4 words: every tile reuses its input once (Eq. 1 ties); the
# fewest reads (Eq. 3: 12, where T_ox divides 3 and T_oy divides 4) tie at 1x1, 1x2, 1x4 and 3x1; the
# largest of them, 1x4, wins (not the widest, 3x1)
TIED = ConvGeometry(1, 2, 1, 1, 1, 1, 1, 1, 1, 3, 4)
# the same on a 4x4 map: 1x4, 2x2 and 4x1 tie on reuse, reads and size; the widest wins
SQUARE = ConvGeometry(1, 2, 1, 1, 1, 1, 1, 1, 1, 4, 4)


def test_among_tied_tiles_the_largest_then_the_widest_wins():
    assert best_tile.__wrapped__(TIED, 4, 1, "paper") == (1, 4)
    assert best_tile.__wrapped__(SQUARE, 4, 1, "paper") == (4, 1)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
def test_bands_of_any_size_give_the_same_tile(monkeypatch, chunk):
    """The best of each band is compared with the best so far by the whole key (reuse, fewer reads,
    larger, wider, higher), so weighing 1, 2, 3 or 5 candidates at a time changes nothing."""
    from segc.passes import hwmodel

    layer = ConvGeometry(1, 2, 3, 3, 1, 1, 1, 1, 1, 30, 20)
    monkeypatch.setattr(hwmodel, "_CHUNK", chunk)
    assert best_tile.__wrapped__(TIED, 4, 1, "paper") == (1, 4)
    assert best_tile.__wrapped__(SQUARE, 4, 1, "paper") == (4, 1)
    assert list(best_tile.__wrapped__(layer, 60, 1, "paper")) == _eq1_by_enumeration(30, 20, 3, 60)


def test_geometry_of_a_layer_with_an_unhashable_attribute_and_integer_macs():
    graph = segc.loads("network n {\n    input x: [4, 6, 6]\n    output y = x -> conv(8, k=3, groups=2)\n}\n")
    node = graph.node("y")
    listed = node.with_(attrs={**node.attrs, "k": list(node.attrs["k"])})  # a list: not a cache key
    geometry = ConvGeometry.of(graph, node)
    assert ConvGeometry.of(graph, listed) == geometry
    assert geometry.macs == 6 * 6 * 8 * (4 // 2) * 3 * 3 and type(geometry.macs) is int  # "same" padding: 6x6
    # depthwise: one input and one output channel per group, more than one group
    assert not geometry.depthwise and not ConvGeometry(4, 4, 3, 3, 1, 1, 1, 1, 2, 6, 6).depthwise
    assert ConvGeometry(4, 4, 3, 3, 1, 1, 1, 1, 4, 6, 6).depthwise and not ConvGeometry(1, 1, 3, 3, 1, 1, 1, 1, 1, 6,
                                                                                          6).depthwise


def test_a_buffer_that_holds_one_window_exactly():
    # a 3x1 kernel over one channel and 3 words: one 1x1 tile (3 pixels) and nothing more
    window = ConvGeometry(1, 2, 3, 1, 1, 1, 1, 1, 1, 4, 4)
    assert best_tile.__wrapped__(window, 3, 1, "paper") == (1, 1)
    assert best_tile.__wrapped__(window, 4, 1, "paper") == (2, 1)  # two outputs wide: 4 x 1 pixels
