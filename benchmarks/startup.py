"""Start-up cost of ``segc check``: wall time and the modules it imports.

Goal (a): ``segc check examples/deeplabv3plus_r18.seg`` imports no torch,
onnx, onnxruntime or matplotlib, and the whole process takes at most 1.5x the
time of a bare ``python -c "import lark, networkx, numpy"`` on the same
machine, with the same Python.

The commands run interleaved (their order rotating each round, so they share
the machine's noise) after a few warm-up rounds (Lark writes its parser cache
on first use); medians and their ratio to the baseline are reported.  Then
``sys.modules`` is recorded at the end of an in-process ``segc check`` and
``python -X importtime`` shows where import time goes.  Exit status 1 when a
goal fails, so the script can serve as a check:

    .venv/bin/python benchmarks/startup.py [--runs 21] [--limit 1.5] [--inherit-env]

Bytecode is cached (in a temporary PYTHONPYCACHEPREFIX) as an installed
package's would be, unless ``--inherit-env``.
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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/deeplabv3plus_r18.seg"
FORBIDDEN = ("torch", "onnx", "onnxruntime", "matplotlib")
BASELINE = "import lark, networkx, numpy"
ENV: dict[str, str] = {}  # set by main()

# Runs `segc check` in this process and prints the top-level modules loaded by its end.
MODULES_PROBE = """
import contextlib, io, json, sys
import segc.cli
with contextlib.redirect_stdout(io.StringIO()):
    status = segc.cli.main(["check", sys.argv[1]])
print(json.dumps({"status": status, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def commands(example: str) -> dict[str, list[str]]:
    """The baseline and the ways to run ``segc check`` (the console script when installed)."""
    found = {
        "baseline": [sys.executable, "-c", BASELINE],
        "python -m segc check": [sys.executable, "-m", "segc", "check", example],
    }
    script = Path(sys.executable).parent / "segc"
    if script.exists():
        found["segc check (script)"] = [str(script), "check", example]
    return found


def child_env(inherit: bool, cache_dir: str) -> dict[str, str]:
    """The environment for the timed processes.  Unless ``inherit``, bytecode is
    cached (under ``cache_dir``, not in the repository) as in a normal install:
    with PYTHONDONTWRITEBYTECODE set and no ``__pycache__`` in the checkout,
    every run would compile segc's sources again."""
    env = dict(os.environ)
    if not inherit:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def run_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def time_interleaved(cmds: dict[str, list[str]], runs: int, warmup: int) -> dict[str, list[float]]:
    names = list(cmds)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(warmup + runs):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed = run_once(cmds[name])
            if round_no >= warmup:
                times[name].append(elapsed)
    return times


def report_times(times: dict[str, list[float]], limit: float) -> bool:
    base = statistics.median(times["baseline"])
    ok = True
    print(f"{'command':<24} {'median':>9} {'min':>9} {'max':>9} {'ratio':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = ""
        if name != "baseline":
            passed = median <= limit * base
            ok &= passed
            verdict = f"  {'PASS' if passed else 'FAIL'} (<= {limit}x)"
        print(f"{name:<24} {median:>8.3f}s {min(values):>8.3f}s {max(values):>8.3f}s "
              f"{median / base:>6.2f}x{verdict}")
    return ok


def check_imports(example: str) -> bool:
    probe = subprocess.run([sys.executable, "-c", MODULES_PROBE, example], cwd=ROOT, env=ENV,
                           capture_output=True, text=True, check=True)
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    present = [name for name in FORBIDDEN if name in result["modules"]]
    heavy = [name for name in ("rich", "scipy", "pandas", "PIL", "graphviz") if name in result["modules"]]
    ok = not present and result["status"] == 0
    print(f"\nimports: exit status {result['status']}, {len(result['modules'])} top-level packages; "
          f"forbidden present: {present or 'none'} -> {'PASS' if ok else 'FAIL'}")
    if heavy:
        print(f"  other optional packages imported: {', '.join(heavy)}")
    return ok


def import_profile(example: str, top: int) -> None:
    """Self import time summed per top-level package (``python -X importtime``)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "segc", "check", example], cwd=ROOT, env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    per_package: Counter[str] = Counter()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        per_package[name.strip().split(".")[0]] += int(self_us)
    total = sum(per_package.values())
    print(f"\nimport time by package (-X importtime, self time summed; total {total / 1000:.0f} ms):")
    for package, micros in per_package.most_common(top):
        print(f"  {package:<20} {micros / 1000:7.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed rounds (default 21)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    parser.add_argument("--limit", type=float, default=1.5, help="allowed ratio to the baseline (default 1.5)")
    parser.add_argument("--example", default=EXAMPLE, help=f"the .seg file to check (default {EXAMPLE})")
    parser.add_argument("--inherit-env", action="store_true",
                        help="run with this environment as it is (PYTHONDONTWRITEBYTECODE included)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="segc-pycache-") as cache_dir:
        ENV.update(child_env(args.inherit_env, cache_dir))
        return benchmark(args)


def benchmark(args: argparse.Namespace) -> int:
    caching = "inherited environment" if args.inherit_env else "bytecode cached in a temporary PYTHONPYCACHEPREFIX"
    if args.inherit_env and "PYTHONDONTWRITEBYTECODE" in ENV:
        caching += " (PYTHONDONTWRITEBYTECODE set: sources without __pycache__ are compiled on every run)"
    print(f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs, "
          f"{args.runs} interleaved runs after {args.warmup} warm-up rounds; {caching}")
    times = time_interleaved(commands(args.example), args.runs, args.warmup)
    timing_ok = report_times(times, args.limit)
    imports_ok = check_imports(args.example)
    import_profile(args.example, top=12)
    passed = timing_ok and imports_ok
    print(f"\nstartup goal (a): {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
