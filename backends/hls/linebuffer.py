"""The input rows a bounded deformable layer's output row can sample: the
window its on-chip line buffer holds (CoDeNet, EMC2 2019).

Tap i of output row y samples row y·s − p + i·d + Δy (positions in
F = f_off + 1 fraction bits, as ``segc_deform.h`` forms them).  Offsets are
clamped to [BOUND_LO, BOUND_HI] (in f_off bits), so Δy is bounded:

* "full": Δy = 2v, or round_half_even(v)·2^F when rounded, for v in the clamp;
* "square": Δy = (2i − (k − 1))·(s − 2^f_off)·d for a scale s in the clamp, or,
  rounded, round_half_even((2i − (k − 1))·round_half_even((s − 2^f_off)·d), 1)·2^F.

Both are monotonic in v (s), so the extremes over taps and the two clamp ends
give every position's range [p_lo, p_hi].  Bilinear sampling reads rows
⌊p⌋ and, when p is not a whole row, ⌊p⌋ + 1 (a row of weight zero is not
read), so rows ⌊p_lo⌋ … ⌈p_hi⌉; a rounded sample reads row p only.  The
window is relative to y·s − p (stride and padding only move it), so an
output row needs ``rows`` consecutive input rows starting ``first`` rows
from there.
"""

from __future__ import annotations

from ...ir import Graph, Node
from ...ir.dconv_plan import PlanError, Setting, dconv_plan

__all__ = ["planned_rows", "round_half_even", "sampled_rows"]


def round_half_even(value: int, bits: int) -> int:
    """value·2^-bits rounded half to even (``segc::round_even``)."""
    if bits <= 0:
        return value << -bits
    one, floor = 1 << bits, value >> bits
    low, half = value & (one - 1), (1 << bits) >> 1
    if low != half:
        return floor + (low > half)
    return floor + (floor & 1)


def _offset(config: dict, i: int, clamp: int) -> int:
    """Δy of tap row i at the clamp end ``clamp`` (F = FRAC_OFF + 1 bits)."""
    f, rounded = config["FRAC_OFF"], config["ROUND"]
    if not config["SQUARE"]:
        return round_half_even(clamp, f) << (f + 1) if rounded else 2 * clamp
    step, tap = (clamp - (1 << f)) * config["DH"], 2 * i - (config["KH"] - 1)
    if rounded:
        return round_half_even(tap * round_half_even(step, f), 1) << (f + 1)
    return tap * step


def sampled_rows(config: dict) -> tuple[int, int]:
    """(first, rows): the input rows one output row of a bounded deformable
    layer reads, relative to row y·SH − PH."""
    frac = config["FRAC_OFF"] + 1
    positions = [(i * config["DH"] << frac) + _offset(config, i, clamp)
                 for i in range(config["KH"]) for clamp in (config["BOUND_LO"], config["BOUND_HI"])]
    low, high = min(positions) >> frac, max(positions) >> frac
    if not config["ROUND"] and max(positions) & ((1 << frac) - 1):
        high += 1
    return low, high - low + 1


def planned_rows(graph: Graph, node: Node) -> int | None:
    """The line-buffer rows the deform pass gives the layer (its ``deform``
    annotation, else its plan for the layer's variant; None if it has none)."""
    plan = node.annotations.get("deform")
    if plan is None:
        settings = {key: Setting(node.attrs[key]) for key in ("bound", "shape", "round")}
        try:
            plan = dconv_plan(graph, node, graph.target, settings)
        except PlanError:
            return None
    return plan.get("rows")
