"""Per-layer activation formats of the HLS backend, from calibrated ranges.

Each layer that computes (views share their operand's format, see
``memory``) gets, at its activation width (``ir.quant.widths``: its
``quantize`` format, else the target's word), the most fraction bits that
hold its calibrated range with ``headroom`` spare bits (``fixed.frac_bits``).
The range is the layer's ``<layer>.act_range`` from the weights when
present (post-training calibration), else the largest magnitude its output
reached on the calibration input.  An integer-scheme layer's words keep
these fraction bits as a nominal format; their value is r / q_max
(``scales``).  A layer's fraction bits may be fixed (the
``quantize`` section's ``a_frac``, or ``fixed``); a format that would
overflow on the calibration input is an error naming the layer.
"""

from __future__ import annotations

import difflib
import math

from ...ir import Diagnostic, Graph, SegError
from ...ir.quant import widths
from .fixed import FRAC_MAX, FRAC_MIN, frac_bits, holds

__all__ = ["activation_formats"]


def _largest(frac: int, bits: int) -> float:
    return ((1 << (bits - 1)) - 1) * 2.0**-frac


def _fixed(graph: Graph, name: str, frac: int, maximum: float, owner: dict[str, str]) -> int:
    node = graph.node(name)
    if owner[name] != name:
        raise SegError(Diagnostic(
            f"layer '{name}' ({node.op}) has no format of its own: it is a view of '{owner[name]}'; "
            f"set the format of '{owner[name]}'"
        ))
    if not FRAC_MIN <= frac <= FRAC_MAX:
        raise SegError(Diagnostic(f"layer '{name}': {frac} fraction bits is outside [{FRAC_MIN}, {FRAC_MAX}]"))
    bits = widths(graph, node)[1]
    if not holds(frac, maximum, bits):
        best = frac_bits(maximum, 0, bits)
        raise SegError(Diagnostic(
            f"layer '{name}': {frac} fraction bits would overflow its {bits}-bit words: they hold magnitudes up "
            f"to {_largest(frac, bits):.6g}, the calibration input reaches {maximum:.6g} "
            f"(at most {best} fraction bits fit)", node.span,
        ))
    return frac


def _unknown(graph: Graph, name: str) -> SegError:
    close = difflib.get_close_matches(name, [n.name for n in graph.nodes()], n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return SegError(Diagnostic(f"no layer '{name}' in network '{graph.name}' to set a fixed-point format for{hint}"))


def activation_formats(graph: Graph, owner: dict[str, str], maxima: dict[str, float], headroom: int,
                       fixed: dict[str, int] | None = None) -> dict[str, int]:
    """Fraction bits of every layer that owns its output."""
    fixed = {**{n.name: n.quant.a_frac for n in graph.nodes() if n.quant is not None and n.quant.a_frac is not None},
             **(fixed or {})}
    for name in fixed:
        if name not in graph:
            raise _unknown(graph, name)
    formats: dict[str, int] = {}
    for node in graph.nodes():
        name = node.name
        if name in fixed:
            formats[name] = _fixed(graph, name, fixed[name], maxima.get(name, 0.0), owner)
            continue
        if owner[name] != name:
            continue
        maximum, bits = maxima.get(name, 0.0), widths(graph, node)[1]
        frac = frac_bits(maximum, headroom, bits)
        if frac is None:
            reach = f"{maximum:.6g}" if math.isfinite(maximum) else "a non-finite value"
            raise SegError(Diagnostic(
                f"layer '{name}': its output reaches {reach} on the calibration input, beyond {bits}-bit fixed "
                f"point (at most {_largest(FRAC_MIN + headroom, bits):.6g} with {headroom} bits of headroom)",
                node.span,
            ))
        formats[name] = frac
    return formats
