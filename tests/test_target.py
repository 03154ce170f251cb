"""Hardware targets: ``segc.ir.Target`` and its derived figures,
``TARGET_FIELDS``, ``target_problems``, and the ``.seg`` front end for
``target`` definitions (units, kinds, ranges, impossible targets).

Unit conversions are checked by hand: decimal prefixes are powers of 1000,
binary ones (Ki, Mi) powers of 1024, sizes are in bits, rates in bytes/s.
"""

from __future__ import annotations

import math

import pytest
from conftest import EXAMPLES

import segc
from segc.ir import TARGET_FIELDS, SegError, Target, Unroll, target_problems

# The Arria 10 design of Mori et al. (examples/targets/arria10.seg), as .seg field texts.
BASE_FIELDS = {
    "clock": "200 MHz",
    "bandwidth": "9.5 GB/s",
    "dsp": "1518",
    "bram": "2713",
    "bram_block": "20 Kibit",
    "input_buffer": "128 KiB",
    "word": "16 bit",
    "macs_per_dsp": "2",
    "unroll": "{pif: 16, pof: 32, pkx: 4}",
}
NETWORK = "network n on t { input x: [3, 8, 8] \n y = x -> conv(4, k=3) \n output y }\n"


def target_source(**fields: str | None) -> str:
    """A target ``t`` with BASE_FIELDS changed by ``fields`` (None drops one), and a tiny network on it."""
    merged = {**BASE_FIELDS, **fields}
    body = "".join(f"    {name} = {value}\n" for name, value in merged.items() if value is not None)
    return f"target t {{\n{body}}}\n{NETWORK}"


def load_target(**fields: str | None) -> Target:
    target = segc.loads(target_source(**fields)).target
    assert target is not None
    return target


def target_error(**fields: str | None) -> SegError:
    with pytest.raises(SegError) as err:
        segc.loads(target_source(**fields))
    return err.value


def line_of(source: str, field: str) -> int:
    """1-based line on which ``field = ...`` is written."""
    return next(i for i, text in enumerate(source.splitlines(), 1) if text.strip().startswith(f"{field} ="))


def direct_target(**changes) -> Target:
    values = {
        "name": "t", "clock_hz": 200e6, "bandwidth": 9.5e9, "dsp": 1518, "bram": 2713, "bram_block_bits": 20 * 1024,
        "input_buffer_bits": 128 * 1024 * 8, "word_bits": 16, "unroll": Unroll(16, 32, 4), "macs_per_dsp": 2,
    }
    return Target(**{**values, **changes})


# ---------------------------------------------------------------- units

@pytest.mark.parametrize(("text", "hertz"), [
    ("5000 Hz", 5000),
    ("250 kHz", 250 * 1000),
    ("200 MHz", 200 * 1000**2),
    ("1.5 GHz", 1.5 * 1000**3),
])
def test_frequency_units(text, hertz):
    assert load_target(clock=text).clock_hz == hertz


@pytest.mark.parametrize(("text", "bytes_per_second"), [
    ("5000 B/s", 5000),
    ("12 KB/s", 12 * 1000),
    ("3 KiB/s", 3 * 1024),
    ("100 MB/s", 100 * 1000**2),
    ("2 MiB/s", 2 * 1024**2),
    ("9.5 GB/s", 9.5e9),
    ("1 GiB/s", 1024**3),
    # bit rates: bits / 8 = bytes
    ("8000 bit/s", 1000),
    ("800 kbit/s", 800 * 1000 // 8),
    ("80 Mbit/s", 10 * 1000**2),
    ("10 Gbit/s", 1.25e9),
    ("8 Kibit/s", 1024),
    ("16 Mibit/s", 2 * 1024**2),
    ("8 Gibit/s", 1024**3),
    ("8000 bps", 1000),
    ("800 kbps", 100_000),
    ("80 Mbps", 10_000_000),
    ("76 Gbps", 9.5e9),
])
def test_rate_units(text, bytes_per_second):
    assert load_target(bandwidth=text).bandwidth == bytes_per_second


@pytest.mark.parametrize(("text", "bits"), [
    ("1024 bit", 1024),
    ("2000 bits", 2000),
    ("20 Kbit", 20 * 1000),
    ("20 Kibit", 20 * 1024),
    ("100 B", 100 * 8),
    ("1.5 KB", 1500 * 8),
    ("4 KB", 4 * 1000 * 8),
    ("128 KiB", 128 * 1024 * 8),
    ("1 MB", 1000**2 * 8),
    ("2 MiB", 2 * 1024**2 * 8),
])
def test_size_units(text, bits):
    target = load_target(input_buffer=text)
    assert target.input_buffer_bits == bits
    assert isinstance(target.input_buffer_bits, int)


def test_word_in_bytes():
    assert load_target(word="2 B").word_bits == 16


def test_units_without_space_between_number_and_unit():
    assert load_target(clock="200MHz").clock_hz == 200e6


# ---------------------------------------------------------------- derived figures

def test_arria10_derived_figures():
    target = load_target()
    assert target.word_bytes == 2
    assert target.input_buffer_words == 128 * 1024 * 8 // 16 == 65_536
    # Mori et al. Sec. 3.1: the PE array needs ½·P_if·P_of·P_kx DSP blocks on Arria 10
    assert target.unroll == Unroll(16, 32, 4, 1)
    assert target.unroll.macs_per_cycle == 16 * 32 * 4
    assert target.pe_dsps == 16 * 32 * 4 // 2 == 1024
    assert target.bram_bits == 2713 * 20 * 1024
    assert target.buffer_bits == 128 * 1024 * 8


def test_pe_dsps_rounds_up():
    assert direct_target(macs_per_dsp=3).pe_dsps == math.ceil(16 * 32 * 4 / 3) == 683
    assert load_target(macs_per_dsp="1", dsp="2048").pe_dsps == 16 * 32 * 4
    assert load_target(unroll="{pif: 8, pof: 8, pkx: 3, pky: 3}").pe_dsps == 8 * 8 * 3 * 3 // 2


def test_input_buffer_words_rounds_down():
    assert direct_target(input_buffer_bits=100, word_bits=16).input_buffer_words == 100 // 16 == 6
    assert direct_target(word_bits=8).word_bytes == 1


def test_optional_buffers_count_towards_buffer_bits():
    target = load_target(weight_buffer="1 MiB", output_buffer="256 KiB")
    assert target.weight_buffer_bits == 1024**2 * 8
    assert target.buffer_bits == (128 + 1024 + 256) * 1024 * 8


def test_optional_fields_default():
    target = load_target()
    assert target.weight_buffer_bits is None
    assert target.output_buffer_bits is None
    assert target.line_buffer_rows is None
    assert target.device == ""


def test_target_fields_schema():
    required = {name for name, spec in TARGET_FIELDS.items() if spec.required}
    assert required == {
        "clock", "bandwidth", "dsp", "bram", "bram_block", "input_buffer", "word", "macs_per_dsp", "unroll",
    }
    kinds = {name: spec.kind for name, spec in TARGET_FIELDS.items()}
    assert kinds["clock"] == "frequency"
    assert kinds["bandwidth"] == "rate"
    assert kinds["input_buffer"] == kinds["bram_block"] == kinds["word"] == "size"
    assert kinds["dsp"] == kinds["bram"] == "count"
    assert all(hasattr(direct_target(), spec.attr) for spec in TARGET_FIELDS.values())


# ---------------------------------------------------------------- the examples' targets

def example_target(file: str, name: str) -> Target:
    source = f'import "targets/{file}"\nnetwork n on {name} {{ input x: [3, 8, 8] \n output x }}\n'
    target = segc.loads(source, str(EXAMPLES / "check.seg")).target
    assert target is not None
    return target


def test_arria10_example():
    # Intel Arria 10 GX 1150: 1,518 DSP blocks, 2,713 M20K blocks of 20 Kibit ("53 Mb");
    # Mori et al.: 200 MHz, 16-bit words, 2 MACs per DSP, 128 KB input buffer, P = 16 x 32 x 4.
    target = example_target("arria10.seg", "arria10_gx1150")
    assert target.name == "arria10_gx1150"
    assert "Arria 10 GX 1150" in target.device
    assert (target.dsp, target.bram, target.bram_block_bits) == (1518, 2713, 20 * 1024)
    assert round(target.bram_bits / 1024**2) == 53
    assert target.clock_hz == 200e6
    # DDR4 at 2133 MT/s on 64 bits: 17 GB/s peak; 9.5 GB/s reached by streams (assumed, calibrated)
    assert (target.bandwidth, target.effective_bandwidth, target.stream_bandwidth) == (17e9, 9.5e9, 9.5e9)
    # Table 1: 394 DSPs at P = 16·16·1 (128 for the PE array): 266 for the fixed units
    assert target.fixed_dsp == 394 - 16 * 16 * 1 // 2
    assert target.word_bits == 16
    assert target.input_buffer_bits == 128 * 1024 * 8
    assert target.unroll == Unroll(16, 32, 4, 1)
    assert target.pe_dsps == 1024 <= 1518
    assert target_problems(target) == []


def test_ultra96_example():
    # Xilinx XCZU3EG: 360 DSP48E2, 216 BRAM of 36 Kibit (7.6 Mb); CoDeNet: 250 MHz, 8-bit activations,
    # 8 x 8 x 3 x 3 = 576 MACs, a 15-row line buffer, input buffer 15 x 512 x 16 bytes = 120 KiB.
    target = example_target("ultra96.seg", "ultra96_codenet")
    assert (target.dsp, target.bram, target.bram_block_bits) == (360, 216, 36 * 1024)
    assert round(target.bram_bits / 1024**2, 1) == 7.6
    assert target.clock_hz == 250e6
    assert target.bandwidth == 8.5e9
    assert target.word_bits == 8
    assert target.input_buffer_bits == 15 * 512 * 16 * 8 == 120 * 1024 * 8
    assert target.line_buffer_rows == 15
    assert target.unroll == Unroll(8, 8, 3, 3)
    assert target.unroll.macs_per_cycle == 576
    assert target.pe_dsps == 576 // 2 == 288 <= 360
    assert target_problems(target) == []


def test_examples_networks_carry_their_targets():
    assert segc.load(str(EXAMPLES / "resnet18.seg")).target.name == "arria10_gx1150"
    assert segc.load(str(EXAMPLES / "tiny.seg")).target.name == "ultra96_codenet"


# ---------------------------------------------------------------- target_problems

def test_problem_too_few_dsps():
    [(field, message)] = target_problems(direct_target(dsp=1000))
    assert field == "unroll"
    assert "needs 1024 DSP blocks, but the target has 1000" in message


def test_problem_buffers_exceed_ram():
    # 10 blocks of 20 Kibit = 25,600 bytes < 128 KiB = 131,072 bytes
    [(field, message)] = target_problems(direct_target(bram=10))
    assert field == "input_buffer"
    assert f"need {128 * 1024} bytes" in message
    assert f"hold {10 * 20 * 1024 // 8}" in message


def test_problem_input_buffer_smaller_than_a_word():
    assert target_problems(direct_target(input_buffer_bits=8)) == [
        ("input_buffer", "the input buffer must hold at least one word"),
    ]


# ---------------------------------------------------------------- errors in .seg targets

def assert_error_at(err: SegError, source: str, field: str, fragment: str) -> None:
    matching = [d for d in err.diagnostics if fragment in d.message]
    assert matching, f"no diagnostic mentions {fragment!r}: {err}"
    assert matching[0].span is not None
    assert matching[0].span.line == line_of(source, field)


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("clock", "128 KiB", "'clock' must be a frequency (Hz, kHz, MHz, GHz), got a size (128 KiB)"),
    ("clock", "200", "'clock' must be a frequency with a unit"),
    ("bandwidth", "200 MHz", "'bandwidth' must be a bandwidth"),
    ("input_buffer", "9.5 GB/s", "'input_buffer' must be a size"),
    ("word", "16", "'word' must be a size with a unit"),
    ("dsp", "1518.0", "'dsp' must be an integer"),
    ("device", "3", "'device' must be a string"),
    ("unroll", "[16, 32, 4]", "'unroll' must be a dict"),
    ("unroll", "{pif: 16, pof: 32}", "'unroll' needs pkx"),
    ("unroll", "{pif: 16, pof: 32, pkx: 4, pz: 1}", "'unroll' has no factor 'pz'"),
    ("word", "1.5 bit", "whole number of bits"),
    ("clock", "200 Mhz", "did you mean 'MHz'"),
    ("bandwidth", "10 gbps", "did you mean 'Gbps'"),
    ("bandwidth", "10 Xyz", "unknown unit 'Xyz' (units are "),
])
def test_kind_errors_point_at_the_field(field, value, fragment):
    source = target_source(**{field: value})
    assert_error_at(target_error(**{field: value}), source, field, fragment)


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("clock", "100 Hz", "'clock' must be between 1 kHz and 10 GHz, got 100 Hz"),
    ("bandwidth", "1e14 B/s", "'bandwidth' must be between"),
    ("word", "128 bit", "'word' must be between 1 bit and 64 bit, got 128 bit"),
    ("dsp", "-1", "'dsp' must be between 0 and"),
    ("macs_per_dsp", "0", "'macs_per_dsp' must be between 1 and 64"),
    ("line_buffer", "0", "'line_buffer' must be between 1 and"),
    ("unroll", "{pif: 0, pof: 32, pkx: 4}", "'pif' must be between 1 and 4096, got 0"),
    ("unroll", "{pif: 16, pof: 5000, pkx: 4}", "'pof' must be between 1 and 4096"),
])
def test_range_errors_point_at_the_field(field, value, fragment):
    source = target_source(**{field: value})
    assert_error_at(target_error(**{field: value}), source, field, fragment)


def test_unknown_unit_lists_the_accepted_bit_rates():
    message = str(target_error(bandwidth="10 Xyz"))
    assert "rate: B/s, KB/s" in message
    assert all(unit in message for unit in ("bit/s", "Gbit/s", "Gibit/s", "bps", "Gbps"))


def test_bad_required_field_gives_one_error():
    # not also "target 't' needs 'clock'": the field is there, its value is wrong
    err = target_error(clock="128 KiB")
    assert [d.message for d in err.diagnostics] == [
        "'clock' must be a frequency (Hz, kHz, MHz, GHz), got a size (128 KiB)",
    ]


def test_impossible_dsp_count_points_at_unroll():
    source = target_source(dsp="1000")
    err = target_error(dsp="1000")
    assert_error_at(err, source, "unroll", "needs 1024 DSP blocks, but the target has 1000")


def test_impossible_buffers_point_at_input_buffer():
    source = target_source(bram="10")
    assert_error_at(target_error(bram="10"), source, "input_buffer", "the buffers need 131072 bytes")
    # weight + output + input buffers: (4 MiB + 3 MiB + 128 KiB) > 2713 x 20 Kibit
    err = target_error(weight_buffer="4 MiB", output_buffer="3 MiB")
    assert f"need {(4 * 1024 + 3 * 1024 + 128) * 1024} bytes" in err.message
    assert f"hold {2713 * 20 * 1024 // 8}" in err.message


def test_input_buffer_must_hold_a_word():
    source = target_source(input_buffer="8 bit")
    assert_error_at(target_error(input_buffer="8 bit"), source, "input_buffer", "at least one word")


def test_missing_field_points_at_the_target_name():
    err = target_error(clock=None)
    assert [d.message for d in err.diagnostics] == ["target 't' needs 'clock' (accelerator clock)"]
    assert (err.diagnostics[0].span.line, err.diagnostics[0].span.column) == (1, len("target ") + 1)


def test_missing_macs_per_dsp_says_what_it_is_on_each_vendor():
    # no silent default: one MAC per DSP would double the Arria 10 design's DSP count
    err = target_error(macs_per_dsp=None)
    [diagnostic] = err.diagnostics
    assert diagnostic.message.startswith("target 't' needs 'macs_per_dsp' (MACs one DSP block does per cycle: ")
    assert "2 on Arria 10 / Stratix 10" in diagnostic.message
    assert "1 on a Xilinx DSP48" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (1, len("target ") + 1)


def test_unknown_and_repeated_fields():
    err = target_error(clk="200 MHz")
    assert "targets have no field 'clk'; did you mean 'clock'?" in err.message
    source = target_source().replace("    dsp = 1518\n", "    dsp = 1518\n    dsp = 1600\n")
    with pytest.raises(SegError, match="field 'dsp' is given twice"):
        segc.loads(source)


def test_errors_render_with_location():
    with pytest.raises(SegError) as err:
        segc.loads(target_source(clock="100 Hz"), "t.seg")
    line = line_of(target_source(clock="100 Hz"), "clock")
    assert f"t.seg:{line}:13: error: 'clock' must be between 1 kHz and 10 GHz, got 100 Hz" in err.value.render()
