"""Activation scales of the HLS backend, and the requantization between them.

Every tensor's words q stand for q·s.  A fixed-point tensor (and every
tensor not quantized by the network) has s = 2^−f, f its fraction bits
(``formats``); an ``int``-scheme tensor has s = r / q_max, r its calibrated
range, as torch's fake quantization and the ONNX export give it
(``backends.quant.int_scale``).  Its words keep the fraction bits f of the
range as a nominal format, so s = μ·2^−f with the tensor's *unit* μ (1 in
fixed point).

A kernel computes as before in the nominal formats, then multiplies by
μ_in / μ_out ≈ m / 2^shift (``intmac.multiplier``) as it requantizes: its
configuration carries ``RQ_M`` and ``RQ_SHIFT`` (``lib/segc_fixed.h``:
``requantize_out``) only where the ratio is not 1, so fixed-point layers
compute, and are generated, exactly as without scales.  An add scales each
input by its own m_i over one shift (``ADD_M0``…, ``ADD_SHIFT``).  Weighted
fixed-point layers and batch norms fold their input's μ into their
parameters instead.  ``m`` has as many bits (at most 31) as keep the
product with the kernel's largest sum below 2^62.
"""

from __future__ import annotations

import math

from ...ir import Diagnostic, Graph, Node, SegError
from ...ir.quant import widths
from ..quant import int_scale
from .intmac import multiplier

__all__ = ["SCALED_OPS", "activation_scales", "add_rescale", "power_of_two_tensors", "rescale",
           "rescale_info", "word_rescale"]

# ops whose kernels requantize between any scales (or fold the input's unit into their parameters)
SCALED_OPS = ("input", "output", "flatten", "identity", "conv", "linear", "deconv", "dconv", "bn", "relu",
              "relu6", "maxpool", "avgpool", "upsample", "add", "concat", "slice")
_PRODUCT_BITS, _M_BITS, _ADD_M_BITS = 62, 31, 24


def activation_scales(graph: Graph, owner: dict[str, str], formats: dict[str, int],
                      maxima: dict[str, float]) -> dict[str, float]:
    """The scale of every layer that owns its output: r / q_max for an
    ``int``-scheme layer (r its calibrated range, when above 0), else 2^−f;
    also 2^−f for a tensor that a kernel without scaled arithmetic (an op
    outside :data:`SCALED_OPS`) writes or reads (:func:`power_of_two_tensors`)."""
    scales, fixed = {}, power_of_two_tensors(graph, owner)
    for name, frac in formats.items():
        node, value_range = graph.node(name), maxima.get(name, 0.0)
        if (node.quant is not None and node.quant.scheme == "int" and owner[name] == name and value_range > 0
                and name not in fixed):
            scales[name] = int_scale(value_range, widths(graph, node)[1], f"layer '{name}'")
        else:
            scales[name] = 2.0**-frac
    return scales


def power_of_two_tensors(graph: Graph, owner: dict[str, str]) -> set[str]:
    """The tensors (by owner) written or read by an op outside
    :data:`SCALED_OPS` (the pointwise nonlinearities, shuffle, mul, softmax
    …): their kernels compute in fixed point, so an ``int``-scheme tensor
    there keeps the power-of-two scale 2^−f of its range."""
    tensors = set()
    for node in graph.nodes():
        if node.op not in SCALED_OPS:
            tensors.update(owner.get(name, name) for name in (*node.inputs, node.name))
    return tensors


def rescale(unit_in: float, unit_out: float, acc_bits: int) -> dict[str, int]:
    """``{"RQ_M": m, "RQ_SHIFT": shift}`` with m / 2^shift ≈ unit_in / unit_out
    for sums of at most ``acc_bits`` bits; nothing where the ratio is 1."""
    if unit_in == unit_out:
        return {}
    m, shift = multiplier(unit_in / unit_out, min(_M_BITS, _PRODUCT_BITS - acc_bits))
    return {"RQ_M": m, "RQ_SHIFT": shift}


def word_rescale(ctx, source: str, node: Node, acc_bits: int = 16) -> dict[str, int]:
    """The extra factor of ``node``'s kernel, which requantizes sums of
    ``source``'s words (``acc_bits`` wide) to its own format."""
    return rescale(ctx.unit(source), ctx.unit(node.name), acc_bits)


def rescale_info(config: dict) -> dict:
    """config.json's record of a kernel's extra factor [m, shift], for the integer reference."""
    return {"rescale": [config["RQ_M"], config["RQ_SHIFT"]]} if "RQ_M" in config else {}


def add_rescale(ctx, node: Node) -> dict[str, int]:
    """``ADD_M<i>`` and ``ADD_SHIFT``: round(s_i / s_y · 2^shift) of each input
    with one shift that gives the largest 24 bits; nothing where every input
    has the output's unit (the fixed-point add)."""
    if all(ctx.unit(name) == ctx.unit(node.name) for name in node.inputs):
        return {}
    ratios = [ctx.scale(name) / ctx.scale(node.name) for name in node.inputs]
    shift = _ADD_M_BITS - math.frexp(max(ratios))[1]
    if not 0 <= shift <= _PRODUCT_BITS - _ADD_M_BITS:
        raise SegError(Diagnostic(f"layer '{node.name}': its inputs' scales are {max(ratios):.3g} times its "
                                  "output's, beyond the integer requantization of add", node.span))
    config = {f"ADD_M{i}": round(r * 2.0**shift) for i, r in enumerate(ratios)}
    return {**config, "ADD_SHIFT": shift}

