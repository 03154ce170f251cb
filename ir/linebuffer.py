"""The line buffer of a bounded deformable convolution (CoDeNet, EMC2 2019).

Bounding the offsets of a ``dconv`` to [−b, b] lets its input stream through
an on-chip line buffer: every sample an output row needs lies in a band of
rows around it.  The buffer is the target's input buffer organised as rows of
the layer's input, one row holding W_i pixels × C_i/g channels (one group's
channels: a grouped or depthwise layer streams its groups one after another);
a target's ``line_buffer`` field, when given, caps the rows (CoDeNet's engine
has 15).  So a layer gets

    R = ⌊Buf_in / (W_i · C_i/g)⌋ rows (words; at most ``line_buffer``).

Rows an output row needs, with vertical kernel k, dilation d and the
kernel's own reach (k − 1)·d between its first and last tap, counted from the
positions the taps can sample (relative to the window's first row):

* shape "full": tap i at i·d + Δ, Δ ∈ [−b, b] (rounded: round(Δ));
* shape "square": tap i at i·d + (i − c)·(s − 1)·d, c = (k − 1)/2, one scale
  s ∈ [1 − b, b] per pixel (rounded: the step (s − 1)·d is rounded, then
  the offset), as ``backends/torch/deform.py`` samples;

each position monotonic in Δ (s), so the extremes lie at the clamp's ends.
A bilinear sample reads rows ⌊p⌋ and, when p is not a whole row, ⌊p⌋ + 1;
so the rows are ⌈max p⌉ − ⌊min p⌋ + 1 (rounding half to even, exactly in
rationals): (k − 1)·d + 1 + 2·⌈b⌉ for "full" and 2·⌈(k − 1)·d·b / 2⌉ + 1
for "square" when k is odd and b whole; more for a rounded square step that
a fractional b lets round outward, or an even kernel whose centre falls
between rows.

The largest bound R rows allow is therefore ⌊(R − 1 − (k − 1)·d) / 2⌋ for
"full" — (R − 1)/2 rows each way less the kernel's own reach: CoDeNet's
15-row buffer reaches ±7 rows, ±6 beyond a 3×3 kernel — and
⌊(R − 1) / ((k − 1)·d)⌋ for "square" (7 for a 3×3 kernel in 15 rows).
Stride does not enter: the buffer drops s rows and reads s new ones as the
window moves down one output row, as CoDeNet's does.  Horizontal offsets are
free: a row holds the whole input width.

A bound is also capped by the feature map (:func:`useful_bound`): a clamped
sample beyond the map reads only padding (zero), so once every clamped sample
of every window lies outside the map, a larger bound changes nothing.  Along
an axis of extent H, with padding p before it, stride s, O output positions,
the windows start at rows y₀ from −p (the first) to (O − 1)·s − p (the last);
a sample at row y reads something only for −1 < y < H (bilinear reads ⌊y⌋
and ⌊y⌋ + 1; a rounded one reads y).  For "full", tap i's clamped samples sit
at y₀ + i·d ± b, all outside once the first window's first tap pushed down
lands at or past H and the last window's last tap pushed up at or above −1:

    b* = max(H + p, (O − 1)·s − p + (k − 1)·d + 1)

(H + ⌊(k − 1)·d / 2⌋ for "same" padding at stride 1: 17 for a 3×3 kernel on
16 rows).  It is not H − 1 − (k − 1)·d: a window at the map's edge starts in
the padding, and its first tap, b rows down, still reaches the last row for
any b < H + p.  For "square" every tap but the centre moves, to
y_c + j·s·d with s ∈ [1 − b, b] (j = i − c); b* is the smallest bound whose
extreme positions, from the same tap positions the rows are counted from,
all lie outside for every window.  The bound clamps both axes (full: Δy and
Δx; square: one scale), so the cap is the larger of the two axes'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .shapes import Shape
from .target import Target

__all__ = [
    "LineBuffer", "MapAxis", "kernel_reach", "largest_bound", "line_buffer", "rows_needed", "size_text", "useful_bound",
]


def kernel_reach(k: int, dilation: int) -> int:
    """Rows between the first and the last tap of a kernel column: (k − 1)·d."""
    return (k - 1) * dilation


def _positions(k: int, dilation: int, shape: str, bound: Fraction, rounded: bool) -> list[Fraction]:
    """Every tap's extreme sampling positions (rows, from the window's first)."""
    centre = Fraction(k - 1, 2)
    positions = []
    for i in range(k):
        for end in ((-bound, bound) if shape != "square" else (1 - bound, bound)):
            if shape != "square":
                shift = Fraction(round(end)) if rounded else end
            else:
                step = (end - 1) * dilation
                shift = (i - centre) * (round(step) if rounded else step)
                shift = Fraction(round(shift)) if rounded else shift
            positions.append(i * dilation + shift)
    return positions


def rows_needed(k: int, dilation: int, shape: str, bound: float, rounded: bool = False) -> int:
    """Input rows one output row reads with offsets (or scales) bounded by ``bound``."""
    positions = _positions(k, dilation, shape, Fraction(bound), rounded)
    return math.ceil(max(positions)) - math.floor(min(positions)) + 1


def largest_bound(k: int, dilation: int, shape: str, rows: int) -> int | None:
    """The largest integer bound whose rows fit in ``rows`` (binary search:
    the rows grow with the bound); None if none does (the kernel alone is
    taller, or a square window of scale 1 is)."""
    if shape == "square" and kernel_reach(k, dilation) == 0:  # a 1-row kernel: every scale reads one row
        return 1 if rows >= 1 else None
    low = 1 if shape == "square" else 0
    if rows_needed(k, dilation, shape, low) > rows:
        return None
    high = rows  # the rows exceed the bound: no larger bound can fit
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if rows_needed(k, dilation, shape, middle) <= rows else (low, middle - 1)
    return low


@dataclass(frozen=True)
class MapAxis:
    """One axis of a layer's windows over its input: the map's extent H, the
    kernel k and dilation d along it, and the row (column) where the first and
    the last window start, −p and (O − 1)·s − p."""

    extent: int
    k: int
    dilation: int
    first: int
    last: int

    def outside(self, position: Fraction) -> bool:
        """A sample ``position`` rows past each window's start reads padding in every window."""
        return self.first + position >= self.extent or self.last + position <= -1


def _moving(k: int, shape: str) -> list[int]:
    """The taps whose position depends on the bound (a square window's centre never moves)."""
    return [i for i in range(k) if shape != "square" or 2 * i != k - 1]


def useful_bound(axis: MapAxis, shape: str, rounded: bool = False) -> int:
    """b*: the smallest whole bound (≥ 1 for "square") that puts every clamped
    sample of every moving tap outside the map; any larger bound gives the
    same output (see the module's docstring for the formula)."""
    low = 1 if shape == "square" else 0
    taps = _moving(axis.k, shape)
    if not taps:
        return low

    def all_outside(bound: int) -> bool:
        positions = _positions(axis.k, axis.dilation, shape, Fraction(bound), rounded)
        return all(axis.outside(positions[2 * i + end]) for i in taps for end in (0, 1))

    high = 2 * (axis.extent + abs(axis.first) + abs(axis.last) + axis.k * axis.dilation) + 2
    while low < high:  # all_outside holds from b* on
        middle = (low + high) // 2
        low, high = (low, middle) if all_outside(middle) else (middle + 1, high)
    return low


@dataclass(frozen=True)
class LineBuffer:
    """The rows of one layer's input the target's buffer holds."""

    rows: int  # R
    width: int  # W_i
    channels: int  # C_i/g
    capped: bool  # R is the target's line_buffer field, not what the buffer size allows
    word_bits: int
    buffer_bits: int

    @property
    def row_words(self) -> int:
        return self.width * self.channels

    def row_text(self) -> str:
        return f"{self.width} pixels × {self.channels} channel{'s' if self.channels != 1 else ''}"

    def describe(self) -> str:
        if self.capped:
            return f"the target's line buffer has {self.rows} rows"
        return f"the {size_text(self.buffer_bits // 8)} input buffer holds {self.rows} such rows"

    def bytes_for(self, rows: int) -> int:
        return math.ceil(rows * self.row_words * self.word_bits / 8)


def size_text(size: int) -> str:
    """Bytes for people: ``147456`` → ``144 KiB``."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and (size % scale == 0 or size >= 10 * scale):
            return f"{size / scale:.4g} {unit}"
    return f"{size:,} bytes"


def line_buffer(target: Target, x: Shape, groups: int, word_bits: int | None = None) -> LineBuffer:
    """The line buffer a layer with input ``x`` of ``word_bits`` bits
    (default: the target's word) and ``groups`` groups gets."""
    channels = x.c // groups
    word_bits = word_bits or target.word_bits
    rows = target.input_buffer_bits // word_bits // (x.w * channels)
    capped = target.line_buffer_rows is not None and target.line_buffer_rows < rows
    if capped:
        rows = target.line_buffer_rows  # type: ignore[assignment]
    return LineBuffer(rows, x.w, channels, capped, word_bits, target.input_buffer_bits)
