"""``segc.format_source`` (``segc fmt``): the examples are canonical,
formatting is idempotent, keeps the syntax tree and every comment, wraps
long chains and ``if`` expressions before 100 columns, aligns target
fields, collapses blank lines, and keeps parentheses exactly where
precedence needs them.  One messy input's output is a golden file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ALL_SEG_FILES

import segc
from segc.dsl import parse_text

LIMIT = 100

SPACING = """network   odd  on  acc{
input image :[ 3,32 ,32 ]
a=image->conv( 8,k = 3 ,stride=[ 2,2 ])->bn ( ) ->relu
b   =   a   ->   add(  a  )
output logits=b->avgpool( global = true )->flatten->linear( 10,bias=false )
}
"""

PARENS = """block f(x, c=((3))) {
    y = ((x)) -> conv(((c)), k=(1))
    return (y)
}
network n {
    input x: [1, 2, 2]
    a = ((1 + 2)) * (3)
    b = (a) + ((a * 2))
    c = ((x -> relu)) -> sigmoid
    output y = (c)
}
"""

LONG_CHAIN = """network n {
    input image: [3, 32, 32]
    stem = image -> cbr(8) -> cbr(8) -> cbr(8) -> cbr(8) -> cbr(8) -> cbr(8) -> cbr(8) -> cbr(8) -> cbr(8) -> cbr(8)
    output y = stem -> conv(16, k=3, stride=2, dilation=1, groups=1, bias=true) -> bn(eps=0.001) -> relu \
-> conv(16, k=1) -> bn -> relu -> conv(16, k=1)
}
"""

LONG_IF = """block pick(x, c) {
    return if c > 8 and channels(x) != c { x -> conv(c, k=1) -> bn -> relu -> conv(c, k=3) -> bn } \
else if c > 4 { x -> relu } else { x }
}
"""

TARGET = """target acc {
  clock=200 MHz
  bandwidth    =   9.5 GB/s
  dsp = 1518
  input_buffer=128 KiB
  unroll={pif:16,pof:32,pkx:4}
}
"""

COMMENTS = """# file header

# second header paragraph
import "a.seg"  # after an import
# before a block
block f(x, # inside the parameters
        c) { # after the brace
    # before a statement
    y = x -> conv(c, # inside a call
                  k=1) # after a statement
    return y # after the return
    # before the closing brace
} # after the closing brace
target t { # after the target header
    clock = 1 GHz # after a field
    unroll = {pif: 1, # inside a dict
        pof: 1}
}
network n { # after the network header
    input x: [1, 2, 2] # after the input
    s = if true { # inside an if
        x
    } else {
        x # inside the else
    }
    output y = s -> relu # after the output
}
prune n {
    # before a rule
    s: 0.5 # after a rule
    keep y # after keep
}
# the end
"""

BLANKS = """

import "a.seg"



block f(x) {
    y = x


    return y


}



network n {
    input x: [1, 2, 2]



    output y = x
}



"""

MESSY_INPUTS = {
    "spacing": SPACING, "parens": PARENS, "long_chain": LONG_CHAIN, "long_if": LONG_IF, "target": TARGET,
    "comments": COMMENTS, "blanks": BLANKS,
}


def fmt(text: str) -> str:
    return segc.format_source(text)


# ---------------------------------------------------------------- examples
@pytest.mark.parametrize("path", ALL_SEG_FILES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_examples_are_canonical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert segc.format_source(text, str(path)) == text


# ---------------------------------------------------------------- general properties
@pytest.mark.parametrize("name", sorted(MESSY_INPUTS))
def test_formatting_is_idempotent(name: str) -> None:
    once = fmt(MESSY_INPUTS[name])
    assert fmt(once) == once


@pytest.mark.parametrize("name", sorted(MESSY_INPUTS))
def test_formatting_keeps_the_syntax_tree(name: str) -> None:
    text = MESSY_INPUTS[name]
    assert parse_text(fmt(text)).items == parse_text(text).items


@pytest.mark.parametrize("name", sorted(MESSY_INPUTS))
def test_comments_are_never_lost(name: str) -> None:
    text = MESSY_INPUTS[name]
    out = fmt(text)
    comments = [c.rstrip() for c in re.findall(r"#[^\n]*", text)]
    assert all(c in out for c in comments)
    assert len(re.findall(r"#[^\n]*", out)) == len(comments)


@pytest.mark.parametrize("name", sorted(MESSY_INPUTS))
def test_output_shape(name: str) -> None:
    out = fmt(MESSY_INPUTS[name])
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert "\n\n\n" not in out
    assert all(line == line.rstrip() for line in out.splitlines())
    assert all(len(line) - len(line.lstrip(" ")) in (0, 4, 8, 12) for line in out.splitlines())
    assert "\t" not in out


def test_empty_file() -> None:
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""


def test_syntax_error_is_a_seg_error() -> None:
    with pytest.raises(segc.SegError):
        fmt("network n { input x: [1, 2, 2] output y = x -> }")


# ---------------------------------------------------------------- layout
def test_spacing_is_normalised() -> None:
    assert fmt(SPACING) == """network odd on acc {
    input image: [3, 32, 32]
    a = image -> conv(8, k=3, stride=[2, 2]) -> bn() -> relu
    b = a -> add(a)
    output logits = b -> avgpool(global=true) -> flatten -> linear(10, bias=false)
}
"""


def test_redundant_parentheses_are_removed() -> None:
    assert fmt(PARENS) == """block f(x, c=3) {
    y = x -> conv(c, k=1)
    return y
}

network n {
    input x: [1, 2, 2]
    a = (1 + 2) * 3
    b = a + a * 2
    c = x -> relu -> sigmoid
    output y = c
}
"""


def test_long_chains_wrap_before_100_columns() -> None:
    out = fmt(LONG_CHAIN)
    # "    stem = image" is 16 columns and each " -> cbr(8)" 10 more: eight
    # links make 96 columns, a ninth would make 106.
    first = "    stem = image" + " -> cbr(8)" * 8
    assert len(first) == 4 + 12 + 8 * 10 == 96
    assert out.splitlines()[2:4] == [first, "        -> cbr(8) -> cbr(8)"]
    assert all(len(line) <= LIMIT for line in out.splitlines())
    assert out.splitlines()[4] == (
        "    output y = stem -> conv(16, k=3, stride=2, dilation=1, groups=1, bias=true) -> bn(eps=0.001)"
    )
    assert out.splitlines()[5] == "        -> relu -> conv(16, k=1) -> bn -> relu -> conv(16, k=1)"


def test_short_chain_stays_on_one_line() -> None:
    text = "network n {\n    input x: [1, 2, 2]\n    output y = x\n        -> relu\n        -> relu\n}\n"
    assert fmt(text).splitlines()[2] == "    output y = x -> relu -> relu"


def test_long_if_gets_one_line_per_branch() -> None:
    assert fmt(LONG_IF) == """block pick(x, c) {
    return if c > 8 and channels(x) != c {
        x -> conv(c, k=1) -> bn -> relu -> conv(c, k=3) -> bn
    } else if c > 4 {
        x -> relu
    } else {
        x
    }
}
"""


def test_short_if_stays_on_one_line() -> None:
    text = "block f(x) {\n    return if true {\n        x\n    } else {\n        x\n    }\n}\n"
    assert fmt(text).splitlines()[1] == "    return if true { x } else { x }"


def test_target_fields_are_aligned() -> None:
    assert fmt(TARGET) == """target acc {
    clock        = 200 MHz
    bandwidth    = 9.5 GB/s
    dsp          = 1518
    input_buffer = 128 KiB
    unroll       = {pif: 16, pof: 32, pkx: 4}
}
"""


def test_blank_lines_collapse_to_one() -> None:
    assert fmt(BLANKS) == """import "a.seg"

block f(x) {
    y = x

    return y
}

network n {
    input x: [1, 2, 2]

    output y = x
}
"""


@pytest.mark.parametrize("header", ["block f(x) {", "network n {", "target t {", "prune n {"])
def test_no_blank_line_after_an_opening_brace(header: str) -> None:
    body = {"block": "return x", "network": "input x: [1, 2, 2]", "target": "dsp = 1", "prune": "a: 0.5"}
    line = body[header.split()[0]]
    assert fmt(f"{header}\n\n    {line}\n}}\n") == f"{header}\n    {line}\n}}\n"


def test_definitions_are_separated_by_one_blank_line_and_imports_grouped() -> None:
    text = 'import "a.seg"\nimport "b.seg"\nblock f(x) {\n    return x\n}\nblock g(x) {\n    return x\n}\n'
    assert fmt(text) == (
        'import "a.seg"\nimport "b.seg"\n\nblock f(x) {\n    return x\n}\n\nblock g(x) {\n    return x\n}\n'
    )


def test_comment_inside_a_statement_moves_above_it() -> None:
    text = "network n {\n    input x: [1, 2, 2]\n    output y = x -> conv(4, # four\n        k=1)\n}\n"
    assert fmt(text).splitlines()[2:4] == ["    # four", "    output y = x -> conv(4, k=1)"]


def test_trailing_and_final_comments_stay_in_place() -> None:
    out = fmt(COMMENTS)
    lines = out.splitlines()
    assert lines[0] == "# file header"
    assert lines[-1] == "# the end"
    assert 'import "a.seg"  # after an import' in lines
    assert "    return y  # after the return" in lines
    assert "    input x: [1, 2, 2]  # after the input" in lines
    assert "    s: 0.5  # after a rule" in lines


def test_crlf_input() -> None:
    text = "# top\r\nnetwork n {\r\n    input x: [1, 2, 2]  # in\r\n\r\n\r\n    output y = x\r\n}\r\n"
    assert fmt(text) == "# top\nnetwork n {\n    input x: [1, 2, 2]  # in\n\n    output y = x\n}\n"


# ---------------------------------------------------------------- precedence
@pytest.mark.parametrize("expr", [
    "(a + b) * c",
    "a - (b - c)",
    "-(a + b)",
    "not (a and b)",
    "(a < b) == c",
    "a < (b == c)",
    "a / (b * c)",
    "a // (b % c)",
    "(a or b) and c",
    "a and (b or c)",
    "(not a) == b",
    "(a + b)[0]",
    "(-x)[0]",
    "(x -> relu)[0]",
    "(x -> f()) + 1",
    "-(a * b)",
])
def test_parentheses_precedence_needs_are_kept(expr: str) -> None:
    text = f"network n {{\n    v = {expr}\n}}\n"
    assert fmt(text) == text


@pytest.mark.parametrize(("expr", "expected"), [
    ("((a)) + ((b))", "a + b"),
    ("(a + b) + c", "a + b + c"),
    ("(a * b) + c", "a * b + c"),
    ("a or (b and c)", "a or b and c"),
    ("(a and b) or c", "a and b or c"),
    ("not (a == b)", "not a == b"),
    ("(-a) * b", "-a * b"),
    ("(f(x))[0]", "f(x)[0]"),
    ("(x -> relu) -> sigmoid", "x -> relu -> sigmoid"),
    ("[(x -> relu)][0]", "[x -> relu][0]"),
    ("-(2)", "-2"),
    ("(1e-5)", "1e-5"),
])
def test_redundant_parentheses_go(expr: str, expected: str) -> None:
    text = f"network n {{\n    v = {expr}\n}}\n"
    assert fmt(text) == f"network n {{\n    v = {expected}\n}}\n"
    assert parse_text(fmt(text)).items == parse_text(text).items


# ---------------------------------------------------------------- golden
def test_messy_file_golden(golden) -> None:
    text = SPACING + PARENS + TARGET + COMMENTS.replace("network n", "network m").replace("prune n", "prune m")
    golden("format_messy.txt", fmt(text))
