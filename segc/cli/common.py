"""Helpers every command of the command line shares."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .. import api, outputs
from ..ir import Diagnostic, Graph, SegError, render
from ..passes.modes import TILING_MODES

__all__ = ["calibration_option", "check_output_folder", "force_option", "hardware_options", "int_in", "json_text",
           "load_for_hardware", "load_graph", "percentage", "positive_float", "protected", "say_written", "seed",
           "write_output_folder"]

LISTED_FILES = 6  # "wrote" lists this many paths; more are counted in their folder


# ---------------------------------------------------------------- option types
# argparse types: a value out of range is a command-line mistake (exit 2, with the usage).
def int_in(low: int, high: int | None = None):
    """An integer from ``low`` to ``high`` (inclusive; None: no upper bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            wanted = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"
            raise argparse.ArgumentTypeError(f"expected {wanted}, got '{text}'")
        return value
    return parse


def seed(text: str) -> int:
    """A random seed: 0 ≤ seed < 2^32 (what every generator segc uses accepts)."""
    from ..network import SEED_LIMIT

    return int_in(0, SEED_LIMIT - 1)(text)


def input_shape(text: str) -> tuple[int, ...]:
    """``C,H,W`` or ``N,C,H,W`` (``segc import --input-shape``)."""
    from ..backends.onnx.import_shapes import parse_input_shape

    try:
        return parse_input_shape(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def positive_float(text: str) -> float:
    """A finite number above 0 (not nan or inf, which float() accepts)."""
    value = _finite(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'")
    return value


def percentage(text: str) -> float:
    """A share in percent: above 0, at most 100."""
    value = _finite(text)
    if value is None or not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage above 0 and at most 100, got '{text}'")
    return value


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


def hardware_options(command: argparse.ArgumentParser, tiling: bool = True) -> None:
    """FILE, --network, --target, --unroll, --calibration and (if ``tiling``) --tiling."""
    command.add_argument("file", help="a .seg file (or a segc .json graph)")
    command.add_argument("--network", metavar="NAME", help="the network to use when the file defines several")
    command.add_argument("--target", metavar="T", help="a target NAME the file defines or imports, FILE.seg, or "
                                                         "FILE.seg:NAME (default: the network's 'on' target)")
    command.add_argument("--unroll", metavar="PIF,POF,PKX", help="override the target's unroll factors")
    if tiling:
        command.add_argument("--tiling", choices=TILING_MODES, default="paper", help="tiling mode (default: paper)")
    command.add_argument("--calibration", metavar="FILE", help="a calibration file from 'segc calibrate'")


def load_for_hardware(args: argparse.Namespace) -> Graph:
    """The graph with the target the options ask for."""
    from .. import hardware

    graph = load_graph(args)
    if args.target:
        graph.target = hardware.resolve_target(args.target, args.file)
    if graph.target is None:
        raise SegError(Diagnostic(
            f"network '{graph.name}' has no target: write 'network {graph.name} on TARGET' or give --target",
            path=args.file))
    if args.unroll:
        graph.target = hardware.with_unroll(graph.target, args.unroll)
    return graph


def calibration_option(args: argparse.Namespace):
    from .. import hardware

    return hardware.load_calibration(args.calibration) if args.calibration else None


def force_option(command: argparse.ArgumentParser, note: str = "") -> None:
    command.add_argument("--force", action="store_true",
                         help="write into an output folder that holds files segc did not write" + note + ": segc's "
                              "files there are replaced, the others kept (without it, such a folder is refused)")


def check_output_folder(args: argparse.Namespace, extra: tuple[str, ...] = ()) -> None:
    """Before the work: the output folder can be written (see segc.outputs)."""
    outputs.check_folder(args.output, (*protected(args), *extra), args.force)


def write_output_folder(args: argparse.Namespace, files: dict, extra: tuple[str, ...] = ()) -> None:
    """Write ``files`` as the folder -o, whole, never over an input (nor ``extra``), and say so."""
    written = outputs.write_folder(args.output, files, (*protected(args), *extra), args.force)
    say_written(written, args.output)


def json_text(data, indent: int | None = 1) -> str:
    """Standard JSON (no NaN or Infinity, which JSON does not have); a
    non-finite figure, which only non-finite input (weights, data) makes, is
    a SegError."""
    try:
        return json.dumps(data, indent=indent, allow_nan=False)
    except ValueError:
        raise SegError(Diagnostic("a result is not a finite number (NaN or infinity), which JSON cannot hold; "
                                  "are the weights and inputs finite?")) from None


def say_written(paths, folder: str | None = None) -> None:
    """One line on standard error naming the files a command wrote (in
    ``folder``), so standard output stays clean for piping."""
    paths = list(paths)
    if len(paths) == 1:
        line = f"wrote {paths[0]}"
    elif len(paths) <= LISTED_FILES:
        line = f"wrote {', '.join(paths)} ({len(paths)} files)"
    else:
        line = f"wrote {len(paths)} files in {(folder or os.path.commonpath(paths)).rstrip(os.sep)}{os.sep}"
    print(line, file=sys.stderr)
