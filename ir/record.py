"""A read-only mapping for per-layer annotations (``cost``): a ``dict``
that refuses changes, so that reading it is a dict's lookup (a report
reads a 100,000-layer network's ``cost`` entries millions of times) and it
keeps its key order.

It reads like the dict it was made from (``record["rule"]``, ``get``,
``in``, ``items``, ``{**record}``, equality with a dict); :func:`plain`
turns it back into a plain dict for JSON.
"""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["Record", "plain"]


class Record(dict):
    """An immutable mapping of the keys and values of ``fields``, in order."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a Record is read-only: make a new one")

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Record({dict(self)!r})"

    def __reduce__(self):
        return Record, (dict(self),)

    def __copy__(self) -> Record:
        return self

    def __deepcopy__(self, memo: dict) -> Record:
        from copy import deepcopy

        return Record(deepcopy(dict(self), memo))


def plain(value: Any) -> Any:
    """A record as a dict (in its key order); any other value as it is."""
    return dict(value) if isinstance(value, Record) else value
