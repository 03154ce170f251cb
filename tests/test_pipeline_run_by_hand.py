"""run_pipeline (passes/base.py): which passes are followed by a check, the
check's message naming the pass and those before it, the passes' notes, and
the caller's graph left as it was."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from conftest import EXAMPLES

import segc
from segc.ir import SegError, Shape
from segc.passes.base import Pass, PassResult, run_pipeline


def _widen_a_conv(graph):
    node = next(n for n in graph.nodes() if n.op == "conv")
    graph.replace(dataclasses.replace(node, shape=Shape(node.shape.c + 1, node.shape.h, node.shape.w)))
    return node.name


@dataclass(frozen=True)
class Breaks(Pass):
    """Gives a layer a wrong shape and says whether it changed the graph."""

    name = "breaks"
    changed: bool = True

    def run(self, graph):
        _widen_a_conv(graph)
        return PassResult(graph, self.changed)


@dataclass(frozen=True)
class Notes(Pass):
    """Changes nothing and leaves two notes."""

    name = "notes"

    def run(self, graph):
        return PassResult(graph, False, ("first", "second"))


@pytest.fixture
def graph():
    return segc.load(str(EXAMPLES / "tiny.seg"))


def test_a_changing_pass_is_checked_and_named_with_those_before_it(graph, monkeypatch):
    monkeypatch.delenv("SEGC_VERIFY", raising=False)
    with pytest.raises(SegError, match=r"after pass 'breaks' \(passes before it: none\)"):
        run_pipeline(graph, [Breaks()])
    with pytest.raises(SegError, match=r"after pass 'breaks' \(passes before it: notes, notes\)"):
        run_pipeline(graph, [Notes(), Notes(), Breaks()])


def test_a_pass_that_says_it_changed_nothing_is_not_checked(graph, monkeypatch):
    monkeypatch.delenv("SEGC_VERIFY", raising=False)
    result, notes = run_pipeline(graph, [Breaks(changed=False)])
    name = next(n for n in graph.nodes() if n.op == "conv").name
    assert result.node(name).shape.c == graph.node(name).shape.c + 1
    assert notes == []


def test_every_pass_is_checked_with_the_flag(graph, monkeypatch):
    monkeypatch.setenv("SEGC_VERIFY", "all")
    with pytest.raises(SegError, match=r"after pass 'breaks' \(passes before it: notes\)"):
        run_pipeline(graph, [Notes(), Breaks(changed=False)])


def test_notes_are_prefixed_with_their_pass_and_the_input_is_kept(graph, monkeypatch):
    monkeypatch.delenv("SEGC_VERIFY", raising=False)
    before = graph.structure()
    result, notes = run_pipeline(graph, [Notes(), Breaks(changed=False), Notes()])
    assert notes == ["notes: first", "notes: second", "notes: first", "notes: second"]
    assert graph.structure() == before
    assert result.structure() != before


def test_a_pass_must_implement_run_and_its_result_is_frozen(graph):
    @dataclass(frozen=True)
    class NoRun(Pass):
        name = "no-run"

    with pytest.raises(TypeError, match="abstract"):
        NoRun()
    result = Notes().run(graph)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.changed = True
