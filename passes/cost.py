"""``cost``: per-layer latency of the accelerator of Mori et al. (Sec. 3.2),
written under the ``cost`` annotation of every layer.

Convolution and linear layers (rule ``conv``): Eq. 2 compute cycles, Eq. 3–4
DRAM words (tiles from the ``tile`` pass), latency_compute = cycles / clock,
latency_memory = words · word bytes / bandwidth, and Eq. 5: the layer takes
the larger, and is ``compute``- or ``memory``-bound accordingly.  Deformable
layers (``dconv``, also rule ``conv``) follow the rules of ``dconv_cost.py``
for their variant (bounded or not, full or square, rounded or bilinear,
depthwise): offset branch, sampler, line buffer or gathers; the words of
data-dependent gathers (``dram_gather``, part of ``dram_in``) count as time
the PE array waits, in latency_compute, not in latency_memory.

Every other op has an explicit rule, shown in reports:

* ``fused``: bn, relu, relu6, sigmoid, identity and maxpool right after a
  convolution (or after another fused op) run in the convolution's pipeline
  (batch norm is a pipelined unit, max-pooling follows the convolution;
  Mori et al. Sec. 3.1) and add no time;
* ``residual``: an add whose first pipelined input comes from a convolution
  adds in the pipeline and only reads its other inputs from DRAM;
* ``stream``: anything else that computes (upsample, average pooling, an
  unfused add, bn, activation or max-pooling) streams its inputs from DRAM
  and its output back, doing P_of elements per cycle, each element costing
  its taps (pooling window, 4 for bilinear, 1 for nearest, the number of
  inputs for add; a global average reads every input element);
* ``free``: input and output (data already in DRAM), concat (producers write
  their channel slices of one buffer) and flatten (a view) take no time.

Calibration (``segc calibrate``) may set ``overlap`` φ — a layer takes
max(c, m) + (1 − φ)·min(c, m) (φ = 1 is Eq. 5) — and fixed seconds per
layer of each rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Diagnostic, Graph, Node, SegError, Target
from .base import Pass, PassResult
from .dconv_cost import dconv_cost, dconv_reason, offset_branch
from .deform import current_plan
from .hwmodel import ConvGeometry, compute_cycles, dram_accesses
from .tile import TILED_OPS, require_target

__all__ = ["Calibration", "CostPass", "layer_cost", "offset_branch"]

_FUSABLE = ("bn", "relu", "relu6", "sigmoid", "identity", "maxpool")
_FREE = {"input": "already in DRAM", "output": "stays in DRAM", "concat": "producers write channel slices",
         "flatten": "a view"}


@dataclass(frozen=True)
class Calibration:
    """Parameters fitted to measurements (defaults: the paper's Eq. 5)."""

    overlap: float = 1.0
    fixed_s: dict = field(default_factory=dict)  # rule -> seconds per layer
    source: str = "uncalibrated (Eq. 5)"

    def latency(self, rule: str, compute_s: float, memory_s: float) -> float:
        slow, fast = max(compute_s, memory_s), min(compute_s, memory_s)
        return slow + (1 - self.overlap) * fast + self.fixed_s.get(rule, 0.0)


def _elements(shape) -> int:
    return shape.c * shape.h * shape.w


def _conv_like(graph: Graph, node: Node, target: Target) -> dict:
    tiling = node.annotations.get("tiling")
    if tiling is None:
        raise KeyError(node.name)
    if node.op == "dconv":
        plan = current_plan(graph, node)
        return {**dconv_cost(graph, node, target, plan, tiling), "reason": dconv_reason(plan)}
    geom = ConvGeometry.of(graph, node)
    tile, in_tile = tuple(tiling["tile"]), tuple(tiling["input_tile"])
    cycles = compute_cycles(geom, target.unroll)
    dram_in, dram_w, dram_out = dram_accesses(geom, tile, in_tile, target.unroll.pof)
    return {"rule": "conv", "cycles_compute": cycles, "dram_in": dram_in, "dram_weight": dram_w,
            "dram_out": dram_out, "tile": list(tile), "input_tile": list(in_tile), "reason": "Eq. 2-5"}


def _taps(graph: Graph, node: Node) -> int:
    a = node.attrs
    if node.op in ("maxpool", "avgpool"):
        if a.get("global"):
            x = graph.input_shapes(node)[0]
            return x.h * x.w
        return a["k"][0] * a["k"][1]
    if node.op == "upsample":
        return 4 if a["mode"] == "bilinear" else 1
    if node.op == "add":
        return len(node.inputs)
    return 1


def _stream(graph: Graph, node: Node, target: Target) -> dict:
    work = _elements(node.shape) * _taps(graph, node)
    shapes = graph.input_shapes(node)
    read = sum(_elements(shapes[i]) for i in range(len(shapes)) if i not in node.opdef.shape_only)
    cycles = -(-work // target.unroll.pof)
    return {"rule": "stream", "cycles_compute": cycles, "dram_in": read, "dram_weight": 0,
            "dram_out": _elements(node.shape)}


def _rule(graph: Graph, node: Node, pipelined: set[str]) -> tuple[str, str]:
    """(rule, reason) for an op that is not a convolution."""
    if node.op in _FREE:
        return "free", _FREE[node.op]
    first = node.inputs[0] if node.inputs else None
    if node.op in _FUSABLE and first in pipelined:
        return "fused", f"in the pipeline of '{first}'"
    if node.op == "add" and first in pipelined:
        return "residual", f"adds in the pipeline of '{first}', reads the other inputs"
    return "stream", "streams its inputs and output through DRAM"


def layer_cost(graph: Graph, node: Node, target: Target, pipelined: set[str], cal: Calibration) -> dict:
    """The ``cost`` annotation of one layer (``pipelined``: layers whose
    output leaves a convolution pipeline, updated here)."""
    if node.op in TILED_OPS:
        cost = _conv_like(graph, node, target)
        reason = cost.pop("reason")
        pipelined.add(node.name)
    else:
        rule, reason = _rule(graph, node, pipelined)
        if rule == "stream":
            cost = _stream(graph, node, target)
        else:
            read = 0
            if rule == "residual":
                read = sum(_elements(graph.node(i).shape) for i in node.inputs[1:])
            cost = {"rule": rule, "cycles_compute": 0, "dram_in": read, "dram_weight": 0, "dram_out": 0}
        if rule in ("fused", "residual"):
            pipelined.add(node.name)
    gather = cost.get("dram_gather", 0)
    words = cost["dram_in"] + cost["dram_weight"] + cost["dram_out"] - gather
    compute_s = cost["cycles_compute"] / target.clock_hz + gather * target.word_bytes / target.bandwidth
    memory_s = words * target.word_bytes / target.bandwidth
    latency = cal.latency(cost["rule"], compute_s, memory_s)
    bound = "none" if latency == 0 else ("compute" if compute_s >= memory_s else "memory")
    macs = node.opdef.macs(node.attrs, graph.input_shapes(node), node.shape)
    return {**cost, "reason": reason, "macs": macs, "latency_compute_s": compute_s, "latency_memory_s": memory_s,
            "latency_s": latency, "bound": bound}


@dataclass(frozen=True)
class CostPass(Pass):
    name = "cost"
    doc = "annotate each layer with compute cycles, DRAM accesses and latency (Eq. 2-5)"
    calibration: Calibration = field(default_factory=Calibration)

    def run(self, graph: Graph) -> PassResult:
        target = require_target(graph, self.name)
        pipelined: set[str] = set()
        for node in graph.nodes():
            try:
                cost = layer_cost(graph, node, target, pipelined, self.calibration)
            except KeyError:
                raise SegError(Diagnostic(
                    f"pass 'cost': layer '{node.name}' has no tiling; run 'tile' before 'cost'"
                )) from None
            graph.replace(node.with_(annotations={**node.annotations, "cost": cost}))
        return PassResult(graph, True)
