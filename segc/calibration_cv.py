"""Cross-validation of a latency-model fit (``segc calibrate --cv``): hold
out each unroll configuration, or each network, in turn, fit on the other
rows and report the error on the rows held out (docs/measurements.md).

The fit is a parameter: ``fit_predict(train_indices)`` returns the fitted
parameters and a prediction for every row.  :func:`cross_validation` plugs
in today's fit (:mod:`segc.passes.calibrate`).  An error is relative:
predicted / measured − 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .ir import Diagnostic, SegError, Unroll
from .measurements import Measurement, read_measurements

__all__ = ["CV_MODES", "cross_validate", "cross_validate_rows", "cross_validation", "cv_table", "folds"]

CV_MODES = ("config", "network")
FitPredict = Callable[[list[int]], tuple[dict[str, float], list[float]]]
_HELD_OUT = {"config": "unroll configuration", "network": "network"}


def unroll_text(unroll: Unroll) -> str:
    """'16,32,4' (P_if, P_of, P_kx), with P_ky after them when it is not 1."""
    factors = (unroll.pif, unroll.pof, unroll.pkx, *((unroll.pky,) if unroll.pky != 1 else ()))
    return ",".join(str(f) for f in factors)


def network_labels(rows: list[Measurement]) -> list[str]:
    """Each row's network as shown: its file name (and ``:NAME``), or the
    whole path where two files share a name."""
    paths_of: dict[str, set[str]] = {}
    for row in rows:
        paths_of.setdefault(os.path.basename(row.network), set()).add(row.network)
    return [os.path.basename(r.network) if len(paths_of[os.path.basename(r.network)]) == 1 else r.network
            for r in rows]


def folds(rows: list[Measurement], mode: str) -> list[tuple[str, list[int]]]:
    """(label, indices of the rows held out) of each fold, in the order the
    CSV first names each configuration ("config") or network ("network")."""
    if mode not in CV_MODES:
        raise SegError(Diagnostic(f"cross-validation holds out one of: {', '.join(CV_MODES)}; got '{mode}'"))
    labels = [unroll_text(r.unroll) for r in rows] if mode == "config" else network_labels(rows)
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    return list(groups.items())


def _points(count: int) -> str:
    return f"{count} point{'s' if count != 1 else ''}"


def _overfit_warning(parameter_count: int, train_rows: int) -> str | None:
    if parameter_count < train_rows:
        return None
    return (f"{parameter_count} parameter{'s' if parameter_count != 1 else ''} fitted to {_points(train_rows)}: "
            "the fit can pass through every training point; its held-out error is the only figure to trust")


def _fold(rows: list[Measurement], names: list[str], label: str, held: list[int], fit_predict: FitPredict,
          parameter_count: int) -> dict:
    held_set = set(held)
    train = [i for i in range(len(rows)) if i not in held_set]
    fold = {"held_out": label, "train_rows": len(train)}
    if not train:
        return {**fold, "possible": False, "parameters": None, "rows": [],
                "warning": f"not possible: holding out {label} leaves no rows to fit on"}
    fitted, predictions = fit_predict(train)
    return {**fold, "possible": True, "parameters": dict(fitted),
            "warning": _overfit_warning(parameter_count, len(train)),
            "rows": [_held_row(rows[i], names[i], i, predictions[i]) for i in held]}


def _held_row(row: Measurement, network: str, index: int, predicted: float) -> dict:
    u = row.unroll
    return {"index": index, "line": row.line, "network": network, "layer": row.layer,
            "unroll": [u.pif, u.pof, u.pkx, u.pky], "measured_s": row.latency_s, "predicted_s": predicted,
            "error": predicted / row.latency_s - 1}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def cross_validate(rows: list[Measurement], mode: str, fit_predict: FitPredict, parameter_count: int) -> dict:
    """Each fold's fit and its error on the rows held out; the mean absolute
    held-out error per network (in the order the CSV names them) and overall."""
    names = network_labels(rows)
    results = [_fold(rows, names, label, held, fit_predict, parameter_count) for label, held in folds(rows, mode)]
    held = [r for fold in results for r in fold["rows"]]
    per_network = {name: _mean([abs(r["error"]) for r in held if r["network"] == name])
                   for name in dict.fromkeys(names)}
    return {"mode": mode, "parameter_count": parameter_count, "folds": results,
            "per_network": {name: error for name, error in per_network.items() if error is not None},
            "mean_abs_error": _mean([abs(r["error"]) for r in held])}


def _percent(share: float) -> str:
    return f"{100 * share:+.1f}%"


def _parameters_text(parameters: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in parameters.items())


def cv_table(result: dict) -> tuple[str, list[str], list[list[str]], list[str]]:
    """The cross-validation as a table: (title, headers, rows, lines to print under it)."""
    title = (f"cross-validation: each {_HELD_OUT[result['mode']]} held out in turn, fitted on the other rows "
             f"({len(result['folds'])} folds)")
    headers = ["held out", "network", "unroll", "trained on", "measured", "predicted", "error"]
    rows, notes = [], []
    for fold in result["folds"]:
        trained = f"{fold['train_rows']} rows"
        if not fold["possible"]:
            rows.append([fold["held_out"], "", "", trained, "", "", "n/a"])
        rows.extend([fold["held_out"], r["network"] + (f":{r['layer']}" if r["layer"] else ""),
                     unroll_text(Unroll(*r["unroll"])), trained, f"{r['measured_s']:.4g}",
                     f"{r['predicted_s']:.4g}", _percent(r["error"])] for r in fold["rows"])
        if fold["parameters"] is not None:
            notes.append(f"held out {fold['held_out']}: fitted {_parameters_text(fold['parameters'])}")
        if fold["warning"]:
            notes.append(f"held out {fold['held_out']}: {fold['warning']}")
    notes.extend(f"mean absolute held-out error, {name}: {100 * error:.1f}%"
                 for name, error in result["per_network"].items())
    if result["mean_abs_error"] is None:
        notes.append(f"cross-validation by {result['mode']} is not possible here: every fold leaves no rows to "
                     "fit on (it needs at least two of what it holds out)")
    else:
        notes.append(f"mean absolute held-out error, all folds: {100 * result['mean_abs_error']:.1f}%")
    return title, headers, rows, notes


def cross_validation(path: str, mode: str, parameters: tuple[str, ...] | None, tiling: str) -> dict:
    """Cross-validate the fit of ``parameters`` (None: the recommended set
    of :func:`segc.calibration.recommended`) on a measurements CSV."""
    from .calibration import measured_features

    rows = read_measurements(path)
    return cross_validate_rows(rows, measured_features(rows, tiling), mode, parameters)


def cross_validate_rows(rows: list[Measurement], features: list, mode: str,
                        parameters: tuple[str, ...] | None) -> dict:
    """:func:`cross_validation` on rows already read and costed."""
    from .calibration import recommended
    from .passes.calibrate import fit, predict

    parameters = parameters or recommended(features)

    def fit_predict(train: list[int]) -> tuple[dict[str, float], list[float]]:
        cal = fit([(features[i], rows[i].latency_s) for i in train], parameters, "cross-validation").calibration
        return dict(cal.values), [predict(f, cal) for f in features]

    return cross_validate(rows, mode, fit_predict, len(parameters))
