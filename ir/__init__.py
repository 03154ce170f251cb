"""segc's graph IR: layers, ops, shapes, targets, diagnostics.

This package imports none of segc's other packages, and never torch, onnx or
lark.
"""

from .attrs import Attr, AttrError
from .diagnostics import Diagnostic, Note, SegError, SourceFile, Span, render
from .directives import Directives, KeepRule, PruneDirectives, PruneRule
from .graph import OUTPUT_PREFIX, Graph, Node
from .names import NAME_RE, check_names, name_problem, shown
from .opdef import Coupling, OpDef
from .ops import OPS, conv_pads, offset_channels
from .shapes import Shape, ShapeError
from .summary import LayerSummary, summarize
from .target import TARGET_FIELDS, DepthwiseEngine, DspPacking, ElementwiseUnit, Target, Unroll, target_problems

__all__ = [
    "NAME_RE",
    "OPS",
    "OUTPUT_PREFIX",
    "TARGET_FIELDS",
    "Attr",
    "AttrError",
    "Coupling",
    "DepthwiseEngine",
    "Diagnostic",
    "Directives",
    "DspPacking",
    "ElementwiseUnit",
    "Graph",
    "KeepRule",
    "LayerSummary",
    "Node",
    "Note",
    "OpDef",
    "PruneDirectives",
    "PruneRule",
    "SegError",
    "Shape",
    "ShapeError",
    "SourceFile",
    "Span",
    "Target",
    "Unroll",
    "check_names",
    "conv_pads",
    "name_problem",
    "offset_channels",
    "render",
    "shown",
    "summarize",
    "target_problems",
]
