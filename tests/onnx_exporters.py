"""Exporting a torch module with either of PyTorch's ONNX exporters, for
the import tests (not a test module): the TorchScript exporter
(``dynamo=False``) and the dynamo exporter (``dynamo=True``, which needs
onnxscript; its tests skip with a message where it is missing)."""

from __future__ import annotations

import io
import warnings

import pytest

EXPORTERS = ("torchscript", "dynamo")


def export(module, shape, exporter: str, opset: int | None = None, translations=None) -> bytes:
    """The module's ONNX bytes for an input of ``shape`` (batch included);
    ``opset`` (default 17, dynamo 18); ``translations``: a function giving
    the dynamo exporter's ``custom_translation_table`` (for custom ops)."""
    import torch

    x = torch.randn(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
            program = torch.onnx.export(module, (x,), dynamo=True, opset_version=opset or 18, verbose=False,
                                        custom_translation_table=translations() if translations else None)
            return program.model_proto.SerializeToString()
        buffer = io.BytesIO()
        torch.onnx.export(module, (x,), buffer, opset_version=opset or 17, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
        return buffer.getvalue()
