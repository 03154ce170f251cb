"""The hardware model from the API: choose a target, override its unroll
factors, run ``deform``, ``tile`` and ``cost``, build the latency report."""

from __future__ import annotations

import dataclasses
import math

from .dsl import load_file, named_target
from .dsl.loader import read_source
from .ir import Diagnostic, Graph, SegError, Target, Unroll, target_problems
from .ir.serialize import decode_json
from .passes.base import run_pipeline
from .passes.cost import Calibration, CostPass
from .passes.deform import DeformPass
from .passes.tile import TilePass

__all__ = ["analyse", "load_calibration", "report", "resolve_target", "with_unroll"]


def resolve_target(spec: str, source: str) -> Target:
    """``NAME`` (a target ``source`` defines or imports), ``FILE.seg`` (its
    only target) or ``FILE.seg:NAME``."""
    path, _, name = spec.partition(":") if ".seg" in spec else (source, "", spec)
    return named_target(load_file(path), name or None)


def with_unroll(target: Target, text: str) -> Target:
    """The target with unroll factors ``PIF,POF,PKX[,PKY]``, checked."""
    parts = text.split(",")
    if not 3 <= len(parts) <= 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise SegError(Diagnostic(f"--unroll must be PIF,POF,PKX (positive integers), got '{text}'"))
    unroll = Unroll(*(int(p) for p in parts))
    changed = dataclasses.replace(target, unroll=unroll)
    for _, message in target_problems(changed):
        raise SegError(Diagnostic(f"--unroll {text}: {message}"))
    return changed


def load_calibration(path: str) -> Calibration:
    """A calibration file written by ``segc calibrate``."""
    text = read_source(path)
    try:
        data = decode_json(text)
        if data.get("format") != "segc.calibration" or data.get("version") != 1:
            raise ValueError("not a segc calibration file (format 'segc.calibration', version 1)")
        overlap = float(data["overlap"])
        fixed = {str(k): float(v) for k, v in data["fixed_s"].items()}
        if not 0 <= overlap <= 1 or not all(0 <= v < math.inf for v in fixed.values()):  # NaN fails both
            raise ValueError("overlap must be in [0, 1] and fixed costs finite and non-negative")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        reason = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise SegError(Diagnostic(f"bad calibration file: {reason}", path=path)) from None
    return Calibration(overlap, fixed, f"calibrated ({path})")


def analyse(graph: Graph, tiling: str = "paper", calibration: Calibration | None = None) -> Graph:
    """A copy of the graph with ``deform`` (deformable layers), ``tiling`` and
    ``cost`` annotations."""
    passes = [DeformPass(), TilePass(tiling), CostPass(calibration or Calibration())]
    return run_pipeline(graph, passes)[0]


def report(graph: Graph, tiling: str = "paper", calibration: Calibration | None = None) -> dict:
    """The latency report (``segc.report`` JSON) of a graph."""
    from .backends.report.tables import build_report

    calibration = calibration or Calibration()
    return build_report(analyse(graph, tiling, calibration), tiling, calibration.source)
