"""The passes by name, and pipeline strings: ``deform{bound=auto},tile{mode=paper},cost``.

An option value is converted to the type of the pass's field of that name
(int, float, bool as true/false, str); a pipeline string with an unknown
pass or option, or a value of the wrong kind, is a SegError naming it.
"""

from __future__ import annotations

import dataclasses
import difflib
import re

from ..ir import Diagnostic, SegError
from .base import Pass
from .cost import CostPass
from .deform import DeformPass
from .prune import PrunePass
from .tile import TilePass

__all__ = ["PASSES", "parse_pipeline"]

PASSES: dict[str, type[Pass]] = {p.name: p for p in (DeformPass, TilePass, CostPass, PrunePass)}

_STEP = re.compile(r"\s*([A-Za-z][\w-]*)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def _fail(spec: str, message: str) -> SegError:
    return SegError(Diagnostic(f"pipeline '{spec}': {message}"))


def _convert(spec: str, cls: type[Pass], key: str, text: str) -> object:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if key not in fields:
        known = ", ".join(fields) or "none"
        raise _fail(spec, f"pass '{cls.name}' has no option '{key}' (options: {known})")
    kind = str(fields[key].type)
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            if text not in ("true", "false"):
                raise ValueError(text)
            return text == "true"
    except ValueError:
        raise _fail(spec, f"option '{key}' of pass '{cls.name}' must be a {kind}, got '{text}'") from None
    if kind == "str":
        return text
    raise _fail(spec, f"option '{key}' of pass '{cls.name}' cannot be set in a pipeline string")


def parse_pipeline(spec: str) -> list[Pass]:
    """The passes a pipeline string names, with their options."""
    passes: list[Pass] = []
    position = 0
    while position < len(spec):
        match = _STEP.match(spec, position)
        if match is None or match.end() == position:
            raise _fail(spec, f"cannot read it from character {position + 1} on")
        name, options = match.group(1), match.group(2)
        if name not in PASSES:
            close = difflib.get_close_matches(name, PASSES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (passes: {', '.join(PASSES)})"
            raise _fail(spec, f"unknown pass '{name}'{hint}")
        cls = PASSES[name]
        kwargs = {}
        for item in filter(None, (o.strip() for o in (options or "").split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise _fail(spec, f"option '{item}' of pass '{name}' needs a value: {item}=...")
            kwargs[key.strip()] = _convert(spec, cls, key.strip(), value.strip())
        passes.append(cls(**kwargs))
        position = match.end()
    if not passes:
        raise _fail(spec, "names no pass")
    return passes
