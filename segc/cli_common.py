"""Helpers every command of the command line shares."""

from __future__ import annotations

import argparse
import sys

from . import api
from .ir import Diagnostic, render

__all__ = ["load_graph", "protected"]


def load_graph(args: argparse.Namespace):
    """The graph FILE (and --network) name; warnings go to standard error."""
    warnings: list[Diagnostic] = []
    args.sources = []  # every file read: outputs never overwrite one
    graph = api.load(args.file, args.network, warnings, args.sources)
    for warning in warnings:
        print(render(warning), file=sys.stderr)
    return graph


def protected(args: argparse.Namespace) -> tuple[str, ...]:
    """Files the command read, which no output may overwrite."""
    extra = [getattr(args, name, None) for name in ("target", "calibration")]
    extra = [p.partition(":")[0] for p in extra if p and (".seg" in p or p.endswith(".json"))]
    return (args.file, *getattr(args, "sources", ()), *extra)
