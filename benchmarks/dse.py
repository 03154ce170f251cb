"""Speed of ``segc dse`` over every unroll the DSP budget allows, against the
old power-of-two grid (P_ky = 1), in the same process.

Runs ``segc dse examples/deeplabv3plus_r18.seg --format json`` (the Arria 10
target of examples/targets/arria10.seg) through the CLI's ``main``, the two
grids interleaved, after a warm-up round of each; prints the medians, the
ratio, the designs explored and the front's length and fastest point.  The
old grid runs through the same ``explore`` with ``power_of_two_grid``.

Usage: python benchmarks/dse.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import statistics
import time
from pathlib import Path
from unittest import mock

from segc.cli import main
from segc.passes import dse

ROOT = Path(__file__).resolve().parent.parent
DEEPLAB = str(ROOT / "examples" / "deeplabv3plus_r18.seg")
GRIDS = {"power-of-two grid (old)": dse.power_of_two_grid, "every unroll, pruned (new)": dse.unroll_grid}


def run_dse(grid) -> tuple[float, dict]:
    """Seconds of one ``segc dse … --format json`` with ``grid``, and its document."""
    out = io.StringIO()
    explore = functools.partial(dse.explore, grid=grid)
    with mock.patch.object(dse, "explore", explore), contextlib.redirect_stdout(out):
        start = time.perf_counter()
        code = main(["dse", DEEPLAB, "--format", "json"])
        seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"segc dse failed with status {code}")
    return seconds, json.loads(out.getvalue())


def main_(runs: int) -> None:
    documents = {name: run_dse(grid)[1] for name, grid in GRIDS.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in GRIDS}
    for _ in range(runs):
        for name, grid in GRIDS.items():
            times[name].append(run_dse(grid)[0])
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"segc dse {Path(DEEPLAB).relative_to(ROOT)} --format json, medians of {runs} interleaved runs:")
    for name, document in documents.items():
        fastest = document["front"][-1]
        unroll = "x".join(str(fastest[k]) for k in ("pif", "pof", "pkx", "pky"))
        print(f"  {name:<28} {medians[name]:7.3f} s   {document['explored']:>9,} designs, front of "
              f"{len(document['front'])}, fastest {fastest['latency_s'] * 1e3:.1f} ms at {unroll}, "
              f"{fastest['dsp_total']} DSPs")
    old, new = GRIDS
    print(f"  ratio new / old: {medians[new] / medians[old]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main_(parser.parse_args().runs)
