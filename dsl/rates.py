"""Rates files for ``segc prune --rates FILE``: the statements of a ``.seg``
``prune`` section, one per line, without the section around them.

    # comments run to the end of a line
    layer1.*: 0.3          # PATTERN: RATE, the fraction of channels to remove
    layer4.*.conv1: 0.5    # the last rule matching a layer wins
    keep conv1, fc         # keep PATTERN, PATTERN, ...

Patterns are the globs of :mod:`segc.ir.directives` (``*``, ``?``, ``[...]``),
optionally in double quotes.  Rates are in [0, 1).  Whether each pattern
names layers of the network is checked when the rates are applied.

A file whose first statement is not one of these is not taken for a rates
file: its error gives the position only, never the file's text.
"""

from __future__ import annotations

import re

from ..ir import Diagnostic, KeepRule, PruneDirectives, PruneRule, SegError, SourceFile
from ..ir.files import given_directly

__all__ = ["parse_rates"]

_PATTERN = r'"[^"\n]*"|[A-Za-z0-9_.*?\[\]!]+'
_RULE = re.compile(rf"(?P<pattern>{_PATTERN})\s*:\s*(?P<rate>\S+)")
_KEEP = re.compile(r"keep\s+(?P<patterns>.+)")
_ONE = re.compile(rf"\s*(?P<pattern>{_PATTERN})\s*(?:,|$)")
_NUMBER = re.compile(r"(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def _keep(source: SourceFile, start: int, text: str) -> list[KeepRule]:
    rules, position = [], 0
    while position < len(text):
        match = _ONE.match(text, position)
        if match is None or match.end() == position:
            raise SegError(Diagnostic("expected a layer-name pattern after 'keep'", source.span(start + position)))
        rules.append(KeepRule(match["pattern"].strip('"'), source.span(start + match.start("pattern"),
                                                                        start + match.end("pattern"))))
        position = match.end()
    return rules


def _rule(source: SourceFile, start: int, match: re.Match) -> PruneRule:
    text = match["rate"]
    span = source.span(start + match.start("rate"), start + match.end("rate"))
    if not _NUMBER.fullmatch(text):
        raise SegError(Diagnostic(f"expected a pruning rate (a number in [0, 1)), got '{text}'", span))
    rate = float(text)
    if not 0.0 <= rate < 1.0:
        raise SegError(Diagnostic(f"a pruning rate must be at least 0 and below 1, got {rate:g}", span))
    pattern_span = source.span(start + match.start("pattern"), start + match.end("pattern"))
    return PruneRule(match["pattern"].strip('"'), rate, pattern_span)


def _statement(body: str) -> bool:
    """Whether a line reads as a rates statement (its rate a number, in
    range or not)."""
    rule = _RULE.fullmatch(body)
    return bool(_KEEP.fullmatch(body) or (rule and _NUMBER.fullmatch(rule["rate"])))


def _not_rates(source: SourceFile, start: int) -> SegError:
    """The error, position only, for a file whose first statement is not one
    (perhaps not a rates file at all)."""
    line, column = source.location(start)
    return SegError(Diagnostic("not a rates file: its first statement is not 'PATTERN: RATE' or 'keep PATTERN, "
                               "...' (its text is not shown)", path=f"{source.path}:{line}:{column}"))


def parse_rates(text: str, path: str) -> PruneDirectives:
    """The rules and keep patterns of a rates file (every line's mistake is
    reported, at its position)."""
    source = SourceFile(path, text)
    rules: list[PruneRule] = []
    keeps: list[KeepRule] = []
    errors: list[Diagnostic] = []
    offset, first = 0, True
    hide = not given_directly(path)
    for line in text.splitlines(keepends=True):
        body = line.split("#", 1)[0].rstrip()
        start = offset + len(body) - len(body.lstrip())
        body = body.strip()
        offset += len(line)
        if not body:
            continue
        if first and hide and not _statement(body):
            raise _not_rates(source, start)
        first = False
        try:
            keep, rule = _KEEP.fullmatch(body), _RULE.fullmatch(body)
            if keep and not rule:
                keeps += _keep(source, start + keep.start("patterns"), keep["patterns"])
            elif rule:
                rules.append(_rule(source, start, rule))
            else:
                raise SegError(Diagnostic("expected 'PATTERN: RATE' or 'keep PATTERN, ...'", source.span(start)))
        except SegError as err:
            errors += err.diagnostics
    if errors:
        raise SegError(errors)
    if not rules and not keeps:
        raise SegError(Diagnostic("the rates file has no 'PATTERN: RATE' line", path=path))
    return PruneDirectives(tuple(rules), tuple(keeps))
