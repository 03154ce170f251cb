"""``segc tiling`` (Mori et al. Fig. 4): DRAM accesses and latency of every
convolution layer under no, static and dynamic tiling, worked out by hand on
the two-layer network of ``figure_nets.py``, and its user mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from figure_nets import conv_dram, conv_latency, run, write_nets

# Tiles by hand (buffer 100 words):
# - none: 1×1 everywhere.
# - static: the largest T with every layer's (T' − 1 + k)² · C_i ≤ 100: layer y
#   (1×1, C_i = 16) allows T² · 16 ≤ 100, T = 2; layer a ((T + 2)² · 4) would
#   allow 3.  So 2×2 for both.
# - paper (Eq. 1) for a: maximise T_ox·T_oy / ((T_ox + 2)(T_oy + 2)) with
#   (T_ox + 2)(T_oy + 2) ≤ 25: 3×3 gives 9/25, better than 2×4 (8/24) or
#   1×6 (6/24).  For y (1×1) every tile within the buffer reads each input
#   word once per P_of group: 64 · 16 words, whatever the tile.
DRAM = {
    "none": {"a": conv_dram(4, 16, 3, 8, (1, 1)), "y": conv_dram(16, 2, 1, 8, (1, 1))},
    "static": {"a": conv_dram(4, 16, 3, 8, (2, 2)), "y": conv_dram(16, 2, 1, 8, (2, 2))},
    "paper": {"a": conv_dram(4, 16, 3, 8, (3, 3)), "y": conv_dram(16, 2, 1, 8, (1, 1))},
}
LATENCY = {
    "none": conv_latency(4, 16, 3, 8, (1, 1)) + conv_latency(16, 2, 1, 8, (1, 1)),
    "static": conv_latency(4, 16, 3, 8, (2, 2)) + conv_latency(16, 2, 1, 8, (2, 2)),
    "paper": conv_latency(4, 16, 3, 8, (3, 3)) + conv_latency(16, 2, 1, 8, (1, 1)),
}


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_nets(tmp_path)


def test_the_hand_figures_are_what_eq_3_gives() -> None:
    # none, layer a: 64 tiles · 8 P_of groups · 3·3·4 words, + 3·3·4·16 weights + 8·8·16 outputs
    assert DRAM["none"]["a"] == 64 * 8 * 36 + 576 + 1024 == 20032
    assert DRAM["static"]["a"] == 16 * 8 * 16 * 4 + 576 + 1024 == 9792
    assert DRAM["paper"]["a"] == 9 * 8 * 25 * 4 + 576 + 1024 == 8800


def test_dram_and_latency_per_layer_and_totals(two: Path, capsys) -> None:
    status, out, _ = run(["tiling", "two.seg", "--format", "json"], capsys)
    assert status == 0
    document = json.loads(out)
    assert document["format"] == "segc.tiling" and document["modes"] == ["none", "static", "paper"]
    assert [layer["name"] for layer in document["layers"]] == ["a", "y"]
    for layer in document["layers"]:
        for mode in ("none", "static", "paper"):
            assert layer["schemes"][mode]["dram"] == DRAM[mode][layer["name"]], (mode, layer["name"])
    a = document["layers"][0]["schemes"]
    assert (a["none"]["tile"], a["static"]["tile"], a["paper"]["tile"]) == ([1, 1], [2, 2], [3, 3])
    assert document["static_side"] == 2
    for mode in ("none", "static", "paper"):
        assert document["totals"][mode]["dram"] == sum(DRAM[mode].values())
        assert document["totals"][mode]["latency_s"] == pytest.approx(LATENCY[mode], rel=1e-12)
    ratios = document["ratios"]
    assert ratios["static/paper"]["dram"] == pytest.approx(10976 / 9984)
    assert ratios["none/paper"]["dram"] == pytest.approx(21216 / 9984)
    assert ratios["none/paper"]["latency"] == pytest.approx(LATENCY["none"] / LATENCY["paper"])


def test_table_prints_totals_and_ratios(two: Path, capsys) -> None:
    status, out, _ = run(["tiling", "two.seg"], capsys)
    assert status == 0
    assert "21,216" in out and "10,976" in out and "9,984" in out
    assert f"none / dynamic (paper) tiling: DRAM accesses {21216 / 9984:.3f}×" in out
    assert f"static / dynamic (paper) tiling: DRAM accesses {10976 / 9984:.3f}×" in out
    assert "static tile 2×2" in out


def test_csv_has_a_row_per_conv_layer(two: Path, capsys) -> None:
    status, out, _ = run(["tiling", "two.seg", "--format", "csv"], capsys)
    lines = out.splitlines()
    assert status == 0 and len(lines) == 3
    assert lines[0].startswith("layer,op,ci,co,k,dilation,h_out,w_out,tile_none,dram_none,latency_s_none")
    assert lines[1].startswith("a,conv,4,16,3x3,1x1,8,8,1x1,20032,")


def test_output_folder_is_deterministic(two: Path, capsys) -> None:
    contents = []
    for name in ("out1", "out2"):
        status, _, err = run(["tiling", "two.seg", "-o", name], capsys)
        assert status == 0 and "tiling.png" in err
        contents.append({p.name: p.read_bytes() for p in sorted((two / name).glob("tiling.*"))})
    assert sorted(contents[0]) == ["tiling.csv", "tiling.json", "tiling.png"]
    assert contents[0] == contents[1]
    assert contents[0]["tiling.png"].startswith(b"\x89PNG")


def test_unroll_changes_the_design(two: Path, capsys) -> None:
    status, out, _ = run(["tiling", "two.seg", "--unroll", "2,4,1", "--format", "json"], capsys)
    assert status == 0
    # P_of = 4: layer a has ⌈16/4⌉ = 4 output groups; none tiling: 64 tiles · 4 · 36 words + weights + outputs
    assert json.loads(out)["layers"][0]["schemes"]["none"]["dram"] == 64 * 4 * 36 + 576 + 1024


@pytest.mark.parametrize(("argv", "message"), [
    (["tiling", "two.seg", "--network", "nope"], "no network 'nope'"),
    (["tiling", "two.seg", "--unroll", "2,x,1"], "--unroll must be PIF,POF,PKX"),
    (["tiling", "two.seg", "--unroll", "64,64,9"], "--unroll 64,64,9"),
    (["tiling", "bare.seg"], "network 'bare' has no target"),
    (["tiling", "missing.seg"], "missing.seg"),
])
def test_mistakes_exit_1_with_a_message(two: Path, capsys, argv: list[str], message: str) -> None:
    status, out, err = run(argv, capsys)
    assert status == 1 and out == ""
    assert message in err and err.count("\n") <= 4


def test_deeplab_figures_are_those_docs_tiling_md_documents(capsys) -> None:
    # docs/tiling.md, "DeepLabV3+ on the paper's design": DRAM words of the 30 conv layers
    # per scheme and the static tile.  Eq. 3's tie-break alone moves dynamic to 2,067.0 M.
    deeplab = str(Path(__file__).parent.parent / "examples" / "deeplabv3plus_r18.seg")
    status, out, _ = run(["tiling", deeplab, "--unroll", "16,32,4", "--format", "json"], capsys)
    assert status == 0
    document = json.loads(out)
    dram = {mode: document["totals"][mode]["dram"] for mode in ("none", "static", "paper")}
    assert dram == {"none": 4_650_115_008, "static": 2_182_022_982, "paper": 2_036_735_600}
    assert document["static_side"] == 7
