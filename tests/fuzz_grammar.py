"""Hypothesis strategies for .seg text generated from segc's own grammar:
``hypothesis.extra.lark.from_lark`` on ``seg.lark``, with realistic tokens
for the terminals hypothesis cannot generate (lookaround regexes),
whitespace after every token, and the size of the derivation tree bounded.

Not a test module: imported by ``test_fuzz_generated`` (whole programs) and
``fuzz_mutations`` (expressions spliced into examples).
"""

from __future__ import annotations

from importlib import resources

import lark
from hypothesis import strategies as st
from hypothesis.extra.lark import LarkStrategy, from_lark
from lark.grammar import NonTerminal, Terminal

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
