"""The C simulation of DeepLabV3+ (examples/deeplabv3plus_r18.seg, 960x960,
Arria 10 target, weights from seed 0, a standard normal input) on 1 and 2
threads, and the kernel library of another revision (default ``main``) on
the same generated project, in one invocation.

Per configuration, as medians of ``--runs`` runs of the test bench
(``./csim``, the parameters read, the network run, the output written):
wall seconds, CPU seconds (user + system) and peak resident memory; every
output.bin is compared byte for byte with the first.  Compilation: g++ -O2
with -fopenmp (detected; without it the 2-thread row runs on one thread),
the old library -O2 without OpenMP (as its revision built it).  The machine's load
average is printed, since wall times on a shared machine depend on it.
Then ``segc hls-sim --threads 2 --json`` in a fresh process, as a user runs
it (generation, compilation, C simulation, comparison with torch): wall and
CPU seconds and peak memory, its own process and the test bench together.

Goal (issue 15): ``hls-sim`` within 60 s on 2 threads, the C simulation's
output byte-identical to the single-threaded run.  Exit status 1 when
either fails.

    .venv/bin/python benchmarks/csim_threads.py [--runs 3] [--baseline main|none] [--json results.json]
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
from segc.backends.hls.sim import compile_project, write_project
from segc.hls import HlsOptions, build_project

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 60.0
EXAMPLE = ROOT / "examples" / "deeplabv3plus_r18.seg"
LIBRARY = "backends/hls/lib"


# Runs a command and writes its wall and CPU seconds and peak resident KiB to a file.  A small process
# of its own, since a child's peak counts the memory of the process it was forked from.
_LAUNCHER = """import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump([time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss], f)
sys.exit(code)
"""


def _timed(command: list[str], folder: str | Path, threads: int | None) -> tuple[float, float, int, str, str]:
    """One run of ``command`` in ``folder``: wall and CPU seconds and peak resident KiB (of the process
    and its children), standard output and error."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    with tempfile.TemporaryDirectory(prefix="segc-timed-") as scratch:
        figures = os.path.join(scratch, "figures.json")
        done = subprocess.run([sys.executable, "-c", _LAUNCHER, figures, *command], cwd=folder, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr}")
        wall, cpu, rss_kib = json.loads(Path(figures).read_text())
    return wall, cpu, rss_kib, done.stdout, done.stderr


def _reported(stderr: str, label: str) -> int:
    """A count the test bench printed as 'label: N' (absent: 1 thread)."""
    lines = [line for line in stderr.splitlines() if line.startswith(f"{label}:")]
    return int(lines[0].split(":")[1]) if lines else 1


def _old_library(revision: str) -> dict[str, bytes]:
    """include/*.h and tb.cpp of the kernel library at ``revision``."""
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{revision}:{LIBRARY}"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    files = {}
    for name in names:
        data = subprocess.run(["git", "show", f"{revision}:{LIBRARY}/{name}"], cwd=ROOT, check=True,
                              capture_output=True).stdout
        files["tb.cpp" if name == "segc_tb.cpp" else f"include/{name}"] = data
    return files


def _runs(folder: str, threads: int | None, runs: int) -> dict:
    """Medians of the test bench's wall and CPU seconds, its peak memory, its output bytes."""
    timed = [_timed(["./csim", "params.bin", "tb_data/input.bin", "output.bin"], folder, threads) for _ in range(runs)]
    return {"wall_s": statistics.median(t[0] for t in timed), "cpu_s": statistics.median(t[1] for t in timed),
            "walls": [t[0] for t in timed], "peak_rss_mib": max(t[2] for t in timed) / 1024,
            "threads": _reported(timed[-1][4], "threads"), "saturated": _reported(timed[-1][4], "saturated results"),
            "output": (Path(folder) / "output.bin").read_bytes()}


def configurations(files: dict[str, bytes], runs: int, baseline: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="segc-csim-bench-") as folder:
        write_project(files, folder)
        build = compile_project(folder, "-O2")
        for threads in (1, 2):
            rows.append({"name": f"{threads} thread{'s' if threads > 1 else ''}", "compile_s": build.seconds,
                         **build.describe(), **_runs(folder, threads, runs)})
    if baseline != "none":
        with tempfile.TemporaryDirectory(prefix="segc-csim-old-") as folder:
            write_project({**files, **_old_library(baseline)}, folder)
            build = compile_project(folder, "-O2", openmp=False)
            rows.append({"name": f"{baseline}'s library", "compile_s": build.seconds,
                         "compile_commands": build.describe()["compile_commands"], "openmp": False,
                         **_runs(folder, None, 1)})
    return rows


def end_to_end(threads: int) -> dict:
    """``segc hls-sim`` on DeepLabV3+ in a fresh process, as a user runs it."""
    segc_command = str(Path(sys.executable).with_name("segc"))
    wall, cpu, rss_kib, stdout, _ = _timed([segc_command, "hls-sim", str(EXAMPLE), "--threads", str(threads), "--json"],
                                           ROOT, None)
    result = json.loads(stdout)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss_kib / 1024, "compile_s": result["compile_s"],
            "run_s": result["run_s"], "threads": result["threads"], "openmp": result["openmp"],
            "max_abs_error": result["outputs"][0]["max_abs_error"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per thread count (default 1)")
    parser.add_argument("--baseline", default="main", help="revision whose kernel library to time too, or 'none'")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    graph = segc.load(str(EXAMPLE))
    start = time.perf_counter()
    files, _ = build_project(graph, HlsOptions())
    generate_s = time.perf_counter() - start
    load_before = os.getloadavg()
    rows = configurations(files, args.runs, args.baseline)
    reference = rows[0]["output"]
    print(f"DeepLabV3+ R18 960x960 C simulation, generation {generate_s:.1f} s; load average before "
          f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    for row in rows:
        row["identical"] = row.pop("output") == reference
        print(f"  {row['name']:>16}: wall {row['wall_s']:7.1f} s, CPU {row['cpu_s']:7.1f} s, peak "
              f"{row['peak_rss_mib']:.0f} MiB, threads {row['threads']}, output identical to 1 thread: "
              f"{row['identical']}, saturated {row['saturated']}")
    print(f"  compile: {rows[0]['compile_commands'][0]}")
    whole = end_to_end(2)
    print(f"  segc hls-sim --threads 2 (fresh process: generation, compilation, C simulation, comparison): wall "
          f"{whole['wall_s']:.1f} s (compile {whole['compile_s']:.1f} s, C simulation {whole['run_s']:.1f} s), "
          f"CPU {whole['cpu_s']:.1f} s, peak {whole['peak_rss_mib']:.0f} MiB, max abs error "
          f"{whole['max_abs_error']:.3g}")
    if len(rows) > 2:
        print(f"  CPU time, old / new (1 thread): {rows[2]['cpu_s'] / rows[0]['cpu_s']:.1f}x; wall, old / new "
              f"(2 threads): {rows[2]['wall_s'] / rows[1]['wall_s']:.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"generate_s": generate_s, "rows": rows, "hls_sim": whole}, indent=1)
                                   + "\n")
    return 0 if whole["wall_s"] <= GOAL_S and all(row["identical"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
