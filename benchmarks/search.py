"""The pruning search: speed, and latency-driven against OPs-driven search.

1. Speed: a 50 x 50 search on DeepLabV3+ with the proxy accuracy (goal:
   under 10 s); candidate evaluations per second of the pruned-latency model
   against re-annotating the pruned graph (prune, tile, cost) per candidate.
2. Latency at matched accuracy (Mori et al. Sec. 4.3 found 1.3x lower
   latency for latency-driven search): both searches with the same budget
   and seeds; for each accuracy level reached by both final fronts, the
   lowest latency among front points at least that accurate; the ratio
   OPs-driven / latency-driven, geometric mean over levels and seeds.
   On DeepLabV3+ with the proxy, and on tiny_seg trained on synthetic data
   with real mIoU (``--data``).

Usage: python benchmarks/search.py [--seeds N] [--skip-data]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import segc
from segc.hardware import analyse
from segc.passes.channels import kept_channels
from segc.passes.prune import prune
from segc.passes.pruned_cost import PrunedCost
from segc.pruning_search import SearchOptions, search

ROOT = Path(__file__).resolve().parent.parent
DEEPLAB = ROOT / "examples" / "deeplabv3plus_r18.seg"
TINY_SEG = ROOT / "examples" / "tiny_seg.seg"


def speed() -> None:
    graph = segc.load(str(DEEPLAB))
    arrays = segc.api.weight_arrays(graph, seed=0)
    times = []
    for seed in range(3):
        start = time.perf_counter()
        document = search(graph, arrays, SearchOptions(pop=50, gen=50, seed=seed))
        times.append(time.perf_counter() - start)
    evaluations = document["evaluations"]
    print(f"50 x 50 search, DeepLabV3+, proxy: median {statistics.median(times):.2f} s over 3 seeds "
          f"({evaluations} distinct candidates in the last), goal < 10 s: "
          f"{'PASS' if statistics.median(times) < 10 else 'FAIL'}")
    model_vs_naive(graph)


def model_vs_naive(graph) -> None:
    from segc.passes.channels import channel_groups

    groups = channel_groups(graph)
    model = PrunedCost(analyse(graph), groups)
    rng = np.random.default_rng(0)
    rates = [{g.name: float(rng.choice([0.0, 0.2, 0.4, 0.6])) for g in groups if g.prunable} for _ in range(2000)]
    kept = np.asarray([[kept_channels(g, r.get(g.name, 0.0)) for g in groups] for r in rates])
    model.latency(kept[:50])  # fills the tile memo for most layers
    start = time.perf_counter()
    fast = model.latency(kept)
    fast_s = (time.perf_counter() - start) / len(kept)
    naive = 20
    start = time.perf_counter()
    for r in rates[:naive]:
        pruned, _ = prune(graph, r, strict=False)
        analyse(pruned)
    naive_s = (time.perf_counter() - start) / naive
    print(f"pruned-latency model: {1 / fast_s:,.0f} candidates/s (batch of {len(kept)}); re-annotation of the "
          f"pruned graph: {1 / naive_s:,.1f} candidates/s; ratio {naive_s / fast_s:,.0f}x; results equal: "
          f"{np.allclose(fast[:3], [_total(graph, r) for r in rates[:3]], rtol=1e-12)}")


def _total(graph, rates) -> float:
    pruned, _ = prune(graph, rates, strict=False)
    return sum(n.annotations["cost"]["latency_s"] for n in analyse(pruned).nodes())


def latency_at(front: list[dict], level: float) -> float:
    return min(p["latency_s"] for p in front if p["accuracy"] >= level)


def matched_ratio(by_latency: dict, by_ops: dict, levels: int = 10) -> tuple[float, float, float]:
    """Geometric-mean ratio of OPs-driven to latency-driven latency over
    accuracy levels both fronts reach (between the higher of their lowest
    accuracies and the lower of their highest)."""
    low = max(min(p["accuracy"] for p in f) for f in (by_latency["front"], by_ops["front"]))
    high = min(max(p["accuracy"] for p in f) for f in (by_latency["front"], by_ops["front"]))
    ratios = [latency_at(by_ops["front"], a) / latency_at(by_latency["front"], a)
              for a in np.linspace(low, high, levels)]
    return float(np.exp(np.mean(np.log(ratios)))), low, high


def compare(graph, arrays, label: str, seeds: int, **options) -> None:
    ratios = []
    for seed in range(seeds):
        runs = {objective: search(graph, arrays, SearchOptions(seed=seed, objective=objective, **options))
                for objective in ("latency", "ops")}
        ratio, low, high = matched_ratio(runs["latency"], runs["ops"])
        ratios.append(ratio)
        print(f"  {label}, seed {seed}: OPs-driven / latency-driven latency {ratio:.3f}x "
              f"(accuracy {low:.3f} to {high:.3f})")
    print(f"{label}: geometric mean over {seeds} seeds {np.exp(np.mean(np.log(ratios))):.3f}x "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); paper: 1.3x")


def trained_tiny_seg() -> dict:
    from segc.train.data import open_dataset
    from segc.train.finetune import finetune

    graph = segc.load(str(TINY_SEG))
    module = segc.to_torch(graph, seed=0)
    shape = graph.inputs[0].shape
    dataset = open_dataset("synthetic:256", "train", "segmentation", graph.outputs[0].shape.c, shape)
    finetune(module, dataset, epochs=5, lr=0.1, batch_size=16, seed=0)
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--skip-data", action="store_true", help="skip the search with real mIoU")
    args = parser.parse_args()
    speed()
    graph = segc.load(str(DEEPLAB))
    compare(graph, segc.api.weight_arrays(graph, seed=0), "DeepLabV3+, proxy, 25 x 25", args.seeds, pop=25, gen=25)
    if not args.skip_data:
        import torch

        torch.set_num_threads(1)
        start = time.perf_counter()
        arrays = trained_tiny_seg()
        print(f"tiny_seg trained on synthetic:256 in {time.perf_counter() - start:.1f} s")
        tiny = segc.load(str(TINY_SEG))
        compare(tiny, arrays, "tiny_seg, mIoU on 32 training samples, 12 x 10", min(args.seeds, 3), pop=12, gen=10,
                data="synthetic:256", samples=32, workers=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
