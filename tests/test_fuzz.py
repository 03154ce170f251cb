"""Fuzz tests of the front end: whatever the input, segc either succeeds or
raises :class:`segc.ir.SegError` (the CLI: exit status 0 or 1, no traceback,
no "internal error"), and nothing hangs.

* Grammar-generated programs: ``hypothesis.extra.lark.from_lark`` on segc's
  own ``seg.lark``, with realistic tokens for the terminals hypothesis cannot
  generate (lookaround regexes) and whitespace after every token.  Text that
  parses must also format stably: formatting is idempotent and keeps the
  syntax tree.
* Mutated examples: every file of ``examples/`` with random edits (deleted
  characters, spans and lines, duplicated lines, inserted tokens, numbers
  replaced by extreme values or generated expressions, swapped tokens,
  truncation), loaded through the API and the CLI; block and target files
  with a network that uses them appended.  A mutant that loads must also
  print (``to_seg``) to text that loads back to the same graph.
* Adversarial inputs: deep nesting, long chains, huge comprehensions,
  exponential block expansion, huge numbers, NUL bytes, CRLF, tabs.

Runs are derandomized (deterministic in CI) and take well under a minute.
``SEGC_FUZZ_EXAMPLES=2000`` raises the number of examples per test and
switches to random exploration (failures are kept in hypothesis' database).
The regression tests at the end pin the bugs these fuzzers found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path

import lark
import pytest
from conftest import ALL_SEG_FILES, EXAMPLES, default_network
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import LarkStrategy, from_lark
from lark.grammar import NonTerminal, Terminal

import segc
from segc.cli import main as cli_main
from segc.dsl import ast, parse_text
from segc.ir import SegError

# ------------------------------------------------------------------ settings
_ENV_EXAMPLES = os.environ.get("SEGC_FUZZ_EXAMPLES")
HANG_SECONDS = 10  # an example still running after this is a hang
ADVERSARIAL_SECONDS = 20  # each targeted input is accepted or rejected within this (generous: slow CI machines)
EXPANSION_SECONDS = 5  # rejecting an exponential expansion needs no real work
GROWTH_SECONDS = 5  # a separate segc process (about 1 s to start) rejecting an exponentially growing value
GROWTH_MEMORY = 2 << 30  # its address space: exponential growth must not take the machine down


def fuzz_settings(default_examples: int) -> settings:
    """Deterministic by default; ``SEGC_FUZZ_EXAMPLES`` for long random runs.
    ``too_slow`` is suppressed because whole programs are big examples to
    generate (the deadline still bounds the time spent in segc)."""
    return settings(
        max_examples=int(_ENV_EXAMPLES) if _ENV_EXAMPLES else default_examples,
        deadline=2000,
        derandomize=not _ENV_EXAMPLES,
        database=None if not _ENV_EXAMPLES else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow],
    )


class Hang(Exception):
    """Raised in the test when segc runs longer than allowed."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block with :class:`Hang` after ``seconds`` (POSIX main
    thread only; elsewhere hypothesis' deadline is the only guard)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------ properties
def load_or_seg_error(text: str, path: str, network: str | None = None) -> segc.Graph | None:
    """The graph, or None when segc rejects the text with a SegError.  Any
    other exception propagates and fails the test."""
    try:
        return segc.loads(text, path, network)
    except SegError:
        return None


def parse_or_none(text: str):
    try:
        return parse_text(text)
    except SegError:
        return None


def check_format_roundtrip(text: str, may_refuse: bool = False) -> None:
    """If the text parses: formatting is idempotent and keeps the syntax
    tree.  ``may_refuse``: the formatter may reject it (too deep) with a SegError."""
    module = parse_or_none(text)
    if module is None:
        return
    try:
        formatted = segc.format_source(text)
    except SegError:
        if may_refuse:
            return
        raise
    try:
        reparsed = parse_text(formatted)
    except SegError as err:
        raise AssertionError(f"formatted text does not parse:\n{err.render()}\n{formatted}") from None
    assert same_tree(reparsed.items, module.items), f"formatting changed the syntax tree:\n{formatted}"
    assert segc.format_source(formatted) == formatted, f"formatting is not idempotent:\n{formatted}"


def same_tree(a: object, b: object) -> bool:
    """``a == b`` for syntax trees (fields with ``compare=False``, the spans,
    are ignored), without recursion: adversarial trees are thousands deep."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            if type(x) is not type(y):
                return False
            pending.extend((getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x) if f.compare)
        elif isinstance(x, (tuple, list)):
            if type(x) is not type(y) or len(x) != len(y):
                return False
            pending.extend(zip(x, y))
        elif x != y:
            return False
    return True


def check_print_roundtrip(graph: segc.Graph) -> None:
    """A loaded graph printed as flat .seg loads back to the same graph."""
    printed = segc.to_seg(graph)
    try:
        again = segc.loads(printed)
    except SegError as err:
        raise AssertionError(f"the printed graph does not load:\n{err.render()}\n{printed}") from None
    assert segc.to_json(again) == segc.to_json(graph), f"the printed graph differs:\n{printed}"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


def check_cli(path: Path) -> None:
    code, _, err = run_cli(["check", str(path)])
    note(f"segc check: exit {code}\n{err}")
    assert code in (0, 1)
    assert "Traceback" not in err
    assert "internal error" not in err


# ------------------------------------------------------------------ grammar-generated programs
KEYWORDS = frozenset({
    "and", "as", "block", "else", "false", "for", "if", "import", "in", "input", "keep", "network", "not", "on",
    "or", "output", "prune", "return", "target", "true",
})
NAMES = (
    "x", "y", "c", "k", "b", "f", "image", "stem", "ultra96_codenet", "arria10_gx1150",
    "conv", "dconv", "bn", "relu", "relu6", "sigmoid", "maxpool", "avgpool", "add", "concat", "linear", "flatten",
    "upsample", "identity", "channels", "height", "width", "len", "min", "max", "range", "int", "float",
    "out", "stride", "padding", "groups", "dilation", "bias", "mode", "scale", "to", "global", "bound", "shape",
    "clock", "bandwidth", "dsp", "bram", "bram_block", "input_buffer", "line_buffer", "word", "macs_per_dsp",
    "unroll", "pif", "pof", "pkx", "pky", "device", "downsample.0", "layer1.0.conv1",
)
UNIT_NAMES = (
    "Hz", "kHz", "MHz", "GHz", "B/s", "KB/s", "MB/s", "GB/s", "KiB/s", "bit", "bits", "Kibit", "Mbit", "B", "byte",
    "KB", "KiB", "MiB", "GB", "MHzz", "mhz", "furlong", "Gb", "x",
)

_ident_pattern = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}(\.[A-Za-z0-9_]{1,3})?", fullmatch=True)
IDENTS = st.one_of(st.sampled_from(NAMES), _ident_pattern.filter(lambda s: s not in KEYWORDS))
INTS = st.one_of(st.sampled_from(["0", "1", "2", "3", "8", "16", "64", "224", "1000", "007"]),
                 st.integers(0, 2**62).map(str),  # segc's integers: up to 2**62
                 st.sampled_from([str(2**62 + 1), str(2**63), str(10**30), str(10**400), "9" * 5000]))
FLOATS = st.one_of(st.sampled_from(["0.5", "1.5", "2.", ".25", "1e5", "1e999", "1E-3", "2.5e+3", "0e0"]),
                   st.floats(0, 1e300).map(repr))
QUANTITIES = st.builds("{}{}{}".format, st.one_of(INTS, FLOATS), st.sampled_from(["", " ", "\t"]),
                       st.sampled_from(UNIT_NAMES))
PATTERNS = st.sampled_from(["*", "res5.*", "layer?.conv", "stem.[ab]*", "a[!b]", "*.bn", "conv*", "**", "?", "["])
STRINGS = st.one_of(
    st.sampled_from(['"bilinear"', '"nearest"', '"square"', '"full"', '"same"', '"valid"', '""', '"a\\"b"',
                     '"targets/ultra96.seg"', '"blocks/resnet.seg"', '"tiny.seg"', '"missing.seg"', '"a b"', '"*"',
                     *(f'"{word}"' for word in sorted(KEYWORDS))]),
    st.from_regex(r'"([^"\\\n\r]|\\[a-z"\\])*"', fullmatch=True),
)
# from_lark puts WS or COMMENT after a quarter of the symbols; mostly whitespace.
COMMENTS = st.one_of(st.just(" "), st.just("\n"), st.from_regex(r"#[^\n\r]*", fullmatch=True).map(lambda s: s + "\n"))
WHITESPACE = st.sampled_from([" ", "\n", "\t", "\r\n", "\n\n"])


def token(text: st.SearchStrategy[str], numeric: bool = False) -> st.SearchStrategy[str]:
    """A token with whitespace after it, so that it lexes on its own.  After
    a number only a newline: ``3 x`` on one line would lex as a quantity."""
    separator = st.just("\n") if numeric else st.sampled_from([" ", "\n", "  ", "\t"])
    return st.builds(str.__add__, text, separator)


def _grammar() -> lark.Lark:
    text = resources.files("segc.dsl").joinpath("seg.lark").read_text(encoding="utf-8")
    return lark.Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=True)


GRAMMAR = _grammar()


def _token_strategies(grammar: lark.Lark) -> dict[str, st.SearchStrategy[str]]:
    """``explicit`` strategies for every terminal: keywords and punctuation as
    written, the rest realistic (QUANTITY and PATTERN use lookarounds that
    hypothesis cannot generate from)."""
    explicit = {
        "IDENT": token(IDENTS), "INT": token(INTS, True), "FLOAT": token(FLOATS, True),
        "QUANTITY": token(QUANTITIES, True), "PATTERN": token(PATTERNS), "STRING": token(STRINGS),
        "COMMENT": COMMENTS, "WS": WHITESPACE,
    }
    terminals, _, _ = grammar.grammar.compile(grammar.options.start, ())
    for terminal in terminals:
        if terminal.pattern.type == "str":
            explicit[terminal.name] = token(st.just(terminal.pattern.value))
    return explicit


TOKENS = _token_strategies(GRAMMAR)


class BoundedLarkStrategy(LarkStrategy):
    """``from_lark``'s strategy with the size of the derivation tree bounded.

    Plain ``from_lark`` expands each rule by a uniform choice.  In seg.lark an
    expression atom sits about ten rules deep and most expressions can
    contain several others, so draws either run into hypothesis' limit of 100
    nested spans and are discarded (80% for ``expr``) or grow huge.  Here each
    rule gets a budget of rule expansions; only expansions that fit are
    chosen, and the budget left over is shared among the children.  Relies
    on LarkStrategy's ``draw_symbol``/``gen_ignore`` hooks.
    """

    def __init__(self, grammar: lark.Lark, start: str, explicit: dict, budget: int):
        names = _terminal_names(grammar, start)
        super().__init__(grammar, start, {k: v for k, v in explicit.items() if k in names},
                         st.characters(codec="utf-8"))
        _, rules, _ = grammar.grammar.compile([start], ())
        self.expansions: dict[str, list[tuple]] = {}
        for rule in rules:
            self.expansions.setdefault(rule.origin.name, []).append(tuple(rule.expansion))
        self.sizes = _min_sizes(self.expansions)
        self.budget = budget
        self.choices: dict[tuple[str, int], st.SearchStrategy] = {}

    def _choice(self, name: str, budget: int) -> st.SearchStrategy:
        if (name, budget) not in self.choices:
            options = sorted(self.expansions[name], key=len)
            fitting = [e for e in options if _expansion_size(e, self.sizes) <= budget]
            self.choices[name, budget] = st.sampled_from(
                fitting or [min(options, key=lambda e: _expansion_size(e, self.sizes))])
        return self.choices[name, budget]

    def draw_symbol(self, data, symbol, draw_state, budget: int | None = None) -> None:
        if isinstance(symbol, Terminal):
            draw_state.append(data.draw(self.terminal_strategies[symbol.name]))
            return
        assert isinstance(symbol, NonTerminal)
        budget = self.budget if budget is None else budget
        data.start_span(self.rule_label(symbol.name))
        try:
            expansion = data.draw(self._choice(symbol.name, budget))
            rules = [s for s in expansion if isinstance(s, NonTerminal)]
            share = max(0, budget - _expansion_size(expansion, self.sizes)) // max(1, len(rules))
            for child in expansion:
                child_budget = self.sizes[child.name] + share if isinstance(child, NonTerminal) else 0
                self.draw_symbol(data, child, draw_state, child_budget)
                self.gen_ignore(data, draw_state)
        finally:
            data.stop_span()


def _terminal_names(grammar: lark.Lark, start: str) -> set[str]:
    terminals, rules, ignored = grammar.grammar.compile([start], ())
    names = {t.name for t in terminals} | set(ignored)
    for rule in rules:
        names |= {s.name for s in rule.expansion if isinstance(s, Terminal)}
    return names


def _expansion_size(expansion: tuple, sizes: dict[str, int]) -> int:
    """Rule expansions needed at least: this one and its children's."""
    return 1 + sum(sizes.get(s.name, 10**6) for s in expansion if isinstance(s, NonTerminal))


def _min_sizes(expansions: dict[str, list[tuple]]) -> dict[str, int]:
    """The least number of rule expansions each rule needs (a fixed point)."""
    sizes: dict[str, int] = {}
    changed = True
    while changed:
        changed = False
        for name, options in expansions.items():
            best = min(_expansion_size(e, sizes) for e in options)
            if best < sizes.get(name, 10**6):
                sizes[name] = best
                changed = True
    return sizes


def grammar_strategy(start: str, budget: int = 100) -> st.SearchStrategy[str]:
    return BoundedLarkStrategy(GRAMMAR, start, TOKENS, budget)


def _network_text(imports: bool, blocks: list[str], stmts: list[str], result: str) -> str:
    """A generated network body inside a fixed frame that gives it an input
    ``x`` and a target, so that generated expressions get elaborated."""
    head = 'import "targets/ultra96.seg"\n' if imports else ""
    target = " on ultra96_codenet" if imports else ""
    body = "".join(f"    {stmt}\n" for stmt in stmts)
    network = f"network fuzz{target} {{\n    input x: [3, 16, 16]\n{body}    output out = {result}\n}}\n"
    return head + "".join(blocks) + "\n" + network


WHOLE_FILES = grammar_strategy("start")
NETWORKS = st.builds(
    _network_text, st.booleans(), st.lists(grammar_strategy("block_def"), max_size=2),
    st.lists(grammar_strategy("_net_stmt"), max_size=4), grammar_strategy("expr"),
)
# Plain from_lark as well (whole files only: it discards many deep draws, see above).
GENERATED = st.one_of(WHOLE_FILES, NETWORKS, from_lark(GRAMMAR, explicit=TOKENS))
GENERATED_PATH = str(EXAMPLES / "generated.seg")  # imports resolve in examples/


@fuzz_settings(120)
@given(text=GENERATED)
def test_generated_text_fails_only_with_seg_error(text: str) -> None:
    with time_limit(HANG_SECONDS):
        parse_or_none(text)
        load_or_seg_error(text, GENERATED_PATH)


@fuzz_settings(120)
@given(text=GENERATED)
def test_generated_text_formats_stably(text: str) -> None:
    with time_limit(HANG_SECONDS):
        check_format_roundtrip(text)


def test_generated_text_mostly_parses() -> None:
    """The token strategies are meant to make parseable programs (otherwise
    the format property tests nothing): most of 40 draws must parse."""
    parsed = 0

    @settings(max_examples=40, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(text=GENERATED)
    def count(text: str) -> None:
        nonlocal parsed
        parsed += parse_or_none(text) is not None

    count()
    assert parsed >= 30


# ------------------------------------------------------------------ mutated examples
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


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with copies of examples/blocks and examples/targets, so that a
    mutated example written there still finds its imports."""
    folder = tmp_path_factory.mktemp("fuzz_cli")
    for sub in ("blocks", "targets"):
        shutil.copytree(EXAMPLES / sub, folder / sub)
    return folder


def _example_id(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def user_network(original: Path) -> str:
    """For a library file (blocks or a target, no network): a network that
    uses its definitions, appended to its mutants so that they are
    elaborated, not only parsed.  Empty for a file with a network."""
    items = parse_text(original.read_text(encoding="utf-8")).items
    if any(isinstance(item, ast.NetworkDef) for item in items):
        return ""
    targets = [item.name for item in items if isinstance(item, ast.TargetDef)]
    calls = "".join(f" -> {item.name}(16)" for item in items if isinstance(item, ast.BlockDef))
    on = f" on {targets[0]}" if targets else ""
    return f"\nnetwork library_user{on} {{\n    input x: [3, 32, 32]\n    output o = x{calls} -> conv(8, k=3)\n}}\n"


@pytest.mark.parametrize("original", ALL_SEG_FILES, ids=_example_id)
def test_library_files_load_with_their_user_network(original: Path) -> None:
    """The unmutated file plus its user network is a valid program."""
    text = original.read_text(encoding="utf-8") + user_network(original)
    assert segc.loads(text, str(original), default_network(original)) is not None


@pytest.mark.parametrize("original", ALL_SEG_FILES, ids=_example_id)
@fuzz_settings(40)
@given(data=st.data())
def test_mutated_example_fails_only_with_seg_error(original: Path, cli_dir: Path, data: st.DataObject) -> None:
    text = data.draw(mutated(original.read_text(encoding="utf-8"))) + user_network(original)
    with time_limit(HANG_SECONDS):
        graph = load_or_seg_error(text, str(original), default_network(original))
        if graph is not None:
            check_print_roundtrip(graph)
        check_format_roundtrip(text)
        copy = cli_dir / f"mutated_{original.name}"
        copy.write_text(text, encoding="utf-8")
        check_cli(copy)


# ------------------------------------------------------------------ adversarial inputs
def _network(body: str, before: str = "") -> str:
    return f"{before}network n {{\n    input x: [3, 8, 8]\n{body}\n}}\n"


def _exponential_blocks(levels: int) -> str:
    """Block b0 calls b1 twice, b1 calls b2 twice, ...: 2**levels layers."""
    blocks = [f"block b{i}(x) {{\n    return add(x -> b{i + 1}(), x -> b{i + 1}())\n}}\n" for i in range(levels)]
    return "".join(blocks) + f"block b{levels}(x) {{\n    return x -> relu\n}}\n"


ADVERSARIAL = {
    "parentheses_200": _network(f"    y = {'(' * 200}x{')' * 200} -> relu\n    output o = y"),
    "parentheses_5000": _network(f"    y = {'(' * 5000}x{')' * 5000} -> relu\n    output o = y"),
    "negations_5000": _network(f"    c = {'-' * 5000}8\n    output o = x -> conv(c, k=1)"),
    "nested_lists_3000": _network(f"    c = {'[' * 3000}{']' * 3000}\n    output o = x"),
    "nested_ifs_200": _network(f"    c = {'if true { ' * 200}4{' } else { 1 }' * 200}\n"
                               "    output o = x -> conv(c, k=1)"),
    "sum_of_5000": _network(f"    c = 1{' + 1' * 5000}\n    output o = x -> conv(c, k=1)"),
    "chain_of_5000": _network(f"    y = x{' -> relu' * 5000}\n    output o = y"),
    "comprehension_100000": _network("    ys = [x -> b() for i in range(100000)]\n    output o = concat(*ys)",
                                     "block b(x) {\n    return x -> relu\n}\n"),
    "range_too_long": _network("    ys = [x -> relu for i in range(100001)]\n    output o = x"),
    "huge_int_shape": "network n {\n    input x: [3, 1000000000000000000000000000000, 8]\n    output o = x\n}\n",
    "huge_int_channels": _network("    output o = x -> conv(1000000000000000000000000000000, k=3)"),
    "max_int_everything": "network n {\n    input x: [2147483647, 2147483647, 2147483647]\n"
                          "    output o = x -> conv(2147483647, k=3) -> flatten\n}\n",
    "float_1e999": _network("    output o = x -> conv(1e999, k=3)"),
    "quantity_1e999": 'target t {\n    clock = 1e999 MHz\n}\n' + _network("    output o = x", ""),
    "empty_file": "",
    "only_comments": "# nothing\n# but comments\n",
    "only_whitespace": " \n\t\r\n  ",
    "nul_byte_in_code": _network("    output o = x\x00"),
    "nul_byte_in_comment": _network("    # \x00\n    output o = x"),
    "nul_byte_in_string": _network('    output o = x -> upsample(2, mode="bi\x00linear")'),
    "control_characters": _network("    output o = x\x0b\x1b"),
    "unicode_name": _network("    é = x\n    output o = é"),
    "lone_carriage_returns": _network("    y = x -> relu\r    output o = y").replace("\n", "\r"),
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
    text = _exponential_blocks(30) + _network("    output o = x -> b0()")
    with time_limit(EXPANSION_SECONDS), pytest.raises(SegError, match="more than 250,000 layers"):
        segc.loads(text)


def test_network_past_the_counting_threshold_is_counted_then_built() -> None:
    """14 levels: 2**14 + 2**14 - 1 + 2 = 32,769 layers, more than the 20,000
    from which layers are counted before they are built."""
    graph = segc.loads(_exponential_blocks(14) + _network("    output o = x -> b0()"))
    assert len(list(graph.nodes())) == 2**14 + (2**14 - 1) + 2


def test_exponential_block_expansion_within_limits_is_built() -> None:
    """12 levels: 2**12 relu layers and 2**12 - 1 adds (plus input and output)."""
    graph = segc.loads(_exponential_blocks(12) + _network("    output o = x -> b0()"))
    assert len(list(graph.nodes())) == 2**12 + (2**12 - 1) + 2


def test_chain_of_5000_is_built() -> None:
    graph = segc.loads(ADVERSARIAL["chain_of_5000"])
    assert len(list(graph.nodes())) == 5000 + 2  # input, 5000 relus, output


@pytest.mark.parametrize("example", [p for p in ALL_SEG_FILES if p.parent == EXAMPLES], ids=_example_id)
def test_crlf_line_endings_give_the_same_graph(example: Path) -> None:
    text, network = example.read_text(encoding="utf-8"), default_network(example)
    lf = segc.loads(text, str(example), network)
    crlf = segc.loads(text.replace("\n", "\r\n"), str(example), network)
    assert segc.to_json(crlf) == segc.to_json(lf)
    assert [(n.name, n.span and (n.span.line, n.span.column)) for n in crlf.nodes()] == \
        [(n.name, n.span and (n.span.line, n.span.column)) for n in lf.nodes()]


@pytest.mark.parametrize("example", [p for p in ALL_SEG_FILES if p.parent == EXAMPLES], ids=_example_id)
def test_tabs_for_indentation_give_the_same_graph(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    tabbed = re.sub(r"(?m)^ {4}", "\t", text).replace(" = ", "\t=\t")
    network = default_network(example)
    tabbed_json = segc.to_json(segc.loads(tabbed, str(example), network))
    assert tabbed_json == segc.to_json(segc.loads(text, str(example), network))


def test_crlf_error_points_at_the_right_place() -> None:
    err = _seg_error(_network("    output o = x -> nosuchop").replace("\n", "\r\n"))
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


# ------------------------------------------------------------------ regressions: bugs the fuzzers found
BIG = "1" + "0" * 400  # 10**400: an integer beyond a float's range
LONG = "9" * 5000  # beyond Python's 4,300-digit limit for int <-> str


@pytest.mark.parametrize("text", [
    _network(f"    output o = x -> conv({LONG}, k=1)"),
    f"target t {{\n    clock = {LONG} MHz\n}}\n",
], ids=["int", "quantity"])
def test_very_long_integer_literal_is_a_seg_error(text: str) -> None:
    parse_or_none(text)


@pytest.mark.parametrize("use", ["x -> conv(d, k=1)", "x -> upsample(d)", "x -> relu -> b([1][d])", "float(d)"],
                         ids=["attribute", "scale", "index", "float"])
def test_very_long_integer_result_is_a_seg_error(use: str) -> None:
    """``d`` has 6,000 digits: 3,000-digit ``c`` squared."""
    text = _network(f"    c = {'9' * 3000}\n    d = c * c\n    output o = {use}", "block b(x, i) {\n    return x\n}\n")
    load_or_seg_error(text, "<bug>")


@pytest.mark.parametrize("expression", [f"{BIG} + 1.5", f"{BIG} * 0.5", f"{BIG} / 3"])
def test_float_overflow_in_arithmetic_is_a_seg_error(expression: str) -> None:
    load_or_seg_error(_network(f"    c = {expression}\n    output o = x"), "<bug>")


def test_range_of_huge_integer_is_a_seg_error() -> None:
    load_or_seg_error(_network(f"    c = range({BIG})\n    output o = x"), "<bug>")


@pytest.mark.parametrize("field, value", [("dsp", BIG), ("line_buffer", BIG), ("clock", f"{BIG} MHz"),
                                          ("word", f"{BIG} bit")])
def test_target_field_beyond_float_range_is_a_seg_error(field: str, value: str) -> None:
    target = (EXAMPLES / "targets" / "ultra96.seg").read_text(encoding="utf-8")
    target = re.sub(rf"(?m)^(\s*{field}\s*=).*$", lambda m: f"{m.group(1)} {value}", target)
    assert value in target
    load_or_seg_error(target + _network("    output o = x").replace("network n", "network n on ultra96_codenet"),
                      "<bug>")


def test_import_path_with_nul_byte_is_a_seg_error() -> None:
    load_or_seg_error('import "\x00"\n', str(EXAMPLES / "generated.seg"))


def test_prune_rate_beyond_float_range_is_a_seg_error() -> None:
    load_or_seg_error(_network("    output o = x -> conv(4, k=1)") + f"prune n {{\n    o: {BIG}\n}}\n", "<bug>")


def run_isolated(text: str, folder: Path) -> subprocess.CompletedProcess:
    """``segc check`` on the text in a separate process, with a time and a
    memory limit (a hang in C code, such as a huge multiplication, cannot be
    interrupted in-process)."""
    resource = pytest.importorskip("resource")

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (GROWTH_MEMORY, GROWTH_MEMORY))

    path = folder / "growth.seg"
    path.write_text(text, encoding="utf-8")
    try:
        return subprocess.run([sys.executable, "-m", "segc.cli", "check", str(path)], capture_output=True,
                              text=True, timeout=GROWTH_SECONDS, preexec_fn=limit_memory, check=False)
    except subprocess.TimeoutExpired:
        raise Hang(f"segc check still running after {GROWTH_SECONDS} s") from None


def _doubling(first: str, step: str, times: int) -> str:
    """``v0 = first`` then ``v1 = v0 OP v0`` ... : a value that doubles in size per line."""
    lines = [f"    v0 = {first}"] + [f"    v{i + 1} = v{i} {step} v{i}" for i in range(times)]
    return _network("\n".join(lines) + "\n    output o = x")


def test_squaring_integers_is_stopped(tmp_path: Path) -> None:
    result = run_isolated(_doubling("10", "*", 30), tmp_path)
    assert result.returncode == 1 and "error:" in result.stderr and "internal error" not in result.stderr


def test_doubling_strings_is_stopped(tmp_path: Path) -> None:
    result = run_isolated(_doubling('"ab"', "+", 40), tmp_path)
    assert result.returncode == 1 and "error:" in result.stderr and "internal error" not in result.stderr


def test_growth_within_limits_is_fine(tmp_path: Path) -> None:
    """The isolated run itself works: 4 squarings (10**16, inside segc's ±2^62 integers) are accepted."""
    result = run_isolated(_doubling("10", "*", 4), tmp_path)
    assert result.returncode == 0, result.stderr


KEEP_PATTERN = 'network n {\n    input x: [3, 8, 8]\n    keep = x -> conv(4, k=1)\n    output o = keep\n}\n\n' \
               'prune n {\n    "keep": 0.5\n}\n'


def test_format_keeps_keyword_pattern_quoted() -> None:
    check_format_roundtrip(KEEP_PATTERN)


def test_printed_graph_keeps_keyword_pattern_quoted() -> None:
    graph = segc.loads(KEEP_PATTERN)
    assert segc.to_json(segc.loads(segc.to_seg(graph))) == segc.to_json(graph)
