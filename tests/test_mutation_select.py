"""benchmarks/mutation_select.py: which tests a mutant's run keeps, on a
small module whose functions and lines are numbered by hand."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "mutation_select.py"
spec = importlib.util.spec_from_file_location("mutation_select", SCRIPT)
select = importlib.util.module_from_spec(spec)
spec.loader.exec_module(select)

MODULE = '''\
LIMIT = 3


def outer(x, y=LIMIT):
    total = x + y

    def inner(z):
        return z * 2

    return inner(total)


@decorated
def short(a): return a - 1


def annotated(
    a: int = 4,
) -> int:
    return (lambda b: b + 1)(a)
'''
# Lines: 1 LIMIT; 4 def outer, 5 total, 7 def inner, 8 its return, 10 outer's return;
# 13 @decorated, 14 a one-line def; 17-19 a signature over three lines, 20 a lambda in the body.


def test_changed_lines_are_the_original_lines_that_differ():
    original = "a\nb\nc\nd\n"
    assert select.changed_lines(original, "a\nB\nc\nd\n") == {2}
    assert select.changed_lines(original, "a\nb\nc\nd\n") == set()
    assert select.changed_lines(original, "a\nc\nd\n") == {2}  # a line taken out


def test_the_function_around_a_line_by_hand():
    tree = ast.parse(MODULE)
    assert select.function_around(tree, 5) == 4
    assert select.function_around(tree, 10) == 4
    assert select.function_around(tree, 7) == 4  # the inner def line runs in outer
    assert select.function_around(tree, 8) == 7
    assert select.function_around(tree, 20) == 17  # a lambda counts as its enclosing function
    for outside in (1, 4, 13, 14, 17, 18, 19):  # module level, signatures, a one-line def
        assert select.function_around(tree, outside) is None, outside


RECORD = {"tests": ["t::calls_outer", "t::calls_inner_only", "t::calls_nothing", "t::spawns"],
          "calls": {"t::calls_outer": [4, 7], "t::calls_inner_only": [7], "t::calls_nothing": [], "t::spawns": []},
          "spawns": ["t::spawns"]}


def mutate(line: int, text: str) -> str:
    lines = MODULE.splitlines(keepends=True)
    lines[line - 1] = text + "\n"
    return "".join(lines)


def test_tests_that_called_the_changed_function_and_those_that_spawn():
    changed_outer = mutate(5, "    total = x - y")
    assert select.tests_to_run(RECORD, MODULE, changed_outer) == ["t::calls_outer", "t::spawns"]
    changed_inner = mutate(8, "        return z / 2")
    assert select.tests_to_run(RECORD, MODULE, changed_inner) == ["t::calls_outer", "t::calls_inner_only",
                                                                 "t::spawns"]


def test_every_test_when_the_change_is_outside_a_body_or_absent():
    assert select.tests_to_run(RECORD, MODULE, mutate(1, "LIMIT = 4")) == RECORD["tests"]
    assert select.tests_to_run(RECORD, MODULE, mutate(18, "    a: int = 5,")) == RECORD["tests"]
    assert select.tests_to_run(RECORD, MODULE, MODULE) == RECORD["tests"]


def test_a_function_no_test_called_runs_only_the_spawning_tests():
    record = {**RECORD, "spawns": []}
    assert select.tests_to_run(record, MODULE, mutate(20, "    return (lambda b: b - 1)(a)")) == []
