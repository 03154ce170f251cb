"""Post-training calibration of activation ranges: the float network runs
on data, and each quantized layer's output range (and each quantized
input's) is measured with a rule, ``max`` (max |x|) or ``percentile:P``
(the P-th percentile of |x| over every value of every sample), as
``backends/quant.py``'s :func:`activation_range` computes it.  The ranges
go into the quantized module's ``act_range`` buffers (``fake_quant.py``),
so its ``state_dict`` holds them under ``<layer>.act_range``.

A percentile reads only the values from its rank up, so a layer's recorder
keeps, of all the magnitudes it has seen, the ``largest_needed`` for the
whole calibration (known in advance: samples × values per sample), about
(1 − P/100) of them: 0.1 % at ``percentile:99.9``.  The result equals the
percentile over every value.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..backends.quant import RANGE_SUFFIX, largest_needed, parse_range_rule, percentile_of_largest, range_key
from ..backends.torch.module import submodule
from ..ir import Diagnostic, Graph, SegError
from ..ir.quant import apply_quantize
from .data import dataset_name
from .finetune import _loader

__all__ = ["calibrate_ranges", "calibrated_module", "quantized_layers", "set_ranges"]


def quantized_layers(graph: Graph) -> list[str]:
    """The layers whose output has a calibrated range: quantized inputs and layers (not outputs)."""
    return [n.name for n in graph.nodes() if n.quant is not None and n.op != "output"]


class _Recorder:
    """Forward hook: a running max of the magnitudes a layer outputs, or,
    for a percentile, the largest ones it needs of ``samples`` samples."""

    def __init__(self, percent: float | None, samples: int):
        self.percent, self.samples = percent, samples
        self.kept, self.count, self.largest = np.empty(0, dtype=np.float32), 0, 0.0

    def add(self, value: torch.Tensor) -> None:
        magnitudes = value.detach().abs().float()
        if not magnitudes.numel():
            return
        self.count += magnitudes.numel()
        if self.percent is None:
            self.largest = max(self.largest, float(magnitudes.max()))
            return
        total = self.samples * magnitudes[0].numel()  # every value the calibration will show this layer
        kept = np.concatenate([self.kept, magnitudes.flatten().numpy()])
        needed = largest_needed(total, self.percent)
        self.kept = np.partition(kept, kept.size - needed)[kept.size - needed:] if kept.size > needed else kept

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        self.add(output[0] if isinstance(output, tuple) else output)

    def range(self) -> float:
        if self.percent is None:
            return self.largest
        return percentile_of_largest(self.kept, self.count, self.percent)


def calibrate_ranges(graph: Graph, float_module: nn.Module, dataset, rule: str = "max", samples: int | None = None,
                     batch_size: int = 16) -> dict[str, float]:
    """{layer: range} of the quantized layers of ``graph``, measured with
    ``rule`` on the first ``samples`` samples of ``dataset`` (all if None)
    through ``float_module``, the network without its quantization."""
    try:
        kind, percent = parse_range_rule(rule)
    except ValueError as err:
        raise SegError(Diagnostic(str(err))) from None
    count = len(dataset) if samples is None else min(samples, len(dataset))
    if count < 1:
        raise SegError(Diagnostic("range calibration needs at least one sample; the data is empty",
                                  path=dataset_name(dataset)))
    subset = torch.utils.data.Subset(dataset, range(count))
    inputs = {n.name for n in graph.inputs}
    recorders = {name: _Recorder(percent if kind == "percentile" else None, count) for name in quantized_layers(graph)}
    handles = [submodule(float_module, name).register_forward_hook(recorder)
               for name, recorder in recorders.items() if name not in inputs]
    was_training = float_module.training
    float_module.eval()
    try:
        with torch.no_grad():
            for images, _ in _loader(subset, batch_size, shuffle=False):
                for name in inputs & recorders.keys():
                    recorders[name].add(images)
                float_module(images)
    finally:
        float_module.train(was_training)
        for handle in handles:
            handle.remove()
    ranges = {name: recorder.range() for name, recorder in recorders.items()}
    _check(graph, ranges, rule, count)
    return ranges


def _check(graph: Graph, ranges: dict[str, float], rule: str, count: int) -> None:
    """A range that is not finite, or 0 for an int layer (no scale), is an error naming the layer."""
    problems = []
    for name, value in ranges.items():
        node = graph.node(name)
        if math.isfinite(value) and (value > 0 or node.quant.scheme != "int"):
            continue
        what = "not finite" if not math.isfinite(value) else "0 (the output is constant zero)"
        hint = ("; an int layer needs a positive range: calibrate on other data or leave the layer unquantized "
                "(scheme=float)" if node.quant.scheme == "int" else "")
        problems.append(Diagnostic(f"layer '{name}': its {rule} range on {count} sample(s) is {what}{hint}",
                                   node.span))
    if problems:
        raise SegError(problems)


def set_ranges(module: nn.Module, ranges: dict[str, float]) -> None:
    """Store calibrated ranges in the quantized module's ``act_range`` buffers."""
    with torch.no_grad():
        for name, value in ranges.items():
            submodule(module, name).act_range.fill_(value)


def calibrated_module(graph: Graph, weights: dict, dataset, build, rule: str = "max", samples: int | None = None,
                      batch_size: int = 16) -> nn.Module:
    """The quantized network's module on ``weights`` (any ranges in them
    replaced), its ranges calibrated on ``dataset`` through the float network
    on the same weights; ``build(graph, weights)`` makes a module."""
    plain = {k: v for k, v in weights.items() if not k.endswith(RANGE_SUFFIX)}
    module = build(graph, {**plain, **{range_key(name): torch.zeros(()) for name in quantized_layers(graph)}})
    float_module = build(apply_quantize(graph.copy(), []), plain)
    set_ranges(module, calibrate_ranges(graph, float_module, dataset, rule, samples, batch_size))
    return module
