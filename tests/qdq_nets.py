"""The network and onnxruntime runner the ONNX quantization tests share."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from segc.api import loads

NETWORK = """
network qnet {{
    input x: [3, 8, 8]
    a = x -> conv(8, k=3) -> bn -> relu
    b = a -> deconv(4, k=2, stride=2, bias=true) -> maxpool(k=2)
    output y = b -> avgpool(global=true) -> flatten -> linear(5)
}}
quantize qnet {{
    *: {rule}
    b.*: {other}
}}
"""


def qnet(rule: str, other: str | None = None):
    """The network with ``rule`` for every layer, ``other`` (default: the
    same) for the layers of ``b``."""
    return loads(NETWORK.format(rule=rule, other=other or rule), path="q.seg")


def run_onnx(data: bytes, x: np.ndarray) -> np.ndarray:
    """The first output of a serialized model on ``x``, its QDQ run as
    written (no fusion into integer kernels)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]
