"""The torch side of the HLS backend: the float reference network (the
torch backend's module, same weights), calibration of activation ranges,
and its outputs for comparison with the C simulation.

Calibration records, for every layer the torch module runs, the largest
magnitude of its output over the calibration inputs; for a deformable layer
also that of its offsets after the bound clamp (scales for shape "square").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ...ir import Diagnostic, Graph, SegError
from ...ir.dconv_plan import dconv_variant
from ...ir.quant import apply_quantize
from ..quant import RANGE_SUFFIX
from ..torch.module import build_module, read_weights, submodule
from ..torch.source import TORCH_LOWERING

__all__ = ["build_reference", "calibrate", "calibrated_ranges", "layer_outputs", "parameters", "run"]


def _split(weights: str | Mapping | None) -> tuple[Mapping | None, dict[str, float]]:
    """(the state_dict, the calibrated ranges ``<layer>.act_range`` by layer)."""
    if isinstance(weights, str):
        weights = read_weights(weights)
    if weights is None:
        return None, {}
    ranges = {key[:-len(RANGE_SUFFIX)]: _range(key, value) for key, value in weights.items()
              if key.endswith(RANGE_SUFFIX)}
    return {k: v for k, v in weights.items() if not k.endswith(RANGE_SUFFIX)}, ranges


def _range(key: str, value) -> float:
    """A stored range as a float; a SegError naming the layer unless it is
    one finite, non-negative number."""
    values = np.asarray(value, dtype=np.float64).reshape(-1)
    if values.size != 1 or not np.isfinite(values[0]) or values[0] < 0:
        raise SegError(Diagnostic(f"layer '{key[:-len(RANGE_SUFFIX)]}': the calibrated range '{key}' among the "
                                  f"weights must be one finite number >= 0, got {values.tolist()}"))
    return float(values[0])


def calibrated_ranges(weights: str | Mapping | None) -> dict[str, float]:
    """The output ranges post-training calibration stored with the weights, by layer."""
    return _split(weights)[1]


def build_reference(graph: Graph, weights: str | Mapping | None, seed: int) -> torch.nn.Module:
    """The float torch module (quantized layers unquantized: the reference
    the fixed-point formats are calibrated on and compared with), with
    weights from a file, a state_dict or ``seed`` (calibrated ranges among
    the weights are not the module's)."""
    source = weights if isinstance(weights, str) else "<weights>"
    return build_module(apply_quantize(graph.copy(), []), _split(weights)[0], seed, source)


def parameters(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """The state_dict as float64 arrays."""
    return {k: v.detach().cpu().double().numpy() for k, v in module.state_dict().items()}


def _tensors(graph: Graph, inputs: Mapping[str, np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(inputs[n.name], dtype=np.float32)) for n in graph.inputs]


def run(graph: Graph, module: torch.nn.Module, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The outputs (float32 [N, C, H, W]) in the graph's output order."""
    with torch.no_grad():
        result = module(*_tensors(graph, inputs))
    result = result if isinstance(result, tuple) else (result,)
    return [r.detach().cpu().numpy().reshape(r.shape[0], *n.shape) for r, n in zip(result, graph.outputs)]


def _clamped_offsets(node, raw: torch.Tensor) -> torch.Tensor:
    variant = dconv_variant(node)
    bound = variant["bound"]
    if bound is None:
        return raw
    low = 1 - bound if variant["shape"] == "square" else -bound
    return raw.clamp(low, bound)


def _hooked_run(graph: Graph, module: torch.nn.Module, inputs: Mapping[str, np.ndarray], on_layer,
                on_offsets) -> list[np.ndarray]:
    """Run the module: its outputs, as :func:`run`; ``on_layer(node, output)``
    for every layer it runs, ``on_offsets(node, raw offsets)`` for every
    deformable layer."""
    handles = []

    def hook(node, callback):
        return lambda _module, _args, output: callback(node, output.detach())

    for node in graph.nodes():
        if TORCH_LOWERING.get(node.op) is None:
            continue
        handles.append(submodule(module, node.name).register_forward_hook(hook(node, on_layer)))
        if node.op == "dconv":
            branch = submodule(module, f"{node.name}.offset")
            handles.append(branch.register_forward_hook(hook(node, on_offsets)))
    try:
        return run(graph, module, inputs)
    finally:
        for handle in handles:
            handle.remove()


def calibrate(graph: Graph, module: torch.nn.Module,
              inputs: Mapping[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float], list[np.ndarray]]:
    """(largest |output| per layer, largest |offset| per deformable layer,
    the network's outputs on ``inputs`` as :func:`run` gives them)."""
    maxima: dict[str, float] = {n.name: float(np.max(np.abs(inputs[n.name]))) for n in graph.inputs}
    offsets: dict[str, float] = {}

    def largest(table: dict):
        def record(node, value: torch.Tensor) -> None:
            table[node.name] = max(table.get(node.name, 0.0), float(value.abs().max()))
        return record

    def offsets_record(node, raw: torch.Tensor) -> None:
        largest(offsets)(node, _clamped_offsets(node, raw))

    outputs = _hooked_run(graph, module, inputs, largest(maxima), offsets_record)
    return maxima, offsets, outputs


def layer_outputs(graph: Graph, module: torch.nn.Module, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every layer's output ([C, H, W], first sample), inputs included."""
    outputs = {n.name: np.asarray(inputs[n.name][0], dtype=np.float32) for n in graph.inputs}

    def record(node, value: torch.Tensor) -> None:
        outputs[node.name] = value[0].cpu().numpy()

    _hooked_run(graph, module, inputs, record, lambda node, raw: None)
    return outputs
