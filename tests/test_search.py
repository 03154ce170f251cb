"""The pruning search: the pruned-latency model against re-annotation of the
pruned graph, the genome, the GA operators, determinism, the proxy, the CLI
and its errors, and accuracy on data in-process, in worker processes and on
a local Dask cluster."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from pymoo.indicators.hv import HV

import segc
from segc.cli import main
from segc.hardware import analyse
from segc.ir import SegError
from segc.passes.channels import channel_groups, kept_channels
from segc.passes.dse import power_of_two_grid
from segc.passes.prune import prune
from segc.passes.pruned_cost import PrunedCost
from segc.passes.search import _non_dominated, run_search
from segc.passes.search_space import search_space

RATES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9)
_GRAPHS: dict[str, object] = {}


# Deformable layers between prunable convolutions: unbounded depthwise, full
# and square, and one whose bound is derived from the line buffer, on maps
# too big for the input buffer (the offset branch of an unbounded one tiles
# all its inputs).
DCONVS = """import "targets/ultra96.seg"
network dconvs on ultra96_codenet {
    input x: [3, 64, 64]
    a = x -> conv(48, k=3) -> bn -> relu
    b = a -> dconv(48, k=3, groups=48) -> relu
    c = b -> dconv(64, k=3, shape="square", round=true) -> relu
    d = c -> dconv(64, k=3, groups=64, shape="square") -> relu
    e = d -> dconv(64, k=3) -> relu
    output y = e -> conv(5, k=1)
}
deform dconvs {
    e.dconv: bound=auto
}
"""


def graph_of(name: str):
    if name not in _GRAPHS:
        if name == "dconvs":
            _GRAPHS[name] = segc.loads(DCONVS, str(EXAMPLES / "dconvs.seg"))
        else:
            _GRAPHS[name] = segc.load(str(EXAMPLES / f"{name}.seg"))
    return _GRAPHS[name]


def reannotated(graph, rates: dict[str, float], tiling: str) -> tuple[float, int]:
    """Total latency and MACs of the pruned graph, through the tile and cost passes."""
    pruned, _ = prune(graph, rates, strict=False)
    annotated = analyse(pruned, tiling)
    costs = [n.annotations["cost"] for n in annotated.nodes()]
    return sum(c["latency_s"] for c in costs), sum(c["macs"] for c in costs)


@pytest.mark.parametrize("name", ["resnet18", "deeplabv3plus_r18", "codenet_shufflenet", "tiny_seg", "dconvs",
                                  "unet_small", "mobilenetv3_small", "efficientnet_b0"])
@pytest.mark.parametrize("tiling", ["paper", "dilation-aware"])
def test_pruned_latency_equals_reannotating_the_pruned_graph(name: str, tiling: str) -> None:
    graph = graph_of(name)
    groups = channel_groups(graph)
    model = PrunedCost(analyse(graph, tiling), groups, tiling)
    rng = np.random.default_rng(7)
    candidates = [{g.name: float(rng.choice(RATES)) for g in groups if g.prunable} for _ in range(3)]
    kept = np.asarray([[kept_channels(g, rates.get(g.name, 0.0)) for g in groups] for rates in candidates])
    latency, macs = model.latency(kept), model.macs(kept)
    columns = model.columns(kept)
    for i, rates in enumerate(candidates):
        expected_latency, expected_macs = reannotated(graph, rates, tiling)
        assert latency[i] == pytest.approx(expected_latency, rel=1e-12)
        assert macs[i] == expected_macs
        tilings = {n.name: n.annotations["tiling"] for n in analyse(prune(graph, rates, strict=False)[0], tiling)
                   .nodes() if "tiling" in n.annotations}
        for row, name in enumerate(model.table.names):
            if name in tilings:  # the tile Eq. 1 re-chooses for the pruned layer
                tix, tiy = tilings[name]["input_tile"]
                assert columns["in_area"][i, row] == tix * tiy, name


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.9])
def test_pruned_latency_through_shuffles_equals_reannotating(rate: float) -> None:
    graph = graph_of("codenet_shufflenet")
    groups = channel_groups(graph)
    # the halves of shuffled channels that splits cut whole: 1 + 2 + 4 in stages 2, 3, 4; the channels
    # of those reached by two shuffles hold 2, 4 or 8 of a branch's filters
    through = [g for g in groups if g.prunable and any(graph.node(n).op == "shuffle" for n in g.members)]
    assert [g.channels for g in through] == [29, 29, 58, 29, 29, 58, 116]  # by layer, then offset
    assert sorted({u for g in through for u in g.producer_units}) == [1, 2, 4, 8]
    rates = {g.name: rate for g in through}
    kept = np.asarray([[kept_channels(g, rates.get(g.name, 0.0)) for g in groups]])
    model = PrunedCost(analyse(graph, "paper"), groups, "paper")
    expected_latency, expected_macs = reannotated(graph, rates, "paper")
    assert model.latency(kept)[0] == pytest.approx(expected_latency, rel=1e-12)
    assert model.macs(kept)[0] == expected_macs


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(RATES), min_size=16, max_size=16))
def test_pruned_latency_property_on_tiny(rates: list[float]) -> None:
    graph = graph_of("tiny")
    groups = channel_groups(graph)
    chosen = {g.name: r for g, r in zip([g for g in groups if g.prunable], rates)}
    kept = np.asarray([[kept_channels(g, chosen.get(g.name, 0.0)) for g in groups]])
    model = PrunedCost(analyse(graph, "paper"), groups)
    expected_latency, expected_macs = reannotated(graph, chosen, "paper")
    assert model.latency(kept)[0] == pytest.approx(expected_latency, rel=1e-12)
    assert model.macs(kept)[0] == expected_macs


def test_unpruned_macs_are_the_networks_macs() -> None:
    """ResNet-18: 1,814,073,344 MACs (the published 1.81 G)."""
    graph = graph_of("resnet18")
    groups = channel_groups(graph)
    kept = np.asarray([[g.channels for g in groups]])
    assert PrunedCost(analyse(graph), groups).macs(kept)[0] == 1_814_073_344


def test_dsp_constrained_latency_is_the_fastest_unroll_within_budget() -> None:
    graph = graph_of("tiny_seg")
    groups = channel_groups(graph)
    model = PrunedCost(analyse(graph), groups)
    grid = power_of_two_grid(graph.target)[::37]  # a handful of configurations
    rates = {g.name: 0.5 for g in groups if g.prunable}
    kept = np.asarray([[kept_channels(g, rates.get(g.name, 0.0)) for g in groups]])
    best, which = model.best_latency(kept, grid)
    pruned, _ = prune(graph, rates)
    totals = []
    for pif, pof, pkx, _ in grid:
        pruned.target = segc.hardware.with_unroll(graph.target, f"{pif},{pof},{pkx}")
        totals.append(sum(n.annotations["cost"]["latency_s"] for n in analyse(pruned).nodes()))
    assert best[0] == pytest.approx(min(totals), rel=1e-12)
    assert which[0] == int(np.argmin(totals))


# ---------------------------------------------------------------- genome


def test_siblings_share_a_locus_in_deeplab() -> None:
    """The ASPP branches all read the backbone's output: one locus for all."""
    graph = graph_of("deeplabv3plus_r18")
    space = search_space(graph)
    aspp = [names for names in space.loci if any(name.startswith("aspp") for name in names)]
    producers = {g.name: g.producers for g in space.groups}
    branch_loci = [names for names in aspp if len(names) > 1]
    assert branch_loci, "the ASPP branches should share a locus"
    assert len(search_space(graph, siblings=False).loci) > len(space.loci)
    assert all(producers[name] for names in branch_loci for name in names)


def test_kept_channels_follow_the_genome() -> None:
    graph = graph_of("tiny")
    space = search_space(graph, rates=(0.0, 0.5))
    genome = np.ones((1, len(space.loci)), dtype=np.int64)
    kept = space.kept(genome)[0]
    for group, count in zip(space.groups, kept):
        expected = max(1, int(group.channels * 0.5 + 0.5)) if group.prunable else group.channels
        assert count == expected


@pytest.mark.parametrize("rates", [(0.0, 1.0), (-0.1, 0.5), ()])
def test_rates_outside_zero_one_are_refused(rates) -> None:
    with pytest.raises(SegError, match=r"\[0, 1\)"):
        search_space(graph_of("tiny"), rates=rates)


# ---------------------------------------------------------------- operators


def test_replace_mutation_changes_one_locus_of_about_forty_percent() -> None:
    from pymoo.core.population import Population

    from segc.passes.search_pymoo import PruningProblem, ReplaceMutation

    space = search_space(graph_of("deeplabv3plus_r18"))
    problem = PruningProblem(space, None)
    x = np.zeros((20_000, len(space.loci)), dtype=np.int64)
    pop = ReplaceMutation(prob=0.4).do(problem, Population.new(X=x), random_state=np.random.default_rng(3))
    changed = (pop.get("X") != 0).sum(axis=1)
    assert changed.max() == 1  # one locus at most (a redraw may pick the same value)
    n_values = len(space.rates)
    expected = 0.4 * (n_values - 1) / n_values  # mutated and drawn a different value
    assert abs(changed.mean() - expected) < 0.015


def test_replace_mutation_picks_every_locus_alike_and_draws_its_whole_range() -> None:
    # loci of 2, 3 and 5 values; every row starts at -1 (outside every range), so the one locus
    # mutated is the one that changed. 30,000 rows, all mutated: each locus 10,000 times
    # (binomial standard deviation 82), each value of a locus from 0 to its upper bound inclusive.
    from pymoo.core.population import Population
    from pymoo.core.problem import Problem

    from segc.passes.search_pymoo import ReplaceMutation

    problem = Problem(n_var=3, n_obj=2, xl=0, xu=np.array([1, 2, 4]), vtype=int)
    x = np.full((30_000, 3), -1, dtype=np.int64)
    after = ReplaceMutation(prob=1.0).do(problem, Population.new(X=x), random_state=np.random.default_rng(5)).get("X")
    changed = after != -1
    assert (changed.sum(axis=1) == 1).all()
    assert np.all(np.abs(changed.sum(axis=0) - 10_000) < 500)
    for locus, upper in enumerate((1, 2, 4)):
        assert set(after[changed[:, locus], locus].tolist()) == set(range(upper + 1))


def test_rates_outside_zero_to_one_are_named_and_none_is_refused() -> None:
    graph = segc.load(EXAMPLES / "tiny_seg.seg")
    with pytest.raises(SegError, match=r"^error: pruning rates must lie in \[0, 1\) \(got: 1\.5, -0\.1\)$"):
        search_space(graph, rates=(0.5, 1.5, -0.1))
    with pytest.raises(SegError, match=r"^error: pruning rates must lie in \[0, 1\) \(got: none given\)$"):
        search_space(graph, rates=())


def test_a_search_space_is_immutable() -> None:
    space = search_space(segc.load(EXAMPLES / "tiny_seg.seg"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.rates = (0.5,)


def test_front_is_non_dominated() -> None:
    accuracy = np.array([0.9, 0.8, 0.8, 0.5, 0.9])
    cost = np.array([3.0, 2.0, 2.5, 1.0, 3.0])
    # 0.8 @ 2.5 is beaten by 0.8 @ 2.0; the duplicate 0.9 @ 3.0 is kept once
    assert _non_dominated(accuracy, cost).tolist() == [True, True, False, True, False]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=12))
def test_the_non_dominated_mask_matches_its_definition_point_by_point(points) -> None:
    """Kept: no other point has accuracy ≥ and cost ≤ with one strict, and no earlier point is the same."""
    accuracy = np.array([a / 4 for a, _ in points])
    cost = np.array([float(c) for _, c in points])
    expected = [not any((aj >= ai and cj <= ci and (aj > ai or cj < ci)) or (j < i and (aj, cj) == (ai, ci))
                        for j, (aj, cj) in enumerate(zip(accuracy, cost)))
                for i, (ai, ci) in enumerate(zip(accuracy, cost))]
    assert _non_dominated(accuracy, cost).tolist() == expected


def _sum_objectives(genomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """accuracy = the sum of the genes, cost = its square plus the first gene."""
    total = genomes.sum(axis=1).astype(float)
    return total, total**2 + genomes[:, 0]


def test_every_generation_holds_the_objectives_of_its_genomes() -> None:
    space = search_space(graph_of("tiny_seg"))
    result = run_search(space, _sum_objectives, pop=6, gen=3, seed=1)
    assert len(result.generations) == 3
    for generation in result.generations:
        accuracy, cost = _sum_objectives(generation.genomes)
        assert generation.accuracy.tolist() == accuracy.tolist() and generation.cost.tolist() == cost.tolist()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.generations[0].cost = cost


def test_the_search_defaults_are_25_genomes_25_generations_seed_0_and_the_papers_rates() -> None:
    # Mori et al. Sec. 3.3: single-point crossover always, replace mutation at 0.4
    space = search_space(graph_of("tiny_seg"))
    default = run_search(space, _sum_objectives)
    explicit = run_search(space, _sum_objectives, pop=25, gen=25, seed=0, p_c=1.0, p_m=0.4)
    assert len(default.generations) == 25
    assert all(np.array_equal(a.genomes, b.genomes) for a, b in zip(default.generations, explicit.generations))
    no_crossover = run_search(space, _sum_objectives, p_c=0.0)
    assert not all(np.array_equal(a.genomes, b.genomes) for a, b in zip(default.generations, no_crossover.generations))


def _proxy_objectives(graph, space):
    from segc.passes.proxy import ImportanceProxy

    arrays = segc.api.weight_arrays(graph, seed=0)
    proxy = ImportanceProxy(graph, space, arrays)
    model = PrunedCost(analyse(graph), list(space.groups))
    return lambda genomes: (proxy(space.kept(genomes)), model.latency(space.kept(genomes)))


def test_search_is_deterministic_and_improves_on_the_first_generation() -> None:
    graph = graph_of("tiny_seg")
    space = search_space(graph)
    objectives = _proxy_objectives(graph, space)
    first = run_search(space, objectives, pop=10, gen=6, seed=4)
    again = run_search(space, objectives, pop=10, gen=6, seed=4)
    other = run_search(space, objectives, pop=10, gen=6, seed=5)
    assert len(first.generations) == 6
    assert all(np.array_equal(a.genomes, b.genomes) for a, b in zip(first.generations, again.generations))
    assert not np.array_equal(first.generations[-1].genomes, other.generations[-1].genomes)
    start, front = first.generations[0], first.front
    reference = np.array([0.0, 1.1 * start.cost.max()])  # (−accuracy, cost) of a worst point
    hypervolume = HV(ref_point=reference)
    before = hypervolume(np.column_stack([-start.accuracy, start.cost]))
    after = hypervolume(np.column_stack([-front.accuracy, front.cost]))
    assert after > 1.05 * before


# ---------------------------------------------------------------- proxy


def test_proxy_is_the_weighted_share_of_importance_kept() -> None:
    """Two groups; importances set by hand.  Group a (conv 'a', 2 filters of
    L1 3 and 1) feeds conv 'b'; group b (conv 'b', filters of L1 2, 2, 4, 0)
    feeds the classifier conv 'c', whose output group is not prunable."""
    from segc.passes.proxy import ImportanceProxy

    graph = segc.loads(
        'import "targets/arria10.seg"\n'
        "network n on arria10_gx1150 {\n    input x: [1, 4, 4]\n"
        "    a = x -> conv(2, k=1)\n    b = a -> conv(4, k=1)\n    c = b -> conv(3, k=1)\n"
        "    output o = c\n}\n", str(EXAMPLES / "n.seg"))
    space = search_space(graph, rates=(0.0, 0.5))
    weights = {
        "a.weight": np.array([3.0, -1.0]).reshape(2, 1, 1, 1),
        "b.weight": np.array([[1.0, 1.0], [2.0, 0.0], [-4.0, 0.0], [0.0, 0.0]]).reshape(4, 2, 1, 1),
        "c.weight": np.ones((3, 4, 1, 1)),
    }
    proxy = ImportanceProxy(graph, space, weights)
    # MACs on 4x4: a 16*2*1 = 32, b 16*4*2 = 128, c 16*3*4 = 192
    # group a touches a and b: 160; group b touches b and c: 320
    w_a, w_b = 160 / 480, 320 / 480
    order = {g.name: k for k, g in enumerate(space.groups)}
    table = np.zeros((2, len(space.groups)), dtype=np.int64)
    for k, group in enumerate(space.groups):
        table[:, k] = group.channels
    table[0, order["a"]], table[0, order["b"]] = 1, 2
    half = w_a * 3 / 4 + w_b * 6 / 8  # a keeps the filter of L1 3; b the filters of L1 4 and 2
    assert proxy(table)[0] == pytest.approx(half)
    assert proxy(table)[1] == pytest.approx(1.0)


# ---------------------------------------------------------------- CLI


def test_cli_search_writes_the_front_and_exported_points(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["search", str(EXAMPLES / "tiny_seg.seg"), "--pop", "8", "--gen", "4", "--seed", "2",
                 "--export", "2", "-o", str(out)])
    assert code == 0
    document = json.loads((out / "pareto.json").read_text())
    assert document["format"] == "segc.pareto" and document["objective"] == "latency"
    assert len(document["generations"]) == 4 and all(len(g) == 8 for g in document["generations"])
    assert (out / "pareto.png").read_bytes().startswith(b"\x89PNG")
    front = document["front"]
    assert [p["cost"] for p in front] == sorted(p["cost"] for p in front)
    last = len(front) - 1
    for index in sorted({0, last}):
        pruned = segc.load(str(out / f"point{index}.seg"))
        macs = sum(n.opdef.macs(n.attrs, pruned.input_shapes(n), n.shape) for n in pruned.nodes())
        assert 2 * macs == front[index]["ops"]
        module = segc.to_torch(pruned, str(out / f"point{index}.safetensors"))
        assert sum(p.numel() for p in module.parameters()) > 0
    again = tmp_path / "again"
    assert main(["search", str(EXAMPLES / "tiny_seg.seg"), "--pop", "8", "--gen", "4", "--seed", "2",
                 "-o", str(again)]) == 0
    for name in ("pareto.json", "search.html"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


@pytest.mark.parametrize("argv, message", [
    (["--rates", "0,1.5"], "[0, 1)"),
    (["--rates", "0,half"], "--rates takes numbers"),
    (["--tiling", "static"], "re-tiles every pruned layer"),
    (["--data", "synthetic", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    (["--data", "cityscapes:no/such/folder"], "no/such/folder"),
    (["--data", "imagenet"], "--data takes"),
])
def test_cli_search_errors(tmp_path, capsys, argv, message) -> None:
    out = tmp_path / "run"
    code = main(["search", str(EXAMPLES / "tiny_seg.seg"), "--pop", "4", "--gen", "1", *argv, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not out.exists()


# ---------------------------------------------------------------- accuracy on data


def test_accuracy_on_data_is_the_same_in_process_and_on_a_dask_cluster() -> None:
    from dask.distributed import LocalCluster

    from segc.pruning_search import SearchOptions, search

    graph = graph_of("tiny_seg")
    arrays = segc.api.weight_arrays(graph, seed=1)
    options = SearchOptions(pop=4, gen=2, seed=3, data="synthetic:8", samples=4, workers=0)
    here = search(graph, arrays, options)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = search(graph, arrays, SearchOptions(**{**options.__dict__, "scheduler": cluster.scheduler_address}))
    assert here == remote
    accuracies = [p["accuracy"] for p in here["front"]]
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    assert here["accuracy"]["name"].startswith("mIoU on 4 random training samples")


def test_accuracy_on_data_is_the_same_in_worker_processes() -> None:
    from segc.pruning_search import SearchOptions, search

    graph = graph_of("tiny_seg")
    arrays = segc.api.weight_arrays(graph, seed=1)
    options = SearchOptions(pop=4, gen=1, seed=3, data="synthetic:8", samples=4)
    assert search(graph, arrays, SearchOptions(**{**options.__dict__, "workers": 0})) == \
        search(graph, arrays, SearchOptions(**{**options.__dict__, "workers": 2}))


@pytest.mark.parametrize("objective", ["ops", "dsp-latency"])
def test_cli_search_objectives(tmp_path, objective: str) -> None:
    out = tmp_path / objective
    assert main(["search", str(EXAMPLES / "tiny_seg.seg"), "--pop", "6", "--gen", "2", "--objective", objective,
                 "-o", str(out)]) == 0
    document = json.loads((out / "pareto.json").read_text())
    for point in document["front"]:
        if objective == "ops":
            assert point["cost"] == point["ops"]
        else:  # the best unroll within the budget is at least as fast as the target's own
            pif, pof, pkx = point["unroll"]
            graph = graph_of("tiny_seg")
            assert -(-pif * pof * pkx // graph.target.macs_per_dsp) <= graph.target.dsp
            assert point["cost"] <= point["latency_s"] * (1 + 1e-12)
