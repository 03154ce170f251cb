"""The report pipeline's checks on large networks: ``deform, tile, cost``
on a generated ResNet-shaped network (``benchmarks/scaling.py``'s) with the
full check after every pass (``SEGC_VERIFY=all``, the test suite's setting)
against the default, which checks only after passes that can change layers
(``tile`` and ``cost`` write annotations only).  The two settings take
turns in one process; medians of ``--runs``.

    .venv/bin/python benchmarks/report_checks.py [--sizes 10000 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scaling import resnet

import segc
from segc.hardware import analyse

TARGET = Path(__file__).resolve().parent.parent / "examples" / "targets" / "arria10.seg"


def _on_target(text: str) -> str:
    return f"import \"{TARGET}\"\n" + text.replace("network bench {", "network bench on arria10_gx1150 {", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    for size in args.sizes:
        graph = segc.loads(_on_target(resnet(size)), "generated.seg")
        times: dict[str, list[float]] = {"all": [], "default": []}
        for _ in range(args.runs):
            for setting in ("all", "default"):
                os.environ["SEGC_VERIFY"] = setting
                start = time.perf_counter()
                analyse(graph)
                times[setting].append(time.perf_counter() - start)
        full, default = (statistics.median(times[s]) for s in ("all", "default"))
        print(f"{size:>7} layers: every pass checked {full:.2f} s, default {default:.2f} s, ratio {default / full:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
