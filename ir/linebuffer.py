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
kernel's own reach (k − 1)·d between its first and last tap:

* shape "full" (offsets added to every tap): (k − 1)·d + 1 + 2·⌈b⌉;
* shape "square" (tap (i, j) at the centre + (i − (k−1)/2)·s·d, one scale s
  with |s| ≤ b per pixel): 2·⌈(k − 1)·d·b / 2⌉ + 1.

The largest bound R rows allow is therefore ⌊(R − 1 − (k − 1)·d) / 2⌋ for
"full" — (R − 1)/2 rows each way less the kernel's own reach: CoDeNet's
15-row buffer reaches ±7 rows, ±6 beyond a 3×3 kernel — and
⌊(R − 1) / ((k − 1)·d)⌋ for "square" (7 for a 3×3 kernel in 15 rows).
Stride does not enter: the buffer drops s rows and reads s new ones as the
window moves down one output row, as CoDeNet's does.  Horizontal offsets are
free: a row holds the whole input width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .shapes import Shape
from .target import Target

__all__ = ["LineBuffer", "kernel_reach", "largest_bound", "line_buffer", "rows_needed", "size_text"]


def kernel_reach(k: int, dilation: int) -> int:
    """Rows between the first and the last tap of a kernel column: (k − 1)·d."""
    return (k - 1) * dilation


def rows_needed(k: int, dilation: int, shape: str, bound: float) -> int:
    """Input rows one output row reads with offsets (or scales) bounded by ``bound``."""
    reach = kernel_reach(k, dilation)
    if shape == "square":
        return 2 * math.ceil(reach * bound / 2) + 1
    return reach + 1 + 2 * math.ceil(bound)


def largest_bound(k: int, dilation: int, shape: str, rows: int) -> int | None:
    """The largest integer bound whose rows fit in ``rows``; None if none does
    (the kernel alone is taller, or a square window of scale 1 is)."""
    reach = kernel_reach(k, dilation)
    if shape == "square":
        if reach == 0:  # a 1-row kernel: every scale reads one row; 1 is a plain conv's
            return 1 if rows >= 1 else None
        bound = (rows - 1) // reach
        return bound if bound >= 1 else None
    bound = (rows - 1 - reach) // 2
    return bound if bound >= 0 else None


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


def line_buffer(target: Target, x: Shape, groups: int) -> LineBuffer:
    """The line buffer a layer with input ``x`` and ``groups`` groups gets."""
    channels = x.c // groups
    rows = target.input_buffer_words // (x.w * channels)
    capped = target.line_buffer_rows is not None and target.line_buffer_rows < rows
    if capped:
        rows = target.line_buffer_rows  # type: ignore[assignment]
    return LineBuffer(rows, x.w, channels, capped, target.word_bits, target.input_buffer_bits)
