"""Deformable convolution on CPU: CoDeNet's hardware test layer in ``segc.backends.torch.deform``.

The layer (DESIGN.md §4, "Deformable offsets (CoDeNet)"): input 1×256×64×64, 3×3 kernel,
padding 1, 256 → 256 channels; depthwise: groups = 256.  Timed, as the median of ``--runs``
runs after a warm-up, the variants interleaved round by round so they share the machine's
noise, with ``torch.set_num_threads(--threads)`` (default: all cores):

* plain conv (``F.conv2d``) and the deformable kernel ``deform_conv2d`` with random fractional
  offsets (N(0, 2²), many outside the image); torchvision's compiled kernel on the same
  arguments (full and depthwise) when torchvision is importable;
* the ``DeformConv2d`` modules, offset branch included, its weights random so that offsets
  are fractional: full, bounded (bound 8, CoDeNet's default), square (bound 8), rounded
  (full, round=True), square rounded (CoDeNet's hardware variant);
* depthwise: plain depthwise conv, depthwise deformable kernel, depthwise square module;
* the compiled kernel (``kernel="compiled"``, built on first use; left out when it cannot be
  built), full and depthwise, and the matrix product of the full one alone (forward+backward
  of the compiled cases runs the pure-torch kernel, as autograd does).

Forward runs under ``torch.no_grad()`` (inference); forward+backward runs with every input,
offset and parameter requiring a gradient and backpropagates a fixed random gradient.  Each
time is also taken as the process's CPU time (``time.process_time``), which at one thread
leaves out the time the process waits for a core on a loaded machine.

Peak memory of one forward (under ``torch.no_grad()``): ``torch.profiler.profile(
profile_memory=True)`` records every allocation and free made through torch's CPU allocator
as a ``[memory]`` event with its byte count (negative for a free) and a timestamp, including
those made inside an op (e.g. oneDNN's reordered copies of the input and weight in the plain
conv); the maximum of their running sum, in time order, is the peak memory the forward adds
on top of the inputs and parameters that exist before it.  (tracemalloc sees none of this,
and the process's RSS is blurred by malloc's caching.)

Goals: (1) against torchvision's kernel on the same arguments (skipped when torchvision is
not installed): forward at most 0.20× its time (full) and 0.10× (depthwise), forward+backward
at most 0.30×, outputs within 1e-5 (largest absolute difference); (2) the rounded and square
modules faster than the full one (forward); (3) the peak memory of one forward within 4× of
the plain conv's (the depthwise variants against the plain depthwise conv).  Exit status 1
when a checked goal fails.

    .venv/bin/python benchmarks/deform.py [--threads N] [--runs 9] [--json results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from segc.backends.torch.deform import DeformConv2d, deform_conv2d
from segc.backends.torch.deform_compiled import build_failure, compiled_extension

CHANNELS, SIZE, KERNEL = 256, 64, 3
BOUND = 8.0
# Largest time ratios to torchvision: forward (full, depthwise), forward+backward; largest output difference.
FULL_LIMIT, DEPTHWISE_LIMIT, BACKWARD_LIMIT, NUMERIC_LIMIT = 0.20, 0.10, 0.30, 1e-5
MEMORY_LIMIT = 4.0


@dataclass
class Case:
    """One timed computation: ``forward`` builds the output from ``inputs`` (leaves)."""

    name: str
    forward: Callable[[], torch.Tensor]
    leaves: list[torch.Tensor]
    baseline: str  # the plain conv it is compared with
    kind: str = "other"  # "bilinear", "module", or "other"
    reference: str | None = None  # the torchvision case computing the same output
    fwd: list[float] = field(default_factory=list)
    fwd_bwd: list[float] = field(default_factory=list)
    fwd_cpu: list[float] = field(default_factory=list)
    fwd_bwd_cpu: list[float] = field(default_factory=list)
    peak: int = 0


def make_cases(seed: int) -> list[Case]:
    torch.manual_seed(seed)
    x = torch.randn(1, CHANNELS, SIZE, SIZE)
    weight = torch.randn(CHANNELS, CHANNELS, KERNEL, KERNEL) / (CHANNELS * KERNEL * KERNEL) ** 0.5
    dw_weight = torch.randn(CHANNELS, 1, KERNEL, KERNEL) / KERNEL
    offset = torch.randn(1, 2 * KERNEL * KERNEL, SIZE, SIZE) * 2
    cases = [
        Case("plain conv", lambda: F.conv2d(x, weight, padding=1), [x, weight], "plain conv"),
        Case("deform_conv2d", lambda: deform_conv2d(x, offset, weight, padding=1), [x, offset, weight],
             "plain conv", "bilinear", "torchvision"),
    ]
    cases += torchvision_cases(x, offset, weight, dw_weight)
    cases += compiled_cases(x, offset, weight, dw_weight)
    for name, options in (("module full", {}), ("module bounded", {"bound": BOUND}),
                          ("module square", {"shape": "square", "bound": BOUND}),
                          ("module rounded", {"round": True}),
                          ("module square rounded", {"shape": "square", "bound": BOUND, "round": True})):
        cases.append(module_case(name, x, options, groups=1))
    cases += [
        Case("plain depthwise", lambda: F.conv2d(x, dw_weight, padding=1, groups=CHANNELS), [x, dw_weight],
             "plain depthwise"),
        Case("deform_conv2d depthwise", lambda: deform_conv2d(x, offset, dw_weight, padding=1, groups=CHANNELS),
             [x, offset, dw_weight], "plain depthwise", "bilinear", "torchvision depthwise"),
        module_case("module square depthwise", x, {"shape": "square", "bound": BOUND}, groups=CHANNELS),
    ]
    return cases


def module_case(name: str, x: torch.Tensor, options: dict, groups: int) -> Case:
    module = DeformConv2d(CHANNELS, CHANNELS, KERNEL, padding=1, groups=groups, **options)
    square = options.get("shape") == "square"
    with torch.no_grad():  # fractional offsets: N(0, 2²) (square: scales N(1.5, 0.5²))
        module.offset.weight.normal_(0, (0.5 if square else 2) / module.offset.weight[0].numel() ** 0.5)
        module.offset.bias.fill_(1.5 if square else 0)
    baseline = "plain conv" if groups == 1 else "plain depthwise"
    return Case(name, lambda: module(x), [x, *module.parameters()], baseline, "module")


def torchvision_cases(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                      dw_weight: torch.Tensor) -> list[Case]:
    try:
        from torchvision.ops import deform_conv2d as tv_deform_conv2d
    except ImportError:
        return []
    return [Case("torchvision", lambda: tv_deform_conv2d(x, offset, weight, padding=(1, 1)),
                 [x, offset, weight], "plain conv"),
            Case("torchvision depthwise", lambda: tv_deform_conv2d(x, offset, dw_weight, padding=(1, 1)),
                 [x, offset, dw_weight], "plain depthwise")]


def compiled_cases(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                   dw_weight: torch.Tensor) -> list[Case]:
    """The compiled kernel (built on first use; none when it cannot be built) and, to compare, its matrix
    product alone: the weight [O, kh·kw·C] by random columns [kh·kw·C, pixels], into a preallocated output."""
    if compiled_extension() is None:
        print(f"compiled kernel unavailable: {build_failure[0]}")
        return []
    flat_weight = weight.permute(0, 2, 3, 1).reshape(CHANNELS, -1).contiguous()
    columns, product = torch.randn(SIZE * SIZE, flat_weight.shape[1]), torch.empty(CHANNELS, SIZE * SIZE)

    def matrix_product() -> torch.Tensor:
        if torch.is_grad_enabled():
            return torch.mm(flat_weight, columns.t()).view(1, CHANNELS, SIZE, SIZE)
        return torch.mm(flat_weight, columns.t(), out=product)

    return [Case("compiled", lambda: deform_conv2d(x, offset, weight, padding=1, kernel="compiled"),
                 [x, offset, weight], "plain conv", "bilinear", "torchvision"),
            Case("matrix product alone", matrix_product, [flat_weight, columns], "plain conv"),
            Case("compiled depthwise",
                 lambda: deform_conv2d(x, offset, dw_weight, padding=1, groups=CHANNELS, kernel="compiled"),
                 [x, offset, dw_weight], "plain depthwise", "bilinear", "torchvision depthwise")]


def time_forward(case: Case) -> tuple[float, float]:
    """Wall and CPU seconds of one no-grad forward."""
    with torch.no_grad():
        start, cpu = time.perf_counter(), time.process_time()
        case.forward()
        return time.perf_counter() - start, time.process_time() - cpu


def time_forward_backward(case: Case, grad: torch.Tensor) -> tuple[float, float]:
    """Wall and CPU seconds of one forward and backward."""
    for leaf in case.leaves:
        leaf.requires_grad_(True)
        leaf.grad = None
    start, cpu = time.perf_counter(), time.process_time()
    case.forward().backward(grad)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    for leaf in case.leaves:
        leaf.requires_grad_(False)
        leaf.grad = None
    return elapsed


@contextlib.contextmanager
def quiet_stderr():
    """Silence the profiler's start/stop lines, which its C++ side writes to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def peak_forward_memory(case: Case) -> int:
    """Peak bytes allocated by one no-grad forward, from the profiler's allocation events."""
    with torch.no_grad():
        case.forward()
        with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            case.forward()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    running = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak


def measure(cases: list[Case], runs: int) -> None:
    grad = torch.randn(1, CHANNELS, SIZE, SIZE)
    for case in cases:  # warm-up
        time_forward(case)
        time_forward_backward(case, grad)
    for round_number in range(runs):
        rotation = round_number % len(cases)
        for case in cases[rotation:] + cases[:rotation]:
            for wall, cpu, (wall_time, cpu_time) in ((case.fwd, case.fwd_cpu, time_forward(case)),
                                                     (case.fwd_bwd, case.fwd_bwd_cpu,
                                                      time_forward_backward(case, grad))):
                wall.append(wall_time)
                cpu.append(cpu_time)
    for case in cases:
        case.peak = peak_forward_memory(case)


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def table(cases: list[Case]) -> str:
    by_name = {case.name: case for case in cases}
    lines = [f"{'variant':<26}{'fwd ms':>9}{'fwd+bwd ms':>12}{'cpu fwd':>9}{'cpu f+b':>9}{'fwd/plain':>11}"
             f"{'peak MiB':>10}{'peak/plain':>12}", "-" * 98]
    for case in cases:
        base = by_name[case.baseline]
        lines.append(f"{case.name:<26}{ms(case.fwd):>9.1f}{ms(case.fwd_bwd):>12.1f}{ms(case.fwd_cpu):>9.1f}"
                     f"{ms(case.fwd_bwd_cpu):>9.1f}{ms(case.fwd) / ms(base.fwd):>10.2f}x{case.peak / 2**20:>10.1f}"
                     f"{case.peak / max(base.peak, 1):>11.2f}x")
    return "\n".join(lines)


def verdict(ratio: float, limit: float) -> str:
    return "PASS" if ratio <= limit else "FAIL"


def torchvision_goals(case: Case, tv: Case | None) -> list[tuple[str, str, str]]:
    """Time ratios (wall; CPU time in the detail) and the largest output difference to torchvision."""
    limit = DEPTHWISE_LIMIT if "depthwise" in case.name else FULL_LIMIT
    goals = [(f"{case.name} forward at most {limit:g}x torchvision", limit, case.fwd, case.fwd_cpu, "fwd"),
             (f"{case.name} forward+backward at most {BACKWARD_LIMIT:g}x torchvision", BACKWARD_LIMIT,
              case.fwd_bwd, case.fwd_bwd_cpu, "fwd_bwd")]
    if tv is None:
        return [(goal, "SKIP", "torchvision not installed") for goal, *_ in goals]
    results = []
    for goal, limit, wall, cpu, attribute in goals:
        ratio = ms(wall) / ms(getattr(tv, attribute))
        cpu_ratio = ms(cpu) / ms(getattr(tv, f"{attribute}_cpu"))
        results.append((goal, verdict(ratio, limit), f"{ratio:.3f}x (CPU time {cpu_ratio:.3f}x)"))
    with torch.no_grad():
        difference = (case.forward() - tv.forward()).abs().max().item()
    results.append((f"{case.name} within {NUMERIC_LIMIT:g} of torchvision", verdict(difference, NUMERIC_LIMIT),
                    f"largest difference {difference:.2e}"))
    return results


def goals(cases: list[Case]) -> list[tuple[str, str, str]]:
    """(goal, PASS/FAIL/SKIP, detail) for each goal."""
    by_name = {case.name: case for case in cases}
    results = []
    for case in (c for c in cases if c.reference is not None):
        results += torchvision_goals(case, by_name.get(case.reference))
    full = ms(by_name["module full"].fwd)
    for name in ("module rounded", "module square"):
        ratio = ms(by_name[name].fwd) / full
        results.append((f"{name} faster than module full", "PASS" if ratio < 1 else "FAIL", f"{ratio:.2f}x"))
    for case in cases:
        if case.kind in ("bilinear", "module"):
            ratio = case.peak / by_name[case.baseline].peak
            results.append((f"{case.name} peak memory within {MEMORY_LIMIT:g}x of {case.baseline}",
                            verdict(ratio, MEMORY_LIMIT), f"{ratio:.2f}x"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all)")
    parser.add_argument("--runs", type=int, default=9, help="timed rounds (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = make_cases(args.seed)
    measure(cases, args.runs)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.runs} runs; "
          f"input 1x{CHANNELS}x{SIZE}x{SIZE}, {KERNEL}x{KERNEL}, {CHANNELS}->{CHANNELS}")
    if not any(case.name == "torchvision" for case in cases):
        print("torchvision not installed: ratios are to the plain conv")
    print(table(cases))
    results = goals(cases)
    for goal, verdict, detail in results:
        print(f"{verdict:<5} {goal}: {detail}")
    if args.json:
        rows = {c.name: {"fwd_ms": ms(c.fwd), "fwd_bwd_ms": ms(c.fwd_bwd), "fwd_cpu_ms": ms(c.fwd_cpu),
                         "fwd_bwd_cpu_ms": ms(c.fwd_bwd_cpu), "peak_bytes": c.peak} for c in cases}
        figures = {"threads": torch.get_num_threads(), "runs": args.runs, "cases": rows,
                   "goals": [{"goal": g, "verdict": v, "detail": d} for g, v, d in results]}
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)
    return 1 if any(verdict == "FAIL" for _, verdict, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
