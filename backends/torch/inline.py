"""Source files of this package written into generated modules (``source.py``):
their code less docstrings, ``__all__`` and imports of each other, and the
names they define.  This module imports nothing from torch."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

__all__ = ["defined_names", "file_text", "inlined_source"]


def file_text(name: str) -> str:
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


@functools.cache
def inlined_source(names: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The imports and the code of the files ``names`` (in this order), to
    inline in a generated module."""
    imports: list[str] = []
    code: list[str] = []
    for name in names:
        text = file_text(name)
        lines = text.splitlines()
        skipped: set[int] = set()
        for statement in ast.parse(text).body:
            span = range(statement.lineno - 1, statement.end_lineno)
            if isinstance(statement, ast.Import) or (isinstance(statement, ast.ImportFrom) and statement.level == 0):
                if getattr(statement, "module", None) != "__future__":
                    imports.append("\n".join(lines[i] for i in span))
                skipped.update(span)
            elif isinstance(statement, ast.ImportFrom) or _is_docstring_or_all(statement):
                skipped.update(span)
        code.append("\n".join(line for i, line in enumerate(lines) if i not in skipped).strip("\n"))
    return tuple(dict.fromkeys(imports)), "\n\n\n" + "\n\n\n".join(code)


def _is_docstring_or_all(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return isinstance(statement.value.value, str)
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)


def defined_names(texts: list[str]) -> set[str]:
    """The names module-level statements of ``texts`` import or define."""
    names: set[str] = set()
    for statement in (s for text in texts for s in ast.parse(text).body):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in statement.names)
        elif isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names
