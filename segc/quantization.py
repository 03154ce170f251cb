"""Quantized networks in torch: the float network behind a quantized one,
post-training calibration of activation ranges, and the quantized module
built from float weights (ranges calibrated) or from calibrated weights.

A weights file of a quantized network holds each quantized layer's output
range under ``<layer>.act_range`` (``backends/quant.py``'s ``range_key``);
a float weights file does not, and :func:`quantized_module` calibrates
the ranges when they are missing and data is given.
"""

from __future__ import annotations

from .api import to_torch, with_deform_decisions
from .backends.quant import RANGE_SUFFIX, range_key
from .ir import Diagnostic, Graph, SegError
from .ir.quant import apply_quantize

__all__ = ["float_graph", "float_weights", "is_quantized", "missing_ranges", "quantized_module"]

def is_quantized(graph: Graph) -> bool:
    return any(n.quant is not None for n in graph.nodes())


def float_graph(graph: Graph) -> Graph:
    """A copy of the network with every layer unquantized."""
    return apply_quantize(graph.copy(), [])


def float_weights(weights: dict) -> dict:
    """The weights less the calibrated ranges."""
    return {k: v for k, v in weights.items() if not k.endswith(RANGE_SUFFIX)}


def _read(weights) -> dict:
    from .backends.torch.module import read_weights

    return dict(read_weights(weights)) if isinstance(weights, str) else dict(weights)


def missing_ranges(graph: Graph, weights: dict) -> list[str]:
    """The quantized layers whose range the weights do not hold."""
    from .train.ranges import quantized_layers

    return [name for name in quantized_layers(graph) if range_key(name) not in weights]


def quantized_module(graph: Graph, weights=None, dataset=None, rule: str = "max", samples: int | None = None,
                     batch_size: int = 16, seed: int = 0, recalibrate: bool = False):
    """The quantized network's module: ranges from the weights, or measured
    on ``dataset`` (through the float network on the same weights) where
    the weights lack them or ``recalibrate`` is set.  ``weights``: a
    state_dict, a path, or None (initialised from ``seed``)."""
    from .backends.torch.module import build_module
    from .train.ranges import calibrated_module

    source = weights if isinstance(weights, str) else "<weights>"  # named in errors
    state = _read(weights) if weights is not None else to_torch(float_graph(graph), None, seed).state_dict()
    missing = missing_ranges(graph, state)
    if not (missing or recalibrate):
        return build_module(with_deform_decisions(graph), state, seed, source)
    if dataset is None:
        listed = ", ".join(f"'{name}'" for name in missing[:4]) + (" …" if len(missing) > 4 else "")
        raise SegError(Diagnostic(f"the weights hold no calibrated output range for {listed}: calibrate them "
                                  "first (segc quantize FILE --weights W --data SPEC -o OUT.safetensors)"))

    def build(network: Graph, network_weights: dict):
        return build_module(with_deform_decisions(network), network_weights, seed, source)

    return calibrated_module(graph, state, dataset, build, rule, samples, batch_size)
