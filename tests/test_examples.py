"""The shipped examples against independent figures: published MAC and
parameter counts, layer-by-layer arithmetic written out by hand, and the
throughput and latency Mori et al. report for DeepLabV3+."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, NETWORK_EXAMPLES

import segc


def _totals(graph: segc.Graph) -> tuple[int, int]:
    rows = segc.summarize(graph)
    return sum(r.macs for r in rows), sum(r.params for r in rows)


@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.name)
def test_every_example_checks_cleanly(path):
    warnings = []
    graph = segc.load(str(path), warnings=warnings)
    assert warnings == []
    assert graph.target is not None
    graph.verify()


def test_resnet18_matches_published_counts():
    # torchvision's ResNet-18 model card: 1.81 GFLOPS (multiply-accumulates)
    # and 11,689,512 parameters at 224x224.
    macs, params = _totals(segc.load(str(EXAMPLES / "resnet18.seg")))
    assert abs(macs - 1.81e9) / 1.81e9 < 0.005
    assert params == 11_689_512


def test_resnet18_layers_by_hand():
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    conv1 = segc.summarize(graph)[1]
    assert (conv1.name, list(conv1.shape)) == ("conv1", [64, 112, 112])
    assert conv1.macs == 112 * 112 * 64 * 3 * 7 * 7
    assert graph.node("maxpool").shape == (64, 56, 56)
    assert graph.node("layer4.1.relu2").shape == (512, 7, 7)
    assert graph.node("fc").shape == (1000, 1, 1)


def _conv(cin: int, cout: int, k: int, side: int) -> int:
    """MACs of a k×k convolution producing a side×side map."""
    return side * side * cout * cin * k * k


def _deeplab_macs_by_hand() -> int:
    """DeepLabV3+ R18 at 960x960, output stride 16, layer by layer."""
    backbone = (
        _conv(3, 64, 7, 480)  # stem
        + 4 * _conv(64, 64, 3, 240)  # res2
        + _conv(64, 128, 3, 120) + 3 * _conv(128, 128, 3, 120) + _conv(64, 128, 1, 120)  # res3
        + _conv(128, 256, 3, 60) + 3 * _conv(256, 256, 3, 60) + _conv(128, 256, 1, 60)  # res4
        + _conv(256, 512, 3, 60) + 3 * _conv(512, 512, 3, 60) + _conv(256, 512, 1, 60)  # res5, dilated
    )
    aspp = (
        _conv(512, 256, 1, 60) + 3 * _conv(512, 256, 3, 60)  # 1x1 and rates 6, 12, 18
        + _conv(512, 256, 1, 1)  # image pooling
        + _conv(5 * 256, 256, 1, 60)  # projection
    )
    decoder = _conv(64, 48, 1, 240) + _conv(256 + 48, 256, 3, 240) + _conv(256, 256, 3, 240)
    return backbone + aspp + decoder + _conv(256, 19, 1, 240)


def test_deeplabv3plus_structure_and_macs():
    graph = segc.load(str(EXAMPLES / "deeplabv3plus_r18.seg"))
    assert graph.node("output.logits").shape == (19, 960, 960)
    assert graph.node("res5.1.relu2").shape == (512, 60, 60)  # output stride 16
    assert {graph.node(f"res5.{b}.conv{i}").attrs["dilation"] for b in (0, 1) for i in (1, 2)} == {(2, 2)}
    assert [graph.node(f"aspp.{i}.conv").attrs["dilation"] for i in (1, 2, 3)] == [(6, 6), (12, 12), (18, 18)]
    assert graph.node("decoder.concat").shape == (304, 240, 240)
    macs, _ = _totals(graph)
    assert macs == _deeplab_macs_by_hand()


def test_deeplabv3plus_agrees_with_the_paper():
    # Mori et al.: 183.3 GOPS at 1.6 s (P = 16, 32, 4), i.e. 293 G operations,
    # 146.6 G MACs; the 1.6 s is rounded, so allow its +-3 % rounding range.
    macs, _ = _totals(segc.load(str(EXAMPLES / "deeplabv3plus_r18.seg")))
    published = 183.3e9 * 1.6 / 2
    assert abs(macs - published) / published < 0.03


def test_codenet_style_detector():
    graph = segc.load(str(EXAMPLES / "codenet_shufflenet.seg"))
    assert graph.node("output.heatmap").shape == (20, 128, 128)
    assert graph.node("output.size").shape == (2, 128, 128)
    deform = [n for n in graph.nodes() if n.op == "dconv"]
    assert len(deform) == 3
    for node in deform:
        assert (node.attrs["bound"], node.attrs["shape"], node.attrs["round"]) == (6.0, "square", True)
        assert node.attrs["groups"] == graph.input_shapes(node)[0].c  # depthwise
    assert graph.target.line_buffer_rows == 15


def test_tiny_example():
    graph = segc.load(str(EXAMPLES / "tiny.seg"))
    assert graph.node("output.logits").shape == (10, 1, 1)
    assert len(graph) < 40
