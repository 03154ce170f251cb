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
from conftest import EXAMPLES
from fuzz_checks import ACCEPTED, CLEAN, check_and_report, fuzz_settings, run_cli
from fuzz_json import mutated_json, value_paths
from hypothesis import given
from hypothesis import strategies as st

PRUNED_TINY = (EXAMPLES / "tiny.seg").read_text(encoding="utf-8") + '\nprune tiny {\n    stem.conv: 0.5\n}\n'
# (file, --network): graphs with a target, prune directives, deform directives.
SOURCES = {"tiny": ("tiny.seg", None), "pruned_tiny": ("pruned_tiny.seg", None),
           "tiny_seg": ("tiny_seg.seg", None), "codenet_square": ("codenet_layer.seg", "full_square")}


def export_json(source: Path, network: str | None, output: Path) -> dict:
    options = ["--network", network] if network else []
    code, _, err = run_cli(["export", str(source), *options, "--to", "json", "-o", str(output)])
    assert code == 0, err
    return json.loads(output.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("json_sources")
    (folder / "pruned_tiny.seg").write_text(PRUNED_TINY.replace('"targets/', f'"{EXAMPLES}/targets/'), "utf-8")
    return {key: export_json(folder / name if key == "pruned_tiny" else EXAMPLES / name, network,
                             folder / f"{key}.json") for key, (name, network) in SOURCES.items()}


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
