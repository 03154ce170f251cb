"""The generated PyTorch source under TorchScript: ``torch.jit.script`` of the
module, written to a file and imported as a user would (TorchScript reads a
class's source from its file), gives the eager module's outputs, keeps the
state_dict keys and survives save and load.  Deformable networks are not
scriptable (``DeformConv2d`` picks its sampling path in Python): scripting
one fails with an error that says so and names ``torch.jit.trace``, which
does work."""

from __future__ import annotations

import copy
import importlib.util
import io

import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402

import segc  # noqa: E402
from segc.backends.torch.source import class_name  # noqa: E402

# recent torch warns that torch.jit is deprecated (in favour of torch.export); it is still what users script with
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def imported_module(graph: segc.Graph, tmp_path) -> torch.nn.Module:
    """The generated class, from a file, with the weights of ``segc.to_torch(graph, seed=0)``."""
    path = tmp_path / f"{graph.name}_model.py"
    path.write_text(segc.to_torch_source(graph), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    namespace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(namespace)
    module = getattr(namespace, class_name(graph))()
    module.load_state_dict(segc.to_torch(graph, seed=0).state_dict())
    return module.eval()


def outputs(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize(("file", "shape"), [
    ("tiny.seg", (2, 3, 32, 32)),  # add, concat, maxpool, bilinear upsample, avgpool, flatten, linear
    ("tiny_seg.seg", (2, 3, 64, 64)),
    ("resnet18.seg", (1, 3, 224, 224)),
])
def test_scripted_module_equals_the_eager_one(tmp_path, file, shape):
    graph = segc.load(str(EXAMPLES / file))
    eager = segc.to_torch(graph, seed=0)
    scripted = torch.jit.script(imported_module(graph, tmp_path))
    assert sorted(scripted.state_dict()) == sorted(eager.state_dict())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for got, expected in zip(outputs(scripted(x)), outputs(eager(x)), strict=True):
            assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_scripted_module_saves_and_loads(tmp_path):
    graph = segc.load(str(EXAMPLES / "tiny.seg"))
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(imported_module(graph, tmp_path)), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), segc.to_torch(graph, seed=0)(x), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_deformable_networks_say_they_cannot_be_scripted_and_trace_instead(tmp_path):
    graph = segc.load(str(EXAMPLES / "codenet_layer.seg"), "full_square")
    module = imported_module(graph, tmp_path)
    with pytest.raises(RuntimeError, match=r"DeformConv2d cannot be compiled by torch.jit.script.*torch.jit.trace"):
        torch.jit.script(module)
    x = torch.randn(1, *graph.inputs[0].shape, generator=torch.Generator().manual_seed(2))
    traced = torch.jit.trace(module, x, check_trace=False)
    with torch.no_grad():
        assert torch.allclose(traced(x), module(x), rtol=1e-5, atol=1e-5)


def test_a_layer_named_like_a_module_attribute_says_why_it_cannot_be_scripted(tmp_path):
    graph = segc.loads("network n {\n    input x: [3, 8, 8]\n    to = x -> conv(4, k=3)\n    output y = to\n}\n")
    with pytest.raises(RuntimeError, match=r"cannot compile N: layer 'to' named like an nn.Module attribute"):
        torch.jit.script(imported_module(graph, tmp_path))


def test_the_live_module_scripts_too():
    """``torch.jit.script(segc.to_torch(graph))``: the in-process module's
    source is readable, and its Python-only input check is left out of the
    scripted copy (the eager module keeps it)."""
    graph = segc.load(str(EXAMPLES / "tiny_seg.seg"))
    eager = segc.to_torch(graph, seed=0)
    scripted = torch.jit.script(eager)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(scripted(x), eager(x))
    copied = torch.jit.script(copy.deepcopy(eager))
    with torch.no_grad():
        assert torch.equal(copied(x), eager(x))
    with pytest.raises(ValueError, match=r"input 'image' must be \[N, 3, 64, 64\]"):
        eager(torch.zeros(1, 3, 8, 8))
