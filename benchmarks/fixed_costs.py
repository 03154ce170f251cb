"""Whole-process costs of two commands (issue 15), against a baseline source
tree in the same invocation, runs interleaved so both share the machine's
load:

* ``segc report`` of ``benchmarks/scaling.py``'s ResNet shape on the
  Arria-10 target (``report_checks.py``'s), 10,000 and 100,000 layers: the
  terminal table to a file, compared byte for byte with the baseline's;
* ``segc search examples/deeplabv3plus_r18.seg --pop 50 --gen 50`` with the
  proxy: the command's own process (its figures, drawn by a detached child,
  are waited for before the next run, so runs do not overlap), and with
  ``SEGC_FIGURES=inline`` (everything in one process).

Each run is ``python -m segc ...`` in a fresh process; wall time, CPU time
(user + system, ``wait4``) and peak RSS, medians of ``--runs``.  The
baseline is a source checkout (e.g. ``git worktree add /tmp/base main``),
laid out as the installed package (``pyproject.toml``'s package-dir) in a
temporary folder and put first on ``PYTHONPATH``:

    .venv/bin/python benchmarks/fixed_costs.py --baseline DIR [--runs 3] [--sizes 10000 100000] [--skip-search]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_checks import _on_target
from scaling import resnet

ROOT = Path(__file__).resolve().parent.parent
SEARCH = ["search", str(ROOT / "examples" / "deeplabv3plus_r18.seg"), "--pop", "50", "--gen", "50"]
FIGURES = ("search.html", "pareto.png")


def package_tree(checkout: Path, into: Path) -> Path:
    """The checkout's packages laid out as installed (segc.dsl from dsl/, ...)."""
    config = tomllib.loads((checkout / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(config.items(), key=lambda item: item[0].count(".")):
        shutil.copytree(checkout / folder, into / package.replace(".", "/"), dirs_exist_ok=True)
    return into


def run(argv: list[str], env: dict[str, str], stdout) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one process, started in the system's temporary folder (in the
    checkout's root, ``python -m`` would find its ``segc`` folder before ``PYTHONPATH``)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "segc", *argv], env=env, stdout=stdout,
                               stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit status {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _wait_for_figures(folder: Path) -> None:
    while not all((folder / name).exists() for name in FIGURES):
        time.sleep(0.05)


def _medians(samples: list[tuple[float, float, float]]) -> tuple[float, ...]:
    return tuple(statistics.median(column) for column in zip(*samples))


def _line(label: str, base: tuple[float, ...], new: tuple[float, ...]) -> str:
    return (f"{label}: baseline {base[0]:.2f} s wall / {base[1]:.2f} s CPU / {base[2]:.0f} MiB; "
            f"now {new[0]:.2f} s / {new[1]:.2f} s / {new[2]:.0f} MiB; CPU ratio {new[1] / base[1]:.2f}, "
            f"RSS ratio {new[2] / base[2]:.2f}")


def report_sizes(envs: dict[str, dict], sizes: list[int], runs: int, work: Path) -> None:
    for size in sizes:
        seg = work / f"resnet{size}.seg"
        seg.write_text(_on_target(resnet(size)))
        samples: dict[str, list] = {name: [] for name in envs}
        for _ in range(runs):
            for name, env in envs.items():
                with open(work / f"{name}{size}.txt", "wb") as out:
                    samples[name].append(run(["report", str(seg)], env, out))
        same = (work / f"baseline{size}.txt").read_bytes() == (work / f"now{size}.txt").read_bytes()
        print(_line(f"report, {size:,} layers", *(_medians(samples[n]) for n in envs)) + f"; output same: {same}")


def search(envs: dict[str, dict], runs: int, work: Path) -> None:
    for inline in (False, True):
        samples: dict[str, list] = {name: [] for name in envs}
        for _ in range(runs):
            for name, env in envs.items():
                folder = work / f"search-{name}"
                shutil.rmtree(folder, ignore_errors=True)
                env = {**env, "SEGC_FIGURES": "inline"} if inline else env
                samples[name].append(run([*SEARCH, "-o", str(folder)], env, subprocess.DEVNULL))
                _wait_for_figures(folder)
        label = "search 50x50, " + ("SEGC_FIGURES=inline" if inline else "the command's process")
        print(_line(label, *(_medians(samples[n]) for n in envs)))
    same = all((work / "search-baseline" / n).read_bytes() == (work / "search-now" / n).read_bytes()
               for n in ("pareto.json", *FIGURES))
    print(f"search: pareto.json, search.html and pareto.png the same as the baseline's: {same}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a source checkout to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        tree = package_tree(args.baseline.resolve(), work / "baseline-packages")
        now = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "SEGC_FIGURES")}
        envs = {"baseline": {**now, "PYTHONPATH": str(tree)}, "now": now}
        report_sizes(envs, args.sizes, args.runs, work)
        if not args.skip_search:
            search(envs, args.runs, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
