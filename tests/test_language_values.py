"""The ``.seg`` language's values: compile-time arithmetic and precedence,
comparisons, short-circuit logic, lists, comprehensions, ``*spread``,
indexing, dicts and the built-in functions."""

from __future__ import annotations

import pytest
from seg_text import bool_value, float_value, int_value, network

import segc
from segc import SegError


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
