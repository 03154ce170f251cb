"""The compiled path of deformable convolution: a small C++ extension
(``csrc/deform.cpp``) built on first use with ``torch.utils.cpp_extension``
(needs a C++ compiler and ``ninja``: ``pip install segc[compiled]``), cached
under the user's cache directory.  Forward only, without autograd: training
and tracing keep the pure-torch path, which is also the reference and the
fallback whenever the extension cannot be built (one notice, then torch).

Chosen by ``deform_conv2d(..., kernel=...)`` / ``DeformConv2d(kernel=...)`` or
the environment variable ``SEGC_DEFORM_KERNEL``: ``"torch"`` (the default),
``"compiled"`` (the extension; a notice when it cannot be built) or ``"auto"``
(the extension when it builds, silently torch otherwise).  docs/deformable.md,
"The compiled kernel".
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from ...ir import Diagnostic, SegError
from .deform_kernels import KERNELS, Geometry

__all__ = ["COMPILED_CHUNK_ELEMENTS", "build_failure", "cache_directory", "compiled_extension", "compiled_forward",
           "extension_cached", "kernel_choice"]

# Most values in one chunk of sampled columns (pixels · kh·kw·C): 2**21 floats = 8 MiB in float32.
COMPILED_CHUNK_ELEMENTS = 2**21
_SOURCE = Path(__file__).parent / "csrc" / "deform.cpp"


def kernel_choice(kernel: str | None) -> str:
    """``kernel``, else ``$SEGC_DEFORM_KERNEL``, else "torch".  An unknown name: a ValueError (the argument)
    or a SegError (the environment variable, which is user input to segc's commands); both list the choices."""
    if kernel is not None:
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: the deformable kernel must be one of {', '.join(KERNELS)}")
        return kernel
    choice = os.environ.get("SEGC_DEFORM_KERNEL", "").strip() or "torch"
    if choice not in KERNELS:
        raise SegError(Diagnostic(f"SEGC_DEFORM_KERNEL must be one of {', '.join(KERNELS)}, got '{choice}'"))
    return choice


def cache_directory(source: str) -> Path:
    """A build folder per source text, torch version, Python and machine, under the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = "\0".join((source, torch.__version__, sys.version, platform.machine()))
    return cache / "segc" / "extensions" / f"deform-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@functools.cache
def compiled_extension() -> ModuleType | None:
    """The built extension, or None (the reason in ``build_failure``) when it cannot be built."""
    source = _SOURCE.read_text(encoding="utf-8")
    directory = cache_directory(source)
    openmp = ["-fopenmp"] if torch.backends.openmp.is_available() else []
    torch_logger = logging.getLogger("torch.utils.cpp_extension")
    level = torch_logger.level
    torch_logger.setLevel(logging.ERROR)  # its CUDA and compiler-version warnings: the notice below says enough
    try:
        from torch.utils import cpp_extension

        directory.mkdir(parents=True, exist_ok=True)
        return cpp_extension.load(name="segc_deform", sources=[str(_SOURCE)], build_directory=str(directory),
                                  extra_cflags=["-O3", *openmp], extra_ldflags=openmp, verbose=False)
    except (OSError, RuntimeError, ImportError, subprocess.SubprocessError) as error:  # no compiler or ninja
        build_failure.append(_failure_line(error, directory))
        return None
    finally:
        torch_logger.setLevel(level)


build_failure: list[str] = []
_noticed: set[str] = set()  # the build failures already told (one notice each)


def extension_cached() -> bool:
    """Whether the extension of this source is already built (loading it then takes a second, not a minute)."""
    return (cache_directory(_SOURCE.read_text(encoding="utf-8")) / "segc_deform.so").exists()


def _failure_line(error: BaseException, directory: Path) -> str:
    """One line on a failed build; the whole message goes to build-error.log in the build folder."""
    text = str(error).strip() or type(error).__name__
    try:
        (directory / "build-error.log").write_text(text + "\n", encoding="utf-8")
        where = f"; details in {directory / 'build-error.log'}"
    except OSError:
        where = ""
    return text.splitlines()[0].split(": [")[0][:160] + where


def _supported(x: Tensor, offset: Tensor, weight: Tensor) -> bool:
    """CPU, float32/float64, and no gradient needed (the extension has no backward)."""
    tensors = (x, offset, weight)
    if any(t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64) for t in tensors):
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def compiled_forward(choice: str, x: Tensor, offset: Tensor, weight: Tensor, geo: Geometry, groups: int,
                     interpolate: bool) -> Tensor | None:
    """The output by the extension, or None where the pure-torch path must run (see the module docstring)."""
    if choice == "torch" or not _supported(x, offset, weight):
        return None
    extension = compiled_extension()
    if extension is None:
        if choice == "compiled" and build_failure[0] not in _noticed:
            _noticed.add(build_failure[0])
            warnings.warn(f"segc: the compiled deformable kernel cannot be built ({build_failure[0]}); "
                          "using the pure-torch kernel", RuntimeWarning, stacklevel=4)
        return None
    params = [*geo.stride, *geo.padding, *geo.dilation, geo.offset_groups]
    x, offset, weight = x.contiguous(), offset.to(x.dtype).contiguous(), weight.to(x.dtype).contiguous()
    if weight.shape[1] == 1 and weight.shape[0] == groups:  # depthwise
        return extension.depthwise_forward(x, offset, weight, params, interpolate)
    return extension.columns_forward(x, offset, weight, params, interpolate, groups, COMPILED_CHUNK_ELEMENTS)
