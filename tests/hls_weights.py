"""Seeded weights for HLS tests, with batch norms and biases made non-trivial."""

from __future__ import annotations

import torch

from segc.backends.hls.reference import build_reference


def randomised(graph, seed: int = 1) -> dict:
    """The network's seed-0 weights with running means and biases uniform in
    [−½, ½) and running variances and per-channel scales in [½, 3/2)."""
    state = build_reference(graph, None, 0).state_dict()
    generator = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if key.endswith(("running_mean", "bias")):
            state[key] = torch.rand(value.shape, generator=generator) - 0.5
        elif key.endswith("running_var") or (key.endswith("weight") and value.dim() == 1):
            state[key] = torch.rand(value.shape, generator=generator) + 0.5
    return state
