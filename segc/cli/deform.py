"""The deformable-convolution commands: ``deform`` (the variant and line
buffer the deform pass gives each dconv) and ``offsets`` (the distribution
of a trained model's predicted offsets, and the bound that keeps a share of
them unclipped)."""

from __future__ import annotations

import argparse

from .. import api
from ..ir import Diagnostic, Graph, SegError
from .common import json_text, load_graph, percentage, seed

__all__ = ["COMMANDS", "add_commands"]


def add_commands(commands) -> None:
    deform = commands.add_parser("deform", help="run the deform pass: each dconv's offset bound, shape, rounding "
                                                "and line-buffer rows")
    _source(deform)
    deform.add_argument("--target", metavar="T", help="a target NAME, FILE.seg or FILE.seg:NAME (default: the "
                                                      "network's 'on' target)")
    for option, values in (("bound", "N|auto|none"), ("shape", "full|square"), ("round", "true|false")):
        deform.add_argument(f"--{option}", metavar=values, default="keep",
                            help=f"override every dconv's {option} (default: keep the network's and its directives')")
    deform.add_argument("--json", action="store_true", help="print the deform annotations as JSON")

    offsets = commands.add_parser("offsets", help="distribution of the offsets a trained model predicts, per dconv, "
                                                  "and the bound that keeps a percentile of them unclipped")
    _source(offsets)
    offsets.add_argument("--weights", metavar="W", help="the trained state_dict (.pt or .safetensors); default: "
                                                         "initialised from --seed (untrained offsets)")
    offsets.add_argument("--inputs", metavar="N|FILE", default="8",
                         help="N random standard-normal inputs, or a file of inputs (.npy, .pt, .safetensors; "
                              "[N, C, H, W]) (default: 8)")
    offsets.add_argument("--seed", type=seed, default=0,
                         help="seed of the initial weights (without --weights) and of the random inputs (default 0)")
    offsets.add_argument("--percentile", type=percentage, default=99.0,
                         help="share of the offsets the suggested bound leaves unclipped, in percent (default 99)")
    offsets.add_argument("--json", action="store_true", help="print the statistics as JSON")


def _source(command: argparse.ArgumentParser) -> None:
    command.add_argument("file", help="a .seg file (or a segc .json graph)")
    command.add_argument("--network", metavar="NAME", help="the network to use when the file defines several")


def _deform(args: argparse.Namespace) -> int:
    from ..passes.base import run_pipeline
    from ..passes.deform import DeformPass

    graph = load_graph(args)
    if args.target:
        from ..hardware import resolve_target

        graph.target = resolve_target(args.target, args.file)
    annotated, _ = run_pipeline(graph, [DeformPass(args.bound, args.shape, args.round)])
    plans = {n.name: n.annotations["deform"] for n in annotated.nodes() if n.op == "dconv"}
    if args.json:
        print(json_text({"network": graph.name, "target": graph.target.name if graph.target else None,
                         "layers": plans}))
        return 0
    from .table import print_table

    rows = [[name, p["shape"], "yes" if p["round"] else "no", _bound_text(p), _rows_text(p), str(p["row_words"])]
            for name, p in plans.items()]
    title = f"deformable layers of {graph.name} on {graph.target.name if graph.target else 'no target'}"
    print_table(title, ["layer", "shape", "rounded", "bound", "line-buffer rows", "words per row"], rows)
    return 0


def _bound_text(plan: dict) -> str:
    if plan["bound"] is None:
        return "none"
    if not plan["derived"]:
        return f"{plan['bound']:g}"
    return f"{plan['bound']:g} (auto: {plan.get('limit') or 'line buffer'})"


def _rows_text(plan: dict) -> str:
    if plan["rows"] is None:
        return f"- of {plan['rows_available']}"
    return f"{plan['rows']} of {plan['rows_available']}"


def _offsets(args: argparse.Namespace) -> int:
    from ..backends.torch.offsets import collect_offsets, offset_table, read_inputs

    if not 0 < args.percentile <= 100:
        raise SegError(Diagnostic(f"--percentile must be above 0 and at most 100, got {args.percentile:g}"))
    graph = api.with_deform_decisions(load_graph(args))
    if not any(n.op == "dconv" for n in graph.nodes()):
        raise SegError(Diagnostic(f"network '{graph.name}' has no deformable (dconv) layer"))
    module = api.to_torch(graph, args.weights, args.seed)
    offsets = collect_offsets(graph, module, read_inputs(graph, args.inputs, args.seed))
    table = offset_table(graph, offsets, args.percentile / 100)
    if args.json:
        print(json_text({"network": graph.name, "weights": args.weights, "seed": args.seed,
                         "percentile": args.percentile, "inputs": args.inputs, "layers": table}))
        return 0
    _print_offsets(graph, table, args.percentile)
    if not args.weights:
        print(f"weights initialised from seed {args.seed}, not trained: these are the offsets of an untrained "
              "offset branch, not a trained model's (give --weights)")
    return 0


def _print_offsets(graph: Graph, table: list[dict], percentile: float) -> None:
    from .table import print_table

    def number(value) -> str:
        return "" if value is None else f"{value:.3g}"

    headers = ["layer", "shape", "values", "mean", "p50", "p90", "p99", "max", "bound", "clipped",
               f"bound for {percentile:g}%", "fits"]
    rows = []
    for r in table:
        clipped = "" if r["clipped_at_bound"] is None else f"{100 * r['clipped_at_bound']:.2f}%"
        fits = r["largest_bound_that_fits"]
        fit = "" if fits is None and graph.target is None else (
            "no bound fits" if fits is None else f"{'yes' if r['suggested_bound'] <= fits else 'no'} (≤ {fits})")
        rows.append([r["layer"], r["shape"], f"{r['values']:,}", number(r["mean"]), number(r["q50"]),
                     number(r["q90"]), number(r["q99"]), number(r["max"]), number(r["bound"]), clipped,
                     str(r["suggested_bound"]), fit])
    what = "|offset|" if all(r["shape"] == "full" for r in table) else "|offset| (full), max(s, 1 − s) (square)"
    print_table(f"predicted offsets of {graph.name}: {what}", headers, rows)


COMMANDS = {"deform": _deform, "offsets": _offsets}
