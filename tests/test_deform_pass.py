"""The deform pass: offset bounds from the line buffer and from the feature
map, variants, directives, the torch side (a zero bound with rounding is a
plain convolution; the exported module and ONNX follow the pass) and the
``deform`` command.  The cost of each variant and the CoDeNet layer:
test_deform_cost.py.  Expected numbers are worked out by hand in the
comments."""

from __future__ import annotations

import re

import pytest
from conftest import EXAMPLES
from deform_graphs import CODENET, deformed, network, target

import segc
from segc.cli import main
from segc.hardware import analyse
from segc.ir import SegError, serialize
from segc.ir.linebuffer import MapAxis, useful_bound


# ---------------------------------------------------------------- the bound a line buffer allows
# R rows hold, around an output row, the kernel's reach (k − 1)·d plus the offsets:
# full (k − 1)·d + 1 + 2b <= R  →  b = ⌊(R − 1 − (k − 1)·d) / 2⌋;
# square (taps at ±(k − 1)/2·s·d, |s| <= b): (k − 1)·d·b + 1 <= R  →  b = ⌊(R − 1) / ((k − 1)·d)⌋.
# Stride does not enter (the buffer drops and reads s rows per output row).
@pytest.mark.parametrize(("rows", "k", "stride", "dilation", "full", "square"), [
    (15, 3, 1, 1, 6, 7),  # CoDeNet: 15 rows reach ±7, ±6 beyond a 3×3 kernel; a square scale up to 7
    (15, 3, 2, 1, 6, 7),  # the same with stride 2
    (15, 5, 1, 1, 5, 3),  # (14 − 4)/2 = 5; 14/4 = 3.5 → 3
    (15, 5, 2, 1, 5, 3),
    (15, 3, 1, 2, 5, 3),  # reach 4: (14 − 4)/2 = 5; 14/4 → 3
    (9, 7, 2, 1, 1, 1),  # reach 6: (8 − 6)/2 = 1; 8/6 → 1
    (20, 3, 1, 3, 6, 3),  # reach 6: (19 − 6)/2 = 6.5 → 6; 19/6 → 3
    (7, 3, 1, 1, 2, 3),  # (6 − 2)/2 = 2; 6/2 = 3
])
def test_derived_bound_matches_the_formula(rows, k, stride, dilation, full, square):
    layer = f"dconv(8, k={k}, stride={stride}, dilation={dilation})"
    for shape, expected in (("full", full), ("square", square)):
        graph = deformed(network(layer, buffer="64 KiB", rows=rows), f"deform{{bound=auto,shape={shape}}}")
        plan = graph.node("y").annotations["deform"]
        assert (plan["bound"], plan["derived"], plan["rows_available"]) == (expected, True, rows)
        assert plan["rows"] <= rows
        assert graph.node("y").attrs["bound"] == expected


def test_rows_come_from_the_buffer_size_input_width_channels_and_word():
    # 16 KiB of 8-bit words = 16384 words; a row of the 32-wide, 64-channel input is 2048 words: R = 8,
    # bound (8 − 1 − 2)/2 = 2.  16-bit words: 8192 words, R = 4, bound (4 − 3)/2 = 0.  Depthwise (64 groups):
    # rows of one channel, 32 words: R = 512 would allow 254, but on 32 rows (padding 1) any bound from
    # 32 + 1 = 33 on reads only padding beyond the clamp: bound 33; capped by a line_buffer of 15: bound 6.
    layer = "dconv(64, k=3)"
    plan = deformed(network(layer, (64, 32, 32), buffer="16 KiB"), "deform{bound=auto}").node("y").annotations
    assert (plan["deform"]["rows_available"], plan["deform"]["row_words"], plan["deform"]["bound"]) == (8, 2048, 2)
    wide = deformed(network(layer, (64, 32, 32), buffer="16 KiB", word=16), "deform{bound=auto}")
    assert wide.node("y").annotations["deform"]["bound"] == 0
    dw = "dconv(64, k=3, groups=64)"
    plan = deformed(network(dw, (64, 32, 32), buffer="16 KiB"), "deform{bound=auto}").node("y").annotations["deform"]
    assert (plan["rows_available"], plan["bound"], plan["limit"]) == (512, 33, "feature map")
    capped = deformed(network(dw, (64, 32, 32), buffer="16 KiB", rows=15), "deform{bound=auto}")
    assert capped.node("y").annotations["deform"]["bound"] == 6


# ---------------------------------------------------------------- the bound the feature map makes useful
# Windows start at y0 = −p … (O − 1)·s − p.  A clamped sample reads something only inside (−1, H):
# full:   tap i at y0 + i·d ± b is outside in every window once −p + b ≥ H and (O − 1)·s − p + (k − 1)·d − b ≤ −1;
# square: tap j = i − c at y_c + j·s·d, y_c = y0 + c·d, s ∈ [1 − b, b]; the s = 1 − b end moves (b − 1)·d per |j|.
@pytest.mark.parametrize(("extent", "k", "stride", "dilation", "pad", "outputs", "shape", "expected"), [
    (16, 3, 1, 1, 1, 16, "full", 17),  # first tap of the top window, in the padding (−1), reaches row 15 until b = 17
    (16, 3, 1, 1, 0, 14, "full", 16),  # no padding: −0 + b ≥ 16; 13 + 2 − b ≤ −1
    (16, 3, 2, 1, 1, 8, "full", 17),  # last window starts at 7·2 − 1 = 13: 13 + 2 + 1 = 16 < 17
    (16, 3, 1, 2, 2, 16, "full", 18),  # −2 + b ≥ 16
    (16, 3, 1, 1, 1, 16, "square", 17),  # y_c ∈ [0, 15]: s = 1 − b puts tap +1 at 15 − (b − 1) ≤ −1 from b = 17
    (16, 3, 1, 2, 2, 16, "square", 9),  # y_c ∈ [0, 15]: 15 − 2·(b − 1) ≤ −1 from b = 9 (s = b needs only 8)
    (16, 1, 1, 1, 0, 16, "square", 1),  # a 1×1 window never moves: every bound is the same
])
def test_useful_bound_by_hand(extent, k, stride, dilation, pad, outputs, shape, expected):
    axis = MapAxis(extent, k, dilation, -pad, (outputs - 1) * stride - pad)
    assert useful_bound(axis, shape) == expected


def test_auto_bound_without_a_line_buffer_is_capped_by_the_map():
    # 8 channels × 16 pixels of 8-bit words: 64 KiB hold 512 rows (bound 254), but the map has 16 rows
    graph = deformed(network("dconv(8, k=3)", buffer="64 KiB"), "deform{bound=auto}")
    plan = graph.node("y").annotations["deform"]
    assert (plan["bound"], plan["limit"], plan["rows"], plan["rows_available"]) == (17, "feature map", 37, 512)
    buffered = deformed(network("dconv(8, k=3)", buffer="64 KiB", rows=15), "deform{bound=auto}")
    assert buffered.node("y").annotations["deform"]["limit"] == "line buffer"
    wide = deformed(network("dconv(8, k=3)", (8, 4, 40), buffer="64 KiB"), "deform{bound=auto}")
    assert wide.node("y").annotations["deform"]["bound"] == 40 + 1  # the wider axis sets the cap


@pytest.mark.parametrize("shape", ["full", "square"])
def test_the_useful_bound_samples_exactly_as_unbounded_and_one_less_does_not(shape):
    """torch's sampler, with offsets (scales) far beyond the map, agrees: bound 17 is the first that changes nothing."""
    import torch

    def output(bound: str, push: float) -> torch.Tensor:
        graph = deformed(network("dconv(8, k=3)", buffer="64 KiB"), f"deform{{bound={bound},shape={shape}}}")
        model = segc.to_torch(graph)
        model.y.offset.weight.data.zero_()
        model.y.offset.bias.data.fill_(push)
        with torch.no_grad():
            return model(torch.arange(2 * 8 * 16 * 16, dtype=torch.float32).reshape(2, 8, 16, 16) % 7 + 1)

    for push in (100.0, -100.0):
        assert torch.equal(output("17", push), output("none", push))
    assert any(not torch.equal(output("16", push), output("none", push)) for push in (100.0, -100.0))


def test_a_bound_beyond_the_buffer_names_the_layer_and_the_buffer_it_needs():
    # bound 3 needs 2 + 1 + 6 = 9 rows of 32 pixels × 64 channels = 9 · 2048 bytes = 18 KiB; 16 KiB hold 8.
    graph = network("dconv(64, k=3, bound=3)", (64, 32, 32), buffer="16 KiB")
    with pytest.raises(SegError) as err:
        deformed(graph)
    text = err.value.render()
    assert "layer 'y': bound 3 needs 9 line-buffer rows of 32 pixels × 64 channels (18 KiB)" in text
    assert "the 16 KiB input buffer holds 8 such rows; the largest bound that fits is 2" in text
    span = err.value.diagnostics[0].span
    assert "dconv(64, k=3, bound=3)" in span.source.line_text(span.line)  # points at the layer


def test_a_kernel_taller_than_the_buffer_leaves_no_bound():
    # rows of 16 pixels × 64 channels = 1024 words; 2 KiB hold 2 rows, a 3×3 kernel spans 3
    with pytest.raises(SegError, match=r"no offset bound fits: its kernel alone spans 3 rows of 16 pixels × 64 "
                                       r"channels \(3 KiB\), but the 2 KiB input buffer holds 2 such rows"):
        deformed(network("dconv(64, k=3)", (64, 16, 16), buffer="2 KiB"), "deform{bound=auto}")


def test_pipeline_options_are_checked():
    graph = network("dconv(8, k=3)")
    for spec, message in (("deform{bound=-1}", "bound must be a non-negative integer"),
                          ("deform{bound=2.5}", "bound must be a non-negative integer"),
                          ("deform{shape=round}", "unknown shape 'round'"), ("deform{round=1}", "round must be")):
        with pytest.raises(SegError, match=message):
            deformed(graph, spec)


def test_a_dconv_without_a_target_is_a_located_error():
    graph = segc.loads("network n {\n input x: [4, 8, 8]\n output y = x -> dconv(4, k=3)\n}\n")
    with pytest.raises(SegError) as err:
        deformed(graph)
    diagnostic, = err.value.diagnostics
    assert "layer 'y' is deformable and the deform pass needs a target" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 18)


# ---------------------------------------------------------------- directives
SECTION = """
deform n {
    y: bound=auto, shape=square
    y: round=true
}
"""


def test_directives_then_pipeline_options_override_the_layer():
    graph = segc.loads(target(rows=15) + "network n on t {\n input x: [8, 16, 16]\n"
                       " output y = x -> dconv(8, k=3, bound=1)\n}\n" + SECTION)
    plan = deformed(graph).node("y").annotations["deform"]
    assert (plan["bound"], plan["shape"], plan["round"], plan["derived"]) == (7, "square", True, True)
    plan = deformed(graph, "deform{bound=2,round=false}").node("y").annotations["deform"]
    assert (plan["bound"], plan["shape"], plan["round"]) == (2, "square", False)
    assert analyse(graph).node("y").attrs["shape"] == "square"  # report runs the deform pass


def test_deform_section_survives_printing_and_json():
    text = target(rows=15) + "network n on t {\n input x: [8, 16, 16]\n output y = x -> dconv(8, k=3)\n}\n" + SECTION
    graph = segc.loads(text)
    assert segc.loads(segc.to_seg(graph)).structure() == graph.structure()
    assert serialize.loads(segc.to_json(graph)).structure() == graph.structure()
    assert segc.format_source(text).endswith("deform n {\n    y: bound=auto, shape=square\n    y: round=true\n}\n")


# ---------------------------------------------------------------- torch
def test_zero_bound_with_rounding_is_a_plain_convolution_exactly():
    """Integer-valued inputs and weights make every sum exact, so the two must agree bit for bit."""
    import torch

    for groups in (1, 8):
        conv = segc.to_torch(network(f"conv(8, k=3, groups={groups})"))
        graph = deformed(network(f"dconv(8, k=3, groups={groups})"), "deform{bound=0,round=true}")
        assert graph.node("y").attrs["bound"] == 0 and graph.node("y").attrs["round"]
        dconv = segc.to_torch(graph)
        generator = torch.Generator().manual_seed(groups)
        weight = torch.randint(-2, 3, (8, 8 // groups, 3, 3), generator=generator).float()
        conv.y.weight.data.copy_(weight)
        dconv.y.weight.data.copy_(weight)
        dconv.y.offset.weight.data.normal_(0, 3, generator=generator)  # large offsets, all clamped to 0
        dconv.y.offset.bias.data.normal_(0, 3, generator=generator)
        x = torch.randint(-3, 4, (2, 8, 16, 16), generator=generator).float()
        with torch.no_grad():
            assert torch.equal(dconv(x), conv(x))
            assert torch.count_nonzero(dconv.y.offset(x)) > 0  # the branch predicts offsets; the bound clamps them


def test_exports_follow_the_deform_decisions():
    import json

    import onnx

    text = target(rows=15) + "network n on t {\n input x: [8, 16, 16]\n output y = x -> dconv(8, k=3)\n}\n" + SECTION
    graph = segc.loads(text)
    assert "shape='square', bound=7.0, round=True" in segc.to_torch_source(graph)
    model = onnx.load_from_string(segc.to_onnx(graph))
    meta = json.loads({p.key: p.value for p in model.metadata_props}["segc.dconv"])["y"]
    assert meta["attrs"]["shape"] == "square" and meta["attrs"]["bound"] == 7 and meta["attrs"]["round"]
    assert meta["deform"]["rows"] == 15 and meta["deform"]["derived"]


# ---------------------------------------------------------------- commands
def test_deform_command(capsys):
    assert main(["deform", str(CODENET), "--network", "dw_square"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"y\s+square\s+yes\s+7 \(auto: line buffer\)\s+15 of 15\s+64", out)
    assert main(["deform", str(CODENET), "--network", "full_deform", "--bound", "9"]) == 1
    err = capsys.readouterr().err
    assert "bound 9 needs 21 line-buffer rows of 64 pixels × 256 channels (336 KiB)" in err
    assert "Traceback" not in err


def test_deform_command_names_the_feature_map_when_it_caps_the_bound(tmp_path, capsys):
    path = tmp_path / "n.seg"  # 64 KiB hold 512 rows of 8 × 16 bytes; the 16-row map caps the bound at 17
    path.write_text(target(buffer="64 KiB") + "network n on t {\n input x: [8, 16, 16]\n"
                    " output y = x -> dconv(8, k=3)\n}\ndeform n {\n    y: bound=auto\n}\n")
    assert main(["deform", str(path)]) == 0
    assert re.search(r"y\s+full\s+no\s+17 \(auto: feature map\)", capsys.readouterr().out)


def test_deform_command_without_a_target(tmp_path, capsys):
    path = tmp_path / "n.seg"
    path.write_text("network n {\n    input x: [4, 8, 8]\n    output y = x -> dconv(4, k=3)\n}\n")
    assert main(["deform", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3:21: error: layer 'y' is deformable and the deform pass needs a target" in err
    assert "Traceback" not in err


MEASURED_DW_MS = {"dw_plain": 1.9, "dw_deform": 20.5, "dw_bounded": 3.0, "dw_square": 2.1}  # CoDeNet, no LLC


def test_codenet_calibration_on_the_full_layers_predicts_the_depthwise_ones():
    """Physical parameters fitted on the four full-conv measurements only
    (overlap, access latency) lower the error on the depthwise layers, which
    the fit never saw: from the uncalibrated model's to below 20 % on average
    (the measured figures are the paper's; deformable rows time the sampling
    invocation)."""
    from segc.calibration import calibrate

    path = str(EXAMPLES / "measurements" / "codenet_layer.csv")
    result = calibrate(path, ("overlap", "access_latency"), "full", "paper")
    rows = {r["network"].split(":")[1]: r for r in result["fit"]["rows"]}
    assert {n for n, r in rows.items() if r["split"] == "train"} == {"full_plain", "full_deform", "full_bounded",
                                                                       "full_square"}
    held = [rows[n] for n in MEASURED_DW_MS]
    assert all(r["split"] == "held-out" and r["measured_s"] == pytest.approx(MEASURED_DW_MS[n] / 1e3)
               for n, r in zip(MEASURED_DW_MS, held))
    calibrated = sum(abs(r["calibrated_s"] / r["measured_s"] - 1) for r in held) / 4
    uncalibrated = sum(abs(r["uncalibrated_s"] / r["measured_s"] - 1) for r in held) / 4
    assert calibrated < 0.20 < uncalibrated
    # the scattered accesses of full_deform fix the access latency: a fraction of a microsecond
    assert 0.05e-6 < result["values"]["access_latency"] < 1e-6


def test_even_square_kernel_rows_and_largest_bound():
    """k = 2, d = 1, scales s in [1 − b, b]: taps at 0.5 ± 0.5·s, so b = 3
    spans −1 … 2 (4 rows) and b = 4 spans −1.5 … 2.5, rows −2 … 3 (6 rows):
    5 rows hold b = 3, not the ⌊(5 − 1)/1⌋ = 4 a centred window would give."""
    from segc.ir.linebuffer import largest_bound, rows_needed

    assert [rows_needed(2, 1, "square", b) for b in (1, 2, 3, 4)] == [2, 4, 4, 6]
    assert largest_bound(2, 1, "square", 5) == 3
