"""Post-training calibration of activation ranges (``segc quantize``),
quantization-aware fine-tuning and the accuracy of quantized networks
(``segc finetune``, ``segc evaluate``)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from test_data import run, tiny_seg  # noqa: E402

import segc  # noqa: E402
from segc.backends.quant import range_key  # noqa: E402
from segc.ir import SegError  # noqa: E402
from segc.quantization import float_graph, quantized_module  # noqa: E402
from segc.train.data import open_dataset  # noqa: E402
from segc.train.finetune import finetune  # noqa: E402
from segc.train.ranges import calibrate_ranges  # noqa: E402

RELU = """network r {
    input x: [1, 2, 2]
    output y = x -> relu
}
quantize r {
    *: w=8, a=8, scheme=int
}
"""
# Two hand-made samples; |x| over both, sorted: 0, 0.25, 0.5, 1, 1, 2, 3, 4; relu(x): 0, 0, 0, 0.25, 0.5, 1, 2, 4.
SAMPLES = [torch.tensor([[[-3.0, 1.0], [2.0, 0.5]]]), torch.tensor([[[0.0, -1.0], [4.0, 0.25]]])]
QUANTIZE = "\nquantize seg {\n    *: w=8, a=8, scheme=int\n}\n"


def _pairs(images):
    return [(image, torch.zeros(image.shape[1:], dtype=torch.long)) for image in images]


def _ranges(images, rule: str, text: str = RELU) -> dict[str, float]:
    graph = segc.loads(text)
    return calibrate_ranges(graph, segc.to_torch(float_graph(graph)), _pairs(images), rule, batch_size=1)


def test_max_and_percentile_ranges_of_hand_made_data():
    assert _ranges(SAMPLES, "max") == {"x": 4.0, "y": 4.0}
    # percentile with linear interpolation: position (8 − 1)·P/100 in the sorted magnitudes
    assert _ranges(SAMPLES, "percentile:50") == pytest.approx({"x": 1.0, "y": 0.375})  # 0.25 + 0.5·0.25
    assert _ranges(SAMPLES, "percentile:90") == pytest.approx({"x": 3.3, "y": 2.6})  # 3 + 0.3·1, 2 + 0.3·2


def test_empty_and_constant_zero_data_are_errors_naming_the_layer():
    with pytest.raises(SegError, match="needs at least one sample; the data is empty"):
        _ranges([], "max")
    negative = [-s.abs() - 1 for s in SAMPLES]  # relu gives 0 everywhere
    with pytest.raises(SegError, match=r"layer 'y': its max range on 2 sample\(s\) is 0 \(the output is "
                                       "constant zero\\); an int layer needs a positive range"):
        _ranges(negative, "max")
    assert _ranges(negative, "max", RELU.replace("scheme=int", "scheme=fixed")) == {"x": 5.0, "y": 0.0}
    with pytest.raises(SegError, match="range rule 'top'"):
        _ranges(SAMPLES, "top")


def test_quantization_aware_fine_tuning_keeps_the_ranges_and_is_deterministic():
    graph = segc.loads(tiny_seg() + QUANTIZE)
    data = open_dataset("synthetic:8", "train", "segmentation", 4, graph.inputs[0].shape)
    states = []
    for _ in range(2):
        module = quantized_module(graph, None, data, samples=4, seed=1)
        ranges = {k: v.clone() for k, v in module.state_dict().items() if k.endswith(".act_range")}
        finetune(module, data, epochs=1, lr=0.05, batch_size=4, seed=2)
        state = module.state_dict()
        assert all(torch.equal(state[k], v) for k, v in ranges.items()) and all(v > 0 for v in ranges.values())
        states.append(state)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    float_start = segc.to_torch(float_graph(graph), seed=1).state_dict()
    moved = [k for k, v in float_start.items() if k.endswith("weight") and not torch.equal(v, states[0][k])]
    assert moved  # the weights trained through fake quantization


def test_quantize_then_evaluate_beside_float(capsys, tmp_path):
    net = tmp_path / "seg.seg"
    net.write_text(tiny_seg() + QUANTIZE)
    float_weights = tmp_path / "f.safetensors"
    segc.api.write_atomic(str(float_weights), _saved(segc.to_torch(float_graph(segc.load(str(net))), seed=4)))
    code, _, err = run(capsys, "evaluate", net, "--weights", float_weights, "--data", "synthetic:4")
    assert code == 1 and "the weights hold no calibrated output range for 'x', 'y.conv1', 'y.bn', 'y.relu' …" in err
    calibrated = tmp_path / "q.safetensors"
    code, out, _ = run(capsys, "quantize", net, "--weights", float_weights, "--data", "synthetic:8", "--samples", "3",
                       "--range", "percentile:99", "-o", calibrated)
    assert code == 0 and "calibrated the output ranges of 5 layer(s) of seg (percentile:99) on 3 samples" in out
    from safetensors.torch import load_file

    saved = load_file(str(calibrated))
    assert {range_key(n) for n in ("x", "y.conv1", "y.bn", "y.relu", "y.conv2")} <= set(saved)
    code, out, _ = run(capsys, "evaluate", net, "--weights", calibrated, "--data", "synthetic:4", "--float", "--json")
    figures = json.loads(out)
    assert code == 0 and figures["quantized"] is True and 0 <= figures["miou"] <= 1
    assert figures["float"]["samples"] == 4 and 0 <= figures["float"]["miou"] <= 1


def _saved(module) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in module.state_dict().items()})


def test_quantize_refuses_a_network_without_a_quantize_section(capsys, tmp_path):
    net = tmp_path / "seg.seg"
    net.write_text(tiny_seg())
    code, _, err = run(capsys, "quantize", net, "--data", "synthetic:2", "-o", tmp_path / "q.safetensors")
    assert code == 1 and "network 'seg' quantizes no layer" in err and not (tmp_path / "q.safetensors").exists()
