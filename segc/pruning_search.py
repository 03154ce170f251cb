"""``segc search``: the hardware-aware pruning search of Mori et al.
(Sec. 3.3, 4.2–4.3) on a network, as a ``segc.pareto`` document.

Hardware cost (minimised): ``latency`` from the cost model of the graph's
target (default), ``ops`` (2 × MACs, the paper's OPs-driven search), or
``dsp-latency`` (the latency of the fastest power-of-two unroll
configuration within the target's DSP budget, per candidate).  Accuracy
(maximised): the L1-importance proxy (``passes/proxy.py``) without data,
else mIoU or top-1 on random training samples of ``data``.  With
``widths``, each layer with weights also has a width gene (pruning and
quantization searched jointly, ``width_search.py``): a candidate's latency
comes from the cost model of its pruned, re-quantized graph, its accuracy
from its fake-quantized module (ranges calibrated on the same samples).

Every front point records its ``speedup``: the unpruned network's latency
(``baseline_latency_s``) over the point's ``latency_s``, whatever the
objective (Mori et al.'s 2.44×).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import api
from .ir import Diagnostic, Graph, SegError, serialize
from .passes.cost import Calibration
from .passes.dse import power_of_two_grid
from .passes.modes import SEARCH_OBJECTIVES
from .passes.prune import prune, snap_pof
from .passes.pruned_cost import PrunedCost
from .passes.search import SearchResult, run_search
from .passes.search_space import DEFAULT_RATES, SearchSpace, search_space, with_widths
from .width_search import candidate_latencies

__all__ = ["OBJECTIVES", "SearchOptions", "export_point", "search", "search_html"]

OBJECTIVES = SEARCH_OBJECTIVES
SCHEMA = {"format": "segc.pareto", "version": 1}


@dataclass(frozen=True)
class SearchOptions:
    pop: int = 25
    gen: int = 25
    seed: int = 0
    objective: str = "latency"
    rates: tuple[float, ...] = DEFAULT_RATES
    siblings: bool = True
    snap: bool = False
    tiling: str = "paper"
    calibration: Calibration | None = None
    data: str | None = None
    samples: int = 16
    workers: int | None = None  # None: a local process per CPU (accuracy on data)
    scheduler: str | None = None
    widths: tuple[tuple[int, int], ...] = ()  # (weight, activation) bits per layer with weights; () no width genes

    def check(self) -> None:
        problems = []
        if self.pop < 2:
            problems.append(f"--pop must be at least 2, got {self.pop}")
        if self.gen < 1:
            problems.append(f"--gen must be at least 1, got {self.gen}")
        if self.objective not in OBJECTIVES:
            problems.append(f"--objective must be one of {', '.join(OBJECTIVES)}, got '{self.objective}'")
        if self.tiling == "static":
            problems.append("the search re-tiles every pruned layer: use --tiling paper, dilation-aware or none")
        if self.workers is not None and self.workers < 0:
            problems.append(f"--workers must be 0 or more, got {self.workers}")
        if self.widths and not self.data:
            problems.append("--widths needs accuracy on data (--data): the L1-importance proxy does not see widths")
        if self.widths and self.objective == "dsp-latency":
            problems.append("--widths works with --objective latency or ops, not dsp-latency")
        if self.samples < 1:
            problems.append(f"--samples must be at least 1, got {self.samples}")
        if problems:
            raise SegError([Diagnostic(p) for p in problems])


class _Objectives:
    """genomes → (accuracy, cost), with latency and OPs kept for the report."""

    def __init__(self, graph: Graph, space: SearchSpace, options: SearchOptions, accuracy):
        from .hardware import analyse

        self.graph, self.space, self.options, self.accuracy = graph, space, options, accuracy
        self.model = PrunedCost(analyse(graph, options.tiling, options.calibration), list(space.groups),
                                options.tiling, options.calibration)
        self.grid = power_of_two_grid(graph.target) if options.objective == "dsp-latency" else None

    def figures(self, genomes: np.ndarray) -> dict[str, np.ndarray]:
        columns = self.model.columns(self.space.kept(genomes))  # once for every figure
        figures = {"latency_s": self.model.latency_of(columns), "ops": 2 * self.model.macs_of(columns)}
        if self.space.width_layers:  # the cost model of each candidate's graph, at its widths
            figures["latency_s"] = candidate_latencies(self.graph, self.space, genomes, self.options.tiling,
                                                       self.options.calibration)
        if self.grid is not None:
            figures["dsp_latency_s"], figures["unroll"] = self.model.best_latency_of(columns, self.grid)
        return figures

    def cost(self, figures: dict[str, np.ndarray]) -> np.ndarray:
        key = {"latency": "latency_s", "ops": "ops", "dsp-latency": "dsp_latency_s"}[self.options.objective]
        return np.asarray(figures[key], dtype=np.float64)

    def __call__(self, genomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.accuracy(genomes), dtype=np.float64), self.cost(self.figures(genomes))


def _proxy_accuracy(graph: Graph, space: SearchSpace, arrays: dict):
    from .passes.proxy import ImportanceProxy

    proxy = ImportanceProxy(graph, space, arrays)
    return lambda genomes: proxy(space.kept(genomes)), "proxy: share of L1 filter importance kept"


def _data_accuracy(graph: Graph, space: SearchSpace, arrays: dict, options: SearchOptions, stack):
    from .search_workers import evaluator
    from .train.candidates import AccuracyTask, evaluation_samples

    evaluation_samples(graph, options.data, options.samples, options.seed)  # the data's mistakes, reported here
    task = AccuracyTask.of(serialize.dumps(graph), arrays, options.data, options.samples, options.seed, space.pof)
    evaluate = stack.enter_context(evaluator(task, options.workers, options.scheduler))

    def accuracy(genomes: np.ndarray) -> np.ndarray:
        if space.width_layers:
            return np.asarray(evaluate([(space.group_rates(g), space.layer_widths(g)) for g in genomes]))
        return np.asarray(evaluate([space.group_rates(g) for g in genomes]))

    metric = "mIoU" if graph.outputs[0].shape.h > 1 else "top-1"
    return accuracy, f"{metric} on {options.samples} random training samples of {options.data}"


def search(graph: Graph, arrays: dict, options: SearchOptions,
           progress: Callable[[int, int], None] | None = None) -> dict:
    """Run the search; the ``segc.pareto`` document of its result."""
    import contextlib

    options.check()
    space = search_space(graph, options.rates, options.siblings, snap_pof(graph) if options.snap else None,
                         options.widths)
    with contextlib.ExitStack() as stack:
        if options.data:
            accuracy, metric = _data_accuracy(graph, space, arrays, options, stack)
        else:
            accuracy, metric = _proxy_accuracy(graph, space, arrays)
        objectives = _Objectives(graph, space, options, accuracy)
        result = run_search(space, objectives, options.pop, options.gen, options.seed, progress=progress)
        baseline = np.zeros((1, space.genes), dtype=np.int64) if 0.0 in space.rates else None
        base = _baseline(objectives, baseline)
    return _document(graph, space, options, result, objectives, metric, base)


def _unpruned_latency(objectives: _Objectives, space: SearchSpace) -> float:
    """The unpruned network's latency (the speed-ups' baseline), whatever the rates."""
    return float(objectives.model.latency(np.array([[g.channels for g in space.groups]], dtype=np.int64))[0])


def _baseline(objectives: _Objectives, genome: np.ndarray | None) -> dict | None:
    """The unpruned network's figures (when rate 0 is among the choices)."""
    if genome is None:
        return None
    figures = objectives.figures(genome)
    accuracy = objectives.accuracy(genome)
    return {"accuracy": float(accuracy[0]), "cost": float(objectives.cost(figures)[0]),
            "latency_s": float(figures["latency_s"][0]), "ops": int(figures["ops"][0])}


def _document(graph: Graph, space: SearchSpace, options: SearchOptions, result: SearchResult,
              objectives: _Objectives, metric: str, baseline: dict | None) -> dict:
    front = result.front
    figures = objectives.figures(front.genomes)
    base_latency = _unpruned_latency(objectives, space)
    points = []
    for i, genome in enumerate(front.genomes):
        point = {"genome": [int(v) for v in genome], "accuracy": float(front.accuracy[i]),
                 "cost": float(front.cost[i]), "latency_s": float(figures["latency_s"][i]),
                 "ops": int(figures["ops"][i]), "speedup": base_latency / float(figures["latency_s"][i])}
        if "unroll" in figures:
            point["unroll"] = [int(v) for v in objectives.grid[figures["unroll"][i]][:3]]
        point["group_rates"] = space.group_rates(genome)
        point["layer_rates"] = space.layer_rates(genome)
        if space.width_layers:
            point["layer_widths"] = {layer: list(pair) for layer, pair in space.layer_widths(genome).items()}
        points.append(point)
    unit = "OPs" if options.objective == "ops" else "s"
    return {
        **SCHEMA, "network": graph.name, "target": graph.target.name, "objective": options.objective,
        "cost": {"name": options.objective, "unit": unit}, "accuracy": {"name": metric, "data": options.data},
        "pop": options.pop, "gen": options.gen, "seed": options.seed, "p_c": 1.0, "p_m": 0.4,
        "rates": list(space.rates), "siblings": options.siblings, "snap": options.snap, "tiling": options.tiling,
        "evaluations": result.evaluations, "baseline": baseline,
        "baseline_latency_s": base_latency, "loci": [list(names) for names in space.loci],
        **({"widths": [list(pair) for pair in space.widths]} if space.width_layers else {}),
        "front": points,
        "generations": [[[float(a), float(c)] for a, c in zip(g.accuracy, g.cost)] for g in result.generations],
    }


def export_point(graph: Graph, arrays: dict, document: dict, index: int) -> tuple[str, dict]:
    """(.seg text, weights) of front point ``index`` of a search document."""
    front = document["front"]
    if not 0 <= index < len(front):
        raise SegError(Diagnostic(f"the Pareto front has {len(front)} points (0 to {len(front) - 1}), not {index}"))
    pof = snap_pof(graph) if document["snap"] else None
    pruned, sliced = prune(graph, front[index]["group_rates"], arrays, pof)
    if "layer_widths" in front[index]:
        with_widths(graph, pruned, {layer: tuple(pair) for layer, pair in front[index]["layer_widths"].items()})
    return api.to_seg(pruned), sliced or {}


def search_html(graph: Graph, document: dict, calibration: Calibration | None) -> str:
    """The search's self-contained page (``search.html``), with the unpruned
    network's latency report and its picture."""
    from .backends.report.html import search_page
    from .backends.report.picture import render_picture
    from .hardware import report

    baseline = report(graph, document["tiling"], calibration)
    return search_page(document, baseline, render_picture(graph, "svg", "auto").decode())
