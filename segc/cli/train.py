"""The training commands of the CLI: ``finetune`` (train a network's
weights on a dataset, write them as ``.safetensors``; through fake
quantization for a quantized network), ``quantize`` (calibrate a quantized
network's activation ranges on data) and ``evaluate`` (mIoU and pixel
accuracy, or top-1; of the quantized network, beside float with
``--float``).  Datasets are named by a spec: ``synthetic[:N]``
(generated, offline) or ``cityscapes:ROOT``.  torch is imported only when
one of these commands runs."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys

from .. import api, outputs
from ..ir import Diagnostic, Note, SegError
from .common import int_in, json_text, load_graph, positive_float, protected, seed

__all__ = ["COMMANDS", "add_commands"]


def _data_options(command: argparse.ArgumentParser, split: str) -> None:
    command.add_argument("file", help="a .seg file (or a segc .json graph)")
    command.add_argument("--network", metavar="NAME", help="the network to use when the file defines several")
    command.add_argument("--data", metavar="SPEC", required=True,
                         help="synthetic[:N] (generated: 256 train / 64 val samples unless N) or cityscapes:ROOT")
    command.add_argument("--split", choices=("train", "val"), default=split, help=f"the split (default: {split})")
    command.add_argument("--batch-size", type=int_in(1), default=16, metavar="B", help="samples per batch (default 16)")


def _range_rule(text: str) -> str:
    """``max`` or ``percentile:P`` (0 < P ≤ 100)."""
    from ..backends.quant import parse_range_rule

    try:
        parse_range_rule(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _range_options(command: argparse.ArgumentParser, samples_flag: str = "--samples") -> None:
    command.add_argument("--range", type=_range_rule, default="max", metavar="RULE",
                         help="the range of a layer's output: max (max |x|) or percentile:P (the P-th percentile "
                              "of |x|, e.g. percentile:99.99); default max")
    command.add_argument(samples_flag, type=int_in(1), metavar="N", dest="samples",
                         help="calibrate on the first N samples of the split (default: all)")


def add_commands(commands) -> None:
    tune = commands.add_parser("finetune", help="fine-tune a network's weights on a dataset")
    _data_options(tune, "train")
    tune.add_argument("--weights", metavar="W", help="starting weights (.pt or .safetensors); default: initialised "
                                                      "from --seed, i.e. trained from scratch")
    tune.add_argument("--epochs", type=int_in(1), default=1, metavar="E", help="passes over the data (default 1)")
    tune.add_argument("--lr", type=positive_float, default=0.01, help="learning rate (default 0.01)")
    tune.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                      help="SGD with momentum 0.9 or Adam (default sgd)")
    tune.add_argument("--seed", type=seed, default=0, help="seed of the initial weights and the shuffling")
    tune.add_argument("-o", "--output", required=True, metavar="OUT.safetensors", help="the fine-tuned weights")
    _range_options(tune.add_argument_group("quantization-aware fine-tuning (a network with a quantize section, "
                                          "weights without calibrated ranges: calibrated first, then kept)"),
                  "--calibration-samples")

    calibrate = commands.add_parser("quantize", help="calibrate a quantized network's activation ranges on data")
    _data_options(calibrate, "train")
    calibrate.add_argument("--weights", metavar="W", help="the float weights (.pt or .safetensors); default: "
                                                          "initialised from --seed")
    calibrate.add_argument("--seed", type=seed, default=0, help="seed of the initial weights without --weights")
    _range_options(calibrate)
    calibrate.add_argument("-o", "--output", required=True, metavar="OUT.safetensors",
                           help="the weights with each quantized layer's range (<layer>.act_range)")

    ev = commands.add_parser("evaluate", help="accuracy of a network's weights on a dataset (mIoU or top-1)")
    _data_options(ev, "val")
    ev.add_argument("--weights", metavar="W", required=True, help="the weights (.pt or .safetensors)")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    ev.add_argument("--float", action="store_true", dest="with_float",
                    help="a quantized network: also the accuracy of the float network on the same weights")


def _dataset(args: argparse.Namespace):
    """The graph, its task and class count, and the checked dataset."""
    from ..train.data import check_dataset, network_task, open_dataset

    if args.batch_size < 1:
        raise SegError(Diagnostic(f"--batch-size must be at least 1, got {args.batch_size}"))
    graph = load_graph(args)
    task, classes, shape = network_task(graph)
    dataset = open_dataset(args.data, args.split, task, classes, shape)
    check_dataset(dataset, shape, classes, task)
    return graph, task, classes, dataset


def _check_output_file(output: str) -> None:
    """Before hours of work: the output can be written at all."""
    if not output.endswith(".safetensors"):
        raise SegError(Diagnostic(f"the output must be a .safetensors file, got '{output}'"))
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise SegError(Diagnostic(f"cannot write '{output}': the folder '{folder}' does not exist"))


def _check_output(args: argparse.Namespace) -> None:
    _check_output_file(args.output)
    if args.epochs < 1 or not args.lr > 0 or not math.isfinite(args.lr):
        raise SegError(Diagnostic(f"--epochs must be at least 1 and --lr positive, got {args.epochs} and {args.lr:g}"))


class _EpochLines:
    """Progress without a terminal: the mean batch loss of each epoch, on standard error."""

    def __init__(self, epochs: int):
        self.epochs, self.losses = epochs, []

    def __call__(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.losses.append(loss)
        if batch == batches - 1:
            print(f"epoch {epoch + 1}/{self.epochs}: loss {sum(self.losses) / len(self.losses):.4f}", file=sys.stderr)
            self.losses = []


@contextlib.contextmanager
def _reporter(epochs: int):
    """A progress callback: a rich progress bar in a terminal, a line per epoch otherwise."""
    if not sys.stderr.isatty():
        yield _EpochLines(epochs)
        return
    from .table import progress_bar

    with progress_bar("fine-tuning") as bar:

        def update(epoch: int, batch: int, batches: int, loss: float) -> None:
            bar(total=epochs * batches, completed=epoch * batches + batch + 1,
                description=f"epoch {epoch + 1}/{epochs}, loss {loss:.4f}")

        yield update


def _finetune(args: argparse.Namespace) -> int:
    from ..quantization import quantized_module
    from ..train.finetune import Diverged, finetune

    _check_output(args)
    graph, _, _, dataset = _dataset(args)
    module = quantized_module(graph, args.weights, dataset, args.range, args.samples, args.batch_size, args.seed)
    inputs = (*protected(args), *([args.weights] if args.weights else []))
    outputs.check_file(args.output, inputs)
    try:
        with _reporter(args.epochs) as progress:
            result = finetune(module, dataset, args.epochs, args.lr, args.batch_size, args.seed, progress,
                              optimizer=args.optimizer)
    except Diverged as err:  # exit 1, with the last good weights written when a step had a finite loss
        if err.steps:
            _write_weights(module, args.output, inputs)
        kept = f"the weights after {err.steps} update(s) are in {args.output}" if err.steps else "nothing written"
        raise SegError(err.diagnostics[0].with_notes(Note(kept))) from None
    _write_weights(module, args.output, inputs)
    losses = result.epoch_losses
    print(f"fine-tuned {graph.name} on {len(dataset)} samples of {args.data} ({args.split}), {args.epochs} epoch(s) "
          f"in {result.seconds:.1f} s: loss {losses[0]:.4f} -> {losses[-1]:.4f}; weights in {args.output}")
    return 0


def _write_weights(module, output: str, inputs: tuple[str, ...]) -> None:
    from safetensors.torch import save

    state = {k: v.detach().contiguous() for k, v in sorted(module.state_dict().items())}
    api.write_atomic(output, save(state), inputs)


def _figures(result: dict) -> dict:
    """NaN (nothing counted) as null, for JSON."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}


def _evaluate(args: argparse.Namespace) -> int:
    from ..quantization import float_graph, float_weights, is_quantized, quantized_module
    from ..train.finetune import evaluate, score

    graph, task, classes, dataset = _dataset(args)
    module = quantized_module(graph, args.weights)
    result = _figures(evaluate(module, dataset, task, classes, args.batch_size))
    result["quantized"] = is_quantized(graph)
    if args.with_float:
        float_module = api.to_torch(float_graph(graph), float_weights(module.state_dict()))
        result["float"] = _figures(evaluate(float_module, dataset, task, classes, args.batch_size))
    if args.json:
        print(json_text({"network": graph.name, "data": args.data, "split": args.split, **result}))
        return 0
    title = f"{graph.name}{' (quantized)' if result['quantized'] else ''} on {len(dataset)} samples of {args.data} " \
            f"({args.split})"
    if task == "classification":
        print(f"{title}: top-1 {result['top1']:.2%}")
    else:
        _print_segmentation(title, result, getattr(dataset, "class_names", None))
    if args.with_float:
        figure, change = score(result["float"]), score(result) - score(result["float"])
        print(f"float network: {'top-1' if task == 'classification' else 'mIoU'} {_percent(figure)} "
              f"(quantized {change * 100:+.2f} points)")
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _print_segmentation(title: str, result: dict, names) -> None:
    from .table import print_table

    print(f"{title}: mIoU {_percent(result['miou'])}, pixel accuracy {_percent(result['pixel_accuracy'])}")
    named = names is not None
    rows = [[str(c), *([names[c]] if named else []), _percent(v)] for c, v in enumerate(result["iou"])]
    headers = ["class", *(["name"] if named else []), "IoU"]
    footer = ["mean", *([""] if named else []), _percent(result["miou"])]
    print_table("IoU per class", headers, rows, footer)
    if None in result["iou"]:
        print("-: a class in neither the labels nor the predictions, left out of the mean")


def _quantize(args: argparse.Namespace) -> int:
    from ..quantization import is_quantized, quantized_module

    _check_output_file(args.output)
    graph, _, _, dataset = _dataset(args)
    if not is_quantized(graph):
        raise SegError(Diagnostic(f"network '{graph.name}' quantizes no layer: give it a quantize section "
                                  "(docs/quantization.md)", path=args.file))
    inputs = (*protected(args), *([args.weights] if args.weights else []))
    outputs.check_file(args.output, inputs)
    module = quantized_module(graph, args.weights, dataset, args.range, args.samples, args.batch_size, args.seed,
                              recalibrate=True)
    _write_weights(module, args.output, inputs)
    count = min(args.samples or len(dataset), len(dataset))
    layers = sum(1 for key in module.state_dict() if key.endswith(".act_range"))
    print(f"calibrated the output ranges of {layers} layer(s) of {graph.name} ({args.range}) on {count} samples of "
          f"{args.data} ({args.split}); weights in {args.output}")
    return 0


COMMANDS = {"finetune": _finetune, "quantize": _quantize, "evaluate": _evaluate}
