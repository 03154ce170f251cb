"""Layer names that are also attributes of ``nn.Module`` or ``nn.ModuleDict``
(``to``, ``forward``, ``__init__``, ``training``): valid names, so every
backend that looks layers up in the live module finds the layer, not the
method (``get_submodule`` reads attributes), and the generated ``__init__``
stores a nested one (``x.to``) although ``ModuleDict`` refuses such a key."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402

import segc  # noqa: E402
from segc.cli import main  # noqa: E402

TARGET = f'import "{EXAMPLES / "targets/ultra96.seg"}"\n'


def _network(body: str) -> str:
    return f"{TARGET}network m on ultra96_codenet {{\n    input image: [3, 8, 8]\n{body}}}\n"


@pytest.mark.parametrize("name", ["to", "forward", "eval", "__init__"])
def test_top_level_layers_named_like_methods_reach_the_hls_export(name, tmp_path, capsys):
    (tmp_path / "m.seg").write_text(_network(f"    {name} = image -> conv(4, k=3)\n    output y = {name}\n"))
    assert main(["export", str(tmp_path / "m.seg"), "--to", "hls", "-o", str(tmp_path / "hls")]) == 0, \
        capsys.readouterr().err
    assert (tmp_path / "hls" / "network.cpp").is_file()


@pytest.mark.parametrize("part", ["to", "forward", "update", "cuda"])
def test_nested_layers_named_like_attributes_are_built(part):
    """``x = image -> conv -> relu as PART``: layer ``x.PART`` inside the ``x`` container."""
    net = segc.loads(_network(f"    x = image -> conv(4, k=3) -> relu as {part}\n    output y = x\n"))
    assert [n.name for n in net.nodes() if n.op == "relu"] == [f"x.{part}"]
    module = net.to_torch()
    assert list(module.state_dict()) == ["x.conv.weight"]
    image = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = torch.relu(torch.nn.functional.conv2d(image, module.state_dict()["x.conv.weight"], padding=1))
        assert torch.equal(module(image), expected)


def test_a_nested_deformable_layer_named_to_has_its_offsets_read(tmp_path, capsys):
    (tmp_path / "d.seg").write_text(_network(
        "    x = image -> conv(4, k=3) -> dconv(4, k=3, bound=2) as to\n    output y = x\n"))
    assert main(["offsets", str(tmp_path / "d.seg"), "--json"]) == 0, capsys.readouterr().err
    assert '"x.to"' in capsys.readouterr().out


@pytest.mark.parametrize("part", ["training", "_modules", "_parameters"])
def test_nested_layers_named_like_what_every_module_keeps_are_refused(part):
    net = segc.loads(_network(f"    x = image -> conv(4, k=3) -> relu as {part}\n    output y = x\n"))
    with pytest.raises(segc.SegError, match=f"layer 'x.{part}' cannot be a torch module: nn.Module keeps its own "
                                            f"'{part}' on every module; rename it with 'as'"):
        net.to_torch_source()
