"""What a root file defines but nothing uses, and mistakes in definitions
elaboration would never reach.

* A target the network does not run on is still checked (its fields, units
  and ranges), so a broken target is reported where it is written.
* A block of the root file that no network or block calls gets a warning
  (it is never elaborated, so its mistakes could not be reported).
"""

from __future__ import annotations

import dataclasses
import functools

from ..ir import Diagnostic, SegError
from . import ast
from .evaluate import ExprEvaluator
from .loader import Program
from .targets import lower_target

__all__ = ["unused_block_warnings", "unused_target_errors"]


def _called(modules: list[ast.Module]) -> set[str]:
    """Every name called anywhere (iteratively: chains may be thousands deep)."""
    names: set[str] = set()
    stack: list[object] = [item for module in modules for item in module.items]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            names.add(node.func)
        if isinstance(node, tuple | list):
            stack.extend(node)
        else:
            stack.extend(getattr(node, name) for name in _children(type(node)))
    return names


@functools.cache
def _children(kind: type) -> tuple[str, ...]:
    """The fields of an AST node type that can hold other nodes (no spans); none for other types."""
    if not dataclasses.is_dataclass(kind):
        return ()
    return tuple(f.name for f in dataclasses.fields(kind) if not f.name.endswith("span"))


def unused_block_warnings(program: Program) -> list[Diagnostic]:
    """A warning for each root-file block nothing calls."""
    called = _called(program.modules)
    return [Diagnostic(f"block '{item.name}' is never used", item.name_span, severity="warning")
            for item in program.root.items if isinstance(item, ast.BlockDef) and item.name not in called]


def unused_target_errors(program: Program, used: str | None) -> list[Diagnostic]:
    """The mistakes of the root file's targets other than ``used``."""
    errors: list[Diagnostic] = []
    for item in program.root.items:
        if isinstance(item, ast.TargetDef) and item.name != used:
            try:
                lower_target(item, ExprEvaluator())
            except SegError as err:
                errors += err.diagnostics
    return errors
