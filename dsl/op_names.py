"""What to say about a call of an unknown op: the names other frameworks
(PyTorch, ONNX, Keras) give to ops segc has, or to ops it does not support.

Edit distance alone crosses between different operations — ``deconv``
(transposed convolution) is one letter from ``dconv`` (deformable), ``elu``
from ``relu`` — so well-known names are looked up first, and a typo is
matched against them as well as against segc's own ops, blocks and
built-ins: ``deconvv`` is nearer ``deconv`` than ``dconv``.
"""

from __future__ import annotations

import re

from .evaluate import close_match

__all__ = ["unknown_call_message"]

_ACTIVATION = ("activation '{name}' is not supported; segc has relu, relu6, sigmoid, hardsigmoid, hardswish, "
               "silu, leakyrelu, tanh and clip")
_NORM = "normalization '{name}' is not supported; segc has bn (batch normalization)"

# Well-known names (compared lower-case, without '_' or '-', without a 1d/2d/3d ending).
_UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(
        ["elu", "selu", "celu", "gelu", "prelu", "rrelu", "mish", "softplus", "softsign", "hardtanh"],
        _ACTIVATION,
    ),
    **dict.fromkeys(["layernorm", "groupnorm", "instancenorm", "lrn", "localresponsenorm"], _NORM),
    "dropout": "'{name}' is not supported: dropout does nothing at inference; leave it out",
    "logsoftmax": "'{name}' is not supported: networks end at their logits; apply it outside",
}

_SYNONYMS: dict[str, str] = {
    "convolution": "conv",
    "batchnorm": "bn", "batchnormalization": "bn", "bnorm": "bn",
    "fc": "linear", "dense": "linear", "gemm": "linear", "fullyconnected": "linear",
    "cat": "concat", "concatenate": "concat",
    "sum": "add",
    "interpolate": "upsample", "resize": "upsample", "upsampling": "upsample",
    "deformconv": "dconv", "deformableconv": "dconv", "deformableconvolution": "dconv", "dcn": "dconv",
    "dcnv2": "dconv",
    **dict.fromkeys(
        ["deconvolution", "convtranspose", "transposeconv", "transposedconv", "tconv", "upconv",
         "fractionallystridedconv"],
        "deconv",
    ),
    "avgpooling": "avgpool", "maxpooling": "maxpool",
    "adaptiveavgpool": "avgpool", "globalavgpool": "avgpool", "globalaveragepool": "avgpool",
    "averagepool": "avgpool",
    "chunk": "split", "narrow": "slice", "channelshuffle": "shuffle",
    "lrelu": "leakyrelu", "swish": "silu", "hswish": "hardswish", "hsigmoid": "hardsigmoid",
    "clamp": "clip", "multiply": "mul", "mult": "mul", "subtract": "sub", "divide": "div",
    "reducemean": "mean", "globalmean": "mean",
}


def _normalize(name: str) -> str:
    return re.sub(r"[123]d$", "", name.lower().replace("_", "").replace("-", ""))


def unknown_call_message(name: str, known: set[str]) -> str:
    """The error for calling ``name``, which is no op, block or built-in in ``known``."""
    by_key = {_normalize(k): k for k in sorted(known)}
    key = _normalize(name)
    if key in _UNSUPPORTED:
        return _UNSUPPORTED[key].format(name=name)
    meant = _SYNONYMS.get(key) or by_key.get(key)
    if meant is None:
        guess = close_match(name, known | set(_UNSUPPORTED) | set(_SYNONYMS))
        if guess in _UNSUPPORTED:
            return f"unknown op or block '{name}'; " + _UNSUPPORTED[guess].format(name=guess)
        meant = _SYNONYMS.get(guess, guess)  # type: ignore[arg-type]
    hint = f"; did you mean '{meant}'?" if meant else ""
    return f"unknown op or block '{name}'{hint}"
