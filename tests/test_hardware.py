"""The hardware model end to end: Table 1 of Mori et al. (DSP counts and the
ranking of unroll configurations by latency), the vectorised model against
the cost pass, design-space exploration, calibration, HLS configuration and
the report/dse/calibrate/compile commands."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import EXAMPLES, ROOT

import segc
from segc.cli import main
from segc.hardware import analyse, report
from segc.ir import Unroll
from segc.passes.dse import explore, pareto_front
from segc.passes.fastmodel import LayerTable, latencies

TABLE1 = EXAMPLES / "measurements" / "mori2022_table1.csv"
CONFIGS = [(16, 16, 1), (16, 32, 1), (16, 16, 4), (16, 32, 4)]


def _with_unroll(graph: segc.Graph, unroll: tuple[int, ...]) -> segc.Graph:
    graph = graph.copy()
    graph.target = dataclasses.replace(graph.target, unroll=Unroll(*unroll))
    return graph


@pytest.mark.parametrize(("unroll", "dsps"), list(zip(CONFIGS, [128, 256, 512, 1024])))
def test_table1_pe_array_dsps(unroll, dsps):
    # ½·P_if·P_of·P_kx DSP blocks for 16-bit words on Arria 10 (Sec. 3.1)
    graph = _with_unroll(segc.load(str(EXAMPLES / "resnet18.seg")), unroll)
    assert graph.target.pe_dsps == dsps == unroll[0] * unroll[1] * unroll[2] // 2


def _measured() -> dict[str, dict[tuple, float]]:
    rows = list(csv.DictReader(line for line in TABLE1.open() if not line.startswith("#")))
    table: dict[str, dict[tuple, float]] = {}
    for row in rows:
        unroll = (int(row["pif"]), int(row["pof"]), int(row["pkx"]))
        table.setdefault(row["network"], {})[unroll] = float(row["latency_s"])
    return table


@pytest.mark.parametrize("network", ["../resnet18.seg", "../deeplabv3plus_r18.seg"])
def test_table1_ranking_matches_the_measurements(network):
    measured = _measured()[network]
    graph = segc.load(str((TABLE1.parent / network).resolve()))
    predicted = {u: report(_with_unroll(graph, u))["totals"]["latency_s"] for u in CONFIGS}
    assert sorted(CONFIGS, key=predicted.get) == sorted(CONFIGS, key=measured.get)


@pytest.mark.parametrize("name", ["resnet18", "deeplabv3plus_r18", "codenet_shufflenet", "tiny"])
@pytest.mark.parametrize("tiling", ["paper", "dilation-aware"])
def test_vectorised_model_agrees_with_the_cost_pass(name, tiling):
    graph = analyse(segc.load(str(EXAMPLES / f"{name}.seg")), tiling)
    table = LayerTable.of(graph)
    u = graph.target.unroll
    per_layer = latencies(table, graph.target, np.array([[u.pif, u.pof, u.pkx, u.pky]]))[0]
    expected = [graph.node(n).annotations["cost"]["latency_s"] for n in table.names]
    assert per_layer.tolist() == pytest.approx(expected, rel=1e-12)
    # other unrolls: the vectorised model equals re-running the passes
    for other in [(8, 8, 1, 1), (4, 64, 2, 1)]:
        rerun = analyse(_with_unroll(graph, other), tiling)
        total = sum(n.annotations["cost"]["latency_s"] for n in rerun.nodes())
        assert latencies(table, graph.target, np.array([other])).sum() == pytest.approx(total, rel=1e-12)


def test_dse_front_is_pareto_optimal_and_within_budget():
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    explored = explore(graph, graph.target)
    front = explored.front()
    assert pareto_front(explored.points()[::97] + front) == front  # the list version agrees
    assert explored.dsp_total.max() <= graph.target.dsp
    for p in front:
        beaten = (explored.dsp_total <= p.dsp_total) & (explored.latency_s < p.latency_s)
        assert not beaten.any()
        assert p.roofline_s <= p.latency_s  # the compute-only bound is a bound
    macs = 1_814_073_344  # ResNet-18, see test_examples
    best = front[-1]
    assert best.roofline_s == pytest.approx(macs / (best.pif * best.pof * best.pkx * best.pky * 200e6))


def test_calibration_fits_and_reports_held_out_error():
    from segc.calibration import calibrate

    result = calibrate(str(TABLE1), ("overlap",), "resnet18", "paper")
    rows = result["fit"]["rows"]
    assert {r["split"] for r in rows if "resnet18" in r["network"]} == {"train"}
    assert {r["split"] for r in rows if "deeplab" in r["network"]} == {"held-out"}
    assert 0 <= result["values"]["overlap"] <= 1
    # calibrating can only improve the training error over Eq. 5 alone
    trained = [r for r in rows if r["split"] == "train"]
    assert sum(abs(r["calibrated_error"]) for r in trained) <= sum(abs(r["uncalibrated_error"]) for r in trained)
    # docs/calibration.md, across networks: overlap fitted on ResNet-18, DeepLabV3+ held out: 18.2 %
    assert result["fit"]["held_out_mean_abs_error"] == pytest.approx(0.182, abs=5e-4)


def test_hls_header_compiles_and_matches_golden(golden, tmp_path):
    from segc.backends.hls.config import LAYER_TYPES, hls_layers, to_header

    graph = analyse(segc.load(str(EXAMPLES / "resnet18.seg")))
    header = to_header(graph)
    golden("resnet18_layer_config.h", header)
    layers = hls_layers(graph)
    first = layers[0]  # conv1 with its fused bn, relu and max pooling
    assert (first["name"], first["layer_type"], first["conv_relu"], first["bn_on"], first["pool_on"]) == (
        "conv1", LAYER_TYPES["conv"], 1, 1, 1)
    assert (first["data_w"], first["conv_x"], first["pool_x"], first["weight_w"], first["conv_stride"]) == (
        224, 112, 56, 7, 2)
    residual = next(layer for layer in layers if layer["eltwise_on"])
    assert residual["name"] == "layer1.0.conv2"
    source = tmp_path / "main.c"
    source.write_text(f'#include "{tmp_path / "config.h"}"\nint main(void) {{ return layer_config[0][0]; }}\n')
    (tmp_path / "config.h").write_text(header)
    if shutil.which("gcc") is None:  # subprocess raises FileNotFoundError, never returns 127
        pytest.skip("no C compiler (gcc)")
    gcc = subprocess.run(["gcc", "-Wall", "-Werror", "-o", str(tmp_path / "a"), str(source)], capture_output=True)
    assert gcc.returncode == 0, gcc.stderr.decode()


def test_report_json_has_the_documented_fields(capsys):
    assert main(["report", str(EXAMPLES / "tiny.seg"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["format"], data["version"]) == ("segc.report", 1)
    keys = {"name", "op", "ci", "co", "k", "stride", "dilation", "groups", "h_out", "w_out", "macs", "tile",
            "cycles_compute", "dram_in", "dram_weight", "dram_out", "latency_compute_s", "latency_memory_s",
            "latency_s", "bound"}
    assert all(keys <= set(layer) for layer in data["layers"])
    assert {"latency_s", "dram_total", "dsp_pe"} <= set(data["totals"])
    assert data["totals"]["latency_s"] == pytest.approx(sum(layer["latency_s"] for layer in data["layers"]))


def test_report_folder_and_overrides(tmp_path, capsys):
    out = tmp_path / "rep"
    argv = ["report", str(EXAMPLES / "resnet18.seg"), "--unroll", "16,16,1", "--tiling", "none", "-o", str(out)]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [".segc-manifest.json", "latency.png", "report.csv", "report.html",
                                                     "report.json", "report.md", "roofline.png"]
    data = json.loads((out / "report.json").read_text())
    assert data["target"]["unroll"] == {"pif": 16, "pof": 16, "pkx": 1, "pky": 1} and data["tiling"] == "none"
    assert data["totals"]["dsp_pe"] == 128


@pytest.mark.parametrize(("argv", "message"), [
    (["--unroll", "64,64,8"], "needs 16384 DSP blocks, but the target has 360"),
    (["--unroll", "16,x,4"], "--unroll must be PIF,POF,PKX"),
    (["--target", "nope"], "unknown target 'nope'"),
    (["--calibration", "missing.json"], "cannot read 'missing.json'"),
])
def test_report_bad_options(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(EXAMPLES / "tiny.seg"), *argv, "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written on failure


@pytest.mark.parametrize(("spec", "expected"), [
    ("nope", "unknown target 'nope' in {ex}/tiny.seg (it defines or imports: 'ultra96_codenet')"),
    ("ultra96_codent", "unknown target 'ultra96_codent' in {ex}/tiny.seg; did you mean 'ultra96_codenet'? "
                       "(it defines or imports: 'ultra96_codenet')"),
    ("{ex}/targets/arria10.seg:ultra96_codenet",
     "unknown target 'ultra96_codenet' in {ex}/targets/arria10.seg (it defines or imports: 'arria10_gx1150')"),
])
def test_unknown_target_names_the_file_looked_in_and_its_targets(spec, expected, capsys):
    assert main(["report", str(EXAMPLES / "tiny.seg"), "--target", spec.format(ex=EXAMPLES)]) == 1
    assert capsys.readouterr().err == f"error: {expected.format(ex=EXAMPLES)}\n"


def test_buffer_too_small_is_located(tmp_path, capsys):
    target = (EXAMPLES / "targets" / "arria10.seg").read_text().replace("128 KiB", "64 B")
    (tmp_path / "small.seg").write_text(target)
    argv = ["report", str(EXAMPLES / "resnet18.seg"), "--target", f"{tmp_path / 'small.seg'}", "--format", "json"]
    assert main(argv) == 1
    assert "layer 'conv1': even a 1×1 tile needs 147 words" in capsys.readouterr().err  # 7·7·3


@pytest.mark.parametrize(("values", "message"), [
    ('{"overlap": 3}', "overlap = 3 is outside [0, 1]"),
    ('{"overlap": NaN}', "overlap = nan is outside [0, 1]"),
    ('{"layer_overhead": Infinity}', "layer_overhead = inf is outside [0, 0.1]"),
    ('{"access_latency": -1e-3}', "access_latency = -0.001 is outside [0, 0.0001]"),
    ('{"effective_bandwidth": 0}', "effective_bandwidth = 0 is outside [1000, 1e+13]"),
    ('{"fixed_conv": 1}', "unknown parameter 'fixed_conv' (known: overlap, effective_bandwidth, layer_overhead, "
                          "access_latency, elementwise_width)"),
])
def test_bad_calibration_file(values, message, tmp_path, capsys):
    """Python's JSON reader accepts NaN and Infinity: refused like any value out of range."""
    cal = tmp_path / "cal.json"
    cal.write_text(f'{{"format": "segc.calibration", "version": 2, "values": {values}}}')
    assert main(["report", str(EXAMPLES / "tiny.seg"), "--calibration", str(cal), "--format", "json"]) == 1
    assert capsys.readouterr().err == f"{cal}: error: bad calibration file: {message}\n"


def test_calibration_file_of_an_older_version_is_refused(tmp_path, capsys):
    cal = tmp_path / "cal.json"
    cal.write_text('{"format": "segc.calibration", "version": 1, "overlap": 0.5, "fixed_s": {}}')
    assert main(["report", str(EXAMPLES / "tiny.seg"), "--calibration", str(cal)]) == 1
    assert "version 1 is not read by this segc" in capsys.readouterr().err


def test_bad_measurements(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("network,pif,pof,pkx,latency_s\n../x.seg,16,0,1,0.1\n")
    assert main(["calibrate", str(tmp_path / "m.csv")]) == 1
    assert "m.csv:2:13: error: column 'pof': expected a positive integer, got '0'" in capsys.readouterr().err


def test_calibrate_and_use_it(tmp_path, capsys):
    cal = tmp_path / "cal.json"
    assert main(["calibrate", str(TABLE1), "--train", "resnet18", "-o", str(cal)]) == 0
    assert "held-out" in capsys.readouterr().out
    assert main(["report", str(EXAMPLES / "resnet18.seg"), "--calibration", str(cal), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["calibration"].startswith("calibrated")


def test_dse_and_compile_commands(tmp_path, capsys):
    assert main(["dse", str(EXAMPLES / "tiny.seg"), "-o", str(tmp_path / "dse")]) == 0
    front = json.loads((tmp_path / "dse" / "dse.json").read_text())["front"]
    assert front and all(p["dsp_pe"] <= 360 for p in front)
    argv = ["compile", str(EXAMPLES / "tiny.seg"), "--passes", "tile{mode=dilation-aware},cost",
            "--emit", "report,hls-config,seg", "-o", str(tmp_path / "c")]
    assert main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [".segc-manifest.json",
        "layer_config.h", "layer_config.json", "report.json", "tiny.seg"]
    assert main(["compile", str(EXAMPLES / "tiny.seg"), "--passes", "tiel", "-o", str(tmp_path / "d")]) == 1
    assert "unknown pass 'tiel'; did you mean 'tile'?" in capsys.readouterr().err


def test_report_never_imports_torch():
    code = ("import sys, io, contextlib; from segc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['report', sys.argv[1], '--format', 'json'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'matplotlib')))")
    done = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "deeplabv3plus_r18.seg")],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_per_layer_measurements(tmp_path):
    from segc.calibration import calibrate

    # two layers of ResNet-18 "measured" at twice the model's time: fitting
    # the overlap alone cannot reach that, so the fit is the bound φ = 0
    graph = analyse(segc.load(str(EXAMPLES / "resnet18.seg")))
    rows = ["network,pif,pof,pkx,latency_s,layer"]
    for name in ("conv1", "layer1.0.conv1"):
        cost = graph.node(name).annotations["cost"]
        rows.append(f"{EXAMPLES / 'resnet18.seg'},16,32,4,{2 * cost['latency_s']},{name}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    result = calibrate(str(tmp_path / "m.csv"), ("overlap",), None, "paper")
    assert result["values"]["overlap"] == 0.0 and result["fit"]["at_bound"] == {"overlap": "lower"}
    assert [r["layer"] for r in result["fit"]["rows"]] == ["conv1", "layer1.0.conv1"]
    assert all(r["calibrated_s"] >= r["uncalibrated_s"] for r in result["fit"]["rows"])
