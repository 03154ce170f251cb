"""Pipeline strings (passes/registry.py): each pass and option read back, the
option's text converted to its field's type, and each malformed string a
SegError naming what is wrong (messages written out in full)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from segc.ir import SegError
from segc.passes import registry
from segc.passes.base import Pass, PassResult
from segc.passes.cost import CostPass
from segc.passes.prune import PrunePass
from segc.passes.registry import parse_pipeline
from segc.passes.tile import TilePass


@dataclass(frozen=True)
class Probe(Pass):
    """A pass with an option of each kind a pipeline string can set, and one it cannot."""

    name = "probe"
    count: int = 0
    scale: float = 1.0
    flag: bool = False
    label: str = ""
    pair: tuple = ()

    def run(self, graph):
        return PassResult(graph, False)


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.setitem(registry.PASSES, "probe", Probe)


def test_passes_and_options_are_read_in_order():
    assert parse_pipeline("tile{mode=dilation-aware},cost") == [TilePass(mode="dilation-aware"), CostPass()]
    assert parse_pipeline("  tile { mode = none } ,  cost ,") == [TilePass(mode="none"), CostPass()]
    assert parse_pipeline("prune{rate=0.25, snap=true}") == [PrunePass(rate=0.25, snap=True, siblings=False)]
    assert parse_pipeline("prune{siblings=false,}") == [PrunePass()]


def test_option_text_takes_the_fields_type(probe):
    (step,) = parse_pipeline("probe{count=12, scale=2.5, flag=true, label=x-y}")
    assert step == Probe(count=12, scale=2.5, flag=True, label="x-y")
    assert type(step.count) is int and type(step.scale) is float


@pytest.mark.parametrize(("spec", "message"), [
    ("probe{count=1.5}", "option 'count' of pass 'probe' must be a int, got '1.5'"),
    ("probe{scale=fast}", "option 'scale' of pass 'probe' must be a float, got 'fast'"),
    ("probe{flag=yes}", "option 'flag' of pass 'probe' must be a bool, got 'yes'"),
    ("probe{flag=True}", "option 'flag' of pass 'probe' must be a bool, got 'True'"),
    ("probe{pair=1}", "option 'pair' of pass 'probe' cannot be set in a pipeline string"),
])
def test_a_value_of_the_wrong_kind_is_named(probe, spec, message):
    with pytest.raises(SegError) as raised:
        parse_pipeline(spec)
    assert str(raised.value).endswith(f"pipeline '{spec}': {message}")


@pytest.mark.parametrize(("spec", "message"), [
    ("", "names no pass"),
    ("tile;cost", "cannot read it from character 1 on"),
    ("tile,,cost", "cannot read it from character 6 on"),
    ("tiel", "unknown pass 'tiel'; did you mean 'tile'?"),
    ("xyz", "unknown pass 'xyz' (passes: deform, tile, cost, prune)"),
    ("tile{size=3}", "pass 'tile' has no option 'size' (options: mode)"),
    ("tile{mode}", "option 'mode' of pass 'tile' needs a value: mode=..."),
    ("cost{calibration=x}", "option 'calibration' of pass 'cost' cannot be set in a pipeline string"),
])
def test_a_malformed_pipeline_is_named(spec, message):
    with pytest.raises(SegError) as raised:
        parse_pipeline(spec)
    assert str(raised.value).endswith(f"pipeline '{spec}': {message}")


def test_a_long_pipeline_is_read_to_its_end():
    spec = "tile{mode=paper}," * 20  # 340 characters: past the small integers Python shares
    assert parse_pipeline(spec) == [TilePass(mode="paper")] * 20
