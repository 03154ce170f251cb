"""Calibration by physical parameters (passes/calibrate.py): recovering the
parameters of a known machine from measurements generated on it, per-layer
measurements that predict an unseen network, and what the fit says about
itself (bounds, parameters no row depends on, parameters that trade off,
too many parameters, no convergence)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import EXAMPLES

import segc
from segc.calibration import calibrate
from segc.hardware import report
from segc.ir import SegError, Unroll
from segc.passes.cost import Calibration

TRUTH = {"overlap": 0.6, "effective_bandwidth": 4e9, "layer_overhead": 50e-6, "elementwise_width": 2.0}
CONFIGS = [(16, 16, 1), (16, 32, 1), (16, 16, 4), (16, 32, 4), (8, 8, 2)]


def _measure(name: str, unroll, noise: float, rng) -> float:
    """The latency of a network on the machine of TRUTH, through the cost pass, with relative noise."""
    graph = segc.load(str(EXAMPLES / f"{name}.seg"))
    graph.target = dataclasses.replace(graph.target, unroll=Unroll(*unroll))
    seconds = report(graph, "paper", Calibration(TRUTH))["totals"]["latency_s"]
    return seconds * (1 + noise * rng.standard_normal())


def _csv(tmp_path, rows: list[tuple[str, tuple, float]], name="m.csv") -> str:
    lines = ["network,pif,pof,pkx,latency_s"] + [f"{EXAMPLES / n}.seg,{u[0]},{u[1]},{u[2]},{s!r}" for n, u, s in rows]
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    return str(tmp_path / name)


@pytest.fixture(scope="module")
def measured():
    rng = np.random.default_rng(11)
    return [(n, u, _measure(n, u, 0.005, rng)) for n in ("resnet18", "tiny_seg", "deeplabv3plus_r18") for u in CONFIGS]


def test_known_parameters_are_recovered_within_a_few_per_cent(measured, tmp_path):
    result = calibrate(_csv(tmp_path, measured), None, None, "paper")
    assert result["fit"]["parameters"] == list(TRUTH)  # the recommended set: no gathers, some streams
    for name, value in TRUTH.items():
        assert result["values"][name] == pytest.approx(value, rel=0.05), name
    assert result["fit"]["warnings"] == [] and result["fit"]["at_bound"] == {}


def test_per_layer_measurements_predict_an_unseen_network(tmp_path):
    """Profile tiny_seg layer by layer on the machine, fit, predict ResNet-18 whole."""
    graph = segc.load(str(EXAMPLES / "tiny_seg.seg"))
    annotated = segc.hardware.analyse(graph, "paper", Calibration(TRUTH))
    lines = ["network,pif,pof,pkx,latency_s,layer"]
    for node in annotated.nodes():
        seconds = node.annotations["cost"]["latency_s"]
        if seconds > 0:
            lines.append(f"{EXAMPLES / 'tiny_seg.seg'},16,32,4,{seconds!r},{node.name}")
    for unroll in CONFIGS[:2]:
        whole = _measure("resnet18", unroll, 0.0, np.random.default_rng(0))
        lines.append(f"{EXAMPLES / 'resnet18.seg'},{unroll[0]},{unroll[1]},{unroll[2]},{whole!r},")
    (tmp_path / "layers.csv").write_text("\n".join(lines) + "\n")
    result = calibrate(str(tmp_path / "layers.csv"), None, "tiny_seg", "paper")
    held = [r for r in result["fit"]["rows"] if r["split"] == "held-out"]
    assert len(held) == 2 and all(r["layer"] is None for r in held)
    assert all(abs(r["calibrated_error"]) < 0.01 for r in held)
    assert all(abs(r["uncalibrated_error"]) > 0.15 for r in held)


def test_one_network_cannot_tell_overhead_from_the_elementwise_unit(measured, tmp_path):
    """Within one network both are unroll-independent constants: the fit says they trade off."""
    rows = [r for r in measured if r[0] == "tiny_seg"]
    result = calibrate(_csv(tmp_path, rows), ("layer_overhead", "elementwise_width"), None, "paper")
    assert result["fit"]["confounded"] == [["layer_overhead", "elementwise_width"]]


def test_unused_parameter_and_too_many_parameters(measured, tmp_path):
    rows = [r for r in measured if r[0] == "resnet18"][:2]
    result = calibrate(_csv(tmp_path, rows), ("access_latency", "overlap"), None, "paper")
    assert result["fit"]["unused"] == ["access_latency"]  # ResNet-18 gathers nothing
    assert result["fit"]["warnings"] == ["2 parameters fitted to 2 points: the fit can pass through every point; "
                                         "only held-out errors mean anything"]


def test_a_fit_that_does_not_converge_says_so(measured, tmp_path, monkeypatch):
    import scipy.optimize

    class Failed:
        status, cost, x = 0, 0.0, np.zeros(1)

    monkeypatch.setattr(scipy.optimize, "least_squares", lambda *a, **k: Failed())
    with pytest.raises(SegError, match="the calibration fit of overlap did not converge"):
        calibrate(_csv(tmp_path, measured[:2]), ("overlap",), None, "paper")


def _codenet_rows(tmp_path, rows: str) -> str:
    layer = EXAMPLES / "codenet_layer.seg"
    (tmp_path / "m.csv").write_text("network,pif,pof,pkx,pky,latency_s,layer,part\n"
                                    + rows.replace("LAYER", str(layer)))
    return str(tmp_path / "m.csv")


def test_a_part_of_a_deformable_layer_is_measured_alone(tmp_path):
    """The sampling invocation of dw_square, measured at the model's own figure: no error, and less than the layer."""
    graph = segc.hardware.analyse(segc.load(str(EXAMPLES / "codenet_layer.seg"), "dw_square"))
    cost = graph.node("y").annotations["cost"]
    sampling = cost["parts"]["sampling"]["latency_s"]
    assert sampling + cost["parts"]["offsets"]["latency_s"] == pytest.approx(cost["latency_s"], rel=1e-12)
    path = _codenet_rows(tmp_path, f"LAYER:dw_square,8,8,3,3,{sampling!r},y,sampling\n")
    row = calibrate(path, ("overlap",), None, "paper")["fit"]["rows"][0]
    assert row["layer"] == "y/sampling" and abs(row["uncalibrated_error"]) < 1e-12


@pytest.mark.parametrize(("row", "message"), [
    ("LAYER:dw_square,8,8,3,3,0.002,y,branch\n", "column 'part': expected offsets or sampling"),
    ("LAYER:dw_square,8,8,3,3,0.002,,sampling\n", "column 'part': a part is of a layer; name it in the 'layer' column"),
    ("LAYER:dw_plain,8,8,3,3,0.002,y,sampling\n", "layer 'y' has no part 'sampling' (it is one invocation)"),
])
def test_bad_parts_are_clear_errors(tmp_path, row, message):
    with pytest.raises(SegError, match=message.replace("(", r"\(").replace(")", r"\)")):
        calibrate(_codenet_rows(tmp_path, row), ("overlap",), None, "paper")
