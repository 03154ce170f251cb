"""Semantics of the ``.seg`` language, observed through the graphs it builds.

Covers compile-time arithmetic and precedence, comparisons, short-circuit
logic, ``if`` expressions (only the taken branch makes layers), blocks with
default and keyword arguments, ``->`` chaining, multi-input ops, lists,
comprehensions, ``*spread``, indexing, dicts, the built-in functions,
imports (relative, nested, diamond), comments, choosing among several
networks, ``on TARGET``, the ``prune`` section, warnings for unused
statements, and op options (``upsample(to=)``, dconv, global pooling,
grouped convolutions).

Expressions are observed through attributes: an integer ``E`` as
``conv(1000 + (E), k=1)`` (out - 1000), a boolean as ``conv(bias=E)``, a
positive number as ``bn(eps=E)``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import segc
from segc import SegError

OFFSET = 1000


def network(body: str, blocks: str = "", inputs: str = "input x: [16, 8, 8]", name: str = "n") -> str:
    """A network ``name`` whose statements are ``body`` (one per line)."""
    return f"{blocks}\nnetwork {name} {{\n    {inputs}\n{body}\n}}\n"


def int_value(expr: str) -> int:
    graph = segc.loads(network(f"output y = x -> conv({OFFSET} + ({expr}), k=1)", inputs="input x: [1, 1, 1]"))
    return graph.node("y").attrs["out"] - OFFSET


def bool_value(expr: str) -> bool:
    graph = segc.loads(network(f"output y = x -> conv(1, k=1, bias={expr})", inputs="input x: [1, 1, 1]"))
    return graph.node("y").attrs["bias"]


def float_value(expr: str) -> float:
    graph = segc.loads(network(f"output y = x -> bn(eps={expr})", inputs="input x: [1, 1, 1]"))
    return graph.node("y").attrs["eps"]


def ops(graph) -> list[str]:
    return [n.op for n in graph.nodes()]


# ---------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(("expr", "expected"), [
    ("-2 * 3 + 4 // 2 % 3", (-2 * 3) + ((4 // 2) % 3)),
    ("2 + 3 * 4", 14),
    ("(2 + 3) * 4", 20),
    ("10 - 4 - 3", 3),
    ("10 - (4 - 3)", 9),
    ("2 * 3 // 4", 1),
    ("2 * (3 // 4)", 0),
    ("-7 // 2", -4),
    ("-7 % 3", 2),
    ("7 % -3", -2),
    ("--5", 5),
    ("-(2 + 3)", -5),
    ("17 % 5 * 2", 4),
])
def test_integer_arithmetic_and_precedence(expr: str, expected: int) -> None:
    assert int_value(expr) == expected


@pytest.mark.parametrize(("expr", "expected"), [
    ("7 / 2", 3.5),
    ("1 / 4", 0.25),
    ("0.5 * 3", 1.5),
    ("1.5 + 1", 2.5),
    ("1e-5", 0.00001),
    ("2.5e2", 250.0),
    ("7.5 // 2", 3.0),
    ("7.5 % 2", 1.5),
])
def test_float_arithmetic(expr: str, expected: float) -> None:
    assert float_value(expr) == expected


def test_true_division_gives_a_float_even_when_exact() -> None:
    with pytest.raises(SegError, match="//"):
        int_value("4 / 2")
    assert int_value("4 // 2") == 2


def test_division_by_zero_is_an_error() -> None:
    for expr in ("1 // 0", "1 % 0", "1 / 0"):
        with pytest.raises(SegError, match="division by zero"):
            int_value(expr)


# ---------------------------------------------------------------- comparisons and logic
@pytest.mark.parametrize(("expr", "expected"), [
    ("3 < 4", True),
    ("4 < 4", False),
    ("4 <= 4", True),
    ("5 > 6", False),
    ("6 >= 6", True),
    ("2 == 2", True),
    ("2 == 2.0", True),
    ("1 != 2", True),
    ('"a" < "b"', True),
    ('"ab" == "ab"', True),
    ("1 + 2 == 3", True),
    ("2 * 3 > 5 and 1 < 0", False),
    ("1 < 0 or 2 > 1", True),
    ("not 1 < 0", True),
    ("not true or true", True),
    ("not (true or true)", False),
    ("true or false and false", True),
    ("(true or false) and false", False),
])
def test_comparisons_and_logic(expr: str, expected: bool) -> None:
    assert bool_value(expr) is expected


def test_comparisons_do_not_chain() -> None:
    with pytest.raises(SegError):
        bool_value("1 < 2 < 3")


@pytest.mark.parametrize("expr", ["false and (1 // 0 == 0)", "1 > 2 and (1 // 0 == 0)"])
def test_and_short_circuits(expr: str) -> None:
    assert bool_value(expr) is False


def test_or_short_circuits() -> None:
    assert bool_value("true or (1 // 0 == 0)") is True


def test_right_operand_runs_when_needed() -> None:
    with pytest.raises(SegError, match="division by zero"):
        bool_value("true and (1 // 0 == 0)")
    with pytest.raises(SegError, match="division by zero"):
        bool_value("false or (1 // 0 == 0)")


@pytest.mark.parametrize("expr", ["1 and true", "false or 0", "true and 0", "not 1", "if 1 { true } else { false }"])
def test_logic_needs_booleans(expr: str) -> None:
    with pytest.raises(SegError):
        bool_value(expr)


# ---------------------------------------------------------------- if expressions
def test_if_else_if_else_values() -> None:
    expr = "if {c} > 8 {{ 1 }} else if {c} > 4 {{ 2 }} else {{ 3 }}"
    assert [int_value(expr.format(c=c)) for c in (9, 8, 5, 4)] == [1, 2, 2, 3]


def test_untaken_branch_is_not_evaluated() -> None:
    assert int_value("if true { 7 } else { 1 // 0 }") == 7
    assert int_value("if false { 1 // 0 } else if true { 8 } else { 1 // 0 }") == 8


BRANCHY = """
block pick(x, c) {
    return if c > 8 {
        x -> conv(c, k=1)
    } else if c > 4 {
        x -> conv(c, k=3) -> bn -> relu
    } else {
        x
    }
}
"""


@pytest.mark.parametrize(("c", "expected_ops"), [
    (16, ["input", "conv", "output"]),
    (8, ["input", "conv", "bn", "relu", "output"]),
    (2, ["input", "output"]),
])
def test_only_the_taken_branch_makes_layers(c: int, expected_ops: list[str]) -> None:
    warnings: list = []
    graph = segc.loads(network(f"output y = x -> pick({c})", BRANCHY), warnings=warnings)
    assert ops(graph) == expected_ops
    assert warnings == []


RESIDUAL = """
block res(x, c, stride=1) {
    y = x -> conv(c, k=3, stride=stride) -> bn -> relu -> conv(c, k=3) -> bn
    s = if stride != 1 or channels(x) != c {
        x -> conv(c, k=1, stride=stride) -> bn
    } else {
        x
    }
    return add(y, s) -> relu
}
"""


@pytest.mark.parametrize(("call", "convs", "bns", "shortcut_stride"), [
    ("res(16)", 2, 2, None),
    ("res(16, stride=2)", 3, 3, (2, 2)),
    ("res(32)", 3, 3, (1, 1)),
    ("res(32, stride=2)", 3, 3, (2, 2)),
])
def test_projection_shortcut_only_when_needed(call: str, convs: int, bns: int, shortcut_stride) -> None:
    graph = segc.loads(network(f"output y = x -> {call}", RESIDUAL))
    assert ops(graph).count("conv") == convs
    assert ops(graph).count("bn") == bns
    pointwise = [n for n in graph.nodes() if n.op == "conv" and n.attrs["k"] == (1, 1)]
    if shortcut_stride is None:
        assert pointwise == []
        add = next(n for n in graph.nodes() if n.op == "add")
        assert add.inputs[1] == "x"
    else:
        assert len(pointwise) == 1
        assert pointwise[0].attrs["stride"] == shortcut_stride
        assert pointwise[0].inputs == ("x",)


# ---------------------------------------------------------------- blocks
BOTTLENECK = """
block b(x, c, mid=c // 4) {
    return x -> conv(mid, k=1) -> conv(c, k=1)
}
"""


@pytest.mark.parametrize(("call", "mid", "out"), [
    ("b(32)", 32 // 4, 32),
    ("b(32, mid=3)", 3, 32),
    ("b(c=64)", 64 // 4, 64),
    ("b(mid=5, c=12)", 5, 12),
    ("b(12, 5)", 5, 12),
])
def test_block_defaults_and_keywords(call: str, mid: int, out: int) -> None:
    graph = segc.loads(network(f"output y = x -> {call}", BOTTLENECK))
    convs = [n for n in graph.nodes() if n.op == "conv"]
    assert [c.attrs["out"] for c in convs] == [mid, out]
    assert graph.node("output.y").shape == (out, 8, 8)


def test_block_call_without_chain() -> None:
    graph = segc.loads(network("output y = b(x, 8)", BOTTLENECK))
    assert [n.attrs["out"] for n in graph.nodes() if n.op == "conv"] == [2, 8]


@pytest.mark.parametrize(("call", "message"), [
    ("b()", "needs argument 'c'"),
    ("b(8, wide=2)", "no parameter 'wide'"),
    ("b(8, c=8)", "given twice"),
    ("b(8, 2, 3)", "takes 3 argument"),
])
def test_block_argument_errors(call: str, message: str) -> None:
    with pytest.raises(SegError, match=message):
        segc.loads(network(f"output y = x -> {call}", BOTTLENECK))


def test_block_locals_do_not_leak() -> None:
    blocks = "block f(x) {\n    inner = x -> relu\n    return inner\n}\n"
    with pytest.raises(SegError, match="undefined name 'inner'"):
        segc.loads(network("a = x -> f()\n    output y = inner", blocks))


# ---------------------------------------------------------------- chains and multi-input ops
def test_chain_left_side_is_the_first_operand() -> None:
    body = "a = x -> relu\n    b = x -> sigmoid\n    c = a -> add(b)\n    d = add(b, a)\n    output y = concat(c, d)"
    graph = segc.loads(network(body))
    assert graph.node("c").inputs == ("a", "b")
    assert graph.node("d").inputs == ("b", "a")


def test_chain_into_conv_and_bare_ops() -> None:
    graph = segc.loads(network("output y = x -> conv(4, k=1) -> relu -> bn"))
    assert ops(graph) == ["input", "conv", "relu", "bn", "output"]
    first = graph.nodes()[1]
    assert first.inputs == ("x",)
    assert first.shape == (4, 8, 8)


def test_multi_input_add_and_concat() -> None:
    body = ("a = x -> relu\n    b = x -> sigmoid\n    c = x -> identity\n"
            "    s = add(a, b, c)\n    output y = concat(s, a, x -> conv(3, k=1))")
    graph = segc.loads(network(body))
    assert graph.node("s").inputs == ("a", "b", "c")
    assert graph.node("s").shape == (16, 8, 8)
    assert graph.node("output.y").shape == (16 + 16 + 3, 8, 8)


def test_add_of_different_shapes_is_an_error() -> None:
    with pytest.raises(SegError, match="same shape"):
        segc.loads(network("output y = add(x, x -> conv(4, k=1))"))


# ---------------------------------------------------------------- lists, comprehensions, dicts
ASPP = "rates = [6, 12, 18]\n    branches = [x -> conv(8, k=3, dilation=r) for r in rates]\n"


def test_comprehension_makes_one_branch_per_item_and_spread_concats_them() -> None:
    body = ASPP + "    output y = concat(x -> conv(8, k=1), *branches)"
    graph = segc.loads(network(body, inputs="input x: [16, 40, 40]"))
    dilated = [n for n in graph.nodes() if n.op == "conv" and n.attrs["k"] == (3, 3)]
    assert [n.attrs["dilation"] for n in dilated] == [(6, 6), (12, 12), (18, 18)]
    concat = next(n for n in graph.nodes() if n.op == "concat")
    assert len(concat.inputs) == 1 + 3
    assert list(concat.inputs[1:]) == [n.name for n in dilated]
    assert concat.shape == (8 * 4, 40, 40)


def test_list_concatenation_and_len() -> None:
    assert int_value("len([1, 2] + [3] + [])") == 3
    assert int_value("len([k * 2 for k in range(5)])") == 5
    assert int_value("[k * k for k in [1, 2, 3]][2]") == 9


@pytest.mark.parametrize(("index", "dilation"), [("0", 6), ("1", 12), ("-1", 18), ("-3", 6)])
def test_indexing(index: str, dilation: int) -> None:
    body = f"rates = [6, 12, 18]\n    output y = x -> conv(8, k=3, dilation=rates[{index}])"
    graph = segc.loads(network(body, inputs="input x: [16, 40, 40]"))
    assert graph.node("y").attrs["dilation"] == (dilation, dilation)


@pytest.mark.parametrize("index", ["3", "-4"])
def test_index_out_of_range(index: str) -> None:
    with pytest.raises(SegError, match="out of range"):
        int_value(f"[6, 12, 18][{index}]")


def test_dicts() -> None:
    assert int_value('{width: 16, depth: 2}["depth"]') == 2
    body = 'cfg = {width: 12, kernel: 3}\n    output y = x -> conv(cfg["width"], k=cfg["kernel"])'
    node = segc.loads(network(body)).node("y")
    assert (node.attrs["out"], node.attrs["k"]) == (12, (3, 3))


def test_dict_missing_key_and_duplicate_key() -> None:
    with pytest.raises(SegError, match="no key 'b'"):
        int_value('{a: 1}["b"]')
    with pytest.raises(SegError, match="twice"):
        int_value('{a: 1, a: 2}["a"]')


def test_pair_attributes_from_lists() -> None:
    graph = segc.loads(network("output y = x -> conv(4, k=[1, 3], stride=[1, 2])"))
    node = graph.node("y")
    assert node.attrs["k"] == (1, 3)
    assert node.shape == (4, 8, 4)


# ---------------------------------------------------------------- built-ins
@pytest.mark.parametrize(("expr", "expected"), [
    ("min(3, 5)", 3),
    ("min([9, 2, 4])", 2),
    ("max(3, 5, -1)", 5),
    ("max([1, 9, 4])", 9),
    ("len([])", 0),
    ('len("abcd")', 4),
    ("len(range(4))", 4),
    ("len(range(2, 10, 3))", len([2, 5, 8])),
    ("range(2, 10, 3)[-1]", 8),
    ("range(5, 0, -2)[1]", 3),
    ("int(7 / 2)", 3),
    ("int(-3.5)", -3),
    ("int(float(6))", 6),
])
def test_builtins_on_numbers(expr: str, expected: int) -> None:
    assert int_value(expr) == expected


def test_float_builtin() -> None:
    assert float_value("float(3) / 4") == 0.75


def test_tensor_builtins() -> None:
    body = "a = x -> conv(24, k=3, stride=2)\n    output y = a -> conv(channels(a) + height(a) + width(x), k=1)"
    graph = segc.loads(network(body, inputs="input x: [16, 20, 10]"))
    assert graph.node("y").attrs["out"] == 24 + 10 + 10


@pytest.mark.parametrize(("expr", "message"), [
    ("channels(3)", "needs a tensor"),
    ("len(5)", "needs a list"),
    ("range(0, 5, 0)[0]", "must not be zero"),
    ("min()", "at least one"),
    ('int("3")', "needs a number"),
])
def test_builtin_errors(expr: str, message: str) -> None:
    with pytest.raises(SegError, match=message):
        int_value(expr)


# ---------------------------------------------------------------- imports
def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_import_is_relative_to_the_importing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = 'import "deep/act.seg"\nblock cr(x, c) {\n    return x -> conv(c, k=1) -> act()\n}\n'
    write(tmp_path / "lib" / "blocks.seg", blocks)
    write(tmp_path / "lib" / "deep" / "act.seg", "block act(x) {\n    return x -> relu\n}\n")
    main = write(tmp_path / "main.seg", 'import "lib/blocks.seg"\n' + network("output y = x -> cr(4)"))
    monkeypatch.chdir(tmp_path / "lib" / "deep")
    graph = segc.load(str(main))
    assert ops(graph) == ["input", "conv", "relu", "output"]


def test_import_with_parent_folder(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "act.seg", "block act(x) {\n    return x -> sigmoid\n}\n")
    lib = 'import "../shared/act.seg"\nblock twice(x) {\n    return x -> act() -> act()\n}\n'
    write(tmp_path / "nets" / "lib.seg", lib)
    text = 'import "lib.seg"\n' + network("output y = x -> twice()")
    graph = segc.loads(text, path=str(tmp_path / "nets" / "main.seg"))
    assert ops(graph) == ["input", "sigmoid", "sigmoid", "output"]


def test_diamond_import_loads_the_shared_file_once(tmp_path: Path) -> None:
    write(tmp_path / "common" / "base.seg", "block base(x) {\n    return x -> relu\n}\n")
    write(tmp_path / "left.seg", 'import "common/base.seg"\nblock left(x) {\n    return x -> base()\n}\n')
    write(tmp_path / "right.seg", 'import "./common/base.seg"\nblock right(x) {\n    return x -> base()\n}\n')
    main = write(tmp_path / "main.seg", 'import "left.seg"\nimport "right.seg"\n'
                 + network("output y = add(x -> left(), x -> right())"))
    graph = segc.load(str(main))
    assert ops(graph).count("relu") == 2


def test_missing_import_is_an_error(tmp_path: Path) -> None:
    main = write(tmp_path / "main.seg", 'import "nowhere.seg"\n' + network("output y = x"))
    with pytest.raises(SegError, match="cannot read"):
        segc.load(str(main))


def test_import_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.seg", 'import "b.seg"\n')
    write(tmp_path / "b.seg", 'import "a.seg"\n')
    main = write(tmp_path / "main.seg", 'import "a.seg"\n' + network("output y = x"))
    with pytest.raises(SegError, match="import cycle"):
        segc.load(str(main))


def test_block_defined_twice_across_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.seg", "block f(x) {\n    return x\n}\n")
    main = write(tmp_path / "main.seg", 'import "a.seg"\nblock f(x) {\n    return x\n}\n' + network("output y = x"))
    with pytest.raises(SegError, match="defined twice"):
        segc.load(str(main))


# ---------------------------------------------------------------- comments
def test_comments_are_ignored_everywhere() -> None:
    text = """# leading comment
block f(x, # the input
        c) { # after the brace
    # before a statement
    y = x -> conv(c, # channels
                  k=1) # trailing
    return y # the result
} # end
network n { # header
    input x: [4, 8, 8] # the input
    output y = x -> f(# inside a call
        2)
}
# final comment"""
    graph = segc.loads(text)
    assert ops(graph) == ["input", "conv", "output"]
    assert graph.node("y").attrs["out"] == 2


def test_hash_inside_a_string_is_not_a_comment() -> None:
    text = 'target t {\n    device = "a # b"\n' + TARGET_FIELDS + "}\n" + network("output y = x").replace(
        "network n", "network n on t")
    assert segc.loads(text).target.device == "a # b"


# ---------------------------------------------------------------- several networks
TWO_NETWORKS = network("output y = x -> relu", name="first") + network("output y = x -> sigmoid", name="second")


def test_network_selection() -> None:
    assert ops(segc.loads(TWO_NETWORKS, network="first"))[1] == "relu"
    second = segc.loads(TWO_NETWORKS, network="second")
    assert second.name == "second"
    assert ops(second)[1] == "sigmoid"


def test_several_networks_need_a_choice() -> None:
    with pytest.raises(SegError, match="several networks"):
        segc.loads(TWO_NETWORKS)
    with pytest.raises(SegError, match="no network 'third'"):
        segc.loads(TWO_NETWORKS, network="third")


def test_imported_networks_are_not_candidates(tmp_path: Path) -> None:
    write(tmp_path / "other.seg", network("output y = x -> sigmoid", name="other"))
    main = write(tmp_path / "main.seg", 'import "other.seg"\n' + network("output y = x -> relu", name="mine"))
    assert segc.load(str(main)).name == "mine"
    assert segc.load(str(main), network="other").name == "other"


# ---------------------------------------------------------------- targets
TARGET_FIELDS = """    clock        = 200 MHz
    bandwidth    = 9.5 GB/s
    dsp          = 1518
    bram         = 2713
    bram_block   = 20 Kibit
    input_buffer = 128 KiB
    word         = 16 bit
    macs_per_dsp = 2
    unroll       = {pif: 16, pof: 32, pkx: 4}
"""


def test_on_target_attaches_the_target() -> None:
    text = "target acc {\n" + TARGET_FIELDS + "}\n" + network("output y = x").replace("network n", "network n on acc")
    target = segc.loads(text).target
    assert target.name == "acc"
    assert target.clock_hz == 200 * 10**6
    assert target.bandwidth == 9.5 * 10**9
    assert (target.dsp, target.bram, target.macs_per_dsp) == (1518, 2713, 2)
    assert target.bram_block_bits == 20 * 1024
    assert target.input_buffer_bits == 128 * 1024 * 8
    assert target.word_bits == 16
    assert (target.unroll.pif, target.unroll.pof, target.unroll.pkx, target.unroll.pky) == (16, 32, 4, 1)


def test_network_without_target_has_none() -> None:
    assert segc.loads(network("output y = x")).target is None


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(SegError, match="unknown target 'acc'"):
        segc.loads(network("output y = x").replace("network n", "network n on acc"))


# ---------------------------------------------------------------- prune
PRUNED = network(
    "a = x -> conv(8, k=1)\n    b = a -> conv(8, k=1) -> relu\n    c = b -> conv(8, k=1)\n    output y = c",
) + """
prune n {
    *: 0.1
    b.*: 0.5
    c: 0.25
    keep a, "b.conv"
}
"""


def test_prune_rules_and_keep_lists() -> None:
    prune = segc.loads(PRUNED).directives.prune
    assert [(r.pattern, r.rate) for r in prune.rules] == [("*", 0.1), ("b.*", 0.5), ("c", 0.25)]
    assert [k.pattern for k in prune.keep] == ["a", "b.conv"]


def test_rate_for_takes_the_last_matching_rule() -> None:
    prune = segc.loads(PRUNED).directives.prune
    assert prune.rate_for("a") == 0.1
    assert prune.rate_for("b.conv") == 0.5
    assert prune.rate_for("c") == 0.25
    assert prune.is_kept("a") and prune.is_kept("b.conv") and not prune.is_kept("c")


def test_network_without_prune_section_has_no_directives() -> None:
    assert segc.loads(network("output y = x")).directives.prune is None


@pytest.mark.parametrize(("rule", "message"), [("zzz*: 0.5", "matches no conv"), ("a: 1", "below 1")])
def test_bad_prune_rules(rule: str, message: str) -> None:
    text = network("a = x -> conv(8, k=1)\n    output y = a") + f"prune n {{\n    {rule}\n}}\n"
    with pytest.raises(SegError, match=message):
        segc.loads(text)


# ---------------------------------------------------------------- unused statements
def test_unused_statement_is_left_out_with_a_warning() -> None:
    warnings: list = []
    graph = segc.loads(network("dead = x -> conv(4, k=1)\n    output y = x -> relu"), warnings=warnings)
    assert ops(graph) == ["input", "relu", "output"]
    assert "dead" not in graph
    assert len(warnings) == 1
    assert warnings[0].severity == "warning"
    assert "'dead' is not used" in warnings[0].message
    assert warnings[0].span.line == 4  # blank line, 'network n {', the input, then 'dead = ...'


def test_partly_unused_statement_warns_with_a_count() -> None:
    warnings: list = []
    body = "pair = [x -> conv(4, k=1), x -> conv(5, k=1), x -> conv(6, k=1)]\n    output y = pair[1]"
    graph = segc.loads(network(body), warnings=warnings)
    assert [n.attrs["out"] for n in graph.nodes() if n.op == "conv"] == [5]
    assert [w.message for w in warnings] == [
        "2 of the layers made by 'pair' do not reach any output; they are left out"
    ]


def test_unused_input_warns() -> None:
    warnings: list = []
    segc.loads(network("input z: [1, 2, 2]\n    output y = x"), warnings=warnings)
    assert ["input 'z'" in w.message for w in warnings] == [True]


def test_used_statements_and_plain_values_do_not_warn() -> None:
    warnings: list = []
    segc.loads(network("k = 3\n    a = x -> conv(4, k=k)\n    output y = a"), warnings=warnings)
    assert warnings == []


# ---------------------------------------------------------------- op options
def test_upsample_to_another_tensor() -> None:
    body = "small = x -> maxpool(k=4)\n    output y = small -> upsample(to=x, mode=\"bilinear\")"
    graph = segc.loads(network(body, inputs="input x: [16, 12, 20]"))
    up = graph.node("y")
    assert up.inputs == ("small", "x")
    assert up.shape == (16, 12, 20)
    assert up.attrs["mode"] == "bilinear"
    assert up.attrs["scale"] is None


def test_upsample_by_a_scale() -> None:
    graph = segc.loads(network("output y = x -> upsample(2)"))
    assert graph.node("y").shape == (16, 16, 16)
    assert graph.node("y").attrs["mode"] == "nearest"


def test_dconv_options() -> None:
    body = 'output y = x -> dconv(16, k=3, groups=channels(x), bound=6, shape="square", round=true)'
    attrs = segc.loads(network(body)).node("y").attrs
    assert (attrs["bound"], attrs["shape"], attrs["round"], attrs["groups"]) == (6.0, "square", True, 16)


def test_dconv_defaults() -> None:
    attrs = segc.loads(network("output y = x -> dconv(8, k=3)")).node("y").attrs
    assert (attrs["bound"], attrs["shape"], attrs["round"], attrs["offset_groups"]) == (None, "full", False, 1)


@pytest.mark.parametrize(("call", "message"), [
    ('dconv(8, k=3, shape="circle")', "one of"),
    ('dconv(8, k=[3, 5], shape="square")', "square kernel"),
    ("dconv(8, k=3, bound=-1)", "non-negative"),
])
def test_dconv_errors(call: str, message: str) -> None:
    with pytest.raises(SegError, match=message):
        segc.loads(network(f"output y = x -> {call}"))


def test_global_average_pooling() -> None:
    graph = segc.loads(network("output y = x -> avgpool(global=true) -> flatten -> linear(10)"))
    pool = next(n for n in graph.nodes() if n.op == "avgpool")
    assert pool.shape == (16, 1, 1)
    assert graph.node("output.y").shape == (10, 1, 1)


def test_depthwise_and_grouped_conv() -> None:
    body = "dw = x -> conv(channels(x), k=3, groups=channels(x))\n    output y = dw -> conv(32, k=1, groups=4)"
    graph = segc.loads(network(body))
    assert graph.node("dw").attrs["groups"] == 16
    assert graph.node("dw").shape == (16, 8, 8)
    assert graph.node("y").attrs["groups"] == 4
    rows = {r.name: r for r in segc.summarize(graph)}
    assert rows["dw"].macs == 8 * 8 * 16 * (16 // 16) * 3 * 3
    assert rows["y"].params == 32 * (16 // 4) * 1 * 1


def test_groups_must_divide_channels() -> None:
    with pytest.raises(SegError, match="groups=3"):
        segc.loads(network("output y = x -> conv(12, k=1, groups=3)"))


def test_syntax_errors_are_reported_per_definition_up_to_ten() -> None:
    """Twelve networks, each with one syntax error on its third line: the
    first ten are reported, in order, each at its own line."""
    broken = "".join(f"network n{i} {{\n    input x: [3, 8, 8]\n    output y = x -> relu(\n}}\n" for i in range(12))
    with pytest.raises(segc.ir.SegError) as raised:
        segc.loads(broken)
    lines = [d.span.line for d in raised.value.diagnostics]
    assert lines == [4 * i + 4 for i in range(10)]


def test_a_block_nothing_calls_gets_a_warning() -> None:
    text = ("block used(x) {\n    return x -> relu\n}\n\nblock spare(x) {\n    return x -> nosuchop\n}\n\n"
            "network n {\n    input x: [3, 8, 8]\n    output y = x -> used()\n}\n")
    warnings: list = []
    segc.loads(text, warnings=warnings)
    assert [(w.message, w.span.line, w.severity) for w in warnings] == [("block 'spare' is never used", 5, "warning")]


@pytest.mark.parametrize(("call", "expected"), [
    # true typos of segc ops still get the op
    ("covn", "unknown op or block 'covn'; did you mean 'conv'?"),
    ("maxpol", "unknown op or block 'maxpol'; did you mean 'maxpool'?"),
    ("relu66", "unknown op or block 'relu66'; did you mean 'relu6'?"),
    # other frameworks' names for segc's ops
    ("Conv2d", "unknown op or block 'Conv2d'; did you mean 'conv'?"),
    ("batch_norm", "unknown op or block 'batch_norm'; did you mean 'bn'?"),
    ("deform_conv", "unknown op or block 'deform_conv'; did you mean 'dconv'?"),
    # one edit from a different op: say it is unsupported, never suggest the look-alike
    ("deconv", "transposed convolution ('deconv') is not supported"),
    ("ConvTranspose2d", "transposed convolution ('ConvTranspose2d') is not supported"),
    ("conv_transpose", "transposed convolution ('conv_transpose') is not supported"),
    ("upconv", "transposed convolution ('upconv') is not supported"),
    ("deconvv", "unknown op or block 'deconvv'; transposed convolution ('deconv') is not supported"),
    ("elu", "activation 'elu' is not supported; segc has relu, relu6 and sigmoid"),
    ("prelu", "activation 'prelu' is not supported"),
])
def test_unknown_op_suggestions_do_not_cross_to_other_ops(call: str, expected: str) -> None:
    with pytest.raises(SegError) as err:
        segc.loads(network(f"output y = x -> {call}(4)"))
    [diagnostic] = err.value.diagnostics
    assert diagnostic.message.startswith(expected)
    assert "did you mean 'dconv'" not in diagnostic.message or call == "deform_conv"
    assert "did you mean 'relu'" not in diagnostic.message
