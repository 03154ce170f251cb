"""The ``prune`` command: structured channel pruning of a network and its
weights; writes OUT.seg and OUT.safetensors and prints what changed."""

from __future__ import annotations

import argparse
import os

from .. import api, outputs
from ..ir import Diagnostic, SegError, summarize
from ..passes.modes import TILING_MODES
from .common import calibration_option, load_graph, protected, say_written, seed

__all__ = ["COMMANDS", "add_commands"]


def add_commands(commands) -> None:
    prune = commands.add_parser("prune", help="prune channels of a network and its weights (writes .seg and "
                                              ".safetensors)")
    prune.add_argument("file", help="a .seg file (or a segc .json graph)")
    prune.add_argument("--network", metavar="NAME", help="the network to use when the file defines several")
    prune.add_argument("--rates", metavar="R", help="a rate in [0, 1) for every prunable channel group, or a rates "
                                                    "file of 'PATTERN: RATE' lines (default: the file's prune section)")
    prune.add_argument("-o", "--output", required=True, metavar="OUT.seg",
                       help="the pruned network (its weights go to OUT.safetensors beside it)")
    prune.add_argument("--weights", metavar="W", help="a state_dict (.pt or .safetensors); default: initialised "
                                                      "from --seed")
    prune.add_argument("--seed", type=seed, default=0, help="seed of the initial weights (default 0)")
    prune.add_argument("--snap", action="store_true", help="snap kept channel counts to multiples of the target's "
                                                           "P_of")
    prune.add_argument("--siblings", action="store_true", help="one rate for groups whose layers read the same input "
                                                               "(ASPP branches, shortcut projections)")
    prune.add_argument("--tiling", choices=TILING_MODES, default="paper",
                       help="tiling mode of the latency before and after (default: paper)")
    prune.add_argument("--calibration", metavar="FILE", help="a calibration file from 'segc calibrate' for the "
                                                             "latency before and after")


def _totals(graph) -> tuple[int, int]:
    rows = summarize(graph)
    return sum(r.macs for r in rows), sum(r.params for r in rows)


def _change(before: int, after: int) -> str:
    from .table import si

    share = f" ({(after - before) / before:+.1%})" if before else ""
    return f"{si(before)} → {si(after)}{share}"


def _print_summary(result, source, output: str, change) -> None:
    from .table import print_table

    rows = []
    for group in result.groups:
        kept = result.kept.get(group.name, group.channels)
        note = group.reason if not group.prunable else ""
        rate = result.rates.get(group.name, 0.0)
        rows.append([group.name, str(len(group.producers)), str(group.channels), str(kept), f"{rate:g}", note])
    pruned = sum(1 for g in result.groups if result.kept.get(g.name, g.channels) < g.channels)
    title = f"pruned {source.name}: {pruned} of {len(result.groups)} channel groups"
    footer = ["total", "", str(sum(g.channels for g in result.groups)),
              str(sum(result.kept.get(g.name, g.channels) for g in result.groups)), "", ""]
    print_table(title, ["group", "producers", "channels", "kept", "rate", "not pruned because"], rows, footer)
    (macs0, params0), (macs1, params1) = _totals(source), _totals(result.graph)
    print(f"MACs {_change(macs0, macs1)}, parameters {_change(params0, params1)}")
    if change is None:
        print(f"latency: network '{source.name}' has no target (write 'network {source.name} on TARGET')")
    else:
        print(change.line())
    say_written([output, _weights_path(output)])


def _weights_path(output: str) -> str:
    return output[: -len(".seg")] + ".safetensors"


def _prune(args: argparse.Namespace) -> int:
    from safetensors.numpy import save

    from ..pruning import prune_network
    from ..speedup import pruning_speedup

    if not args.output.endswith(".seg"):
        raise SegError(Diagnostic(f"the output must be a .seg file, got '{args.output}'"))
    graph = load_graph(args)
    calibration = calibration_option(args)
    arrays = api.weight_arrays(graph, args.weights, args.seed)
    result = prune_network(graph, args.rates, arrays, args.snap, args.siblings)
    weights = dict(sorted(result.weights.items()))
    change = pruning_speedup(graph, result.graph, args.tiling, calibration)  # before writing: its errors stop all
    _check_fit(result.graph, weights)
    inputs = (*protected(args), *(p for p in (args.weights, args.rates) if p))
    rates = f"--rates {os.path.basename(args.rates)}" if args.rates else "its prune section"
    header = (f"# {graph.name} pruned by segc from {os.path.basename(args.file)} with {rates}"
              f"{' --snap' if args.snap else ''}{' --siblings' if args.siblings else ''}; "
              f"weights in {os.path.basename(_weights_path(args.output))}\n\n")
    payload = save(weights)
    text = header + api.to_seg(result.graph)
    for path in (_weights_path(args.output), args.output):  # refuse before writing either
        outputs.check_file(path, inputs)
    api.write_atomic(_weights_path(args.output), payload, inputs)
    api.write_atomic(args.output, text, inputs)
    _print_summary(result, graph, args.output, change)
    return 0


def _check_fit(graph, weights: dict) -> None:
    """The weights written must fit the network written (checked without torch)."""
    from ..backends.seeded import misfits

    problems = misfits(api.with_deform_decisions(graph), weights)
    if problems:
        raise SegError([Diagnostic(f"internal error: the pruned weights do not fit the pruned network: {p}")
                        for p in problems])


COMMANDS = {"prune": _prune}
