"""MACs of a pruned two-conv network counted by hand: C_i·C_o·k_x·k_y·W_o·H_o
summed over the layers, exact integers."""

from __future__ import annotations

import numpy as np
import pytest

import segc
from segc.hardware import analyse
from segc.passes.channels import channel_groups
from segc.passes.pruned_cost import PrunedCost

TWO_CONVS = """import "targets/ultra96.seg"
network two on ultra96_codenet {
    input x: [3, 8, 8]
    a = x -> conv(4, k=1)
    output y = a -> conv(2, k=1)
}
"""


def test_macs_of_kept_channels_are_exact_integers() -> None:
    graph = segc.loads(TWO_CONVS, "examples/two.seg")
    groups = channel_groups(graph)
    assert [g.name for g in groups] == ["x", "a", "y"]
    kept = np.asarray([[3, 4, 2], [3, 2, 2]])
    macs = PrunedCost(analyse(graph), groups).macs(kept)
    # 3·4·64 + 4·2·64 = 1280; with a at 2 channels 3·2·64 + 2·2·64 = 640
    assert macs.tolist() == [1280, 640] and macs.dtype.kind == "i"


def test_static_tiling_is_refused_by_name_however_the_string_was_made() -> None:
    graph = analyse(segc.loads(TWO_CONVS, "examples/two.seg"))
    groups = channel_groups(graph)
    for tiling in ("static", "".join(["sta", "tic"])):  # a literal, and a string built at run time
        with pytest.raises(ValueError, match="the pruning search re-tiles layer by layer"):
            PrunedCost(graph, groups, tiling)
    assert PrunedCost(graph, groups, "".join(["pa", "per"])).tiling == "paper"
