"""Exporting a torch module with either of PyTorch's ONNX exporters, for
the import tests (not a test module): the TorchScript exporter
(``dynamo=False``) and the dynamo exporter (``dynamo=True``, which needs
onnxscript; its tests skip with a message where it is missing)."""

from __future__ import annotations

import io
import warnings

import pytest

EXPORTERS = ("torchscript", "dynamo")


def export(module, shape, exporter: str) -> bytes:
    """The module's ONNX bytes for an input of ``shape`` (batch included)."""
    import torch

    x = torch.randn(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
            program = torch.onnx.export(module, (x,), dynamo=True, opset_version=18, verbose=False)
            return program.model_proto.SerializeToString()
        buffer = io.BytesIO()
        torch.onnx.export(module, (x,), buffer, opset_version=17, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
        return buffer.getvalue()
