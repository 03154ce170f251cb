"""The hardware-model commands of the CLI: ``report`` (and, with it, the
options every such command shares: target, unroll factors, tiling,
calibration)."""

from __future__ import annotations

import argparse
import sys

from .. import api
from ..calibration_cv import CV_MODES
from ..ir import Diagnostic, Graph, SegError, render
from ..ir.collector import no_gc_pauses
from ..passes.modes import TILING_MODES
from .common import (
    calibration_option,
    check_output_folder,
    force_option,
    hardware_options,
    json_text,
    load_for_hardware,
    say_written,
    write_output_folder,
)

__all__ = ["COMMANDS", "add_commands"]

REPORT_FORMATS = ("terminal", "json", "markdown", "csv", "html")
ROOFLINE_NOTE = ("roofline/latency: the compute-only bound (MACs / (P_if·P_of·P_kx·P_ky·clock), a PE array that "
                 "never waits for memory nor wastes a lane) over the model's latency; 100% = compute-bound")
DSE_NOTE = ("DSPs_PE: the PE array's ⌈P_if·P_of·P_kx·P_ky / p⌉, p the MACs per DSP at its operand width; "
            "DSPs_total: with the target's other units "
            "(depthwise engine, elementwise unit, fixed units), the budget the front is drawn against")


def add_commands(commands) -> None:
    report = commands.add_parser("report", help="per-layer latency report from the hardware model")
    hardware_options(report)
    report.add_argument("--format", choices=REPORT_FORMATS, default="terminal",
                        help="what to print when no -o is given (default: terminal); html: one self-contained "
                             "page with a sortable table, the plots and the graph")
    report.add_argument("-o", "--output", metavar="DIR",
                        help="write report.json, report.md, report.csv, report.html and PNG plots as the folder "
                             "DIR (replaced whole)")
    force_option(report)

    dse = commands.add_parser("dse", help="explore unroll factors and input-buffer sizes; print the Pareto front",
                              description="Explore every unroll (P_if, P_of, P_kx, P_ky) the DSP blocks left by the "
                                          "target's other units allow, pruned to the values that change the "
                                          "network's latency, and every input-buffer size; print the Pareto front of "
                                          "latency against DSPs.  " + DSE_NOTE + ".  " + ROOFLINE_NOTE + ".")
    hardware_options(dse)
    dse.add_argument("--format", choices=("terminal", "json"), default="terminal")
    dse.add_argument("-o", "--output", metavar="DIR", help="write dse.json and pareto.png as the folder DIR "
                                                          "(replaced whole)")
    force_option(dse)

    cal = commands.add_parser("calibrate", help="fit the latency model to measured latencies (CSV)")
    cal.add_argument("measurements", help="CSV: network,pif,pof,pkx,latency_s[,pky][,layer]")
    cal.add_argument("--fit", metavar="PARAMS",
                     help="physical parameters to fit, of overlap, effective_bandwidth, layer_overhead, "
                          "access_latency, elementwise_width (default: those the measured layers exercise)")
    cal.add_argument("--train", metavar="NAME", help="fit on the networks whose file name contains NAME; "
                                                      "report the error on the others (default: fit on all)")
    cal.add_argument("--tiling", choices=TILING_MODES, default="paper")
    cal.add_argument("--cv", choices=CV_MODES,
                     help="also cross-validate the fit: hold out each unroll configuration (config) or each network "
                          "(network) in turn, fit on the other rows (all of them, whatever --train says) and report "
                          "the error on the rows held out")
    cal.add_argument("-o", "--output", metavar="FILE", help="write the calibration file here (with --cv, the "
                                                            "cross-validation too, under \"cv\")")

    compile_ = commands.add_parser("compile", help="run a pass pipeline and emit artifacts")
    hardware_options(compile_)
    compile_.add_argument("--passes", default="deform,tile,cost",
                          help="pipeline (default deform,tile,cost), e.g. 'deform,tile{mode=paper},cost'")
    compile_.add_argument("--emit", default="report", help="comma-separated: report, hls-config, seg, json")
    compile_.add_argument("-o", "--output", metavar="DIR", required=True,
                          help="the folder of the artifacts (replaced whole)")
    force_option(compile_)


def _report(args: argparse.Namespace) -> int:
    """Load, analyse and print: long-lived objects only, so the garbage
    collector is paused throughout (its full collections would free nothing)."""
    with no_gc_pauses():
        return _print_report(args)


def _print_report(args: argparse.Namespace) -> int:
    from .. import hardware
    from ..backends.report import tables as render

    if not args.output and args.format == "terminal":
        return _print_terminal_table(args)
    graph = load_for_hardware(args)
    if args.output:
        check_output_folder(args)
    data = hardware.report(graph, args.tiling, calibration_option(args))
    if args.output:
        _write_report_folder(args, data, graph)
    elif args.format == "html":
        sys.stdout.write(_html_page(data, graph))
    elif args.format == "json":
        sys.stdout.write(render.to_json(data))
    elif args.format == "markdown":
        sys.stdout.write(render.to_markdown(data))
    else:
        sys.stdout.write(render.to_csv(data))
    return 0


def _print_terminal_table(args: argparse.Namespace) -> int:
    """The table's rows formatted straight from the annotated graph (no
    report rows for the whole network; the graph as loaded is let go once
    analysed)."""
    from .. import hardware
    from ..backends.report import tables as render
    from .table import print_table

    analysed, summary = hardware.report_summary(load_for_hardware(args), args.tiling, calibration_option(args))
    title, *lines = render.summary_lines(summary)
    cells = render.layer_cells(analysed, summary["totals"]["latency_s"])
    print_table(title, render.table_headers(), cells, render.footer_cells(render.summary_total_row(summary)))
    print("\n".join(lines))
    return 0


def _html_page(data: dict, graph: Graph) -> str:
    from ..backends.report.html import report_page
    from ..backends.report.picture import render_picture

    return report_page(data, render_picture(graph, "svg", "auto").decode())


def _write_report_folder(args: argparse.Namespace, data: dict, graph: Graph) -> None:
    from ..backends.report import plots
    from ..backends.report import tables as render

    files = {
        "report.json": render.to_json(data), "report.md": render.to_markdown(data), "report.csv": render.to_csv(data),
        "report.html": _html_page(data, graph), "latency.png": plots.latency_plot(data),
        "roofline.png": plots.roofline_plot(data),
    }
    write_output_folder(args, files)


def _dse(args: argparse.Namespace) -> int:
    from ..passes.dse import explore

    graph = load_for_hardware(args)
    if args.output:
        check_output_folder(args)
    explored = explore(graph, graph.target, args.tiling, calibration_option(args))
    if not len(explored):
        raise SegError(Diagnostic("no configuration fits: every input buffer tried is too small for some layer"))
    target = graph.target
    data = {"format": "segc.dse", "version": 1, "network": graph.name, "target": target.name,
            "tiling": args.tiling, "explored": len(explored), "dsp": target.dsp, "unit_dsps": target.unit_dsps,
            "pe_bits": explored.pe_bits, "macs_per_dsp": explored.macs_per_dsp,
            "front": [p.to_json() for p in explored.front()]}
    if args.output:
        from ..backends.report.plots import pareto_plot

        png = pareto_plot(explored.dsp_total, explored.latency_s, data["front"], f"{graph.name} on {target.name}")
        write_output_folder(args, {"dse.json": json_text(data) + "\n", "pareto.png": png})
    elif args.format == "json":
        print(json_text(data))
    else:
        _print_front(data)
    return 0


def _print_front(data: dict) -> None:
    from .table import print_table

    headers = ["P_if", "P_of", "P_kx", "P_ky", "buffer_KiB", "DSPs_PE", "DSPs_total", "latency_ms", "roofline_ms",
               "roofline/latency"]
    rows = [[str(p["pif"]), str(p["pof"]), str(p["pkx"]), str(p["pky"]), f"{p['input_buffer_kib']:g}",
             str(p["dsp_pe"]), str(p["dsp_total"]), f"{p['latency_s'] * 1e3:.3f}", f"{p['roofline_s'] * 1e3:.3f}",
             f"{p['roofline_s'] / p['latency_s']:.0%}"] for p in data["front"]]
    units = ", ".join(f"{name} {dsps}" for name, dsps in data["unit_dsps"].items()) or "none"
    title = (f"Pareto front of {data['network']} on {data['target']} ({data['explored']} designs explored; "
             f"{data['dsp']} DSP blocks, other units: {units}; PE array at {data['pe_bits']}-bit operands, "
             f"{data['macs_per_dsp']} MACs per DSP)")
    print_table(title, headers, rows)
    print(DSE_NOTE)
    print(ROOFLINE_NOTE)


def _calibrate(args: argparse.Namespace) -> int:
    from ..calibration import calibrate_rows, check_parameters, fit_table, measured_features
    from ..calibration_cv import cross_validate_rows, cv_table
    from ..measurements import read_measurements

    parameters = None if args.fit is None else tuple(p.strip() for p in args.fit.split(",") if p.strip())
    check_parameters(parameters)
    warnings: list[Diagnostic] = []
    rows = read_measurements(args.measurements, warnings)
    for warning in warnings:
        print(render(warning), file=sys.stderr)
    feats = measured_features(rows, args.tiling)  # each network costed once, for the fit and the folds
    result = calibrate_rows(args.measurements, rows, feats, parameters, args.train, args.tiling)
    _print_table_and_notes(*fit_table(result))
    if args.cv:
        result["cv"] = cross_validate_rows(rows, feats, args.cv, parameters)
        print()
        _print_table_and_notes(*cv_table(result["cv"]))
    if args.output:
        api.write_atomic(args.output, json_text(result) + "\n", (args.measurements,))
        say_written([args.output])
    return 0


def _print_table_and_notes(title: str, headers: list[str], rows: list[list[str]], notes: list[str]) -> None:
    from .table import print_table

    print_table(title, headers, rows)
    print("\n".join(notes))


def _compile(args: argparse.Namespace) -> int:
    from ..backends.hls import config as hls_config
    from ..backends.report import tables as render
    from ..backends.report.resources import resource_lines, resource_totals
    from ..passes.base import run_pipeline
    from ..passes.registry import parse_pipeline

    emits = [e.strip() for e in args.emit.split(",") if e.strip()]
    unknown = [e for e in emits if e not in ("report", "hls-config", "seg", "json")]
    if unknown or not emits:
        raise SegError(Diagnostic(f"--emit takes report, hls-config, seg, json; got '{args.emit}'"))
    passes = parse_pipeline(args.passes)
    graph = load_for_hardware(args)
    check_output_folder(args)
    graph, _ = run_pipeline(graph, passes)
    files: dict[str, str] = {}
    if "report" in emits or "hls-config" in emits:
        _require_cost(graph, args.passes)
    if "report" in emits:
        tiling = next((p.mode for p in passes if p.name == "tile"), "paper")
        files["report.json"] = render.to_json(render.build_report(graph, tiling, "uncalibrated (Eq. 5)"))
    if "hls-config" in emits:
        files["layer_config.json"] = hls_config.to_json(graph)
        files["layer_config.h"] = hls_config.to_header(graph)
        print("\n".join(resource_lines(resource_totals(graph))))
    if "seg" in emits:
        files[f"{graph.name}.seg"] = api.to_seg(graph)
    if "json" in emits:
        files[f"{graph.name}.json"] = api.to_json(graph)
    write_output_folder(args, files)
    return 0


def _require_cost(graph: Graph, spec: str) -> None:
    if any("cost" not in n.annotations for n in graph.nodes()):
        raise SegError(Diagnostic(f"--emit report and hls-config need the 'tile' and 'cost' passes; "
                                  f"--passes '{spec}' does not run them"))


COMMANDS = {"report": _report, "dse": _dse, "calibrate": _calibrate, "compile": _compile}
