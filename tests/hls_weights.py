"""Seeded weights for HLS tests, with batch norms and biases made non-trivial
(and deformable offsets that move samples by whole and fractional pixels)."""

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


def deform_weights(graph) -> dict:
    """Offset branches that move samples by whole and fractional pixels: small
    weights around a bias 0.2 from the nearest ±½ (so rounding is stable
    and floor would differ)."""
    state = randomised(graph)
    generator = torch.Generator().manual_seed(7)
    for key in [k for k in state if k.endswith("offset.weight")]:
        state[key] = torch.randn(state[key].shape, generator=generator) * 0.003
        bias = key[: -len("weight")] + "bias"
        square = state[key].shape[0] <= 3 and state[key].shape[2] == 1
        whole = torch.randint(-2, 3, state[bias].shape, generator=generator).float()
        part = torch.where(torch.rand(state[bias].shape, generator=generator) < 0.5, 0.3, 0.7)
        state[bias] = torch.full_like(state[bias], 1.8) if square else whole + part
    return state
