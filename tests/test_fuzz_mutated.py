"""Fuzz tests on mutated examples (edits in ``fuzz_mutations``): every file
of ``examples/`` with random edits, loaded through the API and the CLI; block
and target files with a network that uses them appended.  A mutant either
loads or fails with a SegError, within a time limit; one that loads also
prints (``to_seg``) to text that loads back to the same graph.
``SEGC_FUZZ_EXAMPLES`` sets the number of examples (see ``fuzz_checks``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ALL_SEG_FILES, default_network
from fuzz_checks import (
    HANG_SECONDS,
    check_cli,
    check_format_roundtrip,
    check_print_roundtrip,
    copy_example_imports,
    example_id,
    first_span,
    fuzz_settings,
    load_or_seg_error,
    network_option,
    time_limit,
)
from fuzz_mutations import mutated
from hypothesis import given
from hypothesis import strategies as st

import segc
from segc.dsl import ast, parse_text


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example_imports(tmp_path_factory.mktemp("fuzz_cli"))


def user_network(original: Path) -> str:
    """For a library file (blocks or a target, no network): a network that
    uses its definitions, appended to its mutants so that they are
    elaborated, not only parsed.  Empty for a file with a network."""
    items = parse_text(original.read_text(encoding="utf-8")).items
    if any(isinstance(item, ast.NetworkDef) for item in items):
        return ""
    targets = [item.name for item in items if isinstance(item, ast.TargetDef)]
    calls = "".join(f" -> {item.name}(16)" for item in items if isinstance(item, ast.BlockDef))
    on = f" on {targets[0]}" if targets else ""
    return f"\nnetwork library_user{on} {{\n    input x: [3, 32, 32]\n    output o = x{calls} -> conv(8, k=3)\n}}\n"


@pytest.mark.parametrize("original", ALL_SEG_FILES, ids=example_id)
def test_library_files_load_with_their_user_network(original: Path) -> None:
    """The unmutated file plus its user network is a valid program."""
    text = original.read_text(encoding="utf-8") + user_network(original)
    assert segc.loads(text, str(original), default_network(original)) is not None


@pytest.mark.parametrize("original", ALL_SEG_FILES, ids=example_id)
@fuzz_settings(40)
@given(data=st.data())
def test_mutated_example_fails_only_with_seg_error(original: Path, cli_dir: Path, data: st.DataObject) -> None:
    text = data.draw(mutated(original.read_text(encoding="utf-8"))) + user_network(original)
    with time_limit(HANG_SECONDS):
        graph = load_or_seg_error(text, str(original), default_network(original))
        if graph is not None:
            check_print_roundtrip(graph)
        check_format_roundtrip(text)
        copy = cli_dir / f"mutated_{original.name}"
        copy.write_text(text, encoding="utf-8")
        check_cli(copy, "check", *network_option(original), span=first_span(copy, default_network(original)))
