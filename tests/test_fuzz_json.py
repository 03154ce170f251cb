"""JSON graphs (``segc export --to json`` of small examples) mutated with
knowledge of their structure (``fuzz_json``), then loaded by ``segc check``
and ``segc report``: each run accepts the graph or rejects it with a clean
error naming the file; never a traceback, an internal error or a hang.
``SEGC_FUZZ_EXAMPLES`` sets the number of examples (see ``fuzz_checks``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fuzz_checks import ACCEPTED, CLEAN, check_and_report, fuzz_settings
from fuzz_json import mutated_json, source_graphs, value_paths
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return source_graphs(tmp_path_factory.mktemp("json_sources"))


@fuzz_settings(40)
@given(data=st.data())
def test_mutated_json_graph_fails_cleanly(graphs: dict[str, dict], tmp_path_factory, data: st.DataObject) -> None:
    original = graphs[data.draw(st.sampled_from(sorted(graphs)))]
    path = tmp_path_factory.getbasetemp() / "mutated.json"
    path.write_bytes(data.draw(mutated_json(original)))
    assert check_and_report(path) in CLEAN


def test_the_sources_have_what_the_mutations_aim_at(graphs: dict[str, dict], tmp_path: Path) -> None:
    """The control case: the exported graphs check and report unmutated, and
    between them hold prune and deform directives."""
    assert graphs["pruned_tiny"]["directives"]["prune"]["rules"] == [{"pattern": "stem.conv", "rate": 0.5}]
    assert graphs["codenet_square"]["directives"]["deform"]["rules"]
    for key, graph in graphs.items():
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps(graph), encoding="utf-8")
        assert check_and_report(path) == ACCEPTED
    assert ("nodes", 1, "attrs", "k", 0) in value_paths(graphs["tiny"])
