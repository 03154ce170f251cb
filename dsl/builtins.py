"""Built-in compile-time functions: ``channels(t)``, ``height(t)``,
``width(t)``, ``len(list)``, ``min``/``max`` (of numbers or one list),
``range(stop)``/``range(start, stop[, step])``, ``int(x)``, ``float(x)``."""

from __future__ import annotations

from collections.abc import Callable

from .values import Tensor, type_name

__all__ = ["BUILTINS", "MAX_LIST", "BuiltinError"]

MAX_LIST = 100_000


class BuiltinError(ValueError):
    """A built-in was called wrongly; ``arg`` is the offending argument's index."""

    def __init__(self, message: str, arg: int | None = None):
        super().__init__(message)
        self.arg = arg


def _count(name: str, args: tuple, low: int, high: int) -> None:
    if not low <= len(args) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise BuiltinError(f"{name}() takes {want} argument{'s' if high != 1 else ''}, got {len(args)}")


def _tensor_dim(name: str, index: int) -> Callable:
    def dim(*args):
        _count(name, args, 1, 1)
        if not isinstance(args[0], Tensor):
            raise BuiltinError(f"{name}() needs a tensor, got {type_name(args[0])}", 0)
        return args[0].shape[index]
    return dim


def _len(*args):
    _count("len", args, 1, 1)
    if not isinstance(args[0], (tuple, str)):
        raise BuiltinError(f"len() needs a list or a string, got {type_name(args[0])}", 0)
    return len(args[0])


def _numbers(name: str, args: tuple) -> tuple:
    values = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
    if not values:
        raise BuiltinError(f"{name}() needs at least one number")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BuiltinError(f"{name}() needs numbers, got {type_name(value)}", i if len(args) > 1 else 0)
    return values


def _range(*args):
    _count("range", args, 1, 3)
    for i, value in enumerate(args):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BuiltinError(f"range() needs integers, got {type_name(value)}", i)
    bounds = range(*args) if args[-1] != 0 or len(args) < 3 else None
    if bounds is None:
        raise BuiltinError("range() step must not be zero", 2)
    if len(bounds) > MAX_LIST:
        raise BuiltinError(f"range() would make {len(bounds)} items; at most {MAX_LIST} are allowed")
    return tuple(bounds)


def _convert(name: str, kind: type) -> Callable:
    def convert(*args):
        _count(name, args, 1, 1)
        value = args[0]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BuiltinError(f"{name}() needs a number, got {type_name(value)}", 0)
        try:
            return kind(value)
        except (OverflowError, ValueError):
            raise BuiltinError(f"{name}() cannot convert {value}", 0) from None
    return convert


BUILTINS: dict[str, Callable] = {
    "channels": _tensor_dim("channels", 0),
    "height": _tensor_dim("height", 1),
    "width": _tensor_dim("width", 2),
    "len": _len,
    "min": lambda *args: min(_numbers("min", args)),
    "max": lambda *args: max(_numbers("max", args)),
    "range": _range,
    "int": _convert("int", int),
    "float": _convert("float", float),
}
