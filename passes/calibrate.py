"""Calibrating the latency model against measurements.

The model of a network is Σ_layers [max(c, m) + (1 − φ)·min(c, m) + f_rule]
(``cost.py``): linear in the parameters θ = (1 − φ, f_conv, f_stream,
f_residual), given the uncalibrated compute and memory times c, m of every
layer.  For measurements y_i (one network and unroll configuration each, or
one layer), least squares finds θ minimising Σ (y_i − A_i − B_i·θ)² with
A_i = Σ max(c, m) and B_i = [Σ min(c, m), N_conv, N_stream, N_residual],
each row divided by y_i so that the relative errors are minimised (a 16 ms
and a 1.6 s measurement count alike), subject to 0 ≤ 1 − φ ≤ 1 and f ≥ 0 (every active set is solved with numpy's
lstsq; the best feasible one wins).  Only the parameters asked for are
fitted; the rest keep their defaults (φ = 1, f = 0).

The fit is reported with its error on the data held out from it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .cost import Calibration

__all__ = ["PARAMETERS", "Features", "fit", "predict"]

PARAMETERS = ("overlap", "conv", "stream", "residual")


@dataclass(frozen=True)
class Features:
    """What one measurement's prediction is made of (uncalibrated)."""

    slow_s: float  # Σ max(c, m)
    fast_s: float  # Σ min(c, m)
    counts: dict  # rule -> layers

    def column(self, parameter: str) -> float:
        return self.fast_s if parameter == "overlap" else float(self.counts.get(parameter, 0))


def features(layers: list[dict]) -> Features:
    """Features of a set of ``cost`` annotations (layers of one run)."""
    counts: dict[str, int] = {}
    for cost in layers:
        counts[cost["rule"]] = counts.get(cost["rule"], 0) + 1
    return Features(
        sum(max(c["latency_compute_s"], c["latency_memory_s"]) for c in layers),
        sum(min(c["latency_compute_s"], c["latency_memory_s"]) for c in layers),
        counts,
    )


def predict(feature: Features, cal: Calibration) -> float:
    fixed = sum(cal.fixed_s.get(rule, 0.0) * n for rule, n in feature.counts.items())
    return feature.slow_s + (1 - cal.overlap) * feature.fast_s + fixed


def _solve(matrix: np.ndarray, target: np.ndarray, active: tuple[int, ...]) -> np.ndarray | None:
    theta = np.zeros(matrix.shape[1])
    if active:
        theta[list(active)] = np.linalg.lstsq(matrix[:, list(active)], target, rcond=None)[0]
    return theta


def fit(data: list[tuple[Features, float]], parameters: tuple[str, ...], source: str) -> Calibration:
    """Least-squares calibration of ``parameters`` to (features, measured s)."""
    weights = np.asarray([1.0 / y for _, y in data])
    matrix = np.asarray([[f.column(p) for p in parameters] for f, _ in data], dtype=float) * weights[:, None]
    target = np.asarray([y - f.slow_s for f, y in data], dtype=float) * weights
    overlap_index = parameters.index("overlap") if "overlap" in parameters else None
    best, best_error = np.zeros(len(parameters)), np.inf
    for size in range(len(parameters) + 1):
        for active in itertools.combinations(range(len(parameters)), size):
            for cap in (False, True):
                theta = _capped(matrix, target, active, overlap_index) if cap else _solve(matrix, target, active)
                if theta is None or np.any(theta < -1e-12):
                    continue
                if overlap_index is not None and theta[overlap_index] > 1 + 1e-12:
                    continue
                error = float(np.sum((matrix @ theta - target) ** 2))
                if error < best_error - 1e-18:
                    best, best_error = theta, error
    best = np.clip(best, 0.0, None)
    overlap = 1.0 - float(best[overlap_index]) if overlap_index is not None else 1.0
    fixed = {p: float(v) for p, v in zip(parameters, best) if p != "overlap"}
    return Calibration(max(0.0, min(1.0, overlap)), fixed, source)


def _capped(matrix: np.ndarray, target: np.ndarray, active: tuple[int, ...], overlap: int | None):
    """The solution with 1 − φ held at its bound 1 (fully serial)."""
    if overlap is None or overlap not in active:
        return None
    rest = tuple(i for i in active if i != overlap)
    theta = _solve(matrix, target - matrix[:, overlap], rest)
    theta[overlap] = 1.0
    return theta
