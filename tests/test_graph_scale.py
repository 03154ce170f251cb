"""What makes large graphs cheap: the collector paused while building and
annotating (and restored, also after an error), copies that share their
edges until one edits operands, annotation without re-checking, and the
front end's check that trusts the shapes it derived unless
``SEGC_VERIFY=all``."""

from __future__ import annotations

import gc

import pytest
from test_graph import chain, make

import segc
from segc.ir import SegError, Shape
from segc.ir.collector import no_gc_pauses
from segc.passes.base import Pass, PassResult, run_pipeline


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_paused_inside_and_restored_after_an_error(collector_on):
    with pytest.raises(ValueError, match="boom"), no_gc_pauses():
        assert not gc.isenabled()
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(collector_on):
    gc.disable()
    with no_gc_pauses():
        pass
    assert not gc.isenabled()


class _Records(Pass):
    name = "records"

    def run(self, graph):
        self.seen.append(gc.isenabled())
        return PassResult(graph, False)


class _Fails(Pass):
    name = "fails"

    def run(self, graph):
        raise SegError([])


def test_a_pipeline_runs_with_the_collector_paused_and_restores_it(collector_on):
    recorder = _Records()
    object.__setattr__(recorder, "seen", [])
    run_pipeline(chain(), [recorder])
    assert recorder.seen == [False] and gc.isenabled()
    with pytest.raises(SegError):
        run_pipeline(chain(), [_Fails()])
    assert gc.isenabled()


def test_elaboration_leaves_the_collector_as_it_was(collector_on):
    segc.loads("network n {\n input x: [3, 8, 8]\n output y = x -> relu\n}\n")
    assert gc.isenabled()
    with pytest.raises(SegError):
        segc.loads("network n {\n input x: [3, 8, 8]\n output y = x -> nosuchop\n}\n")
    assert gc.isenabled()


def test_a_copy_and_its_original_do_not_see_each_others_edits():
    original = chain()
    copy = original.copy()
    copy.add(make("extra", "relu", ["conv"], Shape(4, 8, 8)))
    assert "extra" not in original and [c.name for c in original.consumers("conv")] == ["bn"]
    assert [c.name for c in copy.consumers("conv")] == ["bn", "extra"]
    again = original.copy()
    original.replace(make("relu", "relu", ["conv"], Shape(4, 8, 8)))  # bn no longer read: relu reads conv
    assert [c.name for c in again.consumers("bn")] == ["relu"] and again.consumers("conv")[0].name == "bn"
    assert original.consumers("bn") == [] and {c.name for c in original.consumers("conv")} == {"bn", "relu"}


def test_annotate_sets_one_key_and_leaves_the_original_node_alone():
    graph = chain()
    before = graph.node("conv")
    copy = graph.copy()
    copy.annotate("conv", "tiling", {"tile": [8, 8]})
    copy.annotate("conv", "cost", 3)
    assert copy.node("conv").annotations == {"tiling": {"tile": [8, 8]}, "cost": 3}
    assert graph.node("conv") is before and before.annotations == {}


def _wrong_shape():
    graph = chain()
    graph.replace(make("relu", "relu", ["bn"], Shape(5, 8, 8)))  # a relu keeps its input's 4 channels
    graph.replace(make("output.y", "output", ["relu"], Shape(5, 8, 8)))
    return graph


def test_a_check_that_trusts_derived_shapes_skips_them_unless_asked_for_all(monkeypatch):
    monkeypatch.delenv("SEGC_VERIFY", raising=False)
    assert _wrong_shape().problems(rederive=False) == []
    assert any("differs from the inferred shape" in d.message for d in _wrong_shape().problems())
    monkeypatch.setenv("SEGC_VERIFY", "all")
    assert any("differs from the inferred shape" in d.message for d in _wrong_shape().problems(rederive=False))
