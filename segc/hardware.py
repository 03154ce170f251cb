"""The hardware model from the API: choose a target, override its unroll
factors, run ``deform``, ``tile`` and ``cost``, build the latency report."""

from __future__ import annotations

import dataclasses

from .dsl import load_file, named_target
from .dsl.loader import read_source
from .ir import TARGET_FIELDS, Diagnostic, Graph, SegError, Target, Unroll, target_problems
from .ir.collector import no_gc_pauses
from .ir.serialize import decode_json
from .passes.base import run_pipeline
from .passes.cost import CALIBRATED_FIELDS, Calibration, CostPass
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
    """A calibration file written by ``segc calibrate`` (version 2: fitted
    target fields)."""
    text = read_source(path)
    try:
        data = decode_json(text)
        if data.get("format") != "segc.calibration":
            raise ValueError("not a segc calibration file (format 'segc.calibration')")
        if data.get("version") != 2:
            raise ValueError(f"version {data.get('version')} is not read by this segc (version 2: fitted target "
                             "fields); run 'segc calibrate' again")
        values = {str(k): float(v) for k, v in data["values"].items()}
        for name, value in values.items():
            _check_value(name, value)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        reason = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise SegError(Diagnostic(f"bad calibration file: {reason}", path=path)) from None
    return Calibration(values, f"calibrated ({path})")


def _check_value(name: str, value: float) -> None:
    if name not in CALIBRATED_FIELDS:
        raise ValueError(f"unknown parameter '{name}' (known: {', '.join(CALIBRATED_FIELDS)})")
    limits = CALIBRATED_FIELDS[name][2]
    if limits is None:  # the effective bandwidth: the target field's range (its peak is the target's)
        limits = (TARGET_FIELDS[name].minimum, TARGET_FIELDS[name].maximum)
    if not limits[0] <= value <= limits[1]:  # NaN fails too
        raise ValueError(f"{name} = {value:g} is outside [{limits[0]:g}, {limits[1]:g}]")


def analyse(graph: Graph, tiling: str = "paper", calibration: Calibration | None = None) -> Graph:
    """A copy of the graph with ``deform`` (deformable layers), ``tiling`` and
    ``cost`` annotations."""
    calibration = calibration or Calibration()
    target = calibration.apply(graph.target) if graph.target is not None else None
    if target is not graph.target:  # the pipeline runs on a copy: this one is for the calibrated target
        graph = graph.copy()
        graph.target = target
    passes = [DeformPass(), TilePass(tiling), CostPass()]
    return run_pipeline(graph, passes)[0]


def report(graph: Graph, tiling: str = "paper", calibration: Calibration | None = None) -> dict:
    """The latency report (``segc.report`` JSON) of a graph."""
    from .backends.report.tables import build_report

    calibration = calibration or Calibration()
    with no_gc_pauses():
        return build_report(analyse(graph, tiling, calibration), tiling, calibration.source)


def report_summary(graph: Graph, tiling: str = "paper", calibration: Calibration | None = None) -> tuple[Graph, dict]:
    """The analysed graph and its report without the per-layer rows
    (``layers`` empty), for a table that reads them from the graph."""
    from .backends.report.tables import report_summary as summary

    calibration = calibration or Calibration()
    with no_gc_pauses():
        analysed = analyse(graph, tiling, calibration)
        return analysed, summary(analysed, tiling, calibration.source)
