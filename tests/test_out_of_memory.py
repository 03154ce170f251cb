"""A network that segc's limits allow but this machine's memory does not:
a clear error saying memory ran out and what to do (exit 1), never
``internal error``.  Allocations fail for real but cheaply: an impossible
size (more than any address space) from torch and numpy, and one command
run under a small address-space limit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import EXAMPLES

from segc import api
from segc.cli import main

torch = pytest.importorskip("torch")

IMPOSSIBLE = 2**60  # bytes: beyond any address space, so the allocation fails at once
ADVICE = ("the network's tensors do not fit in this machine's memory; use a smaller input, or lower "
          "SEGC_MAX_TENSOR_ELEMENTS and SEGC_MAX_NETWORK_ELEMENTS so that segc refuses such networks before it starts")


def _torch_allocation(*_args, **_kwargs):
    torch.empty(IMPOSSIBLE, dtype=torch.uint8)


def _numpy_allocation(*_args, **_kwargs):
    np.empty(IMPOSSIBLE, dtype=np.uint8)


def _python_allocation(*_args, **_kwargs):
    raise MemoryError


@pytest.mark.parametrize(("allocate", "detail"), [
    (_torch_allocation, " (torch could not allocate 1,152,921,504,606,846,976 bytes)"),
    (_numpy_allocation, " (Unable to allocate 1.00 EiB for an array with shape (1152921504606846976,) "
                        "and data type uint8)"),
    (_python_allocation, ""),
])
def test_failed_allocations_say_memory_ran_out(allocate, detail, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(api, "to_onnx", allocate)
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(EXAMPLES / "tiny.seg"), "--to", "onnx", "-o", str(out)]) == 1
    assert capsys.readouterr().err == f"error: out of memory{detail}: {ADVICE}\n"
    assert not out.exists()


@pytest.mark.parametrize(("message", "detail"), [
    ("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 15.78 GiB total capacity)", "CUDA out of memory"),
    ("MPS backend out of memory (MPS allocated: 1.00 GB)", "MPS backend out of memory"),
])
def test_accelerator_allocations_are_recognised(message, detail, monkeypatch, tmp_path, capsys):
    def allocate(*_args, **_kwargs):
        raise torch.OutOfMemoryError(message)

    monkeypatch.setattr(api, "to_onnx", allocate)
    assert main(["export", str(EXAMPLES / "tiny.seg"), "--to", "onnx", "-o", str(tmp_path / "t.onnx")]) == 1
    assert capsys.readouterr().err == f"error: out of memory ({detail}): {ADVICE}\n"


@pytest.mark.parametrize("error", [
    RuntimeError("shape '[2, 3]' is invalid for input of size 5"),
    RuntimeError("memory format is not supported"),
    ValueError("can't allocate memory"),  # the wording alone, not from an allocator
])
def test_other_errors_stay_internal_errors(error, monkeypatch, tmp_path, capsys):
    def fail(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(api, "to_onnx", fail)
    assert main(["export", str(EXAMPLES / "tiny.seg"), "--to", "onnx", "-o", str(tmp_path / "t.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"segc: internal error: {type(error).__name__}: {error}") and "out of memory" not in err


# Run in a child: import everything first, then limit its address space to
# what it maps now plus 2 GiB (whatever torch's build maps), then run the command.
_LIMITED_RUN = """import resource, sys
import numpy, torch
from segc.cli import main
mapped = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (mapped + 2 * 2**30, resource.RLIM_INFINITY))
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_network_too_large_for_the_address_space(tmp_path):
    """8×16000×16000 is within the tensor limits (2.05·10⁹ elements ≤ 2³¹);
    the calibration input of its HLS export needs 15 GiB, which does not fit."""
    (tmp_path / "big.seg").write_text(
        f'import "{EXAMPLES}/targets/ultra96.seg"\n'
        "network big on ultra96_codenet {\n"
        "    input image: [8, 16000, 16000]\n"
        "    output y = image -> conv(8, k=3) -> relu\n"
        "}\n")
    argv = ["export", "big.seg", "--to", "hls", "-o", "hls"]
    done = subprocess.run([sys.executable, "-c", _LIMITED_RUN, *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: out of memory (") and done.stderr.endswith(f"{ADVICE}\n")
    assert not (tmp_path / "hls").exists()
