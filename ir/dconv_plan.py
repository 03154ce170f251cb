"""The variant of a deformable layer and its line buffer: what the ``deform``
pass decides and writes under the ``deform`` annotation, and what ``segc
check`` checks for a ``deform`` section.

Settings come from three places, later ones winning option by option: the
layer's own attributes (``dconv(..., bound=6, shape="square")``), the rules
of the network's ``deform`` section (in order; the last matching rule that
sets an option wins), and the options of the ``deform`` pass.  A bound is a
number, ``"auto"`` (the largest the line buffer allows, ``linebuffer.py``,
and at most the largest the feature map makes useful, ``useful_bound``)
or ``"none"`` (unbounded: no line buffer, samples gathered from DRAM).

The annotation: ``{"bound", "shape", "round", "derived"}`` (the variant;
derived: the bound was "auto"), ``"limit"`` (what set a derived bound: "line
buffer" or "feature map"; None when not derived), ``"rows"`` (line-buffer
rows one output row needs, None when unbounded), ``"rows_available"`` and
``"row_words"`` (the buffer, see ``linebuffer.line_buffer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .diagnostics import Span
from .graph import Graph, Node
from .linebuffer import LineBuffer, MapAxis, largest_bound, line_buffer, rows_needed, size_text, useful_bound
from .ops import conv_pads
from .quant import widths
from .target import Target

__all__ = ["PlanError", "Setting", "blame", "dconv_plan", "dconv_variant", "layer_settings"]

OPTIONS = ("bound", "shape", "round")


class PlanError(ValueError):
    """A variant that cannot be built; ``option`` names the setting to blame."""

    def __init__(self, message: str, option: str):
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Setting:
    """One option's value and where it was set: "network", "directive" or
    "pipeline" (``where``: the directive rule, for its span)."""

    value: object
    origin: str = "network"
    where: object = None


def layer_settings(graph: Graph, node: Node, pipeline: dict[str, object] | None = None) -> dict[str, Setting]:
    """A layer's settings: its attributes, then its directives, then ``pipeline``."""
    merged = {name: Setting(node.attrs[name]) for name in OPTIONS}
    deform = graph.directives.deform
    for rule in deform.rules_for(node.name) if deform is not None else ():
        merged.update({name: Setting(value, "directive", rule) for name, value in rule.options})
    merged.update({name: Setting(value, "pipeline") for name, value in (pipeline or {}).items()})
    return merged


def blame(node: Node, settings: dict[str, Setting], option: str) -> Span | None:
    """Where the setting ``option`` was written: its directive, else the layer."""
    setting = settings[option]
    if setting.origin == "directive":
        return setting.where.value_span(option)  # type: ignore[union-attr]
    return node.span if setting.origin == "network" else None


def _map_axes(graph: Graph, node: Node) -> tuple[MapAxis, MapAxis]:
    """The vertical and horizontal axes of a dconv's windows over its input."""
    x, out = graph.input_shapes(node)[0], node.shape
    pads = conv_pads(node.attrs)
    return tuple(  # type: ignore[return-value]
        MapAxis(extent, k, d, -pad, (outputs - 1) * stride - pad)
        for extent, outputs, k, d, stride, pad in zip(
            (x.h, x.w), (out.h, out.w), node.attrs["k"], node.attrs["dilation"], node.attrs["stride"], pads,
        )
    )


def _bound(graph: Graph, node: Node, value: object, buffer: LineBuffer | None,
           rounded: bool) -> tuple[float | None, str | None]:
    """(bound, what limited it: None unless the bound was "auto") for a bound setting."""
    if value is None or value == "none":
        return None, None
    if value != "auto":
        return float(value), None  # type: ignore[arg-type]
    if buffer is None:
        raise PlanError(f"layer '{node.name}': bound=auto needs a target (the line buffer to fit)", "bound")
    fits = _auto(node, buffer)
    useful = max(useful_bound(axis, node.attrs["shape"], rounded) for axis in _map_axes(graph, node))
    return (fits, "line buffer") if fits <= useful else (useful, "feature map")


def _auto(node: Node, buffer: LineBuffer) -> int:
    k, d = node.attrs["k"][0], node.attrs["dilation"][0]
    bound = largest_bound(k, d, node.attrs["shape"], buffer.rows)
    if bound is None:
        need = (k - 1) * d + 1
        raise PlanError(
            f"layer '{node.name}': no offset bound fits: its kernel alone spans {need} rows of {buffer.row_text()} "
            f"({size_text(buffer.bytes_for(need))}), but {buffer.describe()}", "bound",
        )
    return bound


def _check_fit(node: Node, bound: float, shape: str, rounded: bool, buffer: LineBuffer,
               kernel: tuple[int, int]) -> int:
    k, d = kernel
    rows = rows_needed(k, d, shape, bound, rounded)
    if rows > buffer.rows:
        best = largest_bound(k, d, shape, buffer.rows)
        hint = f"the largest bound that fits is {best}" if best is not None else "no bound fits"
        raise PlanError(
            f"layer '{node.name}': bound {bound:g} needs {rows} line-buffer rows of {buffer.row_text()} "
            f"({size_text(buffer.bytes_for(rows))}), but {buffer.describe()}; {hint}", "bound",
        )
    return rows


def _check_variant(node: Node, shape: str, rounded: object, bound: float | None) -> None:
    kh, kw = node.attrs["k"]
    if shape not in ("full", "square"):
        raise PlanError(f"layer '{node.name}': unknown shape '{shape}' (shapes: full, square)", "shape")
    if shape == "square" and kh != kw:
        raise PlanError(f"layer '{node.name}': shape square needs a square kernel, the layer's is {kh}×{kw}",
                        "shape")
    if not isinstance(rounded, bool):
        raise PlanError(f"layer '{node.name}': round must be true or false, got {rounded!r}", "round")
    if bound is not None and (not math.isfinite(bound) or bound < 0):
        raise PlanError(f"layer '{node.name}': the bound must be a non-negative number, got {bound:g}", "bound")
    if shape == "square" and bound is not None and bound < 0.5:
        raise PlanError(f"layer '{node.name}': a square window needs a bound of at least 0.5 "
                        f"(scales in [1 − bound, bound]), got {bound:g}", "bound")


def dconv_plan(graph: Graph, node: Node, target: Target | None, settings: dict[str, Setting]) -> dict:
    """The ``deform`` annotation of a dconv, or PlanError."""
    shape, rounded = settings["shape"].value, settings["round"].value
    x = graph.input_shapes(node)[0]
    word_bits = widths(graph, graph.node(node.inputs[0]))[1]
    buffer = line_buffer(target, x, node.attrs["groups"], word_bits) if target is not None else None
    kernel = (node.attrs["k"][0], node.attrs["dilation"][0])
    _check_variant(node, shape, rounded, None)  # type: ignore[arg-type]
    variant = node.with_(attrs={**node.attrs, "shape": shape})
    bound, limit = _bound(graph, variant, settings["bound"].value, buffer, rounded)  # type: ignore[arg-type]
    _check_variant(node, shape, rounded, bound)  # type: ignore[arg-type]
    rows = None
    if bound is not None and buffer is not None:
        rows = _check_fit(node, bound, shape, rounded, buffer, kernel)  # type: ignore[arg-type]
    if bound is not None and bound == int(bound):
        bound = int(bound)
    return {
        "bound": bound, "shape": shape, "round": rounded, "derived": limit is not None, "limit": limit, "rows": rows,
        "rows_available": buffer.rows if buffer else None, "row_words": buffer.row_words if buffer else None,
    }


def dconv_variant(node: Node) -> dict:
    """The bound, shape and rounding a backend renders for a dconv: the deform
    pass's decision when the layer has one, else its attributes."""
    source = node.annotations.get("deform") or node.attrs
    bound = source["bound"]
    return {"bound": None if bound is None else float(bound), "shape": source["shape"], "round": source["round"]}
