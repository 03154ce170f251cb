"""Calibrating the latency model against measurements, by physical
parameters only: the target fields of ``cost.CALIBRATED_FIELDS`` —
overlap φ, effective bandwidth, layer overhead, access latency of a
scattered access, width of the elementwise unit — each within physical
bounds.

A measurement (a network at one unroll configuration, or one layer) is
reduced to per-layer arrays that do not depend on these parameters
(cycles, DRAM bits, gathered bits and bursts, invocations, streamed work;
:class:`Features`).  Its prediction is then ``timing.layer_times`` summed
over the layers, on the target with the parameters applied.  The fit is
nonlinear least squares on relative errors (prediction / measured − 1, so
a 16 ms and a 1.6 s measurement count alike), by scipy's trust-region
reflective method within the bounds, from a fixed set of starting points
(deterministic); the best fit wins.  For the fit the streamed cycles
⌈work/w⌉ of the elementwise unit are taken as work/w (less than a cycle
per layer apart), which keeps the objective smooth.

What the fit says about itself (:class:`Fit`): the parameters at a bound,
those no training row depends on (moved over their whole range, no
prediction changes by 0.1 %)
and the directions the rows cannot resolve (near-zero singular values of
the Jacobian, at the fit and at the middle of the bounds: parameters that
trade off against each other), and a warning
when there are at least as many parameters as training points.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..ir import Diagnostic, SegError, Target
from .cost import CALIBRATED_FIELDS, Calibration
from .timing import layer_times

__all__ = ["PARAMETERS", "Features", "Fit", "bounds", "features", "fit", "predict"]

PARAMETERS = tuple(CALIBRATED_FIELDS)
_LOG_SCALE = ("effective_bandwidth", "elementwise_width")


@dataclass(frozen=True)
class Features:
    """One measurement's layers, reduced to what the parameters act on."""

    target: Target  # uncalibrated
    cycles: np.ndarray  # cycles of layers not on the elementwise unit
    stream_work: np.ndarray  # elements × taps of streamed layers (0 elsewhere)
    bits: np.ndarray  # DRAM traffic at the layers' widths
    gather: np.ndarray  # gathered bits
    bursts: np.ndarray
    invocations: np.ndarray

    def seconds(self, cal: Calibration, smooth: bool = False) -> float:
        target = cal.apply(self.target)
        cycles = self.cycles
        if target.elementwise is not None:
            work = self.stream_work / target.elementwise.width
            cycles = np.where(self.stream_work > 0, work if smooth else np.ceil(work), cycles)
        return float(layer_times(target, cycles, self.bits, self.gather, self.bursts, self.invocations)[3].sum())


def _invocations(layers: list[dict]) -> list[dict]:
    """The costs of the layers' invocations: a layer of several counts as its ``parts``."""
    result = []
    for cost in layers:
        parts = cost.get("parts")
        result.extend([{**part, "rule": "conv", "invocations": 1} for part in parts.values()] if parts else [cost])
    return result


def features(target: Target, layers: list[dict]) -> Features:
    """Features of a set of ``cost`` annotations (layers of one run on ``target``)."""
    layers = _invocations(layers)

    def column(key):
        return np.asarray([c.get(key, 0) for c in layers], dtype=float)

    stream = np.asarray([c["rule"] == "stream" for c in layers])
    return Features(target, column("cycles_compute"), np.where(stream, column("stream_work"), 0.0),
                    column("dram_bits"), column("gather_bits"), column("gather_bursts"), column("invocations"))


def predict(feature: Features, cal: Calibration) -> float:
    return feature.seconds(cal)


def bounds(name: str, target: Target) -> tuple[float, float]:
    """Physical bounds of a parameter: the effective bandwidth between 1 %
    of the peak and the peak (at most the port), the others as in
    ``CALIBRATED_FIELDS``."""
    if name == "effective_bandwidth":
        peak = dataclasses.replace(target, effective_bandwidth=None).stream_bandwidth
        return 0.01 * peak, peak
    return CALIBRATED_FIELDS[name][2]


@dataclass(frozen=True)
class Fit:
    calibration: Calibration
    at_bound: dict  # parameter -> "lower" or "upper"
    unused: tuple  # parameters no training row depends on
    confounded: tuple  # groups of parameters the rows cannot tell apart
    warnings: tuple
    residual: float  # root mean square of the relative training errors


def _to_value(name: str, u: float, low: float, high: float) -> float:
    """Normalised u in [0, 1] -> the parameter (log scale for rates and widths)."""
    if name in _LOG_SCALE:
        return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
    return float(low + u * (high - low))


def fit(data: list[tuple[Features, float]], parameters: tuple[str, ...], source: str) -> Fit:
    """Least-squares calibration of ``parameters`` to (features, measured s)."""
    from scipy.optimize import least_squares

    target = data[0][0].target
    limits = [bounds(p, target) for p in parameters]

    def calibration(u) -> Calibration:
        return Calibration({p: _to_value(p, x, *lim) for p, x, lim in zip(parameters, u, limits)}, source)

    def residuals(u) -> np.ndarray:
        cal = calibration(u)
        return np.asarray([f.seconds(cal, smooth=True) / y - 1 for f, y in data])

    best = None
    for start in itertools.product((0.2, 0.8), repeat=len(parameters)):
        result = least_squares(residuals, start, bounds=(0.0, 1.0), method="trf", x_scale=1.0)
        if result.status > 0 and (best is None or result.cost < best.cost - 1e-15):
            best = result
    if best is None:
        raise SegError(Diagnostic(f"the calibration fit of {', '.join(parameters)} did not converge"))
    snapped = np.where(best.x <= 1e-6, 0.0, np.where(best.x >= 1 - 1e-6, 1.0, best.x))  # on a bound: exactly
    unused = tuple(p for i, p in enumerate(parameters) if not _moves(data, calibration, snapped, i))
    jacobians = [np.asarray(best.jac), _jacobian(residuals, np.full(len(parameters), 0.5))]
    return _diagnose(best, parameters, len(data), calibration(snapped), unused, jacobians)


def _jacobian(residuals, u: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central differences of the residuals in normalised parameters."""
    columns = []
    for i in range(len(u)):
        up, down = u.copy(), u.copy()
        up[i], down[i] = u[i] + step, u[i] - step
        columns.append((residuals(up) - residuals(down)) / (2 * step))
    return np.stack(columns, axis=1)


def _moves(data, calibration, u: np.ndarray, index: int) -> bool:
    """Whether moving parameter ``index`` over its whole range changes some
    training prediction by more than 0.1 %."""
    ends = []
    for end in (0.0, 1.0):
        moved = u.copy()
        moved[index] = end
        ends.append(np.asarray([f.seconds(calibration(moved), smooth=True) for f, _ in data]))
    return bool(np.any(np.abs(ends[0] - ends[1]) > 1e-3 * np.maximum(ends[0], ends[1])))


def _diagnose(result, parameters: tuple[str, ...], points: int, cal: Calibration, unused: tuple,
              jacobians: list[np.ndarray]) -> Fit:
    at_bound = {p: ("lower" if u <= 1e-6 else "upper") for p, u in zip(parameters, result.x) if min(u, 1 - u) <= 1e-6}
    confounded = tuple(dict.fromkeys(g for jac in jacobians for g in _confounded(jac, parameters, unused)))
    warnings = []
    if len(parameters) >= points:
        warnings.append(f"{len(parameters)} parameters fitted to {points} points: the fit can pass through every "
                        "point; only held-out errors mean anything")
    rms = float(np.sqrt(np.mean(result.fun ** 2)))
    return Fit(cal, at_bound, unused, confounded, tuple(warnings), rms)


def _confounded(jac: np.ndarray, parameters: tuple[str, ...], unused: tuple) -> tuple:
    """Groups of used parameters along near-null directions of the Jacobian."""
    used = [i for i, p in enumerate(parameters) if p not in unused]
    if len(used) < 2:
        return ()
    columns = jac[:, used]
    norms = np.linalg.norm(columns, axis=0)
    if np.any(norms == 0):
        return ()
    _, singular, vt = np.linalg.svd(columns / norms, full_matrices=True)  # unit columns: scale-free directions
    singular = np.concatenate([singular, np.zeros(len(used) - len(singular))])
    groups = []
    for value, vector in zip(singular, vt):
        if value <= 1e-6 * singular[0]:
            members = tuple(parameters[used[i]] for i in np.flatnonzero(np.abs(vector) > 0.1))
            if len(members) > 1:
                groups.append(members)
    return tuple(groups)
