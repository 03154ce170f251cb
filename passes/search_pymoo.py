"""The pymoo pieces of the pruning search: the problem (objectives
``[−accuracy, cost]`` over integer genomes) and replace mutation."""

from __future__ import annotations

import numpy as np
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem

from .search_space import SearchSpace

__all__ = ["PruningProblem", "ReplaceMutation"]


class PruningProblem(Problem):
    """Minimise (−accuracy, cost) over genomes of rate (and width) indices."""

    def __init__(self, space: SearchSpace, objectives):
        super().__init__(n_var=space.genes, n_obj=2, xl=0, xu=space.upper(), vtype=int)
        self.objectives = objectives

    def _evaluate(self, x, out, *args, **kwargs) -> None:
        accuracy, cost = self.objectives(np.asarray(x).astype(np.int64))
        out["F"] = np.column_stack([-accuracy, cost])


class ReplaceMutation(Mutation):
    """One locus, chosen uniformly, gets a value drawn uniformly from its
    range; pymoo applies it to each offspring with probability ``prob``."""

    def _do(self, problem, x, *args, random_state=None, **kwargs):
        x = np.asarray(x).astype(np.int64).copy()
        rows = np.arange(len(x))
        loci = random_state.integers(0, problem.n_var, size=len(x))
        x[rows, loci] = random_state.integers(problem.xl[loci], problem.xu[loci] + 1)
        return x
