"""The flat printer ``segc.to_seg``: printed text reads back to an equal
graph (``structure()``), printing is deterministic and idempotent, default
attributes are left out, floats print in their shortest exact form, and a
target prints with units that read back to the same values.  The printed
tiny example is a golden file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import EXAMPLES, NETWORK_EXAMPLES

import segc
from segc.dsl.printer import format_float


def reprint(graph: segc.Graph) -> segc.Graph:
    return segc.loads(segc.to_seg(graph), path="printed.seg")


def body_lines(text: str) -> list[str]:
    """The statements of the (only) network in printed text."""
    network = text[text.index("network "):]
    network = network[:network.index("\n}\n")]
    return [line.strip() for line in network.splitlines()[1:]]


def one_layer(call: str, inputs: str = "[8, 16, 16]") -> str:
    """The printed statement of ``y = x -> CALL``."""
    graph = segc.loads(f"network n {{\n    input x: {inputs}\n    y = x -> {call}\n    output y\n}}\n")
    return body_lines(segc.to_seg(graph))[1]


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.name)
def test_printed_text_reads_back_to_an_equal_graph(path: Path) -> None:
    graph = segc.load(str(path))
    again = reprint(graph)
    assert again.structure() == graph.structure()
    assert [n.name for n in again.nodes()] == [n.name for n in graph.nodes()]


@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.name)
def test_printing_is_deterministic_and_idempotent(path: Path) -> None:
    text = segc.to_seg(segc.load(str(path)))
    assert segc.to_seg(segc.load(str(path))) == text
    assert segc.to_seg(reprint(segc.load(str(path)))) == text


@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.name)
def test_printed_text_is_flat(path: Path) -> None:
    graph = segc.load(str(path))
    text = segc.to_seg(graph)
    assert not re.search(r"^(import|block) ", text, flags=re.MULTILINE)
    assert len(body_lines(text)) == len(graph)


def test_tiny_golden(golden) -> None:
    golden("to_seg_tiny.seg", segc.to_seg(segc.load(str(EXAMPLES / "tiny.seg"))))


def test_printed_deeplab_keeps_prune_directives() -> None:
    graph = segc.load(str(EXAMPLES / "deeplabv3plus_r18.seg"))
    text = segc.to_seg(graph)
    assert "prune deeplabv3plus_r18 {\n    res5.*: 0.5\n    aspp.*: 0.25\n    keep stem.conv, classifier\n}\n" in text
    assert reprint(graph).directives == graph.directives


def test_network_without_target_prints_no_target() -> None:
    graph = segc.loads("network n {\n    input x: [1, 2, 2]\n    output y = x -> relu\n}\n")
    assert segc.to_seg(graph) == "network n {\n    input x: [1, 2, 2]\n    y = x -> relu\n    output y\n}\n"


def test_printed_text_is_in_canonical_layout() -> None:
    text = segc.to_seg(segc.load(str(EXAMPLES / "tiny.seg")))
    assert segc.format_source(text) == text


# ---------------------------------------------------------------- defaults
@pytest.mark.parametrize(("call", "printed"), [
    ("conv(4, k=3)", "y = x -> conv(4, k=3)"),
    ('conv(4, k=3, stride=1, dilation=1, groups=1, padding="same", bias=false)', "y = x -> conv(4, k=3)"),
    ("conv(4, k=[3, 3], stride=[1, 1])", "y = x -> conv(4, k=3)"),
    ("conv(4, k=[1, 3], stride=[2, 1])", "y = x -> conv(4, k=[1, 3], stride=[2, 1])"),
    ("conv(4, k=3, bias=true, padding=0, groups=2)", "y = x -> conv(4, k=3, groups=2, padding=0, bias=true)"),
    ('conv(4, k=3, padding="valid")', 'y = x -> conv(4, k=3, padding=0)'),  # "valid" is stored as 0
    ("bn(eps=1e-5)", "y = x -> bn"),
    ("bn(eps=0.001)", "y = x -> bn(eps=0.001)"),
    ("linear(10, bias=true)", "y = x -> linear(10)"),
    ("linear(10, bias=false)", "y = x -> linear(10, bias=false)"),
    ('dconv(4, k=3, shape="full", round=false, offset_groups=1)', "y = x -> dconv(4, k=3)"),
    ('dconv(8, k=3, groups=8, bound=6, shape="square", round=true)',
     'y = x -> dconv(8, k=3, groups=8, bound=6, shape="square", round=true)'),
    ("avgpool(global=true)", "y = x -> avgpool(global=true)"),
    ("maxpool(k=2)", "y = x -> maxpool(k=2, stride=2)"),
    ('upsample(2, mode="nearest", align_corners=false)', "y = x -> upsample(scale=2)"),
    ("relu", "y = x -> relu"),
])
def test_defaults_are_left_out(call: str, printed: str) -> None:
    assert one_layer(call, "[8, 16, 16]" if "linear" not in call else "[8, 1, 1]") == printed


# ---------------------------------------------------------------- floats
@pytest.mark.parametrize(("value", "text"), [
    (1e-5, "1e-5"),
    (0.5, "0.5"),
    (2.5e-7, "2.5e-7"),
    (1e16, "1e16"),
    (0.1, "0.1"),
    (1.0, "1.0"),
    (0.1 + 0.2, "0.30000000000000004"),
])
def test_format_float(value: float, text: str) -> None:
    assert format_float(value) == text
    assert float(text) == value


@pytest.mark.parametrize(("written", "value", "printed"), [
    ("2e-5", 2e-5, "2e-5"),
    ("0.5", 0.5, "0.5"),
    ("0.00001 * 3", 0.00001 * 3, "3.0000000000000004e-5"),
    ("0.1 + 0.2", 0.1 + 0.2, "0.30000000000000004"),
    ("1 / 3", 1 / 3, "0.3333333333333333"),
    ("1.5e-300", 1.5e-300, "1.5e-300"),
])
def test_float_attributes_round_trip(written: str, value: float, printed: str) -> None:
    assert float(printed) == value
    graph = segc.loads(f"network n {{\n    input x: [8, 4, 4]\n    output y = x -> bn(eps={written})\n}}\n")
    assert one_layer(f"bn(eps={written})") == f"y = x -> bn(eps={printed})"
    assert reprint(graph).structure() == graph.structure()


@pytest.mark.parametrize(("written", "printed"), [("1.5", "1.5"), ("2.0", "2"), ("[0.5, 2]", "[0.5, 2]")])
def test_upsample_scale_round_trips(written: str, printed: str) -> None:
    assert one_layer(f"upsample({written})") == f"y = x -> upsample(scale={printed})"
    graph = segc.loads(f"network n {{\n    input x: [8, 4, 4]\n    output y = x -> upsample({written})\n}}\n")
    assert reprint(graph).structure() == graph.structure()


def test_prune_rates_print_exactly() -> None:
    text = ("network n {\n    input x: [8, 4, 4]\n    a = x -> conv(8, k=1)\n    output y = a\n}\n"
            "prune n {\n    a: 1e-5\n    *: 0.5\n}\n")
    graph = segc.loads(text)
    printed = segc.to_seg(graph)
    assert "prune n {\n    a: 1e-5\n    *: 0.5\n}\n" in printed
    assert reprint(graph).directives == graph.directives


# ---------------------------------------------------------------- targets
def field_lines(text: str) -> dict[str, str]:
    """target field → printed value."""
    target = text[:text.index("network ")]
    return dict(re.findall(r"^    (\w+) +=\s+(.+)$", target, flags=re.MULTILINE))


def test_example_target_prints_in_units() -> None:
    fields = field_lines(segc.to_seg(segc.load(str(EXAMPLES / "resnet18.seg"))))
    assert fields == {
        "device": '"Intel Arria 10 GX 1150 (10AX115)"',
        "part": '"10AX115S2F45I1SG"',
        "clock": "200 MHz",
        "bandwidth": "17 GB/s",
        "effective_bandwidth": "9.5 GB/s",
        "dsp": "1518",
        "fixed_dsp": "266",
        "bram": "2713",
        "bram_block": "20 Kibit",
        "input_buffer": "128 KiB",
        "word": "16 bit",
        "macs_per_dsp": "2",
        "unroll": "{pif: 16, pof: 32, pkx: 4}",
    }


def test_ultra96_target_prints_optional_fields() -> None:
    fields = field_lines(segc.to_seg(segc.load(str(EXAMPLES / "tiny.seg"))))
    assert fields["line_buffer"] == "15"
    assert fields["input_buffer"] == "120 KiB"
    assert fields["unroll"] == "{pif: 8, pof: 8, pkx: 3, pky: 3}"


TARGET = """target t {{
    clock        = {clock}
    bandwidth    = {bandwidth}
    dsp          = 100
    bram         = 100000
    bram_block   = {block}
    input_buffer = {buffer}
    word         = {word}
    macs_per_dsp = 1
    unroll       = {{pif: 2, pof: 2, pkx: 1}}
}}

network n on t {{
    input x: [1, 2, 2]
    output y = x
}}
"""


@pytest.mark.parametrize(("clock", "bandwidth", "block", "buffer", "word"), [
    ("123.456789 MHz", "1.1 GB/s", "18 Kibit", "100 KB", "8 bit"),
    ("0.3 GHz", "0.1 GB/s", "1 bit", "1000 bit", "3 bit"),
    ("1234567 Hz", "7 KiB/s", "36 Kbit", "1.5 MiB", "12 bits"),
    ("333.333 MHz", "12.8 GB/s", "2 KiB", "0.5 MB", "1 B"),
    ("299.999999 MHz", "0.123456789 GB/s", "36 Kibit", "1.25 KiB", "16 bit"),
    ("1 kHz", "1 KB/s", "1023 bit", "1 kB", "64 bit"),
])
def test_target_values_read_back_the_same(clock, bandwidth, block, buffer, word) -> None:
    text = TARGET.format(clock=clock, bandwidth=bandwidth, block=block, buffer=buffer, word=word)
    graph = segc.loads(text)
    assert reprint(graph).target == graph.target


@pytest.mark.parametrize(("clock", "bandwidth"), [("525.6272 MHz", "1 GB/s"), ("518.6783 kHz", "1 GB/s")])
def test_target_values_read_back_the_same_awkward(clock: str, bandwidth: str) -> None:
    text = TARGET.format(clock=clock, bandwidth=bandwidth, block="36 Kibit", buffer="1 KiB", word="16 bit")
    graph = segc.loads(text)
    assert reprint(graph).target == graph.target
