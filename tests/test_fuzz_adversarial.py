"""Adversarial inputs to the front end: deep nesting, long chains, huge
comprehensions, exponential block expansion, huge numbers, NUL bytes, CRLF,
tabs.  Each is accepted or rejected with a SegError within a time limit;
CRLF and tabs give the same graph as the plain file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ALL_SEG_FILES, EXAMPLES, default_network
from fuzz_checks import (
    check_format_roundtrip,
    example_id,
    load_or_seg_error,
    parse_or_none,
    run_cli,
    small_network,
    time_limit,
)

import segc
from segc.ir import SegError

ADVERSARIAL_SECONDS = 20  # each targeted input is accepted or rejected within this (generous: slow CI machines)
EXPANSION_SECONDS = 5  # rejecting an exponential expansion needs no real work


def _exponential_blocks(levels: int) -> str:
    """Block b0 calls b1 twice, b1 calls b2 twice, ...: 2**levels layers."""
    blocks = [f"block b{i}(x) {{\n    return add(x -> b{i + 1}(), x -> b{i + 1}())\n}}\n" for i in range(levels)]
    return "".join(blocks) + f"block b{levels}(x) {{\n    return x -> relu\n}}\n"


ADVERSARIAL = {
    "parentheses_200": small_network(f"    y = {'(' * 200}x{')' * 200} -> relu\n    output o = y"),
    "parentheses_5000": small_network(f"    y = {'(' * 5000}x{')' * 5000} -> relu\n    output o = y"),
    "negations_5000": small_network(f"    c = {'-' * 5000}8\n    output o = x -> conv(c, k=1)"),
    "nested_lists_3000": small_network(f"    c = {'[' * 3000}{']' * 3000}\n    output o = x"),
    "nested_ifs_200": small_network(f"    c = {'if true { ' * 200}4{' } else { 1 }' * 200}\n"
                                    "    output o = x -> conv(c, k=1)"),
    "sum_of_5000": small_network(f"    c = 1{' + 1' * 5000}\n    output o = x -> conv(c, k=1)"),
    "chain_of_5000": small_network(f"    y = x{' -> relu' * 5000}\n    output o = y"),
    "comprehension_100000": small_network("    ys = [x -> b() for i in range(100000)]\n    output o = concat(*ys)",
                                          "block b(x) {\n    return x -> relu\n}\n"),
    "range_too_long": small_network("    ys = [x -> relu for i in range(100001)]\n    output o = x"),
    "huge_int_shape": "network n {\n    input x: [3, 1000000000000000000000000000000, 8]\n    output o = x\n}\n",
    "huge_int_channels": small_network("    output o = x -> conv(1000000000000000000000000000000, k=3)"),
    "max_int_everything": "network n {\n    input x: [2147483647, 2147483647, 2147483647]\n"
                          "    output o = x -> conv(2147483647, k=3) -> flatten\n}\n",
    "float_1e999": small_network("    output o = x -> conv(1e999, k=3)"),
    "quantity_1e999": 'target t {\n    clock = 1e999 MHz\n}\n' + small_network("    output o = x", ""),
    "empty_file": "",
    "only_comments": "# nothing\n# but comments\n",
    "only_whitespace": " \n\t\r\n  ",
    "nul_byte_in_code": small_network("    output o = x\x00"),
    "nul_byte_in_comment": small_network("    # \x00\n    output o = x"),
    "nul_byte_in_string": small_network('    output o = x -> upsample(2, mode="bi\x00linear")'),
    "control_characters": small_network("    output o = x\x0b\x1b"),
    "unicode_name": small_network("    é = x\n    output o = é"),
    "lone_carriage_returns": small_network("    y = x -> relu\r    output o = y").replace("\n", "\r"),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_input_fails_only_with_seg_error(name: str) -> None:
    text = ADVERSARIAL[name]
    with time_limit(ADVERSARIAL_SECONDS):
        parse_or_none(text)
        load_or_seg_error(text, "<adversarial>")
        check_format_roundtrip(text, may_refuse=True)


def test_exponential_block_expansion_is_stopped_quickly() -> None:
    """2**30 layers are counted (not built) and refused."""
    text = _exponential_blocks(30) + small_network("    output o = x -> b0()")
    with time_limit(EXPANSION_SECONDS), pytest.raises(SegError, match="more than 250,000 layers"):
        segc.loads(text)


def test_network_past_the_counting_threshold_is_counted_then_built() -> None:
    """14 levels: 2**14 + 2**14 - 1 + 2 = 32,769 layers, more than the 20,000
    from which layers are counted before they are built."""
    graph = segc.loads(_exponential_blocks(14) + small_network("    output o = x -> b0()"))
    assert len(list(graph.nodes())) == 2**14 + (2**14 - 1) + 2


def test_a_large_network_is_built_once(monkeypatch) -> None:
    """Past the counting threshold the build stops to count, then goes on:
    every layer is recorded once (2**14 + 2**14 - 1 + 2 = 32,769 layers), not
    a first 20,000 thrown away and all built again."""
    from segc.dsl.calls import CallEvaluator

    calls = []
    original = CallEvaluator.add_layer
    monkeypatch.setattr(CallEvaluator, "add_layer", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    segc.loads(_exponential_blocks(14) + small_network("    output o = x -> b0()"))
    assert len(calls) == 2**14 + 2**14 - 1 + 2  # and the input and the output


def test_exponential_block_expansion_within_limits_is_built() -> None:
    """12 levels: 2**12 relu layers and 2**12 - 1 adds (plus input and output)."""
    graph = segc.loads(_exponential_blocks(12) + small_network("    output o = x -> b0()"))
    assert len(list(graph.nodes())) == 2**12 + (2**12 - 1) + 2


def test_chain_of_5000_is_built() -> None:
    graph = segc.loads(ADVERSARIAL["chain_of_5000"])
    assert len(list(graph.nodes())) == 5000 + 2  # input, 5000 relus, output


@pytest.mark.parametrize("example", [p for p in ALL_SEG_FILES if p.parent == EXAMPLES], ids=example_id)
def test_crlf_line_endings_give_the_same_graph(example: Path) -> None:
    text, network = example.read_text(encoding="utf-8"), default_network(example)
    lf = segc.loads(text, str(example), network)
    crlf = segc.loads(text.replace("\n", "\r\n"), str(example), network)
    assert segc.to_json(crlf) == segc.to_json(lf)
    assert [(n.name, n.span and (n.span.line, n.span.column)) for n in crlf.nodes()] == \
        [(n.name, n.span and (n.span.line, n.span.column)) for n in lf.nodes()]


@pytest.mark.parametrize("example", [p for p in ALL_SEG_FILES if p.parent == EXAMPLES], ids=example_id)
def test_tabs_for_indentation_give_the_same_graph(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    tabbed = re.sub(r"(?m)^ {4}", "\t", text).replace(" = ", "\t=\t")
    network = default_network(example)
    tabbed_json = segc.to_json(segc.loads(tabbed, str(example), network))
    assert tabbed_json == segc.to_json(segc.loads(text, str(example), network))


def test_crlf_error_points_at_the_right_place() -> None:
    err = _seg_error(small_network("    output o = x -> nosuchop").replace("\n", "\r\n"))
    span = err.diagnostics[0].span
    assert (span.line, span.column) == (3, 21)  # '    output o = x -> ' is 20 characters
    assert "\r" not in err.render()


def test_cli_reports_nul_byte_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "nul.seg"
    path.write_bytes(b"network n {\x00}\n")
    code, _, err = run_cli(["check", str(path)])
    assert code == 1
    assert "Traceback" not in err and "internal error" not in err
    assert "nul.seg:1:12: error:" in err


def _seg_error(text: str) -> SegError:
    with pytest.raises(SegError) as info:
        segc.loads(text)
    return info.value
