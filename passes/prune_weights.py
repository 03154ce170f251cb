"""Slicing ``state_dict``-style weights (numpy arrays) to a pruned graph.

Each group's kept channels become a mask over the output channels of its
producers and members and over the input channels of its consumers (a
channel ``c`` at slot ``(offset, unit)`` covers ``[offset + c·unit,
offset + (c+1)·unit)``).  Then, per layer:

* conv, dconv: ``weight [C_o, C_i/g, k_h, k_w]`` and ``bias`` by the output
  mask; ``weight`` by the input mask when ``g = 1``; a dconv's offset branch
  (``offset.weight [n, C_i, ·, ·]``) by the input mask (depthwise: the
  output mask, its input being the same channels).
* deconv: ``weight [C_i, C_o/g, k_h, k_w]`` by the output mask on axis 1
  and the input mask on axis 0 when ``g = 1`` (depthwise: the output mask on
  axis 0), ``bias`` by the output mask.
* linear: ``weight [F_o, F_i]`` by both masks, ``bias`` by the output mask.
* bn: ``weight``, ``bias``, ``running_mean``, ``running_var`` by the output mask.

Every other entry is copied unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import Diagnostic, Graph, SegError
from .channels import ChannelGroup

__all__ = ["slice_weights"]

_BN = ("weight", "bias", "running_mean", "running_var")


def _drop(mask: np.ndarray, removed: np.ndarray, offset: int, unit: int) -> None:
    starts = offset + removed * unit
    mask[(starts[:, None] + np.arange(unit)[None, :]).ravel()] = False


def _masks(graph: Graph, groups: list[ChannelGroup], chosen: Mapping[str, np.ndarray]):
    """{layer: output mask} and {layer: input mask} for the layers that lose channels."""
    outs: dict[str, np.ndarray] = {}
    ins: dict[str, np.ndarray] = {}
    for group in groups:
        if group.name not in chosen or len(chosen[group.name]) == group.channels:
            continue
        removed = np.setdiff1d(np.arange(group.channels), chosen[group.name])
        for name, offset, unit in (*group.producer_slots, *group.member_slots):
            _drop(outs.setdefault(name, np.ones(graph.node(name).shape.c, bool)), removed, offset, unit)
        for (name, offset), unit in zip(group.consumers, group.consumer_units):
            channels = graph.node(graph.node(name).inputs[0]).shape.c
            _drop(ins.setdefault(name, np.ones(channels, bool)), removed, offset, unit)
    return outs, ins


def _take(weights: Mapping[str, np.ndarray], key: str, mask: np.ndarray | None, axis: int) -> tuple[str, np.ndarray]:
    if key not in weights:
        raise SegError(Diagnostic(f"the weights have no '{key}' (layer '{key.rsplit('.', 1)[0]}')"))
    value = np.asarray(weights[key])
    return key, value if mask is None else np.take(value, np.flatnonzero(mask), axis=axis)


def _layer_entries(graph: Graph, name: str, out: np.ndarray | None, into: np.ndarray | None,
                   weights: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    node = graph.node(name)
    if node.op == "bn":
        return [_take(weights, f"{name}.{p}", out, 0) for p in _BN]
    if node.op == "deconv":
        return _deconv_entries(name, node.attrs, out, into, weights)
    if node.op not in ("conv", "dconv", "linear"):
        return []
    depthwise = node.op != "linear" and node.attrs["groups"] > 1
    key, weight = _take(weights, f"{name}.weight", out, 0)
    entries = [_take({key: weight}, key, None if depthwise else into, 1)]
    if node.attrs["bias"]:
        entries.append(_take(weights, f"{name}.bias", out, 0))
    if node.op == "dconv":
        entries.append(_take(weights, f"{name}.offset.weight", out if depthwise else into, 1))
    return entries


def _deconv_entries(name: str, attrs, out: np.ndarray | None, into: np.ndarray | None,
                    weights: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    key = f"{name}.weight"
    if attrs["groups"] > 1:  # depthwise (grouped ones are never pruned): one filter per channel
        entries = [_take(weights, key, out, 0)]
    else:
        _, weight = _take(weights, key, into, 0)
        entries = [_take({key: weight}, key, out, 1)]
    if attrs["bias"]:
        entries.append(_take(weights, f"{name}.bias", out, 0))
    return entries


def slice_weights(graph: Graph, groups: list[ChannelGroup], chosen: Mapping[str, np.ndarray],
                  weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights of the pruned graph: ``chosen[g]`` are the sorted indices
    group ``g`` keeps (groups left out keep all)."""
    outs, ins = _masks(graph, groups, chosen)
    sliced = {key: np.asarray(value) for key, value in weights.items()}
    for name in dict.fromkeys([*outs, *ins]):
        sliced.update(_layer_entries(graph, name, outs.get(name), ins.get(name), weights))
    return {key: np.array(value, order="C") for key, value in sliced.items()}
