"""Offset statistics of a deformable network: run the model on a few inputs,
record what each ``dconv``'s offset branch predicts (before any bound clamps
it) and suggest the bound that leaves a chosen share of the offsets
unclipped — the number CoDeNet's bounded variant needs (it trains with 8,
its line buffer holds ±7 rows).

The size of one prediction v:

* shape "full" (offsets Δy, Δx, each clamped to [−b, b]): |v|;
* shape "square" (a scale s clamped to [1 − b, b]): max(s, 1 − s), since s
  is left alone exactly when b ≥ s and b ≥ 1 − s.

The suggested bound for a share p is the smallest integer b with at least p
of the sizes ≤ b: ⌈q⌉ for q the p-quantile by the inverted empirical
distribution (the smallest size with at least a share p at or below it;
numpy's ``inverted_cdf``).  Bounds are whole rows, so the suggestion is an
integer; "fits" tells whether the target's line buffer holds it
(``ir/linebuffer.py``).
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from ...ir import Diagnostic, Graph, SegError
from ...ir.linebuffer import largest_bound, line_buffer, rows_needed
from .module import read_tensors, submodule

__all__ = ["collect_offsets", "offset_table", "read_inputs", "size_of", "suggested_bound"]

QUANTILES = (0.5, 0.9, 0.99)


def size_of(values: np.ndarray, shape: str) -> np.ndarray:
    """How large a bound each predicted value needs to stay unclipped."""
    return np.maximum(values, 1 - values) if shape == "square" else np.abs(values)


def suggested_bound(sizes: np.ndarray, share: float) -> int:
    """The smallest integer bound keeping at least ``share`` of ``sizes`` unclipped."""
    return math.ceil(float(np.quantile(sizes, share, method="inverted_cdf")))


def collect_offsets(graph: Graph, module: torch.nn.Module, inputs: list[torch.Tensor]) -> dict[str, np.ndarray]:
    """Every dconv's raw offset-branch output on ``inputs``, flattened (float64)."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for node in graph.nodes():
        if node.op == "dconv":
            branch = submodule(module, node.name).offset
            hooks.append(branch.register_forward_hook(
                lambda m, args, out, name=node.name: seen.setdefault(name, []).append(out.detach())
            ))
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.cat([t.flatten() for t in parts]).double().numpy() for name, parts in seen.items()}


def _layer_row(graph: Graph, name: str, values: np.ndarray, share: float) -> dict:
    node = graph.node(name)
    shape, bound = node.attrs["shape"], node.attrs["bound"]
    sizes = size_of(values, shape)
    suggestion = suggested_bound(sizes, share)
    row = {
        "layer": name, "shape": shape, "values": int(sizes.size), "mean": float(sizes.mean()),
        **{f"q{round(q * 100)}": float(np.quantile(sizes, q, method="inverted_cdf")) for q in QUANTILES},
        "max": float(sizes.max()), "bound": bound,
        "clipped_at_bound": None if bound is None else float(np.mean(sizes > bound)),
        "suggested_bound": suggestion, "clipped_at_suggestion": float(np.mean(sizes > suggestion)),
        "largest_bound_that_fits": None, "suggestion_rows": None,
    }
    if graph.target is not None:
        k, d = node.attrs["k"][0], node.attrs["dilation"][0]
        buffer = line_buffer(graph.target, graph.input_shapes(node)[0], node.attrs["groups"])
        row["largest_bound_that_fits"] = largest_bound(k, d, shape, buffer.rows)
        row["suggestion_rows"] = rows_needed(k, d, shape, suggestion, node.attrs["round"])
    return row


def offset_table(graph: Graph, offsets: dict[str, np.ndarray], share: float) -> list[dict]:
    """One row of statistics per dconv (in graph order)."""
    return [_layer_row(graph, n.name, offsets[n.name], share) for n in graph.nodes() if n.name in offsets]


def read_inputs(graph: Graph, spec: str, seed: int) -> list[torch.Tensor]:
    """The network's inputs: ``spec`` a count N (N standard-normal samples per
    input, from ``seed``) or a file (.npy: one array; .pt or .safetensors: a
    tensor, or one per input name), each [N, C, H, W]."""
    if spec.isdigit():
        count = int(spec)
        if not 1 <= count <= 4096:
            raise SegError(Diagnostic(f"--inputs must be a number of samples from 1 to 4096, or a file; got {spec}"))
        generator = torch.Generator().manual_seed(seed)
        return [torch.randn(count, *n.shape, generator=generator) for n in graph.inputs]
    data = _load_tensors(spec)
    names = [n.name for n in graph.inputs]
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise SegError(Diagnostic(f"no tensor for input '{missing[0]}' (the file has: {', '.join(data)})",
                                      path=spec))
        tensors = [data[n] for n in names]
    elif len(names) != 1:
        raise SegError(Diagnostic(f"the network has {len(names)} inputs; give a file with one tensor per input "
                                  f"name ({', '.join(names)})", path=spec))
    else:
        tensors = [data]
    for node, tensor in zip(graph.inputs, tensors):
        if tensor.dim() != 4 or tuple(tensor.shape[1:]) != tuple(node.shape):
            raise SegError(Diagnostic(f"input '{node.name}' must be [N, {', '.join(map(str, node.shape))}], got "
                                      f"{list(tensor.shape)}", path=spec))
    return [t.float() for t in tensors]


def _load_tensors(path: str):
    if not os.path.lexists(path):
        raise SegError(Diagnostic(f"cannot read '{path}': no such file (--inputs takes a count or a file)"))
    data = read_tensors(path, "inputs")
    if isinstance(data, torch.Tensor) or (isinstance(data, dict) and all(isinstance(v, torch.Tensor)
                                                                         for v in data.values())):
        return data
    raise SegError(Diagnostic("not a tensor or a mapping of input names to tensors", path=path))
