"""A compact, immutable mapping for per-layer annotations that many layers
hold with the same keys (``cost``): the values in one tuple, the keys (and
each key's position) in one dict shared by every record of the same keys,
in order.  A 100,000-layer network keeps a tuple per layer instead of a
dict with its own key table (its ``cost`` annotations: 44 MiB as dicts,
23 MiB as records).

It reads like the dict it was made from (``record["rule"]``, ``get``,
``in``, ``items``, ``{**record}``, equality with a dict) and keeps its key
order; :func:`plain` turns it back into a dict for JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Record", "plain"]

_POSITIONS: dict[tuple[str, ...], dict[str, int]] = {}  # keys, in order -> each key's position (shared)


class Record(Mapping):
    """An immutable mapping of the keys and values of ``fields``, in order."""

    __slots__ = ("_positions", "_values")

    def __init__(self, fields: Mapping[str, Any]):
        keys = tuple(fields)
        positions = _POSITIONS.get(keys)
        if positions is None:
            positions = _POSITIONS.setdefault(keys, {key: i for i, key in enumerate(keys)})
        self._positions = positions
        self._values = tuple(fields.values())

    def __getitem__(self, key: str) -> Any:
        return self._values[self._positions[key]]

    def get(self, key: str, default: Any = None) -> Any:
        position = self._positions.get(key)
        return default if position is None else self._values[position]

    def __contains__(self, key: object) -> bool:
        return key in self._positions

    def __iter__(self) -> Iterator[str]:
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Record({dict(self)!r})"

    def __reduce__(self):
        return Record, (dict(self),)


def plain(value: Any) -> Any:
    """A record as a dict (in its key order); any other value as it is."""
    return dict(value) if isinstance(value, Record) else value
