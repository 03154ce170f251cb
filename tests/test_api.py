"""The public API (segc.Network and its results) beyond the walkthrough in
docs/api.md: expectations worked out by hand from the examples' shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

import segc
from segc import SegError

ROOT = Path(__file__).resolve().parent.parent
TINY_SEG = str(ROOT / "examples" / "tiny_seg.seg")

TWO_CONVS = """\
import "targets/arria10.seg"
block unused(x) { return x -> relu }
network two on arria10_gx1150 {
    input image: [4, 8, 8]
    a = image -> conv(8, k=3)
    output y = a -> conv(2, k=1)
}
"""


@pytest.fixture
def two(tmp_path):
    (tmp_path / "targets").symlink_to(ROOT / "examples" / "targets")
    path = tmp_path / "two.seg"
    path.write_text(TWO_CONVS)
    return path


def test_a_network_is_a_graph_with_its_counts_by_hand(two):
    net = segc.load(str(two))
    assert isinstance(net, segc.Graph)
    # a: 4·8·9·8·8 = 18,432 MACs, 288 weights; y: 8·2·8·8 = 1,024 MACs, 16 weights
    assert net.macs == 18_432 + 1_024
    assert net.params == 288 + 16
    assert [(layer["name"], layer["macs"]) for layer in net.layers if layer["op"] == "conv"] == [
        ("a", 18_432), ("y", 1_024)]


def test_load_and_check_keep_the_warnings(two):
    net = segc.load(str(two))
    assert [w.message for w in net.warnings] == ["block 'unused' is never used"]
    found = segc.check(str(two))
    assert [(d.severity, d.span.line) for d in found] == [("warning", 2)]


def test_verbs_leave_the_network_unchanged(two):
    net = segc.load(str(two))
    before = net.structure()
    net.run("tile,cost")
    net.report(unroll=(4, 4, 1))
    net.prune(0.5)
    assert net.structure() == before
    assert all(not n.annotations for n in net.nodes())
    assert net.weights is None


def test_report_rows_follow_eq_2_for_another_unroll(two):
    report = segc.load(str(two)).report(unroll="4,4,1")
    row = {r["name"]: r for r in report.rows}["a"]
    # Eq. 2: ceil(4/4)·ceil(3/1)·ceil(8/4)·k_y·W_o·H_o = 1·3·2·3·8·8
    assert row["cycles_compute"] == 1 * 3 * 2 * 3 * 8 * 8
    assert report.totals["macs"] == 19_456
    assert report.latency_s == pytest.approx(sum(r["latency_s"] for r in report.rows))


def test_report_on_another_target_file(two):
    report = segc.load(str(two)).report(target=str(ROOT / "examples" / "targets" / "ultra96.seg"))
    assert report.data["target"]["name"] == "ultra96_codenet"
    assert report.data["target"]["clock_hz"] == 250e6


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tiling": "sideways"}, "tiling must be one of"),
    ({"unroll": (0, 4, 1)}, "--unroll"),
    ({"target": "nowhere"}, "nowhere"),
])
def test_report_mistakes_are_seg_errors(two, kwargs, message):
    with pytest.raises(SegError, match=message):
        segc.load(str(two)).report(**kwargs)


def test_a_network_without_target_says_so():
    net = segc.loads("network bare {\n    input x: [1, 4, 4]\n    output y = x -> relu\n}\n")
    with pytest.raises(SegError, match="network 'bare' has no target"):
        net.report()


def test_prune_by_pattern_and_keep(two):
    pruned = segc.load(str(two)).prune({"*": 0.5}, keep=["y"])
    # 'a' keeps 4 of 8 channels; 'y' is kept whole
    assert pruned.kept["a"] == 4 and pruned.channels["a"] == 8
    assert pruned.network.node("a").shape.c == 4 and pruned.network.node("y").shape.c == 2
    # a: 4·4·9·64 = 9,216; y: 4·2·64 = 512
    assert pruned.after == {"macs": 9_216 + 512, "params": 4 * 4 * 9 + 4 * 2}
    assert pruned.weights["a.weight"].shape == (4, 4, 3, 3)
    assert pruned.weights["y.weight"].shape == (2, 4, 1, 1)


def test_prune_rejects_rates_of_the_wrong_kind(two):
    with pytest.raises(SegError, match="rates must be a number"):
        segc.load(str(two)).prune([0.5])


def test_an_onnx_model_loads_with_its_weights(two, tmp_path):
    net = segc.load(str(two))
    path = str(tmp_path / "two.onnx")
    net.to_onnx(path, seed=3)
    again = segc.load(path)
    assert again.layers == net.layers
    expected = net.to_torch(seed=3).state_dict()
    assert sorted(again.weights) == sorted(expected)
    assert (again.weights["a.weight"] == expected["a.weight"].numpy()).all()


def test_outputs_never_overwrite_the_source(two):
    net = segc.load(str(two))
    with pytest.raises(SegError, match="refusing to overwrite"):
        net.to_onnx(str(two))


def test_search_front_and_export():
    net = segc.load(TINY_SEG)
    front = net.search(pop=6, gen=2, seed=0)
    assert front.baseline["ops"] == 2 * 25_624_576
    accuracy = [p["accuracy"] for p in front.points]
    latency = [p["latency_s"] for p in front.points]
    for i in range(len(accuracy)):  # no point dominates another on the front
        assert not any(accuracy[j] >= accuracy[i] and latency[j] < latency[i] for j in range(len(accuracy)))
    point = front.export(len(front) - 1)
    assert isinstance(point, segc.Network)
    assert 2 * point.macs == front.points[-1]["ops"]


def test_notebook_display_shows_the_layers_and_the_picture(two):
    net = segc.load(str(two))
    page = net._repr_html_()
    assert page.count("<tr") == 1 + 4 + 1  # header, image/a/y/output, totals
    assert "19,456" in page and "image/svg+xml" in page
    shown = net.report()._repr_html_()
    assert "two</b> on <b>arria10_gx1150" in shown and shown.count("<tbody>") == 1
    assert "image/svg+xml" in shown


def test_front_page_is_the_search_page():
    net = segc.load(TINY_SEG)
    front = net.search(pop=4, gen=1, seed=0)
    page = front.to_html()
    assert page.startswith("<!DOCTYPE html>") and "tiny_seg" in page
    assert page == front.to_html()


@pytest.mark.parametrize("objective", ["latency", "ops", "dsp-latency"])
def test_the_baseline_carries_its_search_cost(objective):
    net = segc.load(str(ROOT / "examples" / "tiny.seg"))
    base = net.search(pop=4, gen=1, seed=0, objective=objective).baseline
    if objective == "latency":
        assert base["cost"] == base["latency_s"]
        assert base["cost"] == pytest.approx(net.report().latency_s, rel=1e-12)
    elif objective == "ops":
        assert base["cost"] == base["ops"] == 2 * net.macs
    else:  # the fastest power-of-two unroll whose PE array fits the DSPs, each costed by a full report
        target = net.target
        powers = [2**i for i in range(9)]
        fits = [(a, b, c) for a in powers for b in powers for c in powers
                if c <= 8 and -(-a * b * c // target.macs_per_dsp) <= target.dsp]
        assert base["cost"] == pytest.approx(min(net.report(unroll=u).latency_s for u in fits), rel=1e-12)


def test_run_keeps_weights_only_while_they_fit(two):
    net = segc.Network.of(segc.load(str(two)), {"a.weight": "kept as given"})
    assert net.run("tile,cost").weights == {"a.weight": "kept as given"}
    src = TWO_CONVS.rstrip() + "\nprune two {\n    a: 0.5\n}\n"
    (two.parent / "pruned.seg").write_text(src)
    pruned = segc.Network.of(segc.load(str(two.parent / "pruned.seg")), {"a.weight": "stale"}).run("prune")
    assert pruned.node("a").shape.c == 4 and pruned.weights is None


def test_a_front_displays_its_points():
    front = segc.load(TINY_SEG).search(pop=4, gen=1, seed=0)
    shown = front._repr_html_()
    assert shown.count("<tr") == 1 + len(front.points)  # the header and one row per point


def test_report_with_a_calibration_file(two, tmp_path):
    """overlap 0: each layer costs compute + memory; plus 1 ms per invocation (two convs)."""
    path = tmp_path / "cal.json"
    path.write_text('{"format": "segc.calibration", "version": 2, "values": {"overlap": 0.0, "layer_overhead": 0.001}}')
    net = segc.load(str(two))
    plain, fitted = net.report(), net.report(calibration=str(path))
    expected = sum(r["latency_compute_s"] + r["latency_memory_s"] + (0.001 if r["rule"] == "conv" else 0.0)
                   for r in plain.rows)
    assert sum(r["rule"] == "conv" for r in plain.rows) == 2
    assert fitted.latency_s == pytest.approx(expected, rel=1e-12)
    assert fitted.data["calibration"] == f"calibrated ({path})"


def test_load_takes_a_path_object_as_well_as_a_string():
    by_path, by_string = segc.load(Path(TINY_SEG)), segc.load(TINY_SEG)
    assert by_path.name == by_string.name == "tiny_seg"
    assert [n.name for n in by_path.nodes()] == [n.name for n in by_string.nodes()]
