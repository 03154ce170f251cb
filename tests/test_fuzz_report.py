"""Fuzzed programs through ``segc check`` and ``segc report`` in-process:
grammar-generated programs (``fuzz_grammar``) and mutated examples
(``fuzz_mutations``).  Each run exits 0 (``report`` then prints a report)
or 1 with a clean error that names the file and, when the error has a
place, begins with its ``file:line:col``; never a traceback or an internal
error; nothing hangs (``fuzz_checks.check_and_report``).  ``SEGC_FUZZ_EXAMPLES`` sets the number of
examples (see ``fuzz_checks``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, NETWORK_EXAMPLES
from fuzz_checks import ACCEPTED, CLEAN, check_and_report, copy_example_imports, example_id, fuzz_settings
from fuzz_grammar import GENERATED
from fuzz_mutations import mutated
from hypothesis import given
from hypothesis import strategies as st

# Small networks only: a report of ResNet-18 alone takes longer than a fuzz example should.
REPORTED = [p for p in NETWORK_EXAMPLES if p.name in ("tiny.seg", "tiny_seg.seg", "codenet_shufflenet.seg")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example_imports(tmp_path_factory.mktemp("fuzz_report"))


@fuzz_settings(25)
@given(text=GENERATED)
def test_generated_program_checks_and_reports_cleanly(folder: Path, text: str) -> None:
    path = folder / "generated.seg"
    path.write_text(text, encoding="utf-8")
    assert check_and_report(path) in CLEAN


@pytest.mark.parametrize("original", REPORTED, ids=example_id)
@fuzz_settings(15)
@given(data=st.data())
def test_mutated_example_checks_and_reports_cleanly(folder: Path, original: Path, data: st.DataObject) -> None:
    path = folder / f"mutated_{original.name}"
    path.write_text(data.draw(mutated(original.read_text(encoding="utf-8"))), encoding="utf-8")
    assert check_and_report(path) in CLEAN


def test_the_unmutated_examples_report() -> None:
    """The control case: the examples themselves are accepted with a report."""
    assert len(REPORTED) == 3 and all(EXAMPLES in p.parents for p in REPORTED)
    for original in REPORTED:
        assert check_and_report(original) == ACCEPTED
