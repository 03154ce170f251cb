"""The importance proxy (passes/proxy.py) by hand: a group whose filters are
all zero keeps the share of its channels it keeps; the share of each row
of kept channels, weighted by the MACs of the layers a group touches."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXAMPLES

import segc
from segc.passes.proxy import ImportanceProxy
from segc.passes.search_space import search_space

NETWORK = ('import "targets/arria10.seg"\n'
           "network n on arria10_gx1150 {\n    input x: [1, 4, 4]\n"
           "    a = x -> conv(2, k=1)\n    b = a -> conv(4, k=1)\n    c = b -> conv(3, k=1)\n"
           "    output o = c\n}\n")
# MACs on 4x4: a 16·1·2 = 32, b 16·2·4 = 128, c 16·4·3 = 192; group a (a's filters) touches a and b: 160,
# group b touches b and c: 320; the classifier's output group is not prunable.
W_A, W_B = 160 / 480, 320 / 480


def _proxy_and_rows(b_weight: np.ndarray, rows: list[tuple[int, int]]):
    graph = segc.loads(NETWORK, str(EXAMPLES / "n.seg"))
    space = search_space(graph, rates=(0.0, 0.5))
    weights = {"a.weight": np.array([1.0, -3.0]).reshape(2, 1, 1, 1), "b.weight": b_weight,
               "c.weight": np.ones((3, 4, 1, 1))}
    order = {g.name: k for k, g in enumerate(space.groups)}
    table = np.array([[g.channels for g in space.groups]] * len(rows), dtype=np.int64)
    for i, (keep_a, keep_b) in enumerate(rows):
        table[i, order["a"]], table[i, order["b"]] = keep_a, keep_b
    return ImportanceProxy(graph, space, weights), table


def test_a_group_without_importance_counts_its_channels():
    proxy, table = _proxy_and_rows(np.zeros((4, 2, 1, 1)), [(1, 2), (2, 1), (1, 4), (2, 4)])
    # a keeps its filter of L1 3 of 4; b: no importance, so k of its 4 channels keep k/4
    expected = [W_A * 3 / 4 + W_B * 2 / 4, W_A + W_B / 4, W_A * 3 / 4 + W_B, 1.0]
    assert proxy(table) == pytest.approx(expected, rel=1e-12)


def test_every_row_is_scored_with_its_own_kept_counts():
    b_weight = np.array([[0.0, 1.0], [5.0, 0.0], [1.0, 1.0], [0.0, 0.0]]).reshape(4, 2, 1, 1)  # L1 1, 5, 2, 0
    proxy, table = _proxy_and_rows(b_weight, [(2, 1), (1, 3), (2, 2)])
    expected = [W_A + W_B * 5 / 8, W_A * 3 / 4 + W_B * 8 / 8, W_A + W_B * 7 / 8]
    assert proxy(table) == pytest.approx(expected, rel=1e-12)
    assert proxy.weights == pytest.approx([W_A, W_B], rel=1e-12)


def test_an_odd_group_without_importance_counts_thirds():
    graph = segc.loads(NETWORK.replace("conv(4, k=1)", "conv(3, k=1)"), str(EXAMPLES / "n.seg"))
    space = search_space(graph, rates=(0.0, 0.5))
    weights = {"a.weight": np.array([1.0, -3.0]).reshape(2, 1, 1, 1), "b.weight": np.zeros((3, 2, 1, 1)),
               "c.weight": np.ones((3, 3, 1, 1))}
    order = {g.name: k for k, g in enumerate(space.groups)}
    table = np.array([[g.channels for g in space.groups]] * 2, dtype=np.int64)
    table[:, order["a"]], table[:, order["b"]] = (2, 1), (1, 2)
    # MACs: a 32, b 16·2·3 = 96, c 16·3·3 = 144; group a: 128, group b: 240 of 368
    w_a, w_b = 128 / 368, 240 / 368
    assert ImportanceProxy(graph, space, weights)(table) == pytest.approx(
        [w_a + w_b / 3, w_a * 3 / 4 + w_b * 2 / 3], rel=1e-12)


def test_a_residual_group_weighs_each_layer_it_touches_once():
    # z feeds a; a and b (which reads a) both write the group added in s, which b and c read
    text = NETWORK.replace("    a = x -> conv(2, k=1)\n    b = a -> conv(4, k=1)\n    c = b -> conv(3, k=1)\n",
                           "    z = x -> conv(2, k=1)\n    a = z -> conv(4, k=1)\n    b = a -> conv(4, k=1)\n"
                           "    s = add(a, b)\n    c = s -> conv(3, k=1)\n")
    graph = segc.loads(text, str(EXAMPLES / "n.seg"))
    space = search_space(graph, rates=(0.0, 0.5))
    # importances below 1 in all: z's filters L1 0.1, 0.3; the group's a 0.1, 0, 0, 0 plus b's 0, 0.2, 0, 0
    a_weight, b_weight = np.zeros((4, 2, 1, 1)), np.zeros((4, 4, 1, 1))
    a_weight[0, 0], b_weight[1, 3] = 0.1, -0.2
    weights = {"z.weight": np.array([0.1, 0.3]).reshape(2, 1, 1, 1), "a.weight": a_weight, "b.weight": b_weight,
               "c.weight": np.ones((3, 4, 1, 1))}
    order = {g.name: k for k, g in enumerate(space.groups)}
    rows = [(1, 1), (2, 2), (0, 0), (1, 4)]
    table = np.array([[g.channels for g in space.groups]] * len(rows), dtype=np.int64)
    for i, (keep_z, keep_a) in enumerate(rows):
        table[i, order["z"]], table[i, order["a"]] = keep_z, keep_a
    # MACs: z 32, a 128, b 256, c 192; group z touches z and a: 160; the group of a touches a, b, c: 576
    w_z, w_a = 160 / 736, 576 / 736
    expected = [w_z * 3 / 4 + w_a * 2 / 3, 1.0, 0.0, w_z * 3 / 4 + w_a]
    assert ImportanceProxy(graph, space, weights)(table) == pytest.approx(expected, rel=1e-12, abs=1e-15)
