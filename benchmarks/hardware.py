"""Benchmarks and experiments of the hardware model (Mori et al., Sec. 3.2,
4.1).

1. Fig. 4: DRAM accesses of DeepLabV3+'s convolutions with no tiling,
   static tiling, the paper's dynamic 2-D tiling, and dilation-aware tiling
   (paper: dynamic cuts them 2.33x against none, 1.23x against static).
2. Speed: ``segc report`` of DeepLabV3+ (JSON to a pipe) against ``segc
   check`` of the same file, interleaved runs, medians; goal ratio <= 2.
3. Speed: ``dse`` over every unroll within the 1,518-DSP budget (pruned to
   the values that change the latency, ``passes/dse.py``); goal < 2 s.
4. Speed: latency evaluations per second with the vectorised model, for
   the pruning search (candidates with their own channel counts); goal:
   tens of thousands per second.

Usage: python benchmarks/hardware.py [--runs N]; exits 1 if a goal fails.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import segc
from segc.hardware import analyse
from segc.passes.dse import explore
from segc.passes.fastmodel import LayerTable, latencies

ROOT = Path(__file__).resolve().parent.parent
DEEPLAB = str(ROOT / "examples" / "deeplabv3plus_r18.seg")


def fig4() -> dict[str, float]:
    graph = segc.load(DEEPLAB)
    words = {}
    for mode in ("none", "static", "paper", "dilation-aware"):
        annotated = analyse(graph, mode)
        convs = [n.annotations["cost"] for n in annotated.nodes() if n.op in ("conv", "linear")]
        words[mode] = sum(c["dram_in"] + c["dram_weight"] + c["dram_out"] for c in convs)
        dilated = [n.annotations["cost"]["dram_in"] for n in annotated.nodes()
                   if n.op == "conv" and n.attrs["dilation"] != (1, 1)]
        words[f"{mode}, dilated inputs"] = sum(dilated)
    print("Fig. 4 (DeepLabV3+ R18, 960x960, Arria 10, 128 KiB input buffer): DRAM words of the convolutions")
    for mode, value in words.items():
        print(f"  {mode:<40} {value / 1e6:10.1f} M")
    print(f"  none / dynamic   = {words['none'] / words['paper']:.2f}x   (paper: 2.33x)")
    print(f"  static / dynamic = {words['static'] / words['paper']:.2f}x   (paper: 1.23x)")
    dilated = words["paper, dilated inputs"] / words["dilation-aware, dilated inputs"]
    print(f"  dynamic / dilation-aware = {words['paper'] / words['dilation-aware']:.2f}x in all, "
          f"{dilated:.2f}x on the dilated layers' input")
    return words


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, cwd=ROOT)
    return time.perf_counter() - start


def report_vs_check(runs: int) -> bool:
    check = [sys.executable, "-m", "segc", "check", DEEPLAB]
    report = [sys.executable, "-m", "segc", "report", DEEPLAB, "--format", "json"]
    for argv in (check, report):
        _time(argv)  # warm-up (parser cache, page cache)
    times: dict[str, list[float]] = {"check": [], "report": []}
    for _ in range(runs):
        times["check"].append(_time(check))
        times["report"].append(_time(report))
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians["report"] / medians["check"]
    print(f"segc report vs segc check (DeepLabV3+, {runs} runs each, interleaved): "
          f"check {medians['check']:.3f} s, report {medians['report']:.3f} s, ratio {ratio:.2f} (goal <= 2)")
    return ratio <= 2


def dse_time(runs: int) -> bool:
    graph = segc.load(DEEPLAB)
    times, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        count = len(explore(graph, graph.target))
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"dse of DeepLabV3+ ({count} designs: every unroll within 1,518 DSPs, pruned, x input buffers): "
          f"median {median:.3f} s over {runs} runs (goal < 2 s)")
    return median < 2


def evaluations_per_second(runs: int, batch: int = 10_000) -> bool:
    graph = analyse(segc.load(DEEPLAB))
    table = LayerTable.of(graph)
    rng = np.random.default_rng(0)
    keep = rng.uniform(0.3, 1.0, size=(batch, len(table.names)))  # pruned channel fractions
    ci = np.maximum(1, (table.ci * keep).astype(np.int64))
    co = np.maximum(1, (table.co * keep).astype(np.int64))
    u = graph.target.unroll
    unroll = np.array([[u.pif, u.pof, u.pkx, u.pky]])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        latencies(table, graph.target, unroll, ci=ci, co=co).sum(axis=1)
        times.append(time.perf_counter() - start)
    rate = batch / statistics.median(times)
    print(f"latency evaluations of pruned DeepLabV3+ candidates ({len(table.names)} layers, batches of {batch}): "
          f"{rate:,.0f} per second (goal: tens of thousands)")
    return rate >= 20_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    fig4()
    results = [report_vs_check(args.runs), dse_time(max(3, args.runs // 2)), evaluations_per_second(args.runs)]
    print("all goals met" if all(results) else "a goal failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
