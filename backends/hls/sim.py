"""C simulation of a generated HLS project: compile it with g++ (with
OpenMP where g++ has it: the simulation then uses every core, or
OMP_NUM_THREADS threads, with the same output), run the test bench, read
its outputs, and compare them with reference outputs.

Figures per output (``compare``): the largest absolute error; the largest
relative error, max |C − ref| / max |ref| (relative to the output's range,
so near-zero values do not blow it up); and, for outputs with more than one
channel, the share of pixels whose argmax over channels (the segmentation
class, or the class of a [C, 1, 1] classifier) agrees.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...ir import Diagnostic, SegError
from .project import CXX_FLAGS

__all__ = ["Build", "compare", "compile_project", "parallel_flags", "run_testbench", "write_project"]

_SHOWN_LINES = 40


def write_project(files: dict[str, bytes], folder: str | os.PathLike) -> None:
    """Write the files under ``folder`` (plain writes: a scratch folder)."""
    for name, data in files.items():
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _tail(text: str) -> str:
    lines = text.strip().splitlines()
    if len(lines) > _SHOWN_LINES:
        lines = [f"… ({len(lines) - _SHOWN_LINES} lines before)", *lines[-_SHOWN_LINES:]]
    return "\n".join(lines)


def _compiler(cxx: str | None) -> str:
    name = cxx or os.environ.get("CXX") or "g++"
    path = shutil.which(name)
    if path is None:
        raise SegError(Diagnostic(
            f"cannot build the C simulation: the C++ compiler '{name}' was not found; install g++ or set CXX"
        ))
    return path


_PROBES = {"-fopenmp": "#include <omp.h>\nint main() { return omp_get_max_threads() < 1; }\n",
           "-fopenmp-simd": "int main() { return 0; }\n"}


@functools.cache
def _accepts(compiler: str, flag: str) -> bool:
    """Whether the compiler builds and links its probe program with ``flag``."""
    with tempfile.TemporaryDirectory(prefix="segc-probe-") as folder:
        Path(folder, "probe.cpp").write_text(_PROBES[flag])
        return subprocess.run([compiler, flag, "probe.cpp", "-o", "probe"], cwd=folder,
                              capture_output=True).returncode == 0


def parallel_flags(compiler: str, openmp: bool = True) -> tuple[str, ...]:
    """``-fopenmp`` (threads and vectorised loops) where wanted and the
    compiler has it, else ``-fopenmp-simd`` (vectorised loops, one thread)
    where it takes that, else none."""
    if openmp and _accepts(compiler, "-fopenmp"):
        return ("-fopenmp",)
    return ("-fopenmp-simd",) if _accepts(compiler, "-fopenmp-simd") else ()


@dataclass(frozen=True)
class Build:
    """How ``compile_project`` built ``csim``."""

    seconds: float
    flags: tuple[str, ...]  # the compiler's flags (the link takes the OpenMP flag too)
    commands: tuple[tuple[str, ...], ...]  # the compiler commands, as run in the project folder
    openmp: bool  # built with -fopenmp (else it runs on one thread)

    def describe(self) -> dict:
        """The build as hls-sim reports it."""
        return {"compiler_flags": shlex.join(self.flags), "compile_commands": [shlex.join(c) for c in self.commands],
                "openmp": self.openmp}


def compile_project(folder: str | os.PathLike, opt: str = "-O2", cxx: str | None = None, openmp: bool = True,
                    extra: tuple[str, ...] = ()) -> Build:
    """Compile network.cpp and tb.cpp in parallel and link ``csim``, with
    OpenMP where the compiler has it (unless not ``openmp``) and the flags
    ``extra`` (such as ``-DSEGC_PE_LOOPS``)."""
    compiler, start = _compiler(cxx), time.perf_counter()
    parallel = parallel_flags(compiler, openmp)
    flags = (*CXX_FLAGS, opt, *parallel, *extra)
    jobs = [(compiler, *flags, "-c", f"{unit}.cpp", "-o", f"{unit}.o") for unit in ("network", "tb")]
    running = [subprocess.Popen(job, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for job in jobs]
    results = [(job, process.communicate()[0], process.returncode) for job, process in zip(jobs, running)]
    for job, output, code in results:
        if code != 0:
            raise SegError(Diagnostic(
                f"the C++ compiler failed on {job[-3]} (exit status {code}):\n{_tail(output)}", path=str(folder)
            ))
    link_command = (compiler, *parallel, "network.o", "tb.o", "-o", "csim")
    link = subprocess.run(link_command, cwd=folder, capture_output=True, text=True)
    if link.returncode != 0:
        raise SegError(Diagnostic(f"linking the C simulation failed:\n{_tail(link.stderr)}", path=str(folder)))
    return Build(time.perf_counter() - start, flags, (*jobs, link_command), parallel == ("-fopenmp",))


def run_testbench(folder: str | os.PathLike, config: dict, trace: bool = False,
                  threads: int | None = None) -> tuple[list[np.ndarray], dict[str, int], float, dict[str, np.ndarray]]:
    """Run ``csim`` on tb_data/input.bin, on ``threads`` threads (default:
    OMP_NUM_THREADS, else every core): (outputs [C, H, W], counts
    ``saturated``, ``line_buffer_misses`` and ``threads`` (as it ran),
    seconds, every layer's output when ``trace``)."""
    env = dict(os.environ)
    env.pop("SEGC_TRACE", None)
    if trace:
        env["SEGC_TRACE"] = "trace.bin"
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    done = subprocess.run(["./csim", "params.bin", "tb_data/input.bin", "output.bin"], cwd=folder,
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SegError(Diagnostic(
            f"the C simulation failed (exit status {done.returncode}):\n{_tail(done.stdout + done.stderr)}",
            path=str(folder),
        ))
    counts = {"saturated": 0, "line_buffer_misses": 0, "threads": 1}
    for line in done.stderr.splitlines():
        for key, label in (("saturated", "saturated results:"), ("line_buffer_misses", "line-buffer misses:"),
                           ("threads", "threads:")):
            if line.startswith(label):
                counts[key] = int(line.split(":")[1])
    outputs = _split(np.fromfile(Path(folder) / "output.bin", dtype="<f4"), [o["shape"] for o in config["outputs"]])
    layers: dict[str, np.ndarray] = {}
    if trace:
        shapes = {layer["name"]: layer["shape"] for layer in config["layers"]}
        values = _split(np.fromfile(Path(folder) / "trace.bin", dtype="<f4"), [shapes[n] for n in config["trace"]])
        layers = dict(zip(config["trace"], values))
    return outputs, counts, seconds, layers


def _split(flat: np.ndarray, shapes: list[list[int]]) -> list[np.ndarray]:
    parts, start = [], 0
    for shape in shapes:
        words = int(np.prod(shape))
        parts.append(flat[start:start + words].reshape(shape))
        start += words
    return parts


def compare(reference: np.ndarray, simulated: np.ndarray) -> dict:
    """Error figures of one output ([C, H, W] arrays)."""
    ref, sim = np.asarray(reference, dtype=np.float64), np.asarray(simulated, dtype=np.float64)
    error = np.abs(sim - ref)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    figures = {"max_abs_error": float(error.max()) if error.size else 0.0}
    figures["max_rel_error"] = figures["max_abs_error"] / scale if scale > 0 else figures["max_abs_error"]
    if ref.shape[0] > 1:
        agree = np.argmax(ref, axis=0) == np.argmax(sim, axis=0)
        figures.update(argmax_agreement=float(agree.mean()), pixels=int(agree.size))
    else:
        figures.update(argmax_agreement=None, pixels=int(ref.shape[1] * ref.shape[2]))
    return figures
