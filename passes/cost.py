"""``cost``: per-layer latency on the target, written under the ``cost``
annotation of every layer: the rule that applies, the engine that does the
work (``engines.py``), compute cycles, DRAM words and the times of
``timing.py``.

Rules:

* ``conv``: convolution, deformable and transposed convolution and linear
  layers, on the PE array (Eq. 2-5 of Mori et al. Sec. 3.2; ``dconv_cost.py``
  for deformable layers, the scatter form of ``deconv_cost.py`` for
  transposed ones) or, depthwise ones, on the depthwise engine;
* ``fused``: bn, relu, relu6, sigmoid, identity, maxpool and the activations
  of ``POINTWISE_FUSABLE`` (hardsigmoid, hardswish, silu, leakyrelu, tanh,
  clip, division by a constant) right after a convolution (or after another
  fused op) run in the convolution's pipeline
  (batch norm is a pipelined unit, max-pooling follows the convolution;
  Mori et al. Sec. 3.1) and add no time;
* ``residual``: an add whose first pipelined input comes from a convolution
  adds in the pipeline and only reads its other inputs from DRAM;
* ``stream``: anything else that computes (upsample, average pooling, mean,
  softmax, mul, sub, an unfused add, bn, activation or max-pooling) streams
  its inputs from DRAM and its output back, on the elementwise unit or the
  P_of lanes;
* ``free``: input and output (data already in DRAM), concat (producers write
  their channel slices of one buffer), flatten and slice (views; a slice's
  channels are contiguous in [C, H, W]) take no time; a channel shuffle
  streams (one tap per element), a permuting copy.

``conv`` and ``stream`` layers are invocations: each pays the target's
layer overhead once (the layers fused into a convolution share its one); a
deformable layer is two, its offset branch and its sampling convolution
(``dconv_cost.py``), and takes the sum of their times.

Each layer's annotation also holds its widths (``w_bits``, ``a_bits``), its
DRAM traffic in bits at those widths (``dram_bits``, ``widths.py``) and the
resource estimate of its HLS kernel (``resources``, ``resources.py``).  It
is a :class:`~segc.ir.record.Record`: a read-only dict.

A :class:`Calibration` (``segc calibrate``) is a set of fitted target
fields (overlap, effective bandwidth, layer overhead, access latency,
elementwise width) applied to the target before costing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..ir import Diagnostic, ElementwiseUnit, Graph, Node, SegError, Target
from ..ir.quant import widths
from ..ir.record import Record
from .base import Pass, PassResult
from .dconv_cost import offset_branch
from .engines import ENGINES, conv_engine, read_inputs, stream_engine
from .resources import layer_resources
from .tile import TILED_OPS, require_target
from .timing import layer_times

__all__ = ["CALIBRATED_FIELDS", "Calibration", "CostPass", "layer_cost", "offset_branch"]

POINTWISE_FUSABLE = ("hardsigmoid", "hardswish", "silu", "leakyrelu", "tanh", "clip", "div")
_FUSABLE = ("bn", "relu", "relu6", "sigmoid", "identity", "maxpool", *POINTWISE_FUSABLE)
_FREE = {"input": "already in DRAM", "output": "stays in DRAM", "concat": "producers write channel slices",
         "flatten": "a view"}
_FREE["slice"] = "a view: consumers read its channel range"

# Target fields a calibration may set: name -> (target attribute, unit, physical bounds).
CALIBRATED_FIELDS = {
    "overlap": ("overlap", "", (0.0, 1.0)),
    "effective_bandwidth": ("effective_bandwidth", "B/s", None),  # (0.01 · peak, peak), see bounds()
    "layer_overhead": ("layer_overhead_s", "s", (0.0, 0.1)),
    "access_latency": ("access_latency_s", "s", (0.0, 1e-4)),
    "elementwise_width": ("elementwise", "taps/cycle", (1 / 64, 4096.0)),
}


@dataclass(frozen=True)
class Calibration:
    """Fitted values of target fields (``CALIBRATED_FIELDS``); empty: the
    target as written."""

    values: dict = field(default_factory=dict)
    source: str = "uncalibrated"

    def apply(self, target: Target) -> Target:
        changes = {}
        for name, value in self.values.items():
            attr = CALIBRATED_FIELDS[name][0]
            if name == "elementwise_width":
                unit = target.elementwise or ElementwiseUnit(value, 0)
                value = dataclasses.replace(unit, width=value)
            changes[attr] = value
        return dataclasses.replace(target, **changes) if changes else target


def _rule(graph: Graph, node: Node, pipelined: set[str]) -> tuple[str, str]:
    """(rule, reason) for an op that is not a convolution."""
    if node.op in _FREE:
        return "free", _FREE[node.op]
    first = node.inputs[0] if node.inputs else None
    if node.op in _FUSABLE and first in pipelined:
        return "fused", f"in the pipeline of '{first}'"
    if node.op == "add" and first in pipelined:
        return "residual", f"adds in the pipeline of '{first}', reads the other inputs"
    return "stream", ""


def _work(graph: Graph, node: Node, target: Target, pipelined: set[str]) -> dict:
    """Rule, engine, cycles and DRAM words of one layer."""
    if node.op in TILED_OPS:
        pipelined.add(node.name)
        engine = conv_engine(graph, node, target)
        return {"rule": "conv", "engine": engine, **ENGINES[engine](graph, node, target)}
    rule, reason = _rule(graph, node, pipelined)
    if rule == "stream":
        engine = stream_engine(target)
        return {"rule": rule, "engine": engine, **ENGINES[engine](graph, node, target)}
    if rule != "free":
        pipelined.add(node.name)
    words, bits = read_inputs(graph, node, range(1, len(node.inputs))) if rule == "residual" else (0, 0)
    return {"rule": rule, "engine": "pipeline" if rule != "free" else "none", "cycles_compute": 0, "dram_in": words,
            "dram_weight": 0, "dram_out": 0, "dram_bits": bits, "reason": reason}


def _times(target: Target, work: dict, invocations: int) -> tuple[float, float, float, float]:
    """(compute, memory, overhead, latency) seconds of one invocation's work (``timing.py``)."""
    times = layer_times(target, work["cycles_compute"], work["dram_bits"], work.get("gather_bits", 0),
                        work.get("gather_bursts", 0), invocations)
    return tuple(map(float, times))  # type: ignore[return-value]


def layer_cost(graph: Graph, node: Node, target: Target, pipelined: set[str]) -> Record:
    """The ``cost`` annotation of one layer (``pipelined``: layers whose
    output leaves a convolution pipeline, updated here).  A layer of several
    invocations (a deformable layer's ``parts``) takes the sum of theirs."""
    cost = _work(graph, node, target, pipelined)
    if "parts" in cost:
        timed = {name: _times(target, part, 1) for name, part in cost["parts"].items()}
        compute_s, memory_s, overhead_s, latency = (sum(t[i] for t in timed.values()) for i in range(4))
        parts = {name: {**part, "latency_s": timed[name][3]} for name, part in cost["parts"].items()}
        cost, invocations = {**cost, "parts": parts}, len(parts)
    else:
        invocations = 1 if cost["rule"] in ("conv", "stream") else 0
        compute_s, memory_s, overhead_s, latency = _times(target, cost, invocations)
    bound = "none" if latency == 0 else ("compute" if compute_s >= memory_s else "memory")
    macs = node.opdef.macs(node.attrs, graph.input_shapes(node), node.shape)
    w_bits, a_bits = widths(graph, node)
    return Record({**cost, "invocations": invocations, "macs": macs, "latency_compute_s": compute_s,
                   "latency_memory_s": memory_s, "latency_overhead_s": overhead_s, "latency_s": latency,
                   "bound": bound, "w_bits": w_bits, "a_bits": a_bits,
                   "resources": layer_resources(graph, node, cost, target)})


@dataclass(frozen=True)
class CostPass(Pass):
    name = "cost"
    annotates_only = True
    doc = "annotate each layer with its engine, compute cycles, DRAM accesses and latency (Eq. 2-5)"
    calibration: Calibration = field(default_factory=Calibration)

    def run(self, graph: Graph) -> PassResult:
        target = self.calibration.apply(require_target(graph, self.name))
        pipelined: set[str] = set()
        for node in graph.nodes():
            try:
                cost = layer_cost(graph, node, target, pipelined)
            except KeyError:
                raise SegError(Diagnostic(
                    f"pass 'cost': layer '{node.name}' has no tiling; run 'tile' before 'cost'"
                )) from None
            graph.annotate(node.name, "cost", cost)
        return PassResult(graph, True)
