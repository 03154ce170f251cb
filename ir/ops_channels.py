"""Ops that select or reorder channels: ``slice`` and ``shuffle``.

* ``slice(start, end)``: channels ``[start, end)`` of its input (NumPy's
  ``x[:, start:end]`` with ``0 ≤ start < end ≤ C``).  A node of the IR has
  one output, so a split into parts is several slices of one tensor (the
  ``.seg`` call ``split`` makes them; ONNX ``Split`` imports as them).
* ``shuffle(groups=g)``: ShuffleNet's channel shuffle: the channels, seen as
  a ``[g, C/g]`` matrix, transposed; output channel ``i`` is input channel
  ``(i mod g)·(C/g) + ⌊i/g⌋``.

Neither does arithmetic: no MACs, no parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .attrs import Attr
from .opdef import Attrs
from .shapes import Shape, ShapeError

__all__ = ["SHUFFLE_ATTRS", "SLICE_ATTRS", "shuffle_shape", "shuffled_channel", "slice_normalize", "slice_shape"]

SLICE_ATTRS = (
    Attr("start", "int", minimum=0, doc="first channel taken"),
    Attr("end", "int", minimum=1, doc="one past the last channel taken"),
)
SHUFFLE_ATTRS = (Attr("groups", "int", minimum=1, doc="channel groups interleaved"),)


def slice_normalize(attrs: dict[str, Any]) -> str | None:
    if attrs["start"] >= attrs["end"]:
        return f"slice start ({attrs['start']}) must be below its end ({attrs['end']})"
    return None


def slice_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    x, = inputs
    if attrs["end"] > x.c:
        raise ShapeError(f"slice end {attrs['end']} is beyond the input's {x.c} channels")
    return Shape(attrs["end"] - attrs["start"], x.h, x.w)


def shuffle_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    x, = inputs
    if x.c % attrs["groups"]:
        raise ShapeError(f"shuffle groups={attrs['groups']} must divide the input channels ({x.c})")
    return x


def shuffled_channel(i: int, channels: int, groups: int) -> int:
    """The input channel that output channel ``i`` of a shuffle carries."""
    return (i % groups) * (channels // groups) + i // groups
