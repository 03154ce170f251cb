"""The pipeline's checks (passes/base.py): the graph is verified after
every pass that could break it; annotation-only passes are checked only
with ``SEGC_VERIFY=all`` (the test suite's setting)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from conftest import EXAMPLES

import segc
from segc.ir import SegError, Shape
from segc.passes.base import Pass, PassResult, run_pipeline
from segc.passes.registry import parse_pipeline


@dataclass(frozen=True)
class Breaks(Pass):
    """Claims to write annotations only, but gives a layer a wrong shape."""

    name = "breaks"
    annotates_only = True

    def run(self, graph):
        node = next(n for n in graph.nodes() if n.op == "conv")
        graph.replace(dataclasses.replace(node, shape=Shape(node.shape.c + 1, node.shape.h, node.shape.w)))
        return PassResult(graph, True)


def _graph():
    return segc.load(str(EXAMPLES / "tiny.seg"))


def test_the_full_check_names_an_annotation_pass_that_breaks_the_graph():
    with pytest.raises(SegError, match="after pass 'breaks'"):
        run_pipeline(_graph(), [Breaks()])


def test_without_the_flag_annotation_passes_are_not_followed_by_a_check(monkeypatch):
    monkeypatch.delenv("SEGC_VERIFY")
    run_pipeline(_graph(), [Breaks()])  # not checked: the pass said it writes annotations only


def test_tile_and_cost_write_annotations_only(monkeypatch):
    """The report's passes leave every layer's op, inputs, attributes and shape as they were."""
    graph = _graph()
    annotated, _ = run_pipeline(graph, parse_pipeline("tile,cost"))
    assert annotated.structure() == graph.structure()
    assert all(p.annotates_only for p in parse_pipeline("tile,cost"))
