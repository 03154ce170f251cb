"""``segc calibrate``: read measured latencies (CSV), cost each measured run
with the uncalibrated model, fit the calibration parameters on the training
rows and report the error on the rest.

The CSV and its checks are in :mod:`segc.measurements`.
"""

from __future__ import annotations

import dataclasses
import os

from . import api, hardware
from .ir import Diagnostic, SegError, target_problems
from .measurements import Measurement, _network, read_measurements
from .passes.calibrate import PARAMETERS, Features, features, fit, predict
from .passes.cost import CALIBRATED_FIELDS, Calibration

__all__ = ["Measurement", "calibrate", "calibrate_rows", "check_parameters", "fit_table", "measured_features",
           "read_measurements", "recommended"]


def measured_features(rows: list[Measurement], tiling: str) -> list[Features]:
    """Each row's features: its network (or layer, or part) costed once per
    network and unroll with the uncalibrated model."""
    graphs: dict[str, object] = {}
    runs: dict[tuple, object] = {}
    result = []
    for row in rows:
        if row.network not in graphs:
            graphs[row.network] = api.load(*_network(row.network))
        key = (row.network, row.unroll)
        if key not in runs:
            graph = graphs[row.network].copy()
            graph.target = dataclasses.replace(graph.target, unroll=row.unroll)
            for _, message in target_problems(graph.target):
                raise SegError(Diagnostic(f"line {row.line}: {message}"))
            runs[key] = hardware.analyse(graph, tiling)
        annotated = runs[key]
        if row.layer is not None and row.layer not in annotated:
            raise SegError(Diagnostic(f"line {row.line}: network has no layer '{row.layer}'"))
        nodes = [annotated.node(row.layer)] if row.layer else annotated.nodes()
        costs = [n.annotations["cost"] for n in nodes]
        if row.part is not None:
            costs = [_part_of(costs[0], row)]
        result.append(features(annotated.target, costs))
    return result


def _part_of(cost: dict, row: Measurement) -> dict:
    parts = cost.get("parts", {})
    if row.part not in parts:
        raise SegError(Diagnostic(f"line {row.line}: layer '{row.layer}' has no part '{row.part}' (it is one "
                                  f"invocation{'' if not parts else ' of ' + ', '.join(parts)})"))
    return {**parts[row.part], "rule": "conv", "invocations": 1}


def _row_report(row: Measurement, feature: Features, cal: Calibration, split: str) -> dict:
    base = predict(feature, Calibration())
    calibrated = predict(feature, cal)
    u = row.unroll
    return {
        "network": os.path.basename(row.network), "layer": row.layer + (f"/{row.part}" if row.part else "")
        if row.layer else None, "unroll": [u.pif, u.pof, u.pkx, u.pky],
        "split": split, "measured_s": row.latency_s, "uncalibrated_s": base, "calibrated_s": calibrated,
        "uncalibrated_error": base / row.latency_s - 1, "calibrated_error": calibrated / row.latency_s - 1,
    }


def _mean_abs(rows: list[dict], key: str) -> float | None:
    return sum(abs(r[key]) for r in rows) / len(rows) if rows else None


def recommended(feats: list[Features]) -> tuple[str, ...]:
    """The physical parameters the measured layers exercise: the overlap,
    the effective bandwidth and the layer overhead always; the access
    latency when some layer gathers, the elementwise width when some layer
    streams through an elementwise unit or could (a streamed layer)."""
    chosen = ["overlap", "effective_bandwidth", "layer_overhead"]
    if any(f.bursts.any() for f in feats):
        chosen.append("access_latency")
    if any(f.stream_work.any() for f in feats):
        chosen.append("elementwise_width")
    return tuple(chosen)


def check_parameters(parameters: tuple[str, ...] | None) -> None:
    """SegError unless ``parameters`` (None: the recommended set) are known ones."""
    unknown = [p for p in parameters or () if p not in PARAMETERS]
    if unknown or parameters == ():
        raise SegError(Diagnostic(f"--fit takes some of {', '.join(PARAMETERS)}, got '{','.join(parameters or ())}'"))


def calibrate(path: str, parameters: tuple[str, ...] | None, train: str | None, tiling: str) -> dict:
    """Fit on rows whose network (file or ``FILE.seg:NAME``) contains
    ``train`` (all rows if None); the calibration file's content, with the
    fit report.  ``parameters`` None: the :func:`recommended` set."""
    check_parameters(parameters)
    rows = read_measurements(path)
    return calibrate_rows(path, rows, measured_features(rows, tiling), parameters, train, tiling)


def calibrate_rows(path: str, rows: list[Measurement], feats: list[Features], parameters: tuple[str, ...] | None,
                   train: str | None, tiling: str) -> dict:
    """:func:`calibrate` on rows already read and costed."""
    parameters = parameters or recommended(feats)
    is_train = [train is None or train in os.path.basename(r.network) for r in rows]
    if not any(is_train):
        raise SegError(Diagnostic(f"--train '{train}' matches no measured network"))
    training = [(f, r.latency_s) for f, r, t in zip(feats, rows, is_train) if t]
    result = fit(training, parameters, f"calibrated on {os.path.basename(path)}")
    cal = result.calibration
    report = [_row_report(r, f, cal, "train" if t else "held-out") for r, f, t in zip(rows, feats, is_train)]
    held = [r for r in report if r["split"] == "held-out"]
    trained = [r for r in report if r["split"] == "train"]
    return {
        "format": "segc.calibration", "version": 2, "target": feats[0].target.name, "values": cal.values,
        "fit": {
            "parameters": list(parameters), "tiling": tiling, "measurements": os.path.basename(path),
            "train": train or "all", "training_points": len(training), "at_bound": result.at_bound,
            "unused": list(result.unused), "confounded": [list(g) for g in result.confounded],
            "warnings": list(result.warnings), "rows": report,
            "train_mean_abs_error": _mean_abs(trained, "calibrated_error"),
            "held_out_mean_abs_error": _mean_abs(held, "calibrated_error"),
            "uncalibrated_mean_abs_error": _mean_abs(report, "uncalibrated_error"),
        },
    }


def _percent(share: float) -> str:
    return f"{100 * share:+.1f}%"


def format_value(name: str, value: float) -> str:
    """A fitted value with its unit, for people."""
    unit = CALIBRATED_FIELDS[name][1]
    if unit == "s":
        return f"{value * 1e6:.4g} us"
    if unit == "B/s":
        return f"{value / 1e9:.4g} GB/s"
    return f"{value:.4g} {unit}".rstrip()


def fit_notes(fit_: dict) -> list[str]:
    """What the fit says about itself: bounds, unused and confounded parameters, warnings."""
    notes = [f"{p} sits on its {side} bound" for p, side in fit_["at_bound"].items()]
    notes += [f"{p}: no training row depends on it (over its whole range); its value means nothing"
              for p in fit_["unused"]]
    notes += [f"{' and '.join(g)} cannot be told apart on the training rows (they trade off)"
              for g in fit_["confounded"]]
    return notes + [f"warning: {w}" for w in fit_["warnings"]]


def _unroll_text(unroll: list[int]) -> str:
    return ",".join(str(v) for v in unroll[: 3 if unroll[3] == 1 else 4])


def fit_table(result: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    """The fit report as a table: (title, headers, rows, lines to print under it)."""
    fit_ = result["fit"]
    values = ", ".join(f"{p} {format_value(p, v)}" for p, v in result["values"].items())
    title = (f"fitted on {fit_['train']} ({fit_['training_points']} points, {len(fit_['parameters'])} parameters, "
             f"{fit_['tiling']} tiling): {values}")
    headers = ["network", "unroll", "split", "measured", "model", "error", "calibrated", "error"]
    rows = [[r["network"] + (f":{r['layer']}" if r["layer"] else ""), _unroll_text(r["unroll"]),
             r["split"], f"{r['measured_s']:.4f}", f"{r['uncalibrated_s']:.4f}", _percent(r["uncalibrated_error"]),
             f"{r['calibrated_s']:.4f}", _percent(r["calibrated_error"])]
            for r in fit_["rows"]]
    notes = [f"mean absolute error, {label}: {100 * fit_[key]:.1f}%"
             for key, label in (("train_mean_abs_error", "training (not a test of the model)"),
                                ("held_out_mean_abs_error", "held-out"),
                                ("uncalibrated_mean_abs_error", "uncalibrated, all rows"))
             if fit_[key] is not None]
    return title, headers, rows, notes + fit_notes(fit_)
