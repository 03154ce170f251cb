"""Latency-driven against OPs-driven pruning search (Mori et al. Sec. 4.3:
at similar mIoU, latency-driven search finds networks 1.3x faster).

Runs ``Network.search`` (what ``segc search`` runs) twice per seed on one
network, ``--objective latency`` and ``--objective ops``, with the same
budget, seed and calibration, then matches accuracy: for each point of the
OPs-driven front, the point of the latency-driven front with the nearest
accuracy not below it (the lowest latency-front accuracy >= the OPs point's;
no interpolation).  OPs points more accurate than the whole latency front
are left unmatched and counted.  Each pair's ratio is OPs-point latency /
latency-point latency, both from the same (calibrated) hardware model; the
summary is their geometric mean, per seed and over all seeds.

Accuracy is the search's default, the L1-importance proxy on weights drawn
from the seed (no data), so the figure measures the objectives, not mIoU.

Usage: python benchmarks/latency_vs_ops.py [--calibration FILE] [--pop 25]
       [--gen 25] [--seeds 3] [--file examples/deeplabv3plus_r18.seg]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import segc

ROOT = Path(__file__).resolve().parent.parent
DEEPLAB = ROOT / "examples" / "deeplabv3plus_r18.seg"


def matched_pairs(by_latency: list[dict], by_ops: list[dict]) -> tuple[list[tuple[dict, dict]], int]:
    """(OPs point, latency point) pairs: for each OPs-front point, the
    latency-front point with the nearest accuracy not below it; and how many
    OPs points had none."""
    pairs, unmatched = [], 0
    for point in sorted(by_ops, key=lambda p: p["accuracy"]):
        above = [q for q in by_latency if q["accuracy"] >= point["accuracy"]]
        if not above:
            unmatched += 1
            continue
        pairs.append((point, min(above, key=lambda q: (q["accuracy"], q["latency_s"]))))
    return pairs, unmatched


def geometric_mean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def run_seed(network, seed: int, args: argparse.Namespace) -> tuple[list[float], int, dict]:
    fronts = {}
    for objective in ("latency", "ops"):
        options = {"calibration": args.calibration} if args.calibration else {}
        fronts[objective] = network.search(pop=args.pop, gen=args.gen, seed=seed, objective=objective, **options)
    pairs, unmatched = matched_pairs(fronts["latency"].points, fronts["ops"].points)
    print(f"\nseed {seed}: {len(fronts['ops'])} OPs-front points, {len(fronts['latency'])} latency-front points, "
          f"{unmatched} OPs points above every latency point (unmatched)")
    print("| OPs-front accuracy | its latency (ms) | matched latency-front accuracy | its latency (ms) | ratio |")
    print("|---|---|---|---|---|")
    for ops_point, lat_point in pairs:
        print(f"| {ops_point['accuracy']:.4f} | {ops_point['latency_s'] * 1e3:.2f} | {lat_point['accuracy']:.4f} | "
              f"{lat_point['latency_s'] * 1e3:.2f} | {ops_point['latency_s'] / lat_point['latency_s']:.3f}x |")
    best = {name: max(front.points, key=lambda p: p["speedup"])["speedup"] for name, front in fronts.items()}
    return [o["latency_s"] / q["latency_s"] for o, q in pairs], unmatched, best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(DEEPLAB), help="the network (default: DeepLabV3+ on Arria 10)")
    parser.add_argument("--calibration", metavar="FILE", help="a calibration file from 'segc calibrate' "
                                                              "(default: uncalibrated, Eq. 5)")
    parser.add_argument("--pop", type=int, default=25, help="population (default 25, as the paper)")
    parser.add_argument("--gen", type=int, default=25, help="generations (default 25)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3)")
    args = parser.parse_args()
    try:
        return compare(args)
    except segc.SegError as err:  # a missing network or a bad calibration file
        print(err.render(), file=sys.stderr)
        return 1


def compare(args: argparse.Namespace) -> int:
    network = segc.load(args.file)
    start = time.perf_counter()
    ratios, unmatched, speedups = [], 0, []
    for seed in range(args.seeds):
        seed_ratios, seed_unmatched, best = run_seed(network, seed, args)
        ratios += seed_ratios
        unmatched += seed_unmatched
        speedups.append(best)
        print(f"seed {seed}: OPs-driven / latency-driven latency at matched accuracy, geometric mean "
              f"{geometric_mean(seed_ratios):.3f}x over {len(seed_ratios)} pairs; largest speed-up over the "
              f"unpruned network: latency front {best['latency']:.2f}x, OPs front {best['ops']:.2f}x")
    calibration = args.calibration or "uncalibrated (Eq. 5)"
    print(f"\n{network.name}, {args.pop} x {args.gen}, seeds 0-{args.seeds - 1}, {calibration}: OPs-driven / "
          f"latency-driven latency at matched accuracy {geometric_mean(ratios):.3f}x (geometric mean of "
          f"{len(ratios)} pairs; min {min(ratios):.3f}, max {max(ratios):.3f}; {unmatched} unmatched); paper: 1.3x; "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
