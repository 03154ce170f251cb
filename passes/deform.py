"""``deform``: decide the variant of every deformable layer (CoDeNet, EMC2
2019) and size its line buffer.

For each ``dconv`` the pass takes the layer's attributes, overridden by the
rules of the network's ``deform`` section, overridden by the pass's own
options (``deform{bound=auto,shape=square,round=true}``; ``keep`` leaves an
option as the layer and its directives set it); then derives the bound when
it is ``auto`` — the largest the target's line buffer allows, at most the
largest the feature map makes useful (``linebuffer.useful_bound``) — or
checks that the bound given fits (``ir/linebuffer.py``: R = ⌊Buf_in /
(W_i·C_i/g)⌋ rows, at most the target's ``line_buffer``; "full" needs
(k − 1)·d + 1 + 2·⌈b⌉ rows, "square" 2·⌈(k − 1)·d·b/2⌉ + 1).  It writes the variant back into the
layer's attributes (so MACs, the printed ``.seg`` and every backend follow
it) and the decision under the ``deform`` annotation (``ir/dconv_plan.py``):
bound, shape, round, whether the bound was derived, the rows needed and the
rows available.

A bound that cannot fit, or a deformable layer without a target, is an error
located at the directive or layer that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import OPS, Diagnostic, Graph, Node, SegError
from ..ir.dconv_plan import PlanError, Setting, blame, dconv_plan, layer_settings
from .base import Pass, PassResult

__all__ = ["DeformPass", "current_plan", "deform_annotation"]


def _bound_option(text: str) -> object:
    if text in ("auto", "none"):
        return text
    if not text.isdigit():
        raise ValueError(f"bound must be a non-negative integer (rows), auto, none or keep, got '{text}'")
    return int(text)


def _shape_option(text: str) -> object:
    if text not in ("full", "square"):
        raise ValueError(f"unknown shape '{text}' (shapes: full, square, or keep)")
    return text


def _round_option(text: str) -> object:
    if text not in ("true", "false"):
        raise ValueError(f"round must be true, false or keep, got '{text}'")
    return text == "true"


_PARSE = {"bound": _bound_option, "shape": _shape_option, "round": _round_option}


def deform_annotation(graph: Graph, node: Node, pipeline: dict | None = None) -> dict:
    """The ``deform`` annotation of a dconv with its directives and ``pipeline``
    options applied (SegError located at what asked for an impossible variant)."""
    settings = layer_settings(graph, node, pipeline)
    try:
        return dconv_plan(graph, node, graph.target, settings)
    except PlanError as err:
        where = blame(node, settings, err.option)
        prefix = "" if where is not None or settings[err.option].origin != "pipeline" else "deform pass: "
        raise SegError(Diagnostic(prefix + str(err), where)) from None


def _needs_target(graph: Graph, node: Node) -> Diagnostic:
    return Diagnostic(
        f"layer '{node.name}' is deformable and the deform pass needs a target to size its line buffer: "
        f"write 'network {graph.name} on TARGET' or give --target", node.span,
    )


@dataclass(frozen=True)
class DeformPass(Pass):
    name = "deform"
    doc = "bound deformable offsets to the target's line buffer; set the sampling shape and rounding"
    bound: str = "keep"
    shape: str = "keep"
    round: str = "keep"

    def options(self) -> dict:
        """The options that override the layers' settings, parsed."""
        chosen = {}
        for key in ("bound", "shape", "round"):
            text = getattr(self, key)
            if text != "keep":
                try:
                    chosen[key] = _PARSE[key](text)
                except ValueError as err:
                    raise SegError(Diagnostic(f"deform pass: {err}")) from None
        return chosen

    def run(self, graph: Graph) -> PassResult:
        pipeline = self.options()
        nodes = [n for n in graph.nodes() if n.op == "dconv"]
        if nodes and graph.target is None:
            raise SegError([_needs_target(graph, n) for n in nodes])
        errors: list[Diagnostic] = []
        changed = False
        for node in nodes:
            try:
                plan = deform_annotation(graph, node, pipeline)
            except SegError as err:
                errors.extend(err.diagnostics)
                continue
            bound = None if plan["bound"] is None else float(plan["bound"])
            attrs = OPS["dconv"].build_attrs({**node.attrs, "bound": bound, "shape": plan["shape"],
                                               "round": plan["round"]})
            changed |= attrs != dict(node.attrs)
            graph.replace(node.with_(attrs=attrs, annotations={**node.annotations, "deform": plan}))
        if errors:
            raise SegError(errors)
        notes = tuple(f"{n.name}: {_summary(graph.node(n.name).annotations['deform'])}" for n in nodes)
        return PassResult(graph, changed, notes)


def _summary(plan: dict) -> str:
    derived = f" (derived: {plan.get('limit') or 'line buffer'})" if plan["derived"] else ""
    bound = "unbounded" if plan["bound"] is None else f"bound {plan['bound']}{derived}"
    rows = "" if plan["rows"] is None else f", {plan['rows']} of {plan['rows_available']} line-buffer rows"
    return f"{plan['shape']}, {'rounded' if plan['round'] else 'bilinear'}, {bound}{rows}"


def current_plan(graph: Graph, node: Node) -> dict:
    """The variant ``tile`` and ``cost`` use for a dconv: the deform pass's
    decision (which it wrote into the attributes; re-checked against the
    graph's target now), else the layer's attributes and directives."""
    if "deform" not in node.annotations:
        return deform_annotation(graph, node)
    settings = {key: Setting(node.attrs[key]) for key in ("bound", "shape", "round")}
    try:
        plan = dconv_plan(graph, node, graph.target, settings)
    except PlanError as err:
        raise SegError(Diagnostic(str(err), node.span)) from None
    decided = node.annotations["deform"]
    return {**plan, "derived": decided.get("derived", False), "limit": decided.get("limit")}
