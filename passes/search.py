"""The hardware-aware pruning search: NSGA-II (pymoo) over pruning rates,
with the operators of Mori et al. (Sec. 3.3, 4.2):

* genome: one rate index per locus (``search_space.py``); the initial
  population draws every locus uniformly;
* single-point crossover with probability p_c = 1;
* replace mutation: with probability p_m = 0.4 an offspring has one locus,
  chosen uniformly, replaced by a rate drawn uniformly (the paper's
  "replace mutation on each offspring with probability p_m");
* survival by non-dominated sorting and crowding distance (NSGA-II).

Objectives: maximise accuracy, minimise a hardware cost.  Every distinct
genome is evaluated once (results are memoised), which matters when
accuracy is measured on data.  The same seed gives the same search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .search_space import SearchSpace

__all__ = ["Generation", "SearchResult", "run_search"]

Objectives = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # genomes -> (accuracy, cost)


@dataclass(frozen=True)
class Generation:
    genomes: np.ndarray  # population × loci
    accuracy: np.ndarray
    cost: np.ndarray


@dataclass
class SearchResult:
    generations: list[Generation] = field(default_factory=list)
    evaluations: int = 0  # distinct genomes evaluated

    @property
    def front(self) -> Generation:
        """The non-dominated members of the final population, by cost."""
        last = self.generations[-1]
        keep = _non_dominated(last.accuracy, last.cost)
        order = sorted(np.flatnonzero(keep), key=lambda i: (last.cost[i], -last.accuracy[i], tuple(last.genomes[i])))
        return Generation(last.genomes[order], last.accuracy[order], last.cost[order])


def _non_dominated(accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Mask of points no other point beats (accuracy ≥, cost ≤, one strictly); duplicates kept once."""
    n = len(cost)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        better = (accuracy >= accuracy[i]) & (cost <= cost[i]) & ((accuracy > accuracy[i]) | (cost < cost[i]))
        same = (accuracy == accuracy[i]) & (cost == cost[i]) & (np.arange(n) < i)
        keep[i] = not (better.any() or same.any())
    return keep


class _Memo:
    """Objectives evaluated once per distinct genome."""

    def __init__(self, objectives: Objectives):
        self.objectives = objectives
        self.seen: dict[tuple, tuple[float, float]] = {}

    def __call__(self, genomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = [tuple(int(v) for v in g) for g in genomes]
        new = list(dict.fromkeys(k for k in keys if k not in self.seen))
        if new:
            accuracy, cost = self.objectives(np.asarray(new, dtype=np.int64))
            self.seen.update(zip(new, zip(accuracy.tolist(), cost.tolist())))
        values = np.asarray([self.seen[k] for k in keys], dtype=np.float64)
        return values[:, 0], values[:, 1]


def run_search(space: SearchSpace, objectives: Objectives, pop: int = 25, gen: int = 25, seed: int = 0,
               p_c: float = 1.0, p_m: float = 0.4,
               progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """NSGA-II for ``gen`` generations of ``pop`` genomes; ``progress(done, total)`` after each."""
    from pymoo.core.callback import Callback
    from pymoo.operators.crossover.pntx import SinglePointCrossover
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    from .search_pymoo import EqualGenomes, PruningProblem, ReplaceMutation, nsga2

    memo, result = _Memo(objectives), SearchResult()

    class Record(Callback):
        def notify(self, algorithm) -> None:
            genomes = algorithm.pop.get("X").astype(np.int64)
            accuracy, cost = memo(genomes)
            result.generations.append(Generation(genomes, accuracy, cost))
            if progress is not None:
                progress(len(result.generations), gen)

    NSGA2 = nsga2()
    algorithm = NSGA2(pop_size=pop, sampling=IntegerRandomSampling(), crossover=SinglePointCrossover(prob=p_c),
                      mutation=ReplaceMutation(prob=p_m), eliminate_duplicates=EqualGenomes())
    minimize(PruningProblem(space, memo), algorithm, ("n_gen", gen), seed=seed, callback=Record(), verbose=False)
    result.evaluations = len(memo.seen)
    return result
