"""Fuzzed programs through ``segc check`` and ``segc report`` in-process:
grammar-generated programs (``fuzz_grammar``) and mutated examples
(``fuzz_mutations``).  Each run exits 0 (``report`` then prints a report)
or 1 with a clean error whose first line names the file, at
``file:line:col`` when the error has a place in it; never a traceback or an
internal error; nothing hangs.  ``SEGC_FUZZ_EXAMPLES`` sets the number of
examples (see ``fuzz_checks``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, NETWORK_EXAMPLES
from fuzz_checks import (
    HANG_SECONDS,
    check_cli,
    copy_example_imports,
    example_id,
    first_span,
    fuzz_settings,
    run_cli,
    time_limit,
)
from fuzz_grammar import GENERATED
from fuzz_mutations import mutated
from hypothesis import given
from hypothesis import strategies as st

# Small networks only: a report of ResNet-18 alone takes longer than a fuzz example should.
REPORTED = [p for p in NETWORK_EXAMPLES if p.name in ("tiny.seg", "tiny_seg.seg", "codenet_shufflenet.seg")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example_imports(tmp_path_factory.mktemp("fuzz_report"))


def check_and_report(path: Path) -> None:
    """``check`` then ``report`` on the file: clean either way; a report when accepted."""
    span = first_span(path)
    with time_limit(HANG_SECONDS):
        check_cli(path, "check", span=span)
        code, out = check_cli(path, "report", span=span)
    if code == 0:
        assert "latency_ms" in out, out


@fuzz_settings(25)
@given(text=GENERATED)
def test_generated_program_checks_and_reports_cleanly(folder: Path, text: str) -> None:
    path = folder / "generated.seg"
    path.write_text(text, encoding="utf-8")
    check_and_report(path)


@pytest.mark.parametrize("original", REPORTED, ids=example_id)
@fuzz_settings(15)
@given(data=st.data())
def test_mutated_example_checks_and_reports_cleanly(folder: Path, original: Path, data: st.DataObject) -> None:
    path = folder / f"mutated_{original.name}"
    path.write_text(data.draw(mutated(original.read_text(encoding="utf-8"))), encoding="utf-8")
    check_and_report(path)


def test_the_unmutated_examples_report() -> None:
    """The control case: the examples themselves are accepted with a report."""
    for original in REPORTED:
        assert first_span(original) is None
        code, out, err = run_cli(["report", str(original)])
        assert (code, err) == (0, "") and "latency_ms" in out
    assert len(REPORTED) == 3 and EXAMPLES in REPORTED[0].parents
