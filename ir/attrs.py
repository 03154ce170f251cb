"""Attribute schemas: each op declares its attributes once, with kind,
default and valid range; :meth:`Attr.coerce` turns a user's value into the
canonical IR value or raises :class:`AttrError` with a message for the user.

Canonical values: ``int``, ``float``, ``bool``, ``str`` (enums), and
``tuple[int, int]`` for (height, width) pairs such as kernel and stride.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["REQUIRED", "Attr", "AttrError", "pair"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
MAX_INT = 2**31 - 1


class AttrError(ValueError):
    """An attribute value a user gave is of the wrong kind or out of range;
    ``attr`` names the attribute when one is to blame."""

    def __init__(self, message: str, attr: str | None = None):
        super().__init__(message)
        self.attr = attr


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    if isinstance(value, int) and abs(value) >= 10**18:
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, (int, float)) or value is None:
        return str(value)
    if isinstance(value, dict):
        return "a dict"
    text = getattr(value, "text", None)  # a quantity such as 200 MHz
    return text if isinstance(text, str) else f"a {type(value).__name__.lower()}"


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """An int or a pair as a (height, width) pair."""
    return (value, value) if _is_int(value) else (int(value[0]), int(value[1]))


@dataclass(frozen=True)
class Attr:
    """One attribute of an op.

    kind: ``int``, ``float``, ``bool``, ``enum``, ``pair`` (int or [h, w]),
    ``padding`` ("same", "valid", int or [h, w]), ``scale`` (number or [h, w])
    or ``opt_float`` (a float or absent).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def coerce(self, value: Any) -> Any:
        return getattr(self, f"_coerce_{self.kind}")(value)

    def _fail(self, value: Any, expected: str) -> AttrError:
        hint = ""
        if expected.endswith(")"):
            expected, hint = expected.rsplit(" (", 1)
            hint = f" ({hint}"
        return AttrError(f"'{self.name}' must be {expected}, got {_describe(value)}{hint}", self.name)

    def _check_min(self, value: float, expected: str) -> None:
        if value != value:  # NaN
            raise self._fail(value, expected)
        if self.minimum is not None and value < self.minimum:
            raise self._fail(value, expected)
        if abs(value) > MAX_INT:
            raise self._fail(value, f"{expected} (at most {MAX_INT})")

    def _min_text(self, noun: str) -> str:
        if self.minimum is None:
            return ("an " if noun[0] in "aeiou" else "a ") + noun
        if self.minimum == 0:
            return f"a non-negative {noun}"
        if self.minimum == 1:
            return f"a positive {noun}"
        return f"{noun} >= {self.minimum:g}"

    def _coerce_int(self, value: Any) -> int:
        expected = self._min_text("integer")
        if isinstance(value, float) and value.is_integer():
            raise self._fail(value, expected + " (use // for integer division)")
        if not _is_int(value):
            raise self._fail(value, expected)
        self._check_min(value, expected)
        return value

    def _coerce_float(self, value: Any) -> float:
        expected = self._min_text("number")
        if not _is_number(value):
            raise self._fail(value, expected)
        self._check_min(value, expected)
        return float(value)

    def _coerce_opt_float(self, value: Any) -> float | None:
        return None if value is None else self._coerce_float(value)

    def _coerce_bool(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self._fail(value, "true or false")
        return value

    def _coerce_enum(self, value: Any) -> str:
        if value not in self.choices or not isinstance(value, str):
            options = ", ".join(f'"{c}"' for c in self.choices)
            raise self._fail(value, f"one of {options}")
        return value

    def _coerce_pair(self, value: Any) -> tuple[int, int]:
        expected = self._min_text("integer") + " or a pair [h, w] of them"
        items = value if isinstance(value, (list, tuple)) else [value, value]
        if any(isinstance(v, float) and v.is_integer() for v in items):
            raise self._fail(value, expected + " (use // for integer division)")
        if len(items) != 2 or not all(_is_int(v) for v in items):
            raise self._fail(value, expected)
        for item in items:
            self._check_min(item, expected)
        return (items[0], items[1])

    def _coerce_padding(self, value: Any) -> str | tuple[int, int]:
        if value == "valid":
            return (0, 0)  # the same thing; one canonical form
        if value == "same":
            return value
        try:
            return self._coerce_pair(value)
        except AttrError:
            raise self._fail(value, '"same", "valid", a non-negative integer or a pair [h, w] of them') from None

    def _coerce_scale(self, value: Any) -> tuple[float, float] | None:
        if value is None:
            return None
        items = value if isinstance(value, (list, tuple)) else [value, value]
        if len(items) != 2 or not all(_is_number(v) and 0 < v <= 1024 for v in items):  # also rejects NaN
            raise self._fail(value, "a positive number (at most 1024) or a pair [h, w] of them")
        return (float(items[0]), float(items[1]))
