"""Compile-time values of the ``.seg`` language.

Integers, floats, booleans and strings are Python's own; lists are tuples,
dicts are ``dict``.  A :class:`Tensor` stands for a layer's output during
elaboration; a :class:`Quantity` is a number with a physical unit, stored
in the base unit of its kind.  :data:`POISON` is the value of anything that
failed, so one mistake is reported once, not at every later use.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Shape

__all__ = ["POISON", "Quantity", "Tensor", "is_poison", "type_name"]


@dataclass(frozen=True, slots=True)
class Tensor:
    """The output of a layer under construction (``id`` indexes the builder)."""

    id: int
    shape: Shape


@dataclass(frozen=True)
class Quantity:
    value: float  # in the kind's base unit: Hz, bytes/s, bits
    kind: str  # "frequency", "rate" or "size"
    text: str  # as written, for messages


class _Poison:
    def __repr__(self) -> str:
        return "POISON"


POISON = _Poison()


def is_poison(value: object) -> bool:
    if value is POISON:
        return True
    if isinstance(value, tuple):
        return any(is_poison(v) for v in value)
    return False


def type_name(value: object) -> str:
    """A value's type as the language calls it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    if isinstance(value, Tensor):
        return "a tensor"
    if isinstance(value, Quantity):
        return f"a {value.kind}"
    return "nothing"
