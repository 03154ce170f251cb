"""Channel pruning: how fast the analysis is (the search calls
``pruned_shapes`` once per candidate), how long pruning a network with its
weights takes, and what uniform rates buy in MACs, parameters and modelled
latency (Eq. 1-5, paper tiling, the network's target), with and without
snapping kept channels to multiples of P_of.

Usage: python benchmarks/prune.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import segc
from segc import hardware
from segc.passes.channels import channel_groups, kept_channels, pruned_shapes
from segc.passes.prune import prune

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ("resnet18", "deeplabv3plus_r18", "codenet_shufflenet")


def median_time(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(runs: int) -> None:
    print("| network | groups (prunable) | channel_groups ms | pruned_shapes µs | prune graph ms "
          "| prune + weights ms |")
    print("|---|---|---|---|---|---|")
    for name in NETWORKS:
        graph = segc.load(str(ROOT / "examples" / f"{name}.seg"))
        groups = channel_groups(graph)
        rates = {g.name: 0.5 for g in groups if g.prunable}
        kept = {g.name: kept_channels(g, 0.5) for g in groups if g.prunable}
        weights = {k: v.numpy() for k, v in segc.to_torch(graph).state_dict().items()}
        analysis = median_time(lambda graph=graph: channel_groups(graph), runs)
        shapes = median_time(lambda g=graph, gs=groups, k=kept: pruned_shapes(g, gs, k), runs * 20)
        graph_only = median_time(lambda graph=graph, rates=rates: prune(graph, rates), runs)
        with_weights = median_time(lambda graph=graph, rates=rates, w=weights: prune(graph, rates, w), runs)
        prunable = sum(g.prunable for g in groups)
        print(f"| {name} | {len(groups)} ({prunable}) | {analysis * 1e3:.2f} | {shapes * 1e6:.0f} | "
              f"{graph_only * 1e3:.1f} | {with_weights * 1e3:.0f} |")


def totals(graph) -> tuple[float, float, float]:
    rows = segc.summarize(graph)
    latency = hardware.report(graph, "paper")["totals"]["latency_s"]
    return sum(r.macs for r in rows), sum(r.params for r in rows), latency


def savings() -> None:
    print("\n| network | rate | snap | MACs | params | latency ms |")
    print("|---|---|---|---|---|---|")
    for name in ("resnet18", "deeplabv3plus_r18"):
        graph = segc.load(str(ROOT / "examples" / f"{name}.seg"))
        pof = graph.target.unroll.pof
        groups = channel_groups(graph)
        macs, params, latency = totals(graph)
        print(f"| {name} | 0 | | {macs / 1e9:.2f} G | {params / 1e6:.2f} M | {latency * 1e3:.1f} |")
        for rate in (0.3, 0.5):
            for snap in (None, pof):
                pruned, _ = prune(graph, {g.name: rate for g in groups if g.prunable}, None, snap)
                m, p, t = totals(pruned)
                print(f"| {name} | {rate} | {'P_of=' + str(snap) if snap else 'no'} | {m / 1e9:.2f} G | "
                      f"{p / 1e6:.2f} M | {t * 1e3:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    speed(args.runs)
    savings()


if __name__ == "__main__":
    main()
