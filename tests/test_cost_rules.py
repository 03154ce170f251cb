"""The cost pass (passes/cost.py) beyond Eq. 2-5 on one layer: what bounds
a layer (compute, memory, a tie, nothing), free layers that start no
pipeline, and the time of each part of a deformable layer; every number
worked out by hand in the comments."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_hwmodel import TARGET

import segc
from segc.hardware import analyse, load_calibration
from segc.ir import ElementwiseUnit


def network(body: str, bandwidth: str = "9.5 GB/s", extra: str = "") -> segc.Graph:
    target = TARGET.replace("BUFFER", "128 KiB").replace("9.5 GB/s", bandwidth)
    target = target.replace("    word = 16 bit\n", f"    word = 16 bit\n{extra}")
    return segc.loads(target + f"network n on t {{\n{body}\n}}\n")


def costs(body: str, bandwidth: str = "9.5 GB/s", extra: str = "") -> dict[str, dict]:
    graph = analyse(network(body, bandwidth, extra))
    return {node.name: node.annotations["cost"] for node in graph.nodes()}


@pytest.mark.parametrize(("bandwidth", "bound"), [("10 GB/s", "memory"), ("20 GB/s", "compute"),
                                                   ("40 GB/s", "compute")])
def test_the_bound_is_the_larger_time_and_a_tie_is_compute_bound(bandwidth: str, bound: str) -> None:
    # 1×1 conv, 16 → 32 channels on 16×16 at 200 MHz: ⌈16/16⌉·⌈1/4⌉·⌈32/32⌉·1·256 = 256 cycles = 1.28 µs.
    # Words: input 16·256 (the whole map, one group of P_of = 32), weights 16·32, output 32·256:
    # 12,800 words of 2 bytes = 25,600 B, 2.56 µs at 10 GB/s, 1.28 µs at 20 GB/s (a tie, which
    # Eq. 5's maximum does not tell apart: the PE array is taken as the bound), 0.64 µs at 40 GB/s.
    cost = costs(" input x: [16, 16, 16]\n output y = x -> conv(32, k=1)", bandwidth)["y"]
    assert cost["cycles_compute"] == 256
    assert cost["dram_in"] + cost["dram_weight"] + cost["dram_out"] == 12800
    memory = 25600 / {"10 GB/s": 10e9, "20 GB/s": 20e9, "40 GB/s": 40e9}[bandwidth]
    assert (cost["latency_compute_s"], cost["latency_memory_s"]) == (256 / 200e6, memory)
    assert cost["latency_s"] == max(256 / 200e6, memory)
    assert cost["bound"] == bound


def test_free_layers_start_no_pipeline():
    # input and flatten take no time and are no convolution: a relu after them streams
    found = costs(" input x: [8, 4, 4]\n r = x -> relu\n f = r -> flatten\n output y = f -> relu")
    assert {name: (cost["rule"], cost["bound"]) for name, cost in found.items()} == {
        "x": ("free", "none"), "r": ("stream", "memory"), "f": ("free", "none"), "y": ("stream", "memory"),
        "output.y": ("free", "none")}
    assert found["r"]["cycles_compute"] == 8 * 4 * 4 // 32  # one tap per element on the 32 lanes


def test_each_part_of_a_deformable_layer_is_timed_alone():
    # A bounded dconv is two invocations, its offset branch and its sampling convolution; each
    # part's time is Eq. 5 on its own work, max(cycles / 200 MHz, words · 2 B / 9.5 GB/s), and
    # the layer's the sum of its parts'.
    cost = costs(" input x: [16, 16, 16]\n output y = x -> dconv(16, k=3, bound=1)",
                 extra="    line_buffer = 5\n")["y"]
    parts = cost["parts"]
    assert len(parts) == 2 and cost["invocations"] == 2
    for part in parts.values():
        words = part["dram_in"] + part["dram_weight"] + part["dram_out"]
        assert part["latency_s"] == pytest.approx(max(part["cycles_compute"] / 200e6, words * 2 / 9.5e9), rel=1e-12)
    assert cost["latency_s"] == pytest.approx(sum(p["latency_s"] for p in parts.values()), rel=1e-12)
    assert len({p["latency_s"] for p in parts.values()}) == 2  # two different works, two times


def test_a_calibration_file_sets_the_elementwise_width(tmp_path):
    # the names come from a file, strings made at run time: the unit's width becomes 2.5 whether
    # the target has a unit (width 3) or not (a unit of no DSPs)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"format": "segc.calibration", "version": 2, "values": {"elementwise_width": 2.5}}))
    calibration = load_calibration(str(path))
    body = " input x: [8, 4, 4]\n output y = x -> relu"
    assert calibration.apply(network(body, extra="    elementwise = {width: 3}\n").target).elementwise.width == 2.5
    assert calibration.apply(network(body).target).elementwise == ElementwiseUnit(2.5, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):  # held by frozen passes, shared: never changed
        calibration.source = "edited"


def test_fused_and_free_layers_move_no_dram_words() -> None:
    # bn and relu are fused into a's pipeline, flatten is free: none of them reads, fetches or writes a word
    layers = costs("    input x: [4, 8, 8]\n    a = x -> conv(4, k=1) -> bn -> relu\n"
                   "    output y = a -> flatten -> linear(3)")
    quiet = {name: cost for name, cost in layers.items() if cost["rule"] in ("fused", "free")}
    assert {name: cost["rule"] for name, cost in quiet.items()} == {
        "x": "free", "a.bn": "fused", "a.relu": "fused", "y.flatten": "free", "output.y": "free"}
    assert all((cost["dram_in"], cost["dram_weight"], cost["dram_out"], cost["dram_bits"]) == (0, 0, 0, 0)
               for cost in quiet.values())
