"""Hierarchical layer names, as PyTorch names submodules.

Elaboration records a tree of scopes: the network, each network-level
statement (``stem = ...`` opens scope ``stem``), and each block call.
Layers and block calls are named within their scope when it is complete:

* an explicit name (``conv(64) as proj``, or a statement's variable) is
  used as given;
* unnamed block calls are numbered ``0, 1, 2, …`` like ``nn.Sequential``;
* unnamed layers are named after their op: ``conv`` when the scope has one
  conv, ``conv1, conv2, …`` (in order) when it has several; an op whose
  name ends in a digit gets an underscore before the number (``relu6_1,
  relu6_2``: ``relu61`` would read as op ``relu61`` or as ``relu`` 61);
* a scope holding exactly one unnamed thing gives that thing its own name
  (``fc = x -> linear(1000)`` names the layer ``fc``).

Numbers skip names already taken explicitly.  Full names join the path with
dots: ``res5.0.conv1``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..ir import Diagnostic, Note, SegError, Span

__all__ = ["Pending", "Scope", "assign_names"]


@dataclass(slots=True)
class Pending:
    """A layer whose name is not known yet."""

    id: int
    op: str
    inputs: tuple[int, ...]
    attrs: dict
    shape: object
    span: Span | None
    trace: tuple[Span, ...]
    explicit: str | None = None
    explicit_span: Span | None = None


@dataclass
class Scope:
    """A network, a network-level statement, or a block call."""

    explicit: str | None
    span: Span | None
    children: list[Pending | Scope] = field(default_factory=list)
    is_root: bool = False
    explicit_span: Span | None = None


def _local_names(scope: Scope) -> list[str]:
    """The name of each child, in order."""
    names: list[str | None] = [c.explicit for c in scope.children]
    taken = {n for n in names if n is not None}
    groups: dict[str, list[int]] = defaultdict(list)
    block_index = 0
    for i, child in enumerate(scope.children):
        if names[i] is not None:
            continue
        if isinstance(child, Scope):
            while str(block_index) in taken:
                block_index += 1
            names[i] = str(block_index)
            block_index += 1
        else:
            groups[child.op].append(i)
    for op, members in groups.items():
        if len(members) == 1 and op not in taken:
            names[members[0]] = op
            continue
        number = 1
        for i in members:
            while _numbered(op, number) in taken:
                number += 1
            names[i] = _numbered(op, number)
            number += 1
    return names  # type: ignore[return-value]


def _numbered(op: str, number: int) -> str:
    """The name of the ``number``-th unnamed ``op`` of a scope: ``conv2``, ``relu6_2``."""
    return f"{op}_{number}" if op[-1].isdigit() else f"{op}{number}"


def _walk(scope: Scope, prefix: str, out: list[tuple[Pending, str]]) -> None:
    children = scope.children
    if not scope.is_root and len(children) == 1 and children[0].explicit is None:
        _place(children[0], prefix, out)
        return
    for child, local in zip(children, _local_names(scope)):
        _place(child, f"{prefix}.{local}" if prefix else local, out)


def _place(child: Pending | Scope, name: str, out: list[tuple[Pending, str]]) -> None:
    if isinstance(child, Scope):
        _walk(child, name, out)
    else:
        out.append((child, name))


def assign_names(root: Scope) -> dict[int, str]:
    """Layer id → full name; two layers with one name is an error."""
    placed: list[tuple[Pending, str]] = []
    _walk(root, "", placed)
    names: dict[int, str] = {}
    first: dict[str, Pending] = {}
    errors = []
    for pending, name in placed:
        if name in first:
            other = first[name]
            errors.append(Diagnostic(
                f"two layers would both be named '{name}'; name one with 'as'",
                pending.explicit_span or pending.span,
                (Note("the other one is here", other.explicit_span or other.span),),
            ))
            continue
        first[name] = pending
        names[pending.id] = name
    if errors:
        raise SegError(errors)
    return names
