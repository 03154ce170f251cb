"""The ``search`` command: the NSGA-II pruning search; writes
``DIR/pareto.json`` and, with ``--export K``, the pruned network and
weights of K points spread along the front; then, in a detached child
process (``background.py``), the page ``DIR/search.html`` and the plot
``DIR/pareto.png``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from .. import api, outputs
from ..ir import Diagnostic, SegError
from ..passes.modes import SEARCH_OBJECTIVES
from .background import inline, run_detached
from .common import (
    calibration_option,
    check_output_folder,
    force_option,
    hardware_options,
    int_in,
    json_text,
    load_for_hardware,
    protected,
    say_written,
    seed,
)

__all__ = ["COMMANDS", "add_commands"]

PLOT = "pareto.png"
FIGURES = ("search.html", PLOT)  # drawn after the result, in a child process


def add_commands(commands) -> None:
    search = commands.add_parser("search", help="search per-layer pruning rates for accuracy and latency "
                                                "(NSGA-II); writes DIR/pareto.json, a plot and a page")
    hardware_options(search)
    search.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="the folder of pareto.json, pareto.png, search.html and exported points (replaced "
                             "whole: no point of an earlier run stays)")
    force_option(search)
    search.add_argument("--pop", type=int_in(2), default=25, help="population size (default 25, as the paper)")
    search.add_argument("--gen", type=int_in(1), default=25, help="generations (default 25)")
    search.add_argument("--seed", type=seed, default=0, help="seed of the search and of initial weights")
    search.add_argument("--objective", choices=SEARCH_OBJECTIVES, default="latency", help="hardware cost to minimise")
    search.add_argument("--rates", metavar="R,R,...", help="the pruning rates a gene chooses from "
                                                         "(default 0,0.1,...,0.8)")
    search.add_argument("--widths", metavar="B,B,...", help="also search each layer's bit widths among these: N "
                                                           "(weights and activations) or W/A, e.g. 16,8,4/8; "
                                                           "needs --data")
    search.add_argument("--no-siblings", action="store_true", help="a gene per channel group, also for groups "
                                                                   "that read the same input")
    search.add_argument("--snap", action="store_true", help="snap kept channels to multiples of P_of")
    search.add_argument("--weights", metavar="W", help="a state_dict (.pt or .safetensors); default: from --seed")
    search.add_argument("--data", metavar="SPEC", help="measure accuracy on data: synthetic[:N] or cityscapes:ROOT "
                                                       "(default: the L1-importance proxy)")
    search.add_argument("--samples", type=int_in(1), default=16, help="training samples per accuracy evaluation")
    search.add_argument("--workers", type=int_in(0), help="local worker processes for accuracy on data (default: one "
                                                          "per CPU; 0 or 1: in this process)")
    search.add_argument("--scheduler", metavar="ADDR", type=_scheduler, help="evaluate on a Dask cluster (tcp://host:port)")
    search.add_argument("--export", type=int_in(0), default=0, metavar="K",
                        help="write the pruned .seg and weights of K points spread along the front")


def _scheduler(address: str) -> str:
    """argparse type of --scheduler: a Dask scheduler address, checked before connecting."""
    from ..search_workers import scheduler_problem

    problem = scheduler_problem(address)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return address


def _rates(text: str | None) -> tuple[float, ...]:
    from ..passes.search_space import DEFAULT_RATES

    if text is None:
        return DEFAULT_RATES
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SegError(Diagnostic(f"--rates takes numbers separated by commas, e.g. 0,0.25,0.5; got '{text}'")) \
            from None


@contextlib.contextmanager
def _progress(total: int):
    """A rich progress bar on a terminal's standard error, else nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    from .table import progress_bar

    with progress_bar("generations", total) as bar:
        yield lambda done, _: bar(completed=done)


def _search(args: argparse.Namespace) -> int:
    from ..pruning_search import SearchOptions, search
    from ..width_search import parse_widths

    graph = load_for_hardware(args)
    check_output_folder(args, _weights(args))
    calibration = calibration_option(args)
    options = SearchOptions(
        pop=args.pop, gen=args.gen, seed=args.seed, objective=args.objective, rates=_rates(args.rates),
        siblings=not args.no_siblings, snap=args.snap, tiling=args.tiling, calibration=calibration,
        data=args.data, samples=args.samples, workers=args.workers, scheduler=args.scheduler,
        widths=parse_widths(args.widths),
    )
    options.check()
    arrays = api.weight_arrays(graph, args.weights, args.seed)
    with _progress(args.gen) as progress:
        document = search(graph, arrays, options, progress)
    files = {"pareto.json": json_text(document) + "\n", **_export_points(graph, arrays, document, args)}
    _print_front(document)
    sys.stdout.flush()
    _write_result_then_figures(args, files, (graph, document, calibration))
    return 0


def _write_result_then_figures(args: argparse.Namespace, files: dict, drawn_from: tuple) -> None:
    """The folder with the result; then the figures (matplotlib's import
    and drawing, the slowest outputs), in a child the command does not wait
    for unless ``SEGC_FIGURES=inline``."""
    inputs = (*protected(args), *_weights(args))
    written = outputs.write_folder(args.output, files, inputs, args.force, generated=FIGURES)
    figures = [os.path.join(args.output, name) for name in FIGURES]
    job = (args.output, files["pareto.json"], *drawn_from, inputs)
    if inline():
        draw_figures(*job)
        say_written([*written, *figures], args.output)
    else:
        run_detached(draw_figures, *job)
        say_written(written, args.output)
        print(f"drawing {' and '.join(figures)} in the background", file=sys.stderr)


def draw_figures(folder: str, result: str, graph, document: dict, calibration, inputs: tuple[str, ...]) -> None:
    """``search.html`` and ``pareto.png`` in ``folder``, each written
    atomically, unless the folder's ``pareto.json`` is no longer ``result``
    (a later search wrote the folder meanwhile: its own child draws it)."""
    from ..backends.report.plots import search_plot
    from ..pruning_search import search_html

    for name, draw in (("search.html", lambda: search_html(graph, document, calibration)),
                       (PLOT, lambda: search_plot(document))):
        content = draw()
        if not _holds(folder, result):
            return
        api.write_atomic(os.path.join(folder, name), content, inputs)


def _holds(folder: str, result: str) -> bool:
    """Whether ``folder/pareto.json`` is ``result``."""
    try:
        with open(os.path.join(folder, "pareto.json"), encoding="utf-8") as file:
            return file.read() == result
    except OSError:
        return False


def _weights(args: argparse.Namespace) -> tuple[str, ...]:
    return (args.weights,) if args.weights else ()


def _export_points(graph, arrays: dict, document: dict, args: argparse.Namespace) -> dict[str, bytes | str]:
    from safetensors.numpy import save

    from ..pruning_search import export_point

    front = len(document["front"])
    count = min(args.export, front)
    chosen = sorted({round(i * (front - 1) / max(1, count - 1)) for i in range(count)})
    files: dict[str, bytes | str] = {}
    for index in chosen:
        text, weights = export_point(graph, arrays, document, index)
        files[f"point{index}.seg"] = f"# point {index} of the Pareto front in pareto.json\n\n" + text
        files[f"point{index}.safetensors"] = save({k: v.copy() for k, v in sorted(weights.items())})
    return files


def _print_front(document: dict) -> None:
    from .table import print_table, si

    headers = ["point", "accuracy", "latency (ms)", "speed-up (×)", "OPs"]
    rows = [[str(i), f"{p['accuracy']:.4f}", f"{p['latency_s'] * 1e3:.3f}", f"{p['speedup']:.2f}", si(p["ops"])]
            for i, p in enumerate(document["front"])]
    if document["objective"] == "dsp-latency":
        headers += ["best unroll", "its latency (ms)"]
        for row, point in zip(rows, document["front"]):
            row += [",".join(str(u) for u in point["unroll"]), f"{point['cost'] * 1e3:.3f}"]
    if "widths" in document:
        headers.append("w/a bits per layer")
        for row, point in zip(rows, document["front"]):
            row.append(" ".join(f"{w}/{a}" for w, a in point["layer_widths"].values()))
    title = (f"{document['network']}: Pareto front after {document['gen']} generations of {document['pop']} "
             f"({document['evaluations']} candidates; accuracy = {document['accuracy']['name']})")
    print_table(title, headers, rows)
    print(f"speed-up: the unpruned network's latency ({document['baseline_latency_s'] * 1e3:.3f} ms) over the "
          "point's, same target, unroll, tiling and calibration")


COMMANDS = {"search": _search}
