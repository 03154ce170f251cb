"""The tile pass (passes/tile.py): which layers stream through the line
buffer and which are tiled by Eq. 1, the static mode's one tile, the tiles
of pruned and deformable layers against an enumeration of Eq. 1 written
here, and the pass's errors; every other expected tile worked out by hand."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
from conftest import EXAMPLES

import segc
from segc.ir import SegError
from segc.passes.registry import parse_pipeline
from segc.passes.tile import TilePass, retile

TARGET = """
target t {
    clock = 200 MHz
    bandwidth = 9.5 GB/s
    dsp = 1518
    bram = 2713
    bram_block = 20 Kibit
    input_buffer = BUFFER
    word = 16 bit
    macs_per_dsp = 2
    unroll = {pif: 16, pof: 32, pkx: 4}EXTRA
}
"""
STREAMED = '\n    line_buffer = 5\n    conv_input = "streamed"'


def network(body: str, buffer: str = "128 KiB", extra: str = "") -> segc.Graph:
    text = TARGET.replace("BUFFER", buffer).replace("EXTRA", extra)
    return segc.loads(text + f"network n on t {{\n{body}\n}}\n")


def tilings(graph: segc.Graph, mode: str = "paper") -> dict[str, dict]:
    result = TilePass(mode=mode).run(graph)
    return {n.name: n.annotations["tiling"] for n in result.graph.nodes() if "tiling" in n.annotations}


def eq1_by_enumeration(wo: int, ho: int, k: int, s: int, words_per_pixel: int, buffer: int) -> tuple[int, int]:
    """Eq. 1 as documented, enumerated here: the largest reuse T_ox·T_oy / (T_ix·T_iy)
    among tiles whose input fits, then the fewest input reads (Eq. 3), then the larger,
    then the wider tile."""
    best = None
    for tox in range(1, wo + 1):
        for toy in range(1, ho + 1):
            tix, tiy = (tox - 1) * s + k, (toy - 1) * s + k
            if tix * tiy * words_per_pixel > buffer:
                continue
            reads = -(-wo // tox) * -(-ho // toy) * tix * tiy
            key = (Fraction(tox * toy, tix * tiy), -reads, tox * toy, tox, toy)
            best = key if best is None or key > best else best
    return best[3], best[4]


# ---------------------------------------------------------------- line buffer or Eq. 1
def test_convolutions_stream_when_the_line_buffer_holds_their_kernel_rows():
    # line_buffer = 5 rows; a convolution's rows are (k_y − 1)·d_y + 1 (k = [k_y, k_x]).
    # Streamed: one output row [W_o, 1] = [20, 1] from [W_i, rows] = [20, rows].
    body = """ input x: [8, 12, 20]
 a = x -> conv(8, k=3)
 b = a -> conv(8, k=[5, 3])
 c = b -> conv(8, k=[3, 5], dilation=[2, 1])
 d = c -> conv(8, k=[3, 1], dilation=[3, 1])
 e = d -> conv(8, k=[2, 1], dilation=[4, 1], padding=0)
 f = e -> conv(8, k=[2, 1], dilation=[5, 1], padding=0)
 output y = f -> deconv(8, k=2, stride=2)"""
    graph = network(body, extra=STREAMED)
    tiles = tilings(graph, "dilation-aware")
    line = {"mode": "dilation-aware", "tile": [20, 1], "stream": True}
    assert tiles["a"] == {**line, "input_tile": [20, 3]}  # 3 rows
    assert tiles["b"] == {**line, "input_tile": [20, 5]}  # 5 rows: as many as the buffer holds
    assert tiles["c"] == {**line, "input_tile": [20, 5]}  # (3 − 1)·2 + 1 = 5 (k_x = 5 does not count)
    assert tiles["e"] == {**line, "input_tile": [20, 5]}  # (2 − 1)·4 + 1 = 5, no padding: 8 rows out
    # 7 and 6 rows do not fit: Eq. 1 with the dilated footprint; the whole 20×12 map reads
    # (20 − 1) + 1 by (12 − 1) + 7 = 20 × 18 pixels of 8 words, far below 64 Ki words: the
    # reuse grows with T_oy, ties on T_ox, and the whole width reads the least.
    assert tiles["d"] == {"mode": "dilation-aware", "tile": [20, 12], "input_tile": [20, 18]}
    # 6 rows, no padding: 8 − 6 + 1 = 3 output rows.  Dilation-aware, T_oy rows read the distinct
    # rows {0 … T_oy − 1} ∪ {5 … T_oy + 4}: 2, 4, 6 for T_oy = 1, 2, 3, reuse 1/2 for each; reads
    # ⌈3/T_oy⌉ times that: 6, 8, 6; the larger of the fewest: T_oy = 3, reading 6 rows.
    assert tiles["f"] == {"mode": "dilation-aware", "tile": [20, 3], "input_tile": [20, 6]}
    # a transposed convolution scatters into its output: Eq. 1 over its input grid, 2×2 windows
    # (deconv_cost.py): the whole 20×3 input in one tile, reading (20 − 1) + 2 by (3 − 1) + 2
    assert tiles["y"] == {"mode": "dilation-aware", "tile": [20, 3], "input_tile": [21, 4]}
    # retile (the pruned-latency model) streams the same layers
    assert retile(graph, graph.node("a"), "dilation-aware") == ((20, 1), (20, 3))


def test_a_bounded_deformable_layer_streams_the_rows_its_bound_needs():
    # full shape, bound 1: (k − 1)·d + 1 + 2·⌈b⌉ = 2 + 1 + 2 = 5 rows (passes/deform.py), one output row
    graph = network(" input x: [16, 12, 20]\n output y = x -> dconv(16, k=3, bound=1)", extra="\n    line_buffer = 5")
    assert tilings(graph)["y"] == {"mode": "paper", "tile": [20, 1], "input_tile": [20, 5], "stream": True}


def test_linear_layers_are_tiled_by_eq1_also_on_a_streamed_target():
    body = " input x: [8, 4, 4]\n p = x -> avgpool(global=true)\n output y = p -> linear(10)"
    assert tilings(network(body, extra=STREAMED))["y"] == {"mode": "paper", "tile": [1, 1], "input_tile": [1, 1]}


def test_an_unbounded_deformable_layer_is_tiled_by_its_offset_branch():
    # Unbounded, only the offset branch is tiled by Eq. 1: for shape "square" a 1×1 convolution,
    # whose reuse is 1 for every tile; the fewest reads then the largest: the whole 16×16 map,
    # reading 16×16 (a 3×3 window would read 18×18).
    graph = network(' input x: [16, 16, 16]\n output y = x -> dconv(16, k=3, shape="square")')
    assert tilings(graph)["y"] == {"mode": "paper", "tile": [16, 16], "input_tile": [16, 16]}


# ---------------------------------------------------------------- static
def test_static_tile_is_clamped_to_each_layers_output():
    # 8×20 output (H×W), 3×3, 8 channels: a T×T tile reads (min(T, 20) + 2)·(min(T, 8) + 2)
    # pixels of 8 words.  4 KiB = 2048 words = 256 pixels: T = 20 reads 22·10 = 220, the whole
    # width; 2 KiB = 128 pixels: T = 10 reads 12·10 = 120, T = 11 reads 13·10 = 130;
    # 800 B = 50 pixels: T = 5 reads 7·7 = 49, T = 6 reads 8·8 = 64; 144 B = 9 pixels: T = 1 only.
    # The mode as a pipeline string gives it (text read at run time, as from the command line).
    body = " input x: [8, 8, 20]\n output y = x -> conv(8, k=3)"
    cases = (("4 KiB", 20, [20, 8]), ("2 KiB", 10, [10, 8]), ("800 B", 5, [5, 5]), ("144 B", 1, [1, 1]))
    for buffer, side, tile in cases:
        (static,) = parse_pipeline("tile{mode=static}")
        result = static.run(network(body, buffer=buffer))
        assert result.notes == (f"static tile {side}×{side}",)
        expected = {"mode": "static", "tile": tile, "input_tile": [tile[0] + 2, tile[1] + 2]}
        assert result.graph.node("y").annotations["tiling"] == expected


def test_static_tile_of_a_grouped_layer_holds_a_groups_channels():
    # 16 channels in 2 groups: 8 words a pixel; 2 KiB = 1024 words = 128 pixels: (T + 2)² <= 128, T = 9
    result = TilePass(mode="static").run(
        network(" input x: [16, 16, 16]\n output y = x -> conv(16, k=3, groups=2)", buffer="2 KiB"))
    assert result.notes == ("static tile 9×9",)


def test_static_tile_fits_transposed_convolutions_too():
    # 4 KiB = 2048 words.  a: 3×3 over 8 channels on 8×8, (min(T, 8) + 2)²·8 fits for every T.
    # y: 2×2 windows over a's 8×8 grid (deconv_cost.py), 32 channels: (T + 1)²·32 <= 2048, T <= 7.
    body = " input x: [8, 8, 8]\n a = x -> conv(32, k=3)\n output y = a -> deconv(8, k=2, stride=2)"
    (static,) = parse_pipeline("tile{mode=static}")  # a mode read from text, as from the command line
    result = static.run(network(body, buffer="4 KiB"))
    assert result.notes == ("static tile 7×7",)
    tiles = {name: result.graph.node(name).annotations["tiling"] for name in ("a", "y")}
    assert tiles["a"] == {"mode": "static", "tile": [7, 7], "input_tile": [9, 9]}  # Eq. 1 alone: all 8×8
    assert tiles["y"] == {"mode": "static", "tile": [7, 7], "input_tile": [8, 8]}


def test_static_tile_of_a_map_wider_than_256():
    # 2×300 output, 1×1 over 2 channels: the whole map fits 128 KiB, the side is the width
    result = TilePass(mode="static").run(network(" input x: [2, 2, 300]\n output y = x -> conv(2, k=1)"))
    assert result.notes == ("static tile 300×300",)
    assert result.graph.node("y").annotations["tiling"]["tile"] == [300, 2]


def test_static_side_is_1_when_every_layer_is_dilated():
    # dilated layers keep T = 1 (Fig. 4) and leave nothing to size the static tile by
    result = TilePass(mode="static").run(network(" input x: [8, 16, 16]\n output y = x -> conv(8, k=3, dilation=2)"))
    assert result.notes == ("static tile 1×1",)
    assert result.graph.node("y").annotations["tiling"]["tile"] == [1, 1]


# ---------------------------------------------------------------- retile
@pytest.mark.parametrize("buffer_kib", [128, 16, 8])
def test_retile_of_a_pruned_layer_is_eq1_by_enumeration(buffer_kib: int) -> None:
    # The pruned-latency model re-chooses each layer's tile for its pruned input channels
    # (retile); here against an enumeration of Eq. 1, for every convolution of ResNet-18
    # (square kernels, equal strides, no dilation) with half its input channels, on input
    # buffers from Arria 10's 128 KiB (most maps fit whole) down to 8 KiB (the buffer decides).
    graph = segc.load(str(EXAMPLES / "resnet18.seg"))
    graph.target = dataclasses.replace(graph.target, input_buffer_bits=buffer_kib * 8192)
    buffer = buffer_kib * 8192 // 16
    convs = [node for node in graph.nodes() if node.op == "conv"]
    assert len(convs) == 20  # conv1 (7x7), 16 3x3 in the blocks, 3 1x1 downsamples
    for node in convs:
        ci = graph.input_shapes(node)[0].c // 2
        k, s = node.attrs["k"][0], node.attrs["stride"][0]
        expected = eq1_by_enumeration(node.shape.w, node.shape.h, k, s, ci, buffer)
        tile, input_tile = retile(graph, node, "paper", ci=ci, groups=1)
        assert (tile, input_tile) == (expected, ((expected[0] - 1) * s + k, (expected[1] - 1) * s + k)), node.name


@pytest.mark.parametrize(("layer", "grid", "k"), [("conv(32, k=3, groups=32)", 16, 3),
                                                  ("deconv(32, k=2, stride=2, groups=32)", 16, 2)])
def test_retile_of_a_pruned_depthwise_layer(layer: str, grid: int, k: int) -> None:
    # 16 of 32 channels kept: 16 groups of one channel, one word per pixel (not 16 // 32 = 0);
    # 400 B = 200 words of input tile.  A deconv's tile is over its input grid (deconv_cost.py).
    graph = network(f" input x: [32, 16, 16]\n output y = x -> {layer}", buffer="400 B")
    expected = eq1_by_enumeration(grid, grid, k, 1, 1, 200)
    assert expected != (grid, grid)  # the whole map reads (16 − 1 + k)² > 200 words
    tile, input_tile = retile(graph, graph.node("y"), "paper", ci=16, groups=16)
    assert (tile, input_tile) == (expected, (expected[0] + k - 1, expected[1] + k - 1))


@pytest.mark.parametrize("op", ["conv", "dconv"])
def test_retile_of_a_pruned_grouped_layer(op: str) -> None:
    # 16 of 32 input channels kept in 2 groups: a grouped convolution holds a group's 8 channels
    # per pixel; a deformable one is tiled by its offset branch, one group over all 16 channels.
    graph = network(f" input x: [32, 16, 16]\n output y = x -> {op}(32, k=3, groups=2)", buffer="1 KiB")
    words_per_pixel = 8 if op == "conv" else 16
    expected = eq1_by_enumeration(16, 16, 3, 1, words_per_pixel, 512)
    assert expected == ((6, 6) if op == "conv" else (4, 3))  # 8·8·8 = 512 words; 6·5·16 = 480
    tile, input_tile = retile(graph, graph.node("y"), "paper", ci=16, groups=2)
    assert (tile, input_tile) == (expected, (expected[0] + 2, expected[1] + 2))


# ---------------------------------------------------------------- errors and result
def test_tile_needs_a_target_and_a_known_mode():
    graph = segc.loads("network n {\n input x: [8, 4, 4]\n output y = x -> conv(8, k=3)\n}\n")
    with pytest.raises(SegError, match="pass 'tile' needs a target: write 'network n on TARGET' or give --target"):
        TilePass().run(graph)
    with pytest.raises(SegError, match=r"tile: unknown mode 'tiled' \(modes: paper, dilation-aware, none, static\)"):
        TilePass(mode="tiled").run(network(" input x: [8, 4, 4]\n output y = x -> conv(8, k=3)"))


def test_every_layer_too_large_for_the_buffer_is_reported():
    # 512 words; a 1×1 tile of a 3×3 conv over 64 channels reads 9·64 = 576
    body = " input x: [64, 4, 4]\n a = x -> conv(64, k=3)\n output y = a -> conv(8, k=3)"
    with pytest.raises(SegError) as error:
        TilePass().run(network(body, buffer="1 KiB"))
    messages = [d.message for d in error.value.diagnostics]
    assert [m.split(":")[0] for m in messages] == ["layer 'a'", "layer 'y'"]


def test_the_pass_changes_the_graph_only_when_it_has_layers_to_tile():
    assert TilePass().run(network(" input x: [8, 4, 4]\n output y = x -> relu")).changed is False
    result = TilePass().run(network(" input x: [8, 4, 4]\n output y = x -> conv(8, k=3)"))
    assert (result.changed, result.notes) == (True, ())
