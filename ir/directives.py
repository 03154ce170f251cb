"""Compiler directives: decisions about a network kept apart from its
architecture (the ``prune`` and ``deform`` sections of a ``.seg`` file), read
by passes.

Layer-name patterns are globs over hierarchical names: ``*`` matches any
run of characters (dots included), ``?`` one character, ``[...]`` a set.
When several rate rules match a layer, the last one wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from .diagnostics import Span

__all__ = ["DeformDirectives", "DeformRule", "Directives", "PruneDirectives", "PruneRule", "matches"]


def matches(pattern: str, name: str) -> bool:
    return fnmatchcase(name, pattern)


@dataclass(frozen=True)
class PruneRule:
    """Prune the fraction ``rate`` of the output channels of matching layers."""

    pattern: str
    rate: float
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class KeepRule:
    """Never prune matching layers."""

    pattern: str
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PruneDirectives:
    rules: tuple[PruneRule, ...] = ()
    keep: tuple[KeepRule, ...] = ()

    def rate_for(self, name: str) -> float | None:
        """The rate the last matching rule gives, or None."""
        rate = None
        for rule in self.rules:
            if matches(rule.pattern, name):
                rate = rule.rate
        return rate

    def is_kept(self, name: str) -> bool:
        return any(matches(k.pattern, name) for k in self.keep)


@dataclass(frozen=True)
class OptionRule:
    """Options (name, value) for the layers ``pattern`` matches; ``spans``
    gives where each value is written."""

    pattern: str
    options: tuple[tuple[str, object], ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)
    spans: tuple[tuple[str, Span | None], ...] = field(default=(), compare=False, repr=False)

    def value_span(self, option: str) -> Span | None:
        return dict(self.spans).get(option, self.span)


@dataclass(frozen=True)
class DeformRule(OptionRule):
    """Set the variant of matching deformable layers: ``options`` for
    ``bound`` (an integer, "auto" or "none"), ``shape`` ("full" or
    "square") and ``round`` (a bool)."""


@dataclass(frozen=True)
class DeformDirectives:
    rules: tuple[DeformRule, ...] = ()

    def rules_for(self, name: str) -> list[DeformRule]:
        """The rules matching a layer, in order (later ones win)."""
        return [rule for rule in self.rules if matches(rule.pattern, name)]


@dataclass(frozen=True)
class Directives:
    prune: PruneDirectives | None = None
    deform: DeformDirectives | None = None
