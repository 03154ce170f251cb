"""Pruning-rate rules and sibling sets of a small graph, worked out by hand
from the module's rules (a rate in [0, 1), one gene per set of groups whose
producers read the same input, sets in topological order)."""

from __future__ import annotations

import pytest

import segc
from segc.ir import PruneDirectives, PruneRule, SegError
from segc.ir.directives import KeepRule
from segc.passes.channels import channel_groups
from segc.passes.prune_rates import check_keep, expand_set_rates, rate_sets, resolve_rates

# p and q read x (siblings); m reads p and comes between them in topological order.
SIBLINGS = """network n {
    input x: [3, 8, 8]
    p = x -> conv(4, k=1)
    m = p -> conv(4, k=1)
    q = x -> conv(4, k=1)
    output y = concat(m, q) -> conv(2, k=1)
}"""


def test_sets_are_ordered_by_their_first_group() -> None:
    graph = segc.loads(SIBLINGS)
    assert rate_sets(channel_groups(graph), graph) == [["p", "q"], ["m"]]


@pytest.mark.parametrize("values", [(0.5,), (0.5, 0.25, 0.0)])
def test_one_rate_per_set_is_required(values: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match=f"{len(values)} rates for 2 sets of groups"):
        expand_set_rates([["p", "q"], ["m"]], values)


@pytest.mark.parametrize("rate", [-0.5, 1.0, 1.5])
def test_a_rate_outside_zero_to_one_is_refused_as_such(rate: float) -> None:
    graph = segc.loads(SIBLINGS)
    directives = PruneDirectives(rules=(PruneRule("p", rate),))
    with pytest.raises(SegError) as err:
        resolve_rates(graph, channel_groups(graph), directives)
    # (a rate of 1 also leaves none of p's 4 channels: ⌊0·4 + ½⌋ = 0, reported after)
    assert err.value.diagnostics[0].message == f"a pruning rate must be at least 0 and below 1, got {rate:g}"


def test_a_pass_through_layer_read_twice_is_the_tensor_its_readers_share() -> None:
    # r is read by p and q, so they are siblings reading r; s reads c itself, a set of its own.
    graph = segc.loads("""network n {
    input x: [3, 8, 8]
    c = x -> conv(4, k=1)
    r = c -> relu
    p = r -> conv(4, k=1)
    q = r -> conv(4, k=1)
    s = c -> conv(4, k=1)
    output y = concat(p, q, s) -> conv(2, k=1)
}""")
    assert rate_sets(channel_groups(graph), graph) == [["c"], ["p", "q"], ["s"]]


def test_a_rate_of_zero_is_allowed_and_a_mistyped_keep_is_named_with_its_closest_layer() -> None:
    graph = segc.loads(SIBLINGS)
    assert resolve_rates(graph, channel_groups(graph), PruneDirectives(rules=(PruneRule("p", 0.0),))) == {"p": 0.0}
    with pytest.raises(SegError) as err:
        check_keep(graph, PruneDirectives(keep=(KeepRule("qq"),)))
    assert err.value.diagnostics[0].message == "'qq' matches no layer of network 'n'; did you mean 'q'?"


def test_siblings_join_whatever_order_their_names_sort_in() -> None:
    # q is defined first and p reads the same input after it: one set, q first ("q" sorts after "p")
    graph = segc.loads("""network n {
    input x: [3, 8, 8]
    q = x -> conv(4, k=1)
    p = x -> conv(4, k=1)
    output y = concat(q, p) -> conv(2, k=1)
}""")
    assert rate_sets(channel_groups(graph), graph) == [["q", "p"]]
