"""The machine beside the PE array (ir/target.py, passes/engines.py,
passes/timing.py): the depthwise engine, the elementwise unit, the layer
overhead, effective bandwidth and port, the access latency of gathers and
the overlap; worked out by hand on one-layer networks, and the vectorised
and pruned-latency models against re-annotation on a target that has all
of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import EXAMPLES

import segc
from segc.hardware import analyse
from segc.ir import DepthwiseEngine, ElementwiseUnit, SegError, Unroll
from segc.passes.calibrate import bounds
from segc.passes.channels import channel_groups, kept_channels
from segc.passes.cost import Calibration
from segc.passes.fastmodel import LayerTable, latencies
from segc.passes.prune import prune
from segc.passes.pruned_cost import PrunedCost
from segc.passes.timing import layer_times

MACHINE = """
target m {
    clock = 100 MHz
    bandwidth = 8 GB/s
    effective_bandwidth = 4 GB/s
    port = 128 bit
    access_latency = 300 ns
    bursts_in_flight = 2
    layer_overhead = 10 us
    overlap = 0.5
    dsp = 1000
    bram = 1000
    bram_block = 36 Kibit
    input_buffer = 64 KiB
    line_buffer = 15
    word = 8 bit
    macs_per_dsp = 2
    unroll = {pif: 4, pof: 4, pkx: 3, pky: 3}
    depthwise = {lanes: 16, taps: 4}
    elementwise = {width: 3}
    fixed_dsp = 100
}
"""


def one_layer(layer: str, shape=(32, 16, 16), target: str = MACHINE) -> segc.Graph:
    c, h, w = shape
    return segc.loads(target + f"network n on m {{\n input x: [{c}, {h}, {w}]\n output y = x -> {layer}\n}}\n")


def cost_of(graph: segc.Graph, name: str = "y") -> dict:
    annotated = analyse(graph)
    node = next(n for n in annotated.nodes() if n.name == name or n.name.startswith(name))
    return node.annotations["cost"]


def test_depthwise_layer_runs_on_the_depthwise_engine():
    # 32 channels on 16 lanes, 9 taps on 4 per cycle: ⌈32/16⌉·⌈9/4⌉·16·16 = 2·3·256 cycles
    cost = cost_of(one_layer("conv(32, k=3, groups=32)"))
    assert (cost["engine"], cost["rule"]) == ("depthwise", "conv")
    assert cost["cycles_compute"] == 2 * 3 * 256
    # the input streams once through the line buffer; weights 32·9; outputs 32·256
    assert (cost["dram_in"], cost["dram_weight"], cost["dram_out"]) == (32 * 256, 32 * 9, 32 * 256)
    assert cost["tile"] == [16, 1] and cost["input_tile"] == [16, 3]


def test_times_follow_the_machine():
    cost = cost_of(one_layer("conv(32, k=3, groups=32)"))
    rate = min(4e9, 128 / 8 * 100e6)  # the port caps the effective bandwidth: 1.6 GB/s
    compute, memory = 1536 / 100e6, (32 * 256 * 2 + 32 * 9) / rate
    assert cost["latency_compute_s"] == pytest.approx(compute, rel=1e-12)
    assert cost["latency_memory_s"] == pytest.approx(memory, rel=1e-12)
    overhead = 10e-6
    assert cost["latency_s"] == pytest.approx(max(compute, memory) + 0.5 * min(compute, memory) + overhead, rel=1e-12)


def test_channel_multiplier_stays_on_the_pe_array():
    assert cost_of(one_layer("conv(64, k=3, groups=32)"))["engine"] == "pe"
    assert cost_of(one_layer("conv(32, k=3)"))["engine"] == "pe"


def test_upsampling_runs_on_the_elementwise_unit():
    # 8 × 8 × 8 bilinear outputs of 4 taps each at 3 taps per cycle
    cost = cost_of(one_layer('upsample(scale=2, mode="bilinear")', shape=(8, 4, 4)))
    assert (cost["engine"], cost["rule"]) == ("elementwise", "stream")
    assert cost["cycles_compute"] == -(-(8 * 8 * 8 * 4) // 3)
    assert (cost["dram_in"], cost["dram_out"]) == (8 * 16, 8 * 64)


def test_without_a_unit_streams_use_the_pe_lanes():
    plain = MACHINE.replace("    elementwise = {width: 3}\n", "")
    cost = cost_of(one_layer('upsample(scale=2, mode="bilinear")', shape=(8, 4, 4), target=plain))
    assert cost["engine"] == "lanes" and cost["cycles_compute"] == 8 * 8 * 8 * 4 // 4


def test_fused_layers_share_their_convolutions_overhead():
    graph = analyse(one_layer("conv(8, k=3) -> bn -> relu -> conv(8, k=1)", shape=(8, 8, 8)))
    costs = [n.annotations["cost"] for n in graph.nodes()]
    assert sum(c["invocations"] for c in costs) == 2
    assert sum(c["latency_overhead_s"] for c in costs) == pytest.approx(2 * 10e-6, rel=1e-12)


def test_gathers_cost_latency_per_scattered_access():
    # unbounded, rounded: P·9 sampled positions, each one access of all 32 channels
    cost = cost_of(one_layer("dconv(32, k=3, round=true)", shape=(32, 16, 16)))
    bursts, words = 256 * 9, 256 * 9 * 32
    assert (cost["gather_bursts"], cost["dram_gather"]) == (bursts, words)
    no_latency = cost_of(one_layer("dconv(32, k=3, round=true)", target=MACHINE.replace("300 ns", "0 ns")))
    extra = cost["latency_compute_s"] - no_latency["latency_compute_s"]
    assert extra == pytest.approx(bursts * 300e-9 / 2, rel=1e-9)


def test_depthwise_deformable_samples_through_the_engines_taps():
    # bilinear full shape: 36 reads per window through 4 taps: 9 cycles; ⌈32/16⌉·256 windows
    cost = cost_of(one_layer("dconv(32, k=3, groups=32, bound=2)"))
    assert cost["engine"] == "depthwise"
    branch = -(-32 // 4) * 1 * -(-18 // 4) * 1 * 256  # 3×3 offset branch to 18 offsets on the PE array
    assert cost["cycles_compute"] == 2 * 256 * 9 + branch


def test_scattered_taps_are_read_through_the_line_buffer_ports():
    ports = MACHINE.replace("    line_buffer = 15\n", "    line_buffer = 15\n    line_buffer_ports = 2\n")
    # bounded, full shape: the line buffer's rows are memories of their own, read in parallel, 2 reads a
    # cycle each; the taps of a kernel row share one.  ⌈32/16 lanes⌉·256 = 2·256 windows.
    # rounded: 3 reads in the busiest row, ⌈3/2⌉ = 2 cycles, below the engine's ⌈9 taps/4⌉ = 3
    rounded = cost_of(one_layer("dconv(32, k=3, groups=32, bound=2, round=true)", target=ports))
    assert rounded["parts"]["sampling"]["cycles_compute"] == 2 * 256 * 3
    # bilinear: 2 columns × 2 source rows a tap; at dilation 1 kernel rows 0 and 1 share a source row:
    # 2·3 + 2·3 = 12 reads in the busiest row, ⌈12/2⌉ = 6 cycles
    bilinear = cost_of(one_layer("dconv(32, k=3, groups=32, bound=2)", target=ports))
    assert bilinear["parts"]["sampling"]["cycles_compute"] == 2 * 256 * 6
    # at dilation 2 no source row is shared: 6 reads, 3 cycles
    dilated = cost_of(one_layer("dconv(32, k=3, groups=32, bound=2, dilation=2, padding=2)", target=ports))
    assert dilated["parts"]["sampling"]["cycles_compute"] == 2 * 256 * 3
    # square: whole rows, ⌈9/4⌉ = 3 cycles through the engine's taps, as without ports
    square = cost_of(one_layer('dconv(32, k=3, groups=32, bound=2, round=true, shape="square")', target=ports))
    assert square["parts"]["sampling"]["cycles_compute"] == 2 * 256 * 3


def test_streamed_convolutions_read_their_input_once():
    streamed = MACHINE.replace("    line_buffer = 15\n", '    line_buffer = 15\n    conv_input = "streamed"\n')
    cost = cost_of(one_layer("conv(64, k=3)", target=streamed))
    assert cost["dram_in"] == 32 * 16 * 16 and cost["tile"] == [16, 1] and cost["input_tile"] == [16, 3]
    tiled = cost_of(one_layer("conv(64, k=3)"))  # Eq. 3: the input again for each of ⌈64/4⌉ output groups
    assert tiled["dram_in"] > 16 * 32 * 16 * 16


def test_streamed_convolutions_need_a_line_buffer():
    text = MACHINE.replace("    line_buffer = 15\n", '    conv_input = "streamed"\n')
    assert "'conv_input = \"streamed\"' needs a line buffer" in _error(text)
    assert "'conv_input' must be one of tiled, streamed, got 'stream'" in _error(
        MACHINE.replace("    line_buffer = 15\n", '    line_buffer = 15\n    conv_input = "stream"\n'))


# ---------------------------------------------------------------- the vectorised models
def _machine(graph: segc.Graph, conv_input: str = "tiled") -> segc.Graph:
    graph = graph.copy()
    graph.target = dataclasses.replace(
        graph.target, effective_bandwidth=graph.target.bandwidth / 2, port_bits=256, access_latency_s=4e-7,
        bursts_in_flight=3, layer_overhead_s=2e-5, overlap=0.3, depthwise=DepthwiseEngine(16, 9, 0),
        elementwise=ElementwiseUnit(2.5, 0), fixed_dsp=0, line_buffer_ports=2, conv_input=conv_input,
        line_buffer_rows=graph.target.line_buffer_rows or 15)
    return graph


def _with_unroll(graph: segc.Graph, unroll) -> segc.Graph:
    graph = graph.copy()
    graph.target = dataclasses.replace(graph.target, unroll=Unroll(*unroll))
    return graph


# every deformable variant between prunable convolutions: unbounded depthwise, square, depthwise square,
# and bounded full-shape ones (scattered taps), full and depthwise
DCONVS = MACHINE + """
network dconvs on m {
    input x: [3, 32, 32]
    a = x -> conv(48, k=3) -> bn -> relu
    b = a -> dconv(48, k=3, groups=48) -> relu
    c = b -> dconv(64, k=3, shape="square", round=true) -> relu
    d = c -> dconv(64, k=3, groups=64, shape="square") -> relu
    e = d -> dconv(64, k=3, round=true) -> relu
    f = e -> dconv(64, k=3, groups=64, round=true) -> relu
    output y = f -> conv(5, k=1)
}
deform dconvs {
    e.dconv: bound=auto
    f.dconv: bound=2
}
"""


def _load(name: str) -> segc.Graph:
    if name == "dconvs":
        return segc.loads(DCONVS.replace("    elementwise = {width: 3}\n", "    line_buffer_ports = 2\n"))
    return segc.load(str(EXAMPLES / f"{name}.seg"))


@pytest.mark.parametrize(("name", "conv_input"), [("codenet_shufflenet", "tiled"), ("codenet_shufflenet", "streamed"),
                                                  ("tiny_seg", "streamed"), ("deeplabv3plus_r18", "tiled"),
                                                  ("dconvs", "tiled"), ("dconvs", "streamed")])
def test_vectorised_model_agrees_on_the_machine(name, conv_input):
    graph = analyse(_machine(_load(name), conv_input))
    table = LayerTable.of(graph)
    assert table.on_depthwise.any() or table.on_unit.any()
    for other in [(8, 8, 3, 3), (4, 16, 1, 1)]:
        rerun = analyse(_with_unroll(graph, other))
        expected = [rerun.node(n).annotations["cost"]["latency_s"] for n in table.names]
        assert latencies(table, graph.target, np.array([other]))[0].tolist() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("name", "conv_input"), [("codenet_shufflenet", "tiled"), ("codenet_shufflenet", "streamed"),
                                                  ("tiny_seg", "streamed"), ("dconvs", "tiled"),
                                                  ("dconvs", "streamed")])
def test_pruned_latency_equals_reannotation_on_the_machine(name, conv_input):
    check_pruned_latency(_machine(_load(name), conv_input), seed=3)


def check_pruned_latency(graph: segc.Graph, seed: int) -> None:
    """PrunedCost equals re-annotating the pruned graph, for three random sets of rates."""
    groups = channel_groups(graph)
    model = PrunedCost(analyse(graph), groups)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        rates = {g.name: float(rng.choice([0.0, 0.25, 0.5])) for g in groups if g.prunable}
        kept = np.asarray([[kept_channels(g, rates.get(g.name, 0.0)) for g in groups]])
        pruned = analyse(prune(graph, rates, strict=False)[0])
        assert all(pruned.node(n.name).quant == n.quant for n in graph.nodes() if n.name in pruned)
        expected = sum(n.annotations["cost"]["latency_s"] for n in pruned.nodes())
        assert model.latency(kept)[0] == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- the target's fields
def _error(text: str) -> str:
    with pytest.raises(SegError) as err:
        one_layer("relu", target=text)
    return str(err.value)


def test_engines_count_in_the_fit_check():
    text = MACHINE.replace("dsp = 1000", "dsp = 130")
    # PE 4·4·3·3/2 = 72, depthwise 16·4/2 = 32, elementwise ⌈3/2⌉ = 2, fixed 100: 206
    assert ("needs 72 DSP blocks; with the depthwise engine 32 + elementwise unit 2 + fixed units 100 that is 206, "
            "but the target has 130") in _error(text)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("access_latency", "3 MHz", "'access_latency' must be a time (s, ms, us, ns), got a frequency (3 MHz)"),
    ("layer_overhead", "2 s", "'layer_overhead' must be between 0 s and 1 s, got 2 s"),
    ("overlap", "1.5", "'overlap' must be between 0 and 1, got 1.5"),
    ("depthwise", "{lanes: 16}", "'depthwise' needs taps"),
    ("depthwise", "{lanes: 16, taps: 9, ports: 2}", "'depthwise' has no field 'ports' (it has: lanes, taps, dsp)"),
    ("elementwise", "{width: 0}", "'elementwise.width' must be between 0.015625 and 4096, got 0"),
    ("effective_bandwidth", "9 GB/s", "the effective bandwidth (9e+09 B/s) exceeds the peak (8e+09 B/s)"),
])
def test_bad_fields_are_located_errors(field, value, message):
    lines = [line for line in MACHINE.splitlines() if not line.strip().startswith(f"{field} =")]
    text = "\n".join([*lines[:-1], f"    {field} = {value}", "}"]) + "\n"
    assert message in _error(text)


def test_defaults_give_equations_1_to_5():
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    target = graph.target
    assert (target.overlap, target.layer_overhead_s, target.access_latency_s) == (1.0, 0.0, 0.0)
    assert target.depthwise is None and target.elementwise is None


def test_every_target_field_is_documented():
    from segc.ir import TARGET_FIELDS

    text = (EXAMPLES.parent / "docs" / "targets.md").read_text(encoding="utf-8")
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith("| `")}
    names = {s.name for s in TARGET_FIELDS.values()}
    names |= {f"{s.name}.{m.name}" for s in TARGET_FIELDS.values() for m in s.members}
    assert names <= documented


def test_layer_times_of_a_gathering_layer_by_hand():
    # MACHINE: the stream reaches min(4 GB/s, 128 bit / 8 · 100 MHz) = 1.6 GB/s.
    # 1000 cycles, 5000 16-bit words (80,000 bits) of which 1000 (16,000 bits) gathered in 10 bursts,
    # 2 invocations:
    #   gather  10 · 300 ns / 2 + 1000 · 2 B / 1.6 GB/s = 1.5 + 1.25 = 2.75 µs
    #   compute 1000 / 100 MHz + gather                 = 10 + 2.75 = 12.75 µs
    #   memory  (5000 − 1000) · 2 B / 1.6 GB/s          = 5 µs
    #   overhead 2 · 10 µs = 20 µs; latency 12.75 + (1 − 0.5) · 5 + 20 = 35.25 µs
    target = one_layer("relu").target
    compute, memory, overhead, latency = layer_times(target, 1000, 5000 * 16, 1000 * 16, 10, 2)
    assert (compute, memory, overhead, latency) == pytest.approx((12.75e-6, 5e-6, 20e-6, 35.25e-6), rel=1e-12)


def test_calibration_bounds_and_apply_as_docs_calibration_md_says():
    # docs/calibration.md: overlap 0 … 1, layer overhead 0 … 100 ms, access latency 0 … 100 µs,
    # elementwise width 1/64 … 4096 taps a cycle, effective bandwidth 1 % of the peak … the peak
    # (capped by the port: MACHINE's 128 bit · 100 MHz = 1.6 GB/s, below its 8 GB/s).
    target = one_layer("relu").target
    assert [bounds(name, target) for name in ("overlap", "layer_overhead", "access_latency",
                                              "elementwise_width", "effective_bandwidth")] == [
        (0.0, 1.0), (0.0, 0.1), (0.0, 1e-4), (1 / 64, 4096.0), (pytest.approx(1.6e7), pytest.approx(1.6e9))]
    assert Calibration().apply(target) is target
    fitted = Calibration({"overlap": 0.25, "layer_overhead": 1e-5, "access_latency": 2e-7,
                          "effective_bandwidth": 1e9, "elementwise_width": 2.0}).apply(target)
    assert (fitted.overlap, fitted.layer_overhead_s, fitted.access_latency_s, fitted.effective_bandwidth) == (
        0.25, 1e-5, 2e-7, 1e9)
    assert fitted.elementwise == dataclasses.replace(target.elementwise, width=2.0)
    bare = dataclasses.replace(target, elementwise=None)
    assert Calibration({"elementwise_width": 0.5}).apply(bare).elementwise == ElementwiseUnit(0.5, 0)


def test_layer_times_count_bits_that_are_no_whole_byte():
    # 4-bit words: 5 words are 20 bits, 2.5 bytes; 1 gathered word is 4 bits, half a byte (1.6 GB/s stream)
    target = one_layer("relu").target
    compute, memory, _, _ = layer_times(target, 0, 20, 4, 0, 0)
    assert (compute, memory) == pytest.approx((0.5 / 1.6e9, 2.0 / 1.6e9), rel=1e-12)
    _, memory, _, _ = layer_times(target, 0, 20, 8, 0, 0)  # 12 bits not gathered: 1.5 bytes
    assert memory == pytest.approx(1.5 / 1.6e9, rel=1e-12)


ODD_LAYERS = MACHINE + """
network odd on m {
    input x: [2, 12, 12]
    a = x -> conv(2, k=3, padding=1)
    b = a -> conv(8, k=1) -> relu
    c = b -> conv(8, k=5, groups=8, padding=2)
    d = c -> avgpool(global=true) -> conv(8, k=3, groups=8, padding=1)
    e = d -> conv(1, k=1) -> dconv(1, k=1, round=true)
    output y = e -> conv(2, k=[1, 5]) -> conv(1, k=[5, 1])
}
"""


@pytest.mark.parametrize("conv_input", ["tiled", "streamed"])
def test_vectorised_model_agrees_on_small_and_odd_layers(conv_input):
    """Layers the example networks lack: convs of 2·2 and 1·2 channels, square and 1x5 and 5x1 (weights
    fewer than a shift by their count), a 5x5 depthwise conv on 4 taps (⌈25/4⌉ steps), a depthwise conv
    and a deformable one on a 1x1 map (one word per channel, one gathered word)."""
    graph = segc.loads(ODD_LAYERS)
    graph.target = dataclasses.replace(graph.target, conv_input=conv_input)
    graph = analyse(graph)
    table = LayerTable.of(graph)
    assert table.on_depthwise.sum() == 2 and table.is_dconv.sum() == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.ci = table.co
    for other in [(1, 1, 1, 1), (2, 4, 3, 3), (4, 16, 1, 1)]:
        rerun = analyse(_with_unroll(graph, other))
        expected = [rerun.node(n).annotations["cost"]["latency_s"] for n in table.names]
        assert latencies(table, graph.target, np.array([other]))[0].tolist() == pytest.approx(expected, rel=1e-12)
