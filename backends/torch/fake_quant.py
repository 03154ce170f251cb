"""Fake quantization in torch: the numerics of ``backends/quant.py`` (the
formats of ``ir/quant.py``) on torch tensors, differentiable by
straight-through estimation so that a quantized network trains.

Written into the generated module of a quantized network (``source.py``).
A quantized layer is its usual module, or for a layer with weights its
``Quant…`` subclass below, marked by :func:`quantized`: that stores the
layer's format on it and gives it an ``act_range`` buffer, the calibrated
range r of its output (0 until calibrated), so the state_dict holds
``<layer>.act_range`` beside ``<layer>.weight``.  The forward pass computes
each layer on fake-quantized weights and quantizes-dequantizes its output
(:func:`quantize_output`):

* ``int``: weights with one scale per output channel, s_c = max|W_c| / q_max
  (1 for a zero channel); the output with s = r / q_max;
* ``fixed``: s = 2^−f, f the given fraction bits or the most that hold
  max|W| (weights) or r (output) in b bits (:func:`fixed_frac`).

An ``int`` layer with weights called with its input's scale s_x (``forward``
passes the producer's :func:`activation_scale` where the producer is
quantized) rounds its bias to int32 words of s_c·s_x, as the ONNX export
and the HLS backend store it (:func:`quantized_bias`).

Values are clamp(round(x / s)) · s, rounding half to even as numpy's
``rint``; in float64 they equal ``backends/quant.py`` bit for bit.  Scales
are constants of the backward pass; the gradient of a quantized value is
1 where it did not saturate, 0 where it did.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["Format", "QuantConv2d", "QuantConvTranspose2d", "QuantLinear", "activation_scale", "fake_quant",
           "fixed_frac", "quantize_output", "quantized", "quantized_bias", "weight_scale"]

FRAC_LOW, FRAC_HIGH = -16, 24  # the fraction bits a fixed-point tensor may have


class Format(NamedTuple):
    """A layer's number format (``ir/quant.py``'s ``LayerQuant``) and its name, for messages."""

    name: str
    scheme: str
    a_bits: int
    a_frac: int | None = None
    w_bits: int | None = None
    w_frac: int | None = None


def fake_quant(x: Tensor, scale: Tensor | float, bits: int) -> Tensor:
    """clamp(round(x / s), −2^(b−1), 2^(b−1) − 1) · s; straight-through gradient."""
    high = (1 << (bits - 1)) - 1
    words = torch.round(x / scale)
    value = torch.clamp(words, -high - 1, high) * scale
    if not (torch.is_grad_enabled() and x.requires_grad):
        return value
    inside = (words >= -high - 1) & (words <= high)
    return value.detach() + (x - x.detach()) * inside


def fixed_frac(value_range: float, bits: int, what: str) -> int:
    """The most fraction bits f ≤ 24 with round(r · 2^f) ≤ 2^(b−1) − 1; b − 1 for r = 0."""
    if not math.isfinite(value_range):
        raise ValueError(f"{what}: range {value_range} is not finite")
    if value_range == 0:
        return min(FRAC_HIGH, bits - 1)
    high, frac = (1 << (bits - 1)) - 1, FRAC_HIGH
    while frac >= FRAC_LOW and math.floor(value_range * 2.0**frac + 0.5) > high:
        frac -= 1
    if frac < FRAC_LOW:
        raise ValueError(f"{what}: range {value_range} does not fit {bits} bits with {FRAC_LOW} fraction bits")
    return frac


def quantized(layer: nn.Module, name: str, scheme: str, a_bits: int, a_frac: int | None = None,
              w_bits: int | None = None, w_frac: int | None = None) -> nn.Module:
    """``layer`` marked quantized: its format, and its output's range buffer."""
    layer.quant = Format(name, scheme, a_bits, a_frac, w_bits, w_frac)
    layer.register_buffer("act_range", torch.zeros(()))
    return layer


def activation_scale(layer: nn.Module) -> Tensor | float:
    """The scale of the layer's output, from its calibrated range."""
    fmt = layer.quant
    value_range = layer.act_range
    if fmt.scheme == "fixed":
        what = f"layer '{fmt.name}' output"
        frac = fmt.a_frac if fmt.a_frac is not None else fixed_frac(float(value_range), fmt.a_bits, what)
        return 2.0**-frac
    if not (math.isfinite(float(value_range)) and float(value_range) > 0):
        raise ValueError(f"layer '{fmt.name}': its output range {float(value_range)} gives no scale; calibrate the "
                         "ranges first (segc quantize)")
    return value_range / ((1 << (fmt.a_bits - 1)) - 1)


def quantize_output(layer: nn.Module, x: Tensor) -> Tensor:
    """The layer's output ``x`` quantized-dequantized at its activation width."""
    return fake_quant(x, activation_scale(layer), layer.quant.a_bits)


def weight_scale(weight: Tensor, fmt: Format, axis: int) -> Tensor | float:
    """int: max|W_c| / q_max per output channel (1 for a zero channel), shaped to
    broadcast along ``axis``; fixed: 2^−f."""
    magnitude = weight.detach().abs()
    if fmt.scheme == "fixed":
        what = f"layer '{fmt.name}' weights"
        frac = fmt.w_frac if fmt.w_frac is not None else fixed_frac(float(magnitude.max()), fmt.w_bits, what)
        return 2.0**-frac
    others = [a for a in range(weight.dim()) if a != axis]
    largest = magnitude.amax(dim=others, keepdim=True)
    return torch.where(largest > 0, largest / ((1 << (fmt.w_bits - 1)) - 1), torch.ones_like(largest))


def quantized_weight(layer: nn.Module, axis: int = 0) -> Tensor:
    """The layer's weight, fake-quantized per its format."""
    return fake_quant(layer.weight, weight_scale(layer.weight, layer.quant, axis), layer.quant.w_bits)


def quantized_bias(layer: nn.Module, input_scale: Tensor | float | None, axis: int = 0) -> Tensor | None:
    """The layer's bias; for an ``int`` layer given its input's scale s_x,
    fake-quantized to int32 words of s_c·s_x (the weight scales repeated
    over groups where they are fewer, as a grouped deconv's)."""
    bias = layer.bias
    if bias is None or input_scale is None or layer.quant.scheme != "int":
        return bias
    scales = weight_scale(layer.weight, layer.quant, axis).reshape(-1)
    scales = scales.repeat(bias.numel() // scales.numel()).float() * torch.as_tensor(input_scale).float()
    return fake_quant(bias, scales, 32)


class QuantConv2d(nn.Conv2d):
    """``nn.Conv2d`` on fake-quantized weights (mark it with :func:`quantized`)."""

    def forward(self, x: Tensor, input_scale: Tensor | float | None = None) -> Tensor:
        return self._conv_forward(x, quantized_weight(self), quantized_bias(self, input_scale))


class QuantConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` on fake-quantized weights (output channels: axis 1)."""

    def forward(self, x: Tensor, input_scale: Tensor | float | None = None) -> Tensor:
        return nn.functional.conv_transpose2d(x, quantized_weight(self, axis=1), quantized_bias(self, input_scale, 1),
                                              self.stride, self.padding, self.output_padding, self.groups,
                                              self.dilation)


class QuantLinear(nn.Linear):
    """A fully connected layer on [N, F, 1, 1] tensors, on fake-quantized weights."""

    def forward(self, x: Tensor, input_scale: Tensor | float | None = None) -> Tensor:
        return nn.functional.linear(x.flatten(1), quantized_weight(self), quantized_bias(self, input_scale))[
            :, :, None, None]
