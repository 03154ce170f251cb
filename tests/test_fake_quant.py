"""Fake quantization in the torch backend: the generated module of a
quantized network against the arithmetic of ``backends/quant.py`` (numpy),
exactly, in float64; straight-through gradients; the generated source."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_quantize_section import TARGET  # noqa: E402

from segc.api import loads, to_torch, to_torch_source  # noqa: E402
from segc.backends.quant import dequantize, fixed_frac, int_scale, quantize, weight_scales  # noqa: E402
from segc.backends.torch.fake_quant import fake_quant  # noqa: E402
from segc.backends.torch.fake_quant import fixed_frac as torch_fixed_frac  # noqa: E402
from segc.ir import SegError  # noqa: E402

F = torch.nn.functional

QNET = TARGET + """
network qnet on t8 {
    input x: [3, 8, 8]
    a = x -> conv(4, k=3, bias=true) -> relu
    b = a -> deconv(4, k=2, stride=2)
    c = b -> avgpool(global=true) -> flatten -> linear(5)
    output y = c
}
quantize qnet {
    *: w=8, a=8, scheme=int
    b: w=4, a=6
    c.*: scheme=fixed, w=6, a=10
    c.avgpool: a_frac=7
}
"""
RANGES = {"x": 2.5, "a.conv": 3.0, "a.relu": 2.0, "b": 1.5, "c.avgpool": 0.0, "c.flatten": 0.7, "c.linear": 0.9}


def _module(ranges=RANGES):
    graph = loads(QNET, path="q.seg")
    module = to_torch(graph, seed=3).double()
    for key, value in module.state_dict().items():
        if key.endswith(".act_range"):
            value.fill_(ranges[key.removesuffix(".act_range")])
    with torch.no_grad():  # a zero output channel: its scale is 1, its words 0
        module.state_dict()["a.conv.weight"][2] = 0.0
    return module


def _int(values, value_range, bits):
    scale = int_scale(value_range, bits, "t")
    return dequantize(quantize(values, scale, bits), scale)


def _fixed(values, value_range, bits, frac=None):
    scale = 2.0 ** -(frac if frac is not None else fixed_frac(value_range, bits))
    return dequantize(quantize(values, scale, bits), scale)


def _per_channel(weight, bits, axis):
    scales = weight_scales(weight, bits, axis)
    return dequantize(quantize(weight, scales, bits, axis), scales, axis)


def _reference(module, x: np.ndarray) -> np.ndarray:
    """The network in float64 on numpy-quantized weights and outputs (the numerics contract)."""
    w = {k: v.numpy() for k, v in module.state_dict().items()}
    t = torch.from_numpy
    h = _int(x, 2.5, 8)
    h = _int(F.conv2d(t(h), t(_per_channel(w["a.conv.weight"], 8, 0)), t(w["a.conv.bias"]), padding=1).numpy(), 3.0, 8)
    h = _int(np.maximum(h, 0), 2.0, 8)
    h = _int(F.conv_transpose2d(t(h), t(_per_channel(w["b.weight"], 4, 1)), stride=2).numpy(), 1.5, 6)
    h = _fixed(F.adaptive_avg_pool2d(t(h), 1).numpy(), 0.0, 10, frac=7)
    h = _fixed(h.reshape(len(h), -1), 0.7, 10)
    linear = w["c.linear.weight"]
    frac = fixed_frac(float(np.abs(linear).max()), 6)
    h = F.linear(t(h), t(_fixed(linear, 0, 6, frac)), t(w["c.linear.bias"])).numpy()
    return _fixed(h, 0.9, 10)


def test_the_module_equals_the_numpy_arithmetic_exactly_in_float64():
    module = _module()
    x = np.random.default_rng(0).normal(0, 1.5, (2, 3, 8, 8))  # some inputs beyond the range saturate
    with torch.no_grad():
        out = module(torch.from_numpy(x)).numpy()
    expected = _reference(module, x)
    assert out.dtype == np.float64 and np.array_equal(out, expected)
    assert len(np.unique(out)) > 4  # not a degenerate all-saturated output


def test_each_layers_weights_equal_the_numpy_arithmetic_exactly():
    from segc.backends.torch.fake_quant import quantized_weight
    from segc.backends.torch.module import submodule

    module = _module()
    w = {k: v.numpy() for k, v in module.state_dict().items()}
    linear_frac = fixed_frac(float(np.abs(w["c.linear.weight"]).max()), 6)
    expected = {"a.conv": (_per_channel(w["a.conv.weight"], 8, 0), 0), "b": (_per_channel(w["b.weight"], 4, 1), 1),
                "c.linear": (_fixed(w["c.linear.weight"], 0, 6, linear_frac), 0)}
    for layer, (values, axis) in expected.items():
        with torch.no_grad():
            assert np.array_equal(quantized_weight(submodule(module, layer), axis).numpy(), values), layer
    assert not w["a.conv.weight"][2].any() and not _per_channel(w["a.conv.weight"], 8, 0)[2].any()


def test_fake_quant_rounds_half_to_even_and_saturates_by_hand():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, 300.0, -300.0, 0.26], dtype=torch.float64)
    assert fake_quant(x, 0.5, 8).tolist() == [0.5, 1.5, 2.5, -0.5, 63.5, -64.0, 0.5]  # 0.26/0.5 = 0.52 -> 1
    assert fake_quant(x, 1.0, 8).tolist() == [0.0, 2.0, 2.0, -0.0, 127.0, -128.0, 0.0]


def test_fixed_point_fraction_bits_agree_with_the_numpy_rule():
    for value_range in [0.0, 1e-9, 0.3, 0.999, 1.0, 1.0039, 127.0, 127.5, 127.49, 3000.0, 2.0**-20]:
        for bits in (4, 8, 16):
            assert torch_fixed_frac(value_range, bits, "t") == fixed_frac(value_range, bits), (value_range, bits)
    assert torch_fixed_frac(1.0, 8, "t") == 6  # round(1 · 2^6) = 64 <= 127, 2^7 = 128 > 127


def test_the_gradient_passes_straight_through_where_nothing_saturates():
    x = torch.tensor([-9.6, -8.4, 0.3, 7.4, 7.6], requires_grad=True)  # 4 bits: words -8 … 7
    fake_quant(x, 1.0, 4).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # rounds to -10 and 8: saturated


def test_weights_train_through_fake_quantization():
    module = _module().train()
    out = module(torch.randn(2, 3, 8, 8, dtype=torch.float64))
    out.square().sum().backward()
    for layer in ("a.conv", "b", "c.linear"):
        grad = dict(module.named_parameters())[f"{layer}.weight"].grad
        assert grad is not None and bool(grad.abs().sum() > 0), layer


def test_an_uncalibrated_int_layer_is_an_error_naming_it():
    module = _module({**RANGES, "b": 0.0})
    with pytest.raises(ValueError, match=r"layer 'b': its output range 0\.0 gives no scale"):
        module(torch.zeros(1, 3, 8, 8, dtype=torch.float64))


def test_a_weights_file_without_ranges_names_the_layers():
    from segc.quantization import quantized_module

    graph = loads(QNET, path="q.seg")
    weights = {k: v for k, v in to_torch(graph).state_dict().items() if not k.endswith(".act_range")}
    with pytest.raises(SegError, match=r"no calibrated output range for 'x', 'a\.conv', 'a\.relu', 'b' …"):
        quantized_module(graph, weights)
    with pytest.raises(SegError, match=r"layer 'b': 'b.act_range' is missing \(its calibrated output range"):
        to_torch(graph, weights)


def test_the_generated_source_of_a_quantized_network(golden):
    source = to_torch_source(loads(QNET, path="q.seg"))
    golden("qnet_model.py", source)
    namespace: dict = {}
    exec(compile(source, "qnet_model.py", "exec"), namespace)  # standalone: needs only torch
    assert set(namespace["Qnet"]().state_dict()) >= {"x.act_range", "a.conv.act_range", "c.linear.act_range"}


def test_a_quantized_deformable_convolution_computes_on_quantized_weights():
    from segc.backends.torch.deform import deform_conv2d

    graph = loads(TARGET + "network d on t8 {\n    input x: [3, 8, 8]\n    output y = x -> dconv(4, k=3)\n}\n"
                  "quantize d {\n    *: w=4, a=8, scheme=int\n}\n", path="d.seg")
    module = to_torch(graph, seed=0).double()
    layer = module._modules["y"]
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        weight = torch.from_numpy(_per_channel(layer.weight.numpy(), 4, 0))
        expected = deform_conv2d(x, layer.offsets(x), weight, layer.bias, layer.stride, layer.padding,
                                 layer.dilation, layer.groups, layer.offset_groups)
        assert torch.equal(layer(x), expected)
