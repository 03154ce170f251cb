"""Corrupt ONNX models (``segc export --to onnx`` of small examples, then
``fuzz_onnx``'s byte and protobuf edits) through ``segc import``: each
import succeeds, writing a .seg file that ``segc check`` accepts, or fails
with a clean error naming the model file and writing nothing; never a
traceback, an internal error or a hang (``fuzz_onnx.import_verdict``).  ``SEGC_FUZZ_EXAMPLES`` sets the
number of examples (see ``fuzz_checks``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from conftest import EXAMPLES
from fuzz_checks import ACCEPTED, CLEAN, fuzz_settings, run_cli
from fuzz_onnx import corrupted_model, import_verdict
from hypothesis import given
from hypothesis import strategies as st

# (file, --network): plain layers with weights; upsample; a deformable layer (the metadata).
SOURCES = {"tiny": ("tiny.seg", None), "tiny_seg": ("tiny_seg.seg", None),
           "dw_square": ("codenet_layer.seg", "dw_square")}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx_sources")
    found = {}
    for key, (name, network) in SOURCES.items():
        options = ["--network", network] if network else []
        output = folder / f"{key}.onnx"
        code, _, err = run_cli(["export", str(EXAMPLES / name), *options, "--to", "onnx", "-o", str(output)])
        assert code == 0, err
        found[key] = output
    return found


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
