"""The torch and ONNX backends: generated modules against a hand-written
ResNet-18, weights by name, runtime shape checks, and every example through
ONNX (checker, then onnxruntime against torch)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from conftest import EXAMPLES, NETWORK_EXAMPLES  # noqa: E402
from torch import nn  # noqa: E402

import segc  # noqa: E402
from segc.backends.torch.source import TORCH_LOWERING  # noqa: E402
from segc.cli import main  # noqa: E402
from segc.ir import OPS  # noqa: E402
from segc.ir.quant import apply_quantize  # noqa: E402


class _Block(nn.Module):
    """torchvision's BasicBlock, written out independently."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ReferenceResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (cin, cout, stride) in enumerate(widths, 1):
            setattr(self, f"layer{i}", nn.Sequential(_Block(cin, cout, stride), _Block(cout, cout, 1)))
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def _randomise_bn(module: nn.Module, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            for tensor, low, high in ((m.weight.data, 0.5, 1.5), (m.bias.data, -0.5, 0.5),
                                      (m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 1.5)):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)


def _small(path) -> segc.Graph:
    """An example at a small input size (same layers, fast)."""
    text = path.read_text()
    for size in ("960, 960", "512, 512", "224, 224"):
        text = text.replace(f"[3, {size}]", "[3, 64, 64]")
    return segc.loads(text, str(path))


def test_every_op_has_a_torch_and_an_onnx_lowering():
    from segc.backends.onnx.export import ONNX_LOWERING

    assert set(TORCH_LOWERING) == set(OPS) == set(ONNX_LOWERING)


def test_generated_resnet18_equals_a_hand_written_one():
    reference = ReferenceResNet18().eval()
    _randomise_bn(reference)
    generated = segc.to_torch(segc.load(str(EXAMPLES / "resnet18.seg")), reference.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(generated(x).flatten(1), reference(x), rtol=1e-5, atol=1e-5)


def test_state_dict_keys_are_the_ir_names():
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    keys = set(segc.to_torch(graph).state_dict())
    assert set(ReferenceResNet18().state_dict()) == keys  # torchvision's own names


def test_layers_named_like_module_attributes_are_layers():
    """``to`` and ``half`` are nn.Module methods: the layers must still be
    the layers (by hand: relu(conv3x3(x)) + conv1x1 of it)."""
    import torch
    import torch.nn.functional as F

    graph = segc.loads(
        'import "targets/arria10.seg"\nnetwork n on arria10_gx1150 {\n    input x: [3, 8, 8]\n'
        "    to = x -> conv(4, k=3) -> relu\n    half = to -> conv(4, k=1)\n    output y = add(to, half)\n}\n",
        str(EXAMPLES / "n.seg"))
    module = segc.to_torch(graph, seed=0)
    weights = module.state_dict()
    assert sorted(weights) == ["half.weight", "to.conv.weight"]
    x = torch.randn(2, 3, 8, 8)
    first = F.conv2d(x, weights["to.conv.weight"], padding=1).relu()
    expected = first + F.conv2d(first, weights["half.weight"])
    assert torch.allclose(module(x), expected, atol=1e-6)


def test_generated_source_is_deterministic_and_golden(golden):
    graph = segc.load(str(EXAMPLES / "tiny.seg"))
    source = segc.to_torch_source(graph)
    assert source == segc.to_torch_source(segc.load(str(EXAMPLES / "tiny.seg")))
    golden("tiny_model.py", source)
    namespace: dict = {}
    exec(compile(source, "tiny_model.py", "exec"), namespace)  # standalone: needs only torch
    assert namespace["Tiny"]()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)  # a classifier returns [N, classes]


def test_seeded_initialisation_is_reproducible():
    graph = segc.load(str(EXAMPLES / "tiny.seg"))
    a, b, c = (segc.to_torch(graph, seed=s).state_dict() for s in (3, 3, 4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_files_round_trip(tmp_path, suffix):
    graph = segc.load(str(EXAMPLES / "tiny.seg"))
    module = segc.to_torch(graph, seed=7)
    path = tmp_path / f"w{suffix}"
    if suffix == ".pt":
        torch.save(module.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, path)
    loaded = segc.to_torch(graph, str(path))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), module(x))


def test_weights_that_do_not_fit_name_the_layer(tmp_path):
    graph = segc.load(str(EXAMPLES / "tiny.seg"))
    state = segc.to_torch(graph).state_dict()
    state["stem.conv.weight"] = torch.zeros(8, 3, 5, 5)
    del state["head.linear.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(segc.SegError) as caught:
        segc.to_torch(graph, state)
    text = caught.value.render()
    assert "layer 'stem.conv': 'stem.conv.weight' has shape [8, 3, 5, 5] in the file, the network needs [8, 3, 3, 3]" \
        in text
    assert "layer 'head.linear': 'head.linear.bias' is missing" in text
    assert "'extra.weight' belongs to no layer of the network" in text


def test_bad_weights_files(tmp_path):
    graph = segc.load(str(EXAMPLES / "tiny.seg"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(segc.SegError, match="cannot read the weights"):
        segc.to_torch(graph, str(tmp_path / "junk.pt"))
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(segc.SegError, match="not a state_dict"):
        segc.to_torch(graph, str(tmp_path / "list.pt"))


def test_wrong_input_shape_at_runtime():
    module = segc.to_torch(segc.load(str(EXAMPLES / "tiny.seg")))
    with pytest.raises(ValueError, match=r"input 'image' must be \[N, 3, 32, 32\], got \[1, 3, 16, 16\]"):
        module(torch.zeros(1, 3, 16, 16))


@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.stem)
def test_onnx_export_checks_and_matches_torch(path):
    graph = apply_quantize(_small(path), [])  # in float: quantized exports are tests/test_onnx_quant_export.py's
    module = segc.to_torch(graph, seed=1)
    _randomise_bn(module)
    state = module.state_dict()
    model = onnx.load_from_string(segc.to_onnx(graph, state))
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = torch.randn(2, *graph.inputs[0].shape)
    with torch.no_grad():
        expected = module(x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = session.run(None, {graph.inputs[0].name: x.numpy()})
    for want, have in zip(expected, got):
        scale = np.abs(want.numpy()).max()
        assert np.abs(have - want.numpy()).max() <= 1e-4 * scale
    layers = {n.name for n in graph.nodes() if n.op not in ("input", "output")}
    names = {node.name.split("/")[0] for node in model.graph.node}
    assert layers <= names  # every layer's node carries its IR name
    assert {i.name for i in model.graph.initializer} >= {k for k in state if "num_batches" not in k}


def test_export_commands(tmp_path, capsys):
    tiny = str(EXAMPLES / "tiny.seg")
    assert main(["export", tiny, "--to", "torch", "-o", str(tmp_path / "m.py")]) == 0
    assert "class Tiny(nn.Module)" in (tmp_path / "m.py").read_text()
    assert main(["export", tiny, "--to", "onnx", "--seed", "3", "-o", str(tmp_path / "m.onnx")]) == 0
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")), full_check=True)
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pt")
    assert main(["export", tiny, "--to", "onnx", "--weights", str(tmp_path / "bad.pt"), "-o",
                 str(tmp_path / "bad.onnx")]) == 1
    err = capsys.readouterr().err
    assert "layer 'stem.conv': 'stem.conv.weight' is missing" in err and "Traceback" not in err
    assert not (tmp_path / "bad.onnx").exists()
