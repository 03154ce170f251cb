"""Hypothesis strategies that edit the text of an example: deleted
characters, spans and lines, duplicated lines, inserted tokens, numbers
replaced by extreme values or grammar-generated expressions, swapped tokens,
truncation.

Not a test module: imported by ``test_fuzz_mutated``.
"""

from __future__ import annotations

import re

from fuzz_grammar import grammar_strategy
from hypothesis import note
from hypothesis import strategies as st

FRAGMENTS = (
    "{", "}", "(", ")", "[", "]", "->", ",", "=", "==", ":", "#", '"', "*", "//", "-", ".", "\\", "0", "1", "7", "99",
    "block", "network", "target", "prune", "import", "return", "input", "output", "keep", "if", "else", "for", "in",
    "as", "on", "and", "or", "not", "true", "false", "MHz", "GB/s", "KiB", "bit", "conv", "relu", "x", "1e999",
    " ", "\n", "\t", "\r", "\x00", "é", "\u2028",
)
NUMBER_REPLACEMENTS = ("0", "-1", str(10**30), "1.5", "1e999", "0.0", "-0", "2147483648", "1e-999", str(10**400),
                       "9" * 5000)
_NUMBER = re.compile(r"\d+(\.\d*)?([eE][+-]?\d+)?")
_TOKEN = re.compile(r'"[^"\n]*"|[A-Za-z_][A-Za-z0-9_.]*|\d[\d.eE]*|->|//|[=!<>]=|\S')


@st.composite
def mutated(draw, text: str) -> str:
    """The text after one to three random edits."""
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(draw, text)
    note(f"mutated text:\n{text}")
    return text


def _position(draw, text: str) -> int:
    return draw(st.integers(0, len(text)))


def delete_char(draw, text: str) -> str:
    at = _position(draw, text)
    return text[:at] + text[at + 1:]


def delete_span(draw, text: str) -> str:
    at = _position(draw, text)
    return text[:at] + text[at + draw(st.integers(1, 40)):]


def _lines(draw, text: str) -> tuple[list[str], int]:
    lines = text.splitlines(keepends=True) or [""]
    return lines, draw(st.integers(0, len(lines) - 1))


def duplicate_line(draw, text: str) -> str:
    lines, i = _lines(draw, text)
    return "".join(lines[:i + 1] + lines[i:])


def delete_line(draw, text: str) -> str:
    lines, i = _lines(draw, text)
    return "".join(lines[:i] + lines[i + 1:])


def insert_fragment(draw, text: str) -> str:
    at = _position(draw, text)
    fragment = draw(st.one_of(st.sampled_from(FRAGMENTS), st.characters(codec="utf-8")))
    return text[:at] + fragment + text[at:]


def replace_number(draw, text: str) -> str:
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return text
    match = draw(st.sampled_from(numbers))
    return text[:match.start()] + draw(st.sampled_from(NUMBER_REPLACEMENTS)) + text[match.end():]


def swap_tokens(draw, text: str) -> str:
    tokens = list(_TOKEN.finditer(text))
    if len(tokens) < 2:
        return text
    i = draw(st.integers(0, len(tokens) - 2))
    j = draw(st.integers(i + 1, min(i + 8, len(tokens) - 1)))  # nearby tokens: edits stay local
    a, b = tokens[i], tokens[j]
    return text[:a.start()] + b.group() + text[a.end():b.start()] + a.group() + text[b.end():]


def truncate(draw, text: str) -> str:
    return text[:_position(draw, text)]


SMALL_EXPRESSIONS = grammar_strategy("expr", 40)


def replace_with_expression(draw, text: str) -> str:
    """A number replaced by a grammar-generated expression in parentheses."""
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return text
    match = draw(st.sampled_from(numbers))
    return f"{text[:match.start()]}({draw(SMALL_EXPRESSIONS)}){text[match.end():]}"


MUTATIONS = (delete_char, delete_span, duplicate_line, delete_line, insert_fragment, replace_number,
             replace_with_expression, swap_tokens, truncate)
