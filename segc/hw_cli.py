"""The hardware-model commands of the CLI: ``report`` (and, with it, the
options every such command shares: target, unroll factors, tiling,
calibration)."""

from __future__ import annotations

import argparse
import os
import sys

from . import api, hardware
from .ir import Diagnostic, Graph, SegError
from .passes.hwmodel import TILING_MODES

__all__ = ["COMMANDS", "add_commands"]

REPORT_FORMATS = ("terminal", "json", "markdown", "csv")


def hardware_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("file", help="a .seg file (or a segc .json graph)")
    command.add_argument("--network", metavar="NAME", help="the network to use when the file defines several")
    command.add_argument("--target", metavar="T", help="a target NAME the file defines or imports, FILE.seg, or "
                                                         "FILE.seg:NAME (default: the network's 'on' target)")
    command.add_argument("--unroll", metavar="PIF,POF,PKX", help="override the target's unroll factors")
    command.add_argument("--tiling", choices=TILING_MODES, default="paper", help="tiling mode (default: paper)")
    command.add_argument("--calibration", metavar="FILE", help="a calibration file from 'segc calibrate'")


def add_commands(commands) -> None:
    report = commands.add_parser("report", help="per-layer latency report from the hardware model")
    hardware_options(report)
    report.add_argument("--format", choices=REPORT_FORMATS, default="terminal",
                        help="what to print when no -o is given (default: terminal)")
    report.add_argument("-o", "--output", metavar="DIR",
                        help="write report.json, report.md, report.csv and PNG plots into DIR")


def load_for_hardware(args: argparse.Namespace) -> Graph:
    """The graph with the target the options ask for."""
    from .cli import load_graph

    graph = load_graph(args)
    if args.target:
        graph.target = hardware.resolve_target(args.target, args.file)
    if graph.target is None:
        raise SegError(Diagnostic(
            f"network '{graph.name}' has no target: write 'network {graph.name} on TARGET' or give --target"
        ))
    if args.unroll:
        graph.target = hardware.with_unroll(graph.target, args.unroll)
    return graph


def _calibration(args: argparse.Namespace):
    return hardware.load_calibration(args.calibration) if args.calibration else None


def _report(args: argparse.Namespace) -> int:
    from .backends import report as render

    data = hardware.report(load_for_hardware(args), args.tiling, _calibration(args))
    if args.output:
        _write_report_folder(args, data)
    elif args.format == "json":
        sys.stdout.write(render.to_json(data))
    elif args.format == "markdown":
        sys.stdout.write(render.to_markdown(data))
    elif args.format == "csv":
        sys.stdout.write(render.to_csv(data))
    else:
        from .table import print_table

        headers, rows, footer = render.table_rows(data)
        print_table(render.summary_lines(data)[0], headers, rows, footer)
        print(render.summary_lines(data)[1])
    return 0


def _write_report_folder(args: argparse.Namespace, data: dict) -> None:
    from .backends import plots
    from .backends import report as render

    files = {
        "report.json": render.to_json(data), "report.md": render.to_markdown(data), "report.csv": render.to_csv(data),
        "latency.png": plots.latency_plot(data), "roofline.png": plots.roofline_plot(data),
    }
    make_folder(args.output)
    for name, content in files.items():
        api.write_atomic(os.path.join(args.output, name), content, (args.file,))


def make_folder(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise SegError(Diagnostic(f"cannot create the folder '{path}': {err.strerror or err}")) from None


COMMANDS = {"report": _report}
