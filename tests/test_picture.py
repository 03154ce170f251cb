"""Pictures drawn without Graphviz: the layered layout of a small UNet
(ranks, boxes, edge polylines, checked against ranks worked out by hand from
its structure), unconnected parts side by side, and the matplotlib engine's
SVG and PNG (byte-identical across renders, no ``dot`` needed)."""

from __future__ import annotations

import itertools
import shutil
import struct
import subprocess

import pytest

import segc
from segc.backends.report import picture
from segc.backends.report.layout import Box, layered_layout
from segc.backends.report.picture import picture_layout, render_picture
from segc.ir import SegError

UNET = """
network tiny_unet {
    input image: [3, 32, 32]

    enc1 = image -> conv(8, k=3) -> relu
    enc2 = enc1 -> maxpool(k=2) -> conv(16, k=3) -> relu
    pooled = enc2 -> maxpool(k=2)
    wide = pooled -> conv(32, k=3)
    narrow = pooled -> conv(32, k=1)
    mid = add(wide, narrow) -> relu
    dec2 = concat(mid -> upsample(2), enc2) -> conv(16, k=3) -> relu
    dec1 = concat(dec2 -> upsample(2), enc1) -> conv(8, k=3) -> relu

    output mask = dec1 -> conv(2, k=1)
}
"""

# The length of the longest path from the input, by hand: one rank per layer
# down the encoder, the two bottleneck branches share rank 7.
UNET_RANKS = {
    "image": 0, "enc1.conv": 1, "enc1.relu": 2, "enc2.maxpool": 3, "enc2.conv": 4, "enc2.relu": 5,
    "pooled": 6, "wide": 7, "narrow": 7, "mid.add": 8, "mid.relu": 9, "dec2.upsample": 10,
    "dec2.concat": 11, "dec2.conv": 12, "dec2.relu": 13, "dec1.upsample": 14, "dec1.concat": 15,
    "dec1.conv": 16, "dec1.relu": 17, "mask": 18, "output.mask": 19,
}
SKIPS = [("enc2.relu", "dec2.concat"), ("enc1.relu", "dec1.concat")]

TWO_PARTS = """
network two_parts {
    input left: [3, 8, 8]
    input right: [3, 8, 8]

    output a = left -> conv(4, k=3) -> relu
    output b = right -> conv(4, k=1)
}
"""


@pytest.fixture(scope="module")
def unet():
    return segc.loads(UNET)


@pytest.fixture(scope="module")
def unet_layout(unet):
    return picture_layout(unet)


def _crosses(start: tuple[float, float], end: tuple[float, float], box: Box) -> bool:
    """Whether the segment runs through the inside of ``box`` (Liang-Barsky
    clipping; touching the border does not count)."""
    (x0, y0), (x1, y1) = start, end
    low, high = 0.0, 1.0
    for delta, offset in ((x1 - x0, x0 - (box.x - box.width / 2)), (x0 - x1, (box.x + box.width / 2) - x0),
                          (y1 - y0, y0 - box.top), (y0 - y1, box.bottom - y0)):
        if delta == 0:
            if offset <= 0:
                return False
            continue
        t = -offset / delta
        low, high = (max(low, t), high) if delta > 0 else (low, min(high, t))
    return high - low > 1e-9


def test_crossing_check_itself() -> None:
    box = Box(10, 10, 4, 2)  # x 8..12, y 9..11
    assert _crosses((0, 10), (20, 10), box)
    assert _crosses((10, 0), (10, 20), box)
    assert not _crosses((0, 0), (20, 0), box)
    assert not _crosses((8, 0), (8, 20), box)  # along the border
    assert not _crosses((0, 10), (7, 10), box)


def test_ranks_follow_the_longest_path_from_the_input(unet_layout) -> None:
    assert unet_layout.ranks == UNET_RANKS


def test_every_edge_points_down_from_source_bottom_to_target_top(unet, unet_layout) -> None:
    boxes = unet_layout.boxes
    edges = [(source, node.name) for node in unet.nodes() for source in node.inputs]
    assert sorted(unet_layout.edges) == sorted(edges)
    for (source, target), line in unet_layout.edges.items():
        assert UNET_RANKS[target] > UNET_RANKS[source]
        assert boxes[target].top > boxes[source].bottom
        assert line[0] == (boxes[source].x, boxes[source].bottom)
        assert line[-1] == (boxes[target].x, boxes[target].top)
        assert all(a[1] <= b[1] for a, b in itertools.pairwise(line)), (source, target)


def test_boxes_of_a_rank_do_not_overlap(unet_layout) -> None:
    for a, b in itertools.combinations(unet_layout.boxes, 2):
        if UNET_RANKS[a] == UNET_RANKS[b]:
            first, second = unet_layout.boxes[a], unet_layout.boxes[b]
            assert abs(first.x - second.x) >= (first.width + second.width) / 2, (a, b)
        else:  # different ranks lie in different bands
            first, second = sorted((unet_layout.boxes[a], unet_layout.boxes[b]), key=lambda box: box.y)
            assert first.bottom < second.top, (a, b)


def test_boxes_fit_their_labels(unet_layout) -> None:
    for box in unet_layout.boxes.values():
        # three lines of 7-point text and the label's padding
        assert box.height > 3 * 7 and box.width > 7


def test_skip_edges_pass_through_no_other_box(unet_layout) -> None:
    for source, target in SKIPS:
        line = unet_layout.edges[source, target]
        assert len(line) > 2  # routed through the ranks in between
        others = [box for name, box in unet_layout.boxes.items() if name not in (source, target)]
        for start, end in itertools.pairwise(line):
            assert not any(_crosses(start, end, box) for box in others), (source, target, start, end)


def test_no_edge_passes_through_a_box(unet_layout) -> None:
    for (source, target), line in unet_layout.edges.items():
        for name, box in unet_layout.boxes.items():
            if name not in (source, target):
                assert not any(_crosses(a, b, box) for a, b in itertools.pairwise(line)), (source, target, name)


def _segments_cross(a, b, c, d) -> bool:
    """Whether segments ab and cd cross at a point inside both."""
    def side(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def test_no_two_edges_cross(unet_layout) -> None:
    # the UNet is planar: skips run beside the encoder-decoder column
    assert _segments_cross((0, 0), (2, 2), (0, 2), (2, 0)) and not _segments_cross((0, 0), (1, 1), (0, 2), (2, 2))
    for (first, line), (second, other) in itertools.combinations(unet_layout.edges.items(), 2):
        if set(first) & set(second):
            continue  # edges that share a node meet at its border
        for a, b in itertools.pairwise(line):
            assert not any(_segments_cross(a, b, c, d) for c, d in itertools.pairwise(other)), (first, second)


def test_parallel_branches_sit_side_by_side(unet_layout) -> None:
    wide, narrow = unet_layout.boxes["wide"], unet_layout.boxes["narrow"]
    assert wide.y == narrow.y
    assert abs(wide.x - narrow.x) >= (wide.width + narrow.width) / 2


def test_the_drawing_holds_every_box(unet_layout) -> None:
    for box in unet_layout.boxes.values():
        assert box.x - box.width / 2 >= 0 and box.x + box.width / 2 <= unet_layout.width
        assert box.top >= 0 and box.bottom <= unet_layout.height


def test_unconnected_parts_sit_side_by_side() -> None:
    layout = layered_layout(segc.loads(TWO_PARTS), lambda name: (40.0, 20.0))
    left = ["left", "a.conv", "a.relu", "output.a"]
    right = ["right", "b", "output.b"]
    assert [layout.ranks[name] for name in left] == [0, 1, 2, 3]
    assert [layout.ranks[name] for name in right] == [0, 1, 2]
    assert max(layout.boxes[n].x for n in left) + 40 <= min(layout.boxes[n].x for n in right)
    assert layout.width >= 2 * 40


@pytest.fixture
def no_graphviz(monkeypatch):
    """No ``dot`` on the PATH, and no program may be run."""
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real_which(name, *a, **k))

    def refuse(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(subprocess, "run", refuse)


@pytest.mark.parametrize("engine", ["auto", "matplotlib"])
def test_svg_without_graphviz_is_byte_identical_across_renders(unet, no_graphviz, engine: str) -> None:
    first = render_picture(unet, "svg", engine)
    assert first.lstrip().startswith(b"<?xml") and first.rstrip().endswith(b"</svg>")
    for name in UNET_RANKS:
        assert f">{name}</text>".encode() in first
    assert render_picture(unet, "svg", engine) == first


def test_png_without_graphviz_is_byte_identical_across_renders(unet, no_graphviz) -> None:
    first = render_picture(unet, "png", "matplotlib")
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert render_picture(unet, "png", "matplotlib") == first


def test_png_of_a_long_network_is_scaled_to_the_pixel_limit(unet, no_graphviz, monkeypatch) -> None:
    full = render_picture(unet, "png", "matplotlib")
    width, height = struct.unpack(">II", full[16:24])  # the IHDR chunk
    assert height > 1000 and height > width
    monkeypatch.setattr(picture, "MAX_PIXELS", 500)
    scaled = render_picture(unet, "png", "matplotlib")
    assert struct.unpack(">II", scaled[16:24]) == (pytest.approx(width * 500 / height, abs=1), 500)


def test_the_graphviz_engine_without_dot_is_an_error(unet, no_graphviz) -> None:
    with pytest.raises(SegError, match="needs the 'dot' program"):
        render_picture(unet, "svg", "graphviz")


def test_svg_size_grows_with_the_network(unet) -> None:
    # a label is text, not glyph outlines: the SVG stays a few hundred bytes a layer
    data = render_picture(unet, "svg", "matplotlib")
    assert len(data) < 2000 * len(unet)
