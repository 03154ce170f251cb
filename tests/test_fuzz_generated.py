"""Fuzz tests on grammar-generated programs (strategies in ``fuzz_grammar``):
whatever the text, segc either succeeds or raises a SegError, nothing hangs,
and text that parses formats stably (formatting is idempotent and keeps the
syntax tree).  ``SEGC_FUZZ_EXAMPLES`` sets the number of examples (see
``fuzz_checks``).
"""

from __future__ import annotations

from conftest import EXAMPLES
from fuzz_checks import (
    HANG_SECONDS,
    check_format_roundtrip,
    fuzz_settings,
    load_or_seg_error,
    parse_or_none,
    time_limit,
)
from fuzz_grammar import GENERATED
from hypothesis import HealthCheck, given, settings

GENERATED_PATH = str(EXAMPLES / "generated.seg")  # imports resolve in examples/


@fuzz_settings(120)
@given(text=GENERATED)
def test_generated_text_fails_only_with_seg_error(text: str) -> None:
    with time_limit(HANG_SECONDS):
        parse_or_none(text)
        load_or_seg_error(text, GENERATED_PATH)


@fuzz_settings(120)
@given(text=GENERATED)
def test_generated_text_formats_stably(text: str) -> None:
    with time_limit(HANG_SECONDS):
        check_format_roundtrip(text)


def test_generated_text_mostly_parses() -> None:
    """The token strategies are meant to make parseable programs (otherwise
    the format property tests nothing): most of 40 draws must parse."""
    parsed = 0

    @settings(max_examples=40, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(text=GENERATED)
    def count(text: str) -> None:
        nonlocal parsed
        parsed += parse_or_none(text) is not None

    count()
    assert parsed >= 30
