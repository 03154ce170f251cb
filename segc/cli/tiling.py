"""The ``tiling`` command: Mori et al. Fig. 4 for any network: DRAM accesses
and latency of every convolution layer under no, static and dynamic tiling,
with totals and ratios; a table, JSON or CSV, or with ``-o`` a folder of
them and the plot."""

from __future__ import annotations

import argparse
import sys

from .common import (
    calibration_option,
    check_output_folder,
    force_option,
    hardware_options,
    json_text,
    load_for_hardware,
    write_output_folder,
)

__all__ = ["COMMANDS", "add_commands"]

FORMATS = ("table", "json", "csv")
DESCRIPTION = (
    "DRAM accesses and latency of every convolution layer under three tiling schemes (Mori et al., Fig. 4), "
    "their totals, and the ratios of the static and no-tiling totals to the dynamic one's.  none: every output "
    "tile is 1×1.  static: one square T×T output tile for every layer, T the largest for which every non-dilated "
    "layer's input tile ((T'-1)s+k)² · C_i fits the input buffer, T' = T clamped to the layer's output; dilated "
    "layers use 1×1.  dynamic (paper): each layer's own tile by Eq. 1, dilated layers 1×1.  See docs/tiling.md.")


def add_commands(commands) -> None:
    tiling = commands.add_parser("tiling", help="DRAM accesses and latency per conv layer under no, static and "
                                                "dynamic tiling (Fig. 4 of Mori et al.)", description=DESCRIPTION)
    hardware_options(tiling, tiling=False)
    tiling.add_argument("--format", choices=FORMATS, default="table", help="what to print when no -o is given "
                                                                           "(default: table)")
    tiling.add_argument("-o", "--output", metavar="DIR", help="write tiling.json, tiling.csv and tiling.png as the "
                                                             "folder DIR (replaced whole)")
    force_option(tiling)


def _tiling(args: argparse.Namespace) -> int:
    from ..tiling_figure import compare_tiling, to_csv

    graph = load_for_hardware(args)
    if args.output:
        check_output_folder(args)
    document = compare_tiling(graph, calibration_option(args))
    if args.output:
        from ..backends.report.plots import tiling_plot

        files = {"tiling.json": json_text(document) + "\n", "tiling.csv": to_csv(document),
                 "tiling.png": tiling_plot(document)}
        _print_table(document)
        write_output_folder(args, files)
    elif args.format == "json":
        print(json_text(document))
    elif args.format == "csv":
        sys.stdout.write(to_csv(document))
    else:
        _print_table(document)
    return 0


def _print_table(document: dict) -> None:
    from ..backends.report.tables import unroll_label
    from ..tiling_figure import summary_lines, table_rows
    from .table import print_table

    unroll = unroll_label(document["target"]["unroll"])
    title = (f"{document['network']} on {document['target']['name']} (unroll {unroll}; "
             f"{document['calibration']}): DRAM words and latency per convolution layer")
    print_table(title, *table_rows(document))
    print("\n".join(summary_lines(document)))


COMMANDS = {"tiling": _tiling}
