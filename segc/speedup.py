"""The speed-up of a pruned network over its baseline, as Mori et al.
report it (2.44× for DeepLabV3+, Sec. 4.3): the baseline's latency over the
pruned network's, both from the hardware model on the same target, unroll
factors, tiling and calibration."""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Graph
from .passes.cost import Calibration

__all__ = ["Speedup", "pruning_speedup", "speedup"]


def speedup(baseline_s: float, pruned_s: float) -> float:
    """baseline latency / pruned latency (> 1: the pruned network is faster)."""
    return baseline_s / pruned_s


@dataclass(frozen=True)
class Speedup:
    baseline_s: float
    pruned_s: float
    setting: str = ""  # target, tiling and calibration, in words

    @property
    def ratio(self) -> float:
        return speedup(self.baseline_s, self.pruned_s)

    def line(self) -> str:
        """'latency 1.026 s → 512 ms (speed-up 2.00×) on …'."""
        setting = f" on {self.setting}" if self.setting else ""
        return f"latency {_seconds(self.baseline_s)} → {_seconds(self.pruned_s)} (speed-up {self.ratio:.2f}×){setting}"


def _seconds(value: float) -> str:
    return f"{value:.4g} s" if value >= 1 else f"{value * 1e3:.4g} ms"


def pruning_speedup(baseline: Graph, pruned: Graph, tiling: str = "paper",
                    calibration: Calibration | None = None) -> Speedup | None:
    """Both latencies from the hardware model on the baseline's target (None
    when the baseline has no target)."""
    from .hardware import report

    if baseline.target is None:
        return None
    if pruned.target != baseline.target:
        pruned = pruned.copy()
        pruned.target = baseline.target
    before, after = report(baseline, tiling, calibration), report(pruned, tiling, calibration)
    from .backends.report.tables import unroll_label

    setting = (f"{before['target']['name']} (unroll {unroll_label(before['target']['unroll'])}; {tiling} tiling; "
               f"{before['calibration']})")
    return Speedup(before["totals"]["latency_s"], after["totals"]["latency_s"], setting)
