"""Corrupt ONNX models (``segc export --to onnx`` of small examples, then
``fuzz_onnx``'s byte and protobuf edits) through ``segc import``: each
import succeeds, writing a .seg file that ``segc check`` accepts, or fails
with a clean error naming the model file and writing nothing; never a
traceback, an internal error or a hang (``fuzz_onnx.import_verdict``).
``SEGC_FUZZ_EXAMPLES`` sets the number of examples (see ``fuzz_checks``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from fuzz_checks import ACCEPTED, CLEAN, fuzz_settings
from fuzz_onnx import corrupted_model, import_verdict, source_models
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return source_models(tmp_path_factory.mktemp("onnx_sources"))


@fuzz_settings(80)
@given(data=st.data())
def test_corrupt_onnx_model_fails_cleanly(models: dict[str, Path], tmp_path_factory, data: st.DataObject) -> None:
    folder = tmp_path_factory.getbasetemp() / "onnx_fuzz"
    folder.mkdir(exist_ok=True)
    model = folder / "model.onnx"
    model.write_bytes(data.draw(corrupted_model(models[data.draw(st.sampled_from(sorted(models)))].read_bytes())))
    assert import_verdict(model, folder) in CLEAN


def test_the_unmodified_models_import(models: dict[str, Path], tmp_path: Path) -> None:
    """The control case: what segc exported, it imports."""
    for model in models.values():
        assert import_verdict(model, tmp_path) == ACCEPTED
