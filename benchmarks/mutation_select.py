"""The test command of ``benchmarks/mutation.py``: runs only the tests that can
see a mutant.

    python mutation_select.py --module M --original COPY --record FILE -- PYTEST-ARGS...

The first run (cosmic-ray's baseline, on the unmutated module) runs every
test and records, per test, which functions of the module it called, and
whether it started a process (whose calls a trace here cannot see). Each
later run compares the module with the pristine ``COPY`` to find the changed
lines, and runs the tests that called the function around them, plus every
test that started a process. A test that never called that function runs
exactly as it did unmutated, so leaving it out loses no kill. A change
outside any function body (module level, a class body, a signature's
defaults, a decorator) runs every test; a function that no test called
survives without a run.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import sys
import threading
from pathlib import Path

import pytest

# Stop at the first failure; no cache, no workers, no hypothesis plugin (its
# import is a third of a run; @given tests still run without it).
PYTEST_OPTIONS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest",
                  "-W", "ignore::pytest.PytestAssertRewriteWarning")
# Audit events of a test that starts another process or forks.
SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.system",
                          "os.exec", "os.spawn"})


class Recorder:
    """A pytest plugin: per test, the first lines of the module's functions it
    called, and whether it started a process."""

    def __init__(self, module: Path) -> None:
        self.filename = os.path.realpath(module)
        self.resolved: dict[str, bool] = {}  # a code file's name: whether it is the module (through links)
        self.test: str | None = None
        self.order: list[str] = []
        self.calls: dict[str, set[int]] = {}
        self.spawns: set[str] = set()

    def trace(self, frame, event, arg):
        if self.test is None:
            return
        name = frame.f_code.co_filename
        if name not in self.resolved:
            self.resolved[name] = os.path.realpath(name) == self.filename
        if self.resolved[name]:
            self.calls[self.test].add(frame.f_code.co_firstlineno)

    def audit(self, event: str, args) -> None:
        if self.test is not None and event in SPAWN_EVENTS:
            self.spawns.add(self.test)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.test = item.nodeid
        self.order.append(item.nodeid)
        self.calls[item.nodeid] = set()
        sys.settrace(self.trace)
        threading.settrace(self.trace)
        try:
            yield
        finally:
            sys.settrace(None)
            threading.settrace(None)
            self.test = None

    def record(self) -> dict:
        return {"tests": self.order, "calls": {test: sorted(lines) for test, lines in self.calls.items()},
                "spawns": sorted(self.spawns)}


def changed_lines(original: str, current: str) -> set[int]:
    """1-based lines of ``original`` that differ in ``current``."""
    matcher = difflib.SequenceMatcher(None, original.splitlines(), current.splitlines(), autojunk=False)
    lines: set[int] = set()
    for tag, start, end, _, _ in matcher.get_opcodes():
        if tag != "equal":
            lines.update(range(start + 1, max(end, start + 1) + 1))
    return lines


def function_around(tree: ast.Module, line: int) -> int | None:
    """The first line (its code object's) of the innermost function whose
    body holds ``line``, or None outside any body. A line shared with the
    signature (defaults, annotations, evaluated where the function is
    defined) and lambdas count as the enclosing code."""
    found, start = None, 0
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        signature = [node.lineno, *(n.end_lineno for n in ast.walk(node.args) if hasattr(n, "end_lineno"))]
        if node.returns is not None:
            signature.append(node.returns.end_lineno)
        body_start = node.body[0].lineno
        if max(signature) < line <= node.end_lineno and body_start <= line and body_start >= start:
            found, start = min([node.lineno, *(d.lineno for d in node.decorator_list)]), body_start
    return found


def tests_to_run(record: dict, original: str, current: str) -> list[str]:
    """The recorded tests that can see the change from ``original`` to ``current``."""
    lines = changed_lines(original, current)
    tree = ast.parse(original)
    functions = {function_around(tree, line) for line in lines}
    if not lines or None in functions:
        return record["tests"]
    spawns = set(record["spawns"])
    return [test for test in record["tests"]
            if test in spawns or functions.intersection(record["calls"][test])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", type=Path, required=True, help="the mutated module")
    parser.add_argument("--original", type=Path, required=True, help="a pristine copy of the module")
    parser.add_argument("--record", type=Path, required=True, help="the first run's record (written if absent)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: the module's test files or ids, and options such as --deselect ID")
    args = parser.parse_args(argv)
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if not args.record.exists():
        recorder = Recorder(args.module)
        sys.addaudithook(recorder.audit)
        status = pytest.main([*PYTEST_OPTIONS, *pytest_args], plugins=[recorder])
        args.record.write_text(json.dumps(recorder.record()), encoding="utf-8")
        return int(status)
    record = json.loads(args.record.read_text(encoding="utf-8"))
    original = args.original.read_text(encoding="utf-8")
    tests = tests_to_run(record, original, args.module.read_text(encoding="utf-8"))
    return int(pytest.main([*PYTEST_OPTIONS, *tests])) if tests else 0


if __name__ == "__main__":
    sys.exit(main())
