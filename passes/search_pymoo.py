"""The pymoo pieces of the pruning search: the problem (objectives
``[−accuracy, cost]`` over integer genomes), replace mutation, and NSGA-II
imported without scipy."""

from __future__ import annotations

import contextlib
import importlib
import sys
import types

import numpy as np
from pymoo.core.duplicate import DefaultDuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem

from .search_space import SearchSpace

__all__ = ["EqualGenomes", "PruningProblem", "ReplaceMutation", "nsga2"]


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


class EqualGenomes(DefaultDuplicateElimination):
    """pymoo's default duplicate test (Euclidean distance ≤ 1e-16) without
    scipy's ``cdist``: for integer genomes, the distance is 0 exactly
    when the rows are equal, and at least 1 otherwise."""

    def calc_dist(self, pop, other=None) -> np.ndarray:
        x = np.asarray(self.func(pop))
        y = x if other is None else np.asarray(self.func(other))
        distance = np.where((x[:, None, :] == y[None, :, :]).all(axis=2), 0.0, np.inf)
        if other is None:
            distance[np.triu_indices(len(x))] = np.inf
        return distance


_SCIPY_DISTANCE = "scipy.spatial.distance"


def nsga2() -> type:
    """pymoo's ``NSGA2`` class.  Its crowding metrics module imports
    ``pdist`` and ``squareform`` from scipy (about half a second of imports,
    scipy.spatial whole) for a crowding measure NSGA-II's default does not
    use: while pymoo loads, that module is a stand-in whose two functions
    import scipy's on their first call."""
    with _deferred(_SCIPY_DISTANCE, ("pdist", "squareform")):
        from pymoo.algorithms.moo.nsga2 import NSGA2
    return NSGA2


@contextlib.contextmanager
def _deferred(name: str, functions: tuple[str, ...]):
    """``sys.modules[name]`` a stand-in whose ``functions`` call the real
    module's, imported then, while the block runs (nothing if it is loaded)."""
    if name in sys.modules:
        yield
        return
    stand_in = types.ModuleType(name, f"stand-in for {name} while pymoo loads")
    for function in functions:
        setattr(stand_in, function, _on_first_call(name, function))
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


def _on_first_call(module: str, function: str):
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), function)(*args, **kwargs)

    call.__name__ = function
    return call
