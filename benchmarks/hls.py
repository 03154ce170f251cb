"""The HLS C++ backend on ResNet-18 at 224×224 (examples/resnet18.seg, Arria 10
target, weights from seed 0, a standard normal input).

Timed, as medians of ``--runs`` runs (2 cores):

* generation: ``segc.hls.build_project`` — tiling, the torch reference (module
  built, calibration run, reference output), per-layer formats, code, the
  parameter image (11.7 M words) and test data;
* compilation: ``network.cpp`` and ``tb.cpp`` with g++ -O2 (-fopenmp where
  g++ has it), in parallel, and the link (``backends/hls/sim.compile_project``);
* C simulation: the test bench on the input (``./csim``), which reads the
  parameters, runs the network in 16-bit fixed point and writes the output;
* end to end, as a user runs it: ``segc export examples/resnet18.seg --to hls
  -o DIR`` (a fresh process: Python, torch and segc imported, files written)
  then ``DIR/build.sh`` (g++ -O2, one process for both files).

Goals (the issue): generation + compilation under 60 s; the C simulation
under 60 s.  Also printed: the C simulation's error against torch.  Exit
status 1 when a goal fails.

    .venv/bin/python benchmarks/hls.py [--runs 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import segc
from segc.backends.hls.sim import compare, compile_project, run_testbench, write_project
from segc.hls import HlsOptions, build_project

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 60.0


def one_run(graph) -> dict:
    start = time.perf_counter()
    files, expected = build_project(graph, HlsOptions())
    generate_s = time.perf_counter() - start
    config = json.loads(files["config.json"])
    with tempfile.TemporaryDirectory(prefix="segc-hls-bench-") as folder:
        write_project(files, folder)
        compile_s = compile_project(folder, "-O2").seconds
        outputs, counts, run_s, _ = run_testbench(folder, config)
    return {"generate_s": generate_s, "compile_s": compile_s, "csim_s": run_s, "saturated": counts["saturated"],
            "param_words": config["param_words"], "mem_words": config["mem_words"],
            **compare(expected[0], outputs[0])}


def end_to_end() -> float:
    """Seconds of ``segc export --to hls`` and ``build.sh`` in fresh processes."""
    segc_command = str(Path(sys.executable).with_name("segc"))
    with tempfile.TemporaryDirectory(prefix="segc-hls-e2e-") as folder:
        start = time.perf_counter()
        subprocess.run([segc_command, "export", str(ROOT / "examples" / "resnet18.seg"), "--to", "hls", "-o", folder],
                       check=True)
        subprocess.run(["sh", os.path.join(folder, "build.sh")], check=True, env={**os.environ, "CXXFLAGS": "-O2"})
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    graph = segc.load(str(ROOT / "examples" / "resnet18.seg"))
    runs = [{**one_run(graph), "end_to_end_s": end_to_end()} for _ in range(args.runs)]
    keys = ("generate_s", "compile_s", "csim_s", "end_to_end_s")
    median = {key: statistics.median(r[key] for r in runs) for key in keys}
    build_s = median["generate_s"] + median["compile_s"]
    last = runs[-1]
    print(f"ResNet-18 224x224, {args.runs} runs (medians):")
    print(f"  generate {median['generate_s']:.2f} s + compile (g++ -O2) {median['compile_s']:.2f} s "
          f"= {build_s:.2f} s (goal < {GOAL_S:g} s)")
    print(f"  end to end: segc export + build.sh {median['end_to_end_s']:.2f} s (goal < {GOAL_S:g} s)")
    print(f"  C simulation {median['csim_s']:.2f} s (goal < {GOAL_S:g} s)")
    print(f"  parameters {last['param_words']:,} words, activation arena {last['mem_words']:,} words")
    print(f"  against torch: max abs error {last['max_abs_error']:.3g}, max rel error {last['max_rel_error']:.3g}, "
          f"class agrees: {last['argmax_agreement'] == 1.0}, saturated results {last['saturated']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"median": median, "runs": runs}, indent=1) + "\n")
    return 0 if max(build_s, median["end_to_end_s"], median["csim_s"]) < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
