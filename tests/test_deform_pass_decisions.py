"""The deform pass's own decisions, beyond the bound it derives
(``passes/deform.py``): its notes, whether it says it changed the graph,
every error of a run reported, where an error points, pipeline options
given as parsed text, graphs loaded from JSON, and ``current_plan`` for the
cost model.  Expected texts and numbers worked out by hand in the comments
(R = ⌊Buf_in / row⌋ rows; "full" needs (k − 1)·d + 1 + 2·b rows)."""

from __future__ import annotations

import dataclasses

import pytest
from deform_graphs import deformed, network, target

import segc
from segc.ir import SegError, serialize
from segc.passes.base import run_pipeline
from segc.passes.deform import DeformPass, current_plan
from segc.passes.registry import parse_pipeline


def _notes(graph: segc.Graph, spec: str) -> list[str]:
    return run_pipeline(graph, parse_pipeline(spec))[1]


def test_notes_name_the_variant_the_bound_and_the_rows():
    # 8 channels × 16 pixels of 8-bit words = 128 B a row; 4 KiB hold 32 rows, the target's line buffer 15.
    # auto: (15 − 1 − 2)/2 = 6 (full); square: 14/2 = 7.  Bound 2: 2 + 1 + 4 = 7 rows.
    graph = network("dconv(8, k=3)", rows=15)
    assert _notes(graph, "deform") == ["deform: y: full, bilinear, unbounded"]
    assert _notes(graph, "deform{bound=auto}") == [
        "deform: y: full, bilinear, bound 6 (derived: line buffer), 15 of 15 line-buffer rows"]
    assert _notes(graph, "deform{bound=auto,shape=square,round=true}") == [
        "deform: y: square, rounded, bound 7 (derived: line buffer), 15 of 15 line-buffer rows"]
    assert _notes(graph, "deform{bound=2}") == ["deform: y: full, bilinear, bound 2, 7 of 15 line-buffer rows"]
    # 64 KiB without a line_buffer: 512 rows; the 16-row map makes any bound past 16 + 1 = 17 useless,
    # and bound 17 needs 2 + 1 + 34 = 37 rows.
    wide = network("dconv(8, k=3)", buffer="64 KiB")
    assert _notes(wide, "deform{bound=auto}") == [
        "deform: y: full, bilinear, bound 17 (derived: feature map), 37 of 512 line-buffer rows"]


def test_the_pass_says_whether_it_changed_the_layer():
    graph = network("dconv(8, k=3)", rows=15)
    assert DeformPass().run(graph.copy()).changed is False  # keeps the layer's unbounded bilinear variant
    bounded = DeformPass(bound="auto").run(graph.copy())
    assert bounded.changed is True and bounded.graph.node("y").attrs["bound"] == 6
    assert DeformPass(bound="auto").run(bounded.graph.copy()).changed is False  # bound 6 again


def test_options_given_as_parsed_text():
    """Pipeline text arrives as new strings (not the literals in the code)."""
    graph = network("dconv(8, k=3)", rows=15)
    plan = deformed(graph, "deform{round=true,bound=keep,shape=keep}").node("y").annotations["deform"]
    assert (plan["round"], plan["bound"], plan["shape"]) == (True, None, "full")
    plan = deformed(graph, "deform{round=false}").node("y").annotations["deform"]
    assert plan["round"] is False


def test_every_layer_that_cannot_fit_is_reported():
    # rows of 16 pixels × 64 channels = 1024 B; 4 KiB hold 4 rows: bound 3 needs 2 + 1 + 6 = 9.
    text = ("network n on t {\n input x: [64, 16, 16]\n a = x -> dconv(64, k=3, bound=3)\n"
            " output y = a -> dconv(64, k=3, bound=3)\n}\n")
    graph = segc.loads(target() + text)
    with pytest.raises(SegError) as err:
        deformed(graph)
    assert [d.message.split(":")[0] for d in err.value.diagnostics] == ["layer 'a'", "layer 'y'"]


def test_an_option_of_the_pipeline_is_blamed_on_the_pass():
    # bound 3 on the 4-row buffer above: the pipeline asked for it, so no line of the source is blamed.
    graph = network("dconv(64, k=3)", (64, 16, 16))
    with pytest.raises(SegError) as err:
        deformed(graph, "deform{bound=3}")
    diagnostic, = err.value.diagnostics
    assert diagnostic.message.startswith("deform pass: layer 'y': bound 3 needs 9 line-buffer rows")
    assert diagnostic.span is None


def test_a_layer_without_a_source_line_is_not_blamed_on_the_pass():
    """A graph loaded from JSON has no spans: the layer's own bound is still the layer's fault."""
    graph = serialize.loads(segc.to_json(network("dconv(64, k=3, bound=3)", (64, 16, 16))))
    assert graph.node("y").span is None
    with pytest.raises(SegError) as err:
        deformed(graph)
    diagnostic, = err.value.diagnostics
    assert diagnostic.message.startswith("layer 'y': bound 3 needs 9 line-buffer rows")


def test_a_graph_loaded_from_json_is_deformed():
    graph = serialize.loads(segc.to_json(network("dconv(8, k=3)", rows=15)))
    plan = deformed(graph, "deform{bound=auto}").node("y").annotations["deform"]
    assert (plan["bound"], plan["derived"], plan["rows"]) == (6, True, 15)


def test_current_plan_keeps_the_pass_decision_and_rechecks_it():
    graph = network("dconv(8, k=3)", rows=15)
    undecided = current_plan(graph, graph.node("y"))  # no deform annotation: the layer's own variant
    assert (undecided["bound"], undecided["derived"], undecided["rows"]) == (None, False, None)
    decided = deformed(graph, "deform{bound=auto}")
    plan = current_plan(decided, decided.node("y"))
    assert (plan["bound"], plan["derived"], plan["limit"], plan["rows"]) == (6, True, "line buffer", 15)
    # the decided bound 6 needs 15 rows of 128 B; a 1 KiB buffer holds 8
    decided.target = dataclasses.replace(decided.target, input_buffer_bits=8 * 1024)
    with pytest.raises(SegError) as err:
        current_plan(decided, decided.node("y"))
    diagnostic, = err.value.diagnostics
    assert "bound 6 needs 15 line-buffer rows" in diagnostic.message
    assert diagnostic.span is not None and diagnostic.span == decided.node("y").span  # the layer
