"""Fine-tuning and evaluation of a network's torch module on a dataset.

Fine-tuning minimises the cross-entropy of the logits against the labels
(pixels labelled ``ignore_index`` do not count) with SGD with momentum (the
DeepLab recipe Mori et al. inherit) or Adam.  Runs are reproducible: the
weights' update order, the shuffling and the dropout masks all come from the
seed, in a forked random state, with torch's deterministic algorithms
switched on for the run.  Evaluation reports mIoU and pixel accuracy
(segmentation) or top-1 (classification); see ``metrics.py``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..ir import Diagnostic, SegError
from .data import TASKS, dataset_name, label_range_problem
from .metrics import IGNORE_INDEX, ConfusionMatrix, top1_correct

__all__ = ["OPTIMIZERS", "Diverged", "FinetuneResult", "evaluate", "finetune", "score"]

OPTIMIZERS = ("sgd", "adam")
Progress = Callable[[int, int, int, float], None]  # (epoch, batch, batches per epoch, loss of the batch)


@dataclass
class FinetuneResult:
    epoch_losses: list[float] = field(default_factory=list)  # mean training loss of each epoch
    seconds: float = 0.0


@contextlib.contextmanager
def _deterministic(seed: int):
    """Seeded torch random state and deterministic kernels, both restored after."""
    was = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was[0], warn_only=was[1])


def _logits(module: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    out = module(images)
    if isinstance(out, tuple):
        out = out[0]
    return out.flatten(1) if labels.dim() == 1 else out  # a classifier's [N, K, 1, 1] → [N, K]


def _checked(labels: torch.Tensor, num_classes: int, ignore_index: int, name: str, first: int) -> torch.Tensor:
    problem = label_range_problem(labels, num_classes, ignore_index)
    if problem:
        raise SegError(Diagnostic(f"samples {first}…{first + len(labels) - 1}: {problem}", path=name))
    return labels.long()


def _optimizer(module: nn.Module, name: str, lr: float, momentum: float, weight_decay: float):
    if name == "sgd":
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    raise SegError(Diagnostic(f"the optimizer must be one of {', '.join(OPTIMIZERS)}, got '{name}'"))


def _loader(dataset, batch_size: int, shuffle: bool, seed: int = 0):
    if batch_size < 1:
        raise SegError(Diagnostic(f"the batch size must be at least 1, got {batch_size}"))
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


class Diverged(SegError):
    """Fine-tuning met a non-finite loss; the module holds the last weights
    whose loss was finite (the starting weights if none was)."""

    def __init__(self, epoch: int, batch: int, lr: float, steps: int, loss: float | None = None):
        self.epoch, self.batch, self.loss, self.steps = epoch, batch, loss, steps
        what = ("its last update made the weights non-finite" if loss is None else f"the loss is {loss}"
                if not math.isfinite(loss) else f"the weights became non-finite (loss {loss:.4g})")
        super().__init__(Diagnostic(
            f"fine-tuning diverged: {what} at epoch {epoch + 1}, step {batch + 1}; stopped, keeping the last finite "
            f"weights with a finite loss (after {steps} update(s)); try a learning rate below {lr:g} (--lr)"))


def finetune(module: nn.Module, dataset, epochs: int, lr: float, batch_size: int = 16, seed: int = 0,
             progress: Progress | None = None, optimizer: str = "sgd", momentum: float = 0.9,
             weight_decay: float = 0.0, ignore_index: int = IGNORE_INDEX) -> FinetuneResult:
    """Train ``module`` in place for ``epochs`` passes over ``dataset``; leave
    it in eval mode.  A non-finite loss stops it (:class:`Diverged`)."""
    if epochs < 1 or not lr > 0 or not math.isfinite(lr):
        raise SegError(Diagnostic(f"fine-tuning needs at least 1 epoch and a positive finite learning rate, "
                                  f"got {epochs} and {lr:g}"))
    name, result = dataset_name(dataset), FinetuneResult()
    start = time.perf_counter()
    with _deterministic(seed):
        loader = _loader(dataset, batch_size, shuffle=True, seed=seed)
        step = _optimizer(module, optimizer, lr, momentum, weight_decay)
        loss_of = nn.CrossEntropyLoss(ignore_index=ignore_index)
        module.train()
        steps, good = 0, (0, _snapshot(module))  # (updates made, weights) of the last finite loss
        try:
            for epoch in range(epochs):
                total, count = 0.0, 0
                for batch, (images, labels) in enumerate(loader):
                    logits = _logits(module, images, labels)
                    labels = _checked(labels, logits.shape[1], ignore_index, name, batch * batch_size)
                    loss = loss_of(logits, labels)
                    value = loss.item()
                    if not (math.isfinite(value) and _finite(module)):
                        module.load_state_dict(good[1])
                        raise Diverged(epoch, batch, lr, good[0], value)
                    good = steps, _snapshot(module)  # finite weights (and running statistics), a finite loss
                    step.zero_grad(set_to_none=True)
                    loss.backward()
                    step.step()
                    steps += 1
                    total, count = total + value * len(labels), count + len(labels)
                    if progress:
                        progress(epoch, batch, len(loader), value)
                result.epoch_losses.append(total / count)
            _check_final(module, good, epochs, len(loader), lr)
        finally:
            module.eval()
    result.seconds = time.perf_counter() - start
    return result


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _finite(module: nn.Module) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in module.state_dict().values() if v.is_floating_point())


def _check_final(module: nn.Module, good: tuple[int, dict], epochs: int, batches: int, lr: float) -> None:
    """The last step's update (whose loss no batch measured) left finite weights."""
    if not _finite(module):
        module.load_state_dict(good[1])
        raise Diverged(epochs - 1, batches - 1, lr, good[0])


@torch.no_grad()
def evaluate(module: nn.Module, dataset, task: str, num_classes: int, batch_size: int = 16,
             ignore_index: int = IGNORE_INDEX) -> dict:
    """Accuracy of ``module`` on ``dataset``: for segmentation ``miou``,
    ``pixel_accuracy`` and per-class ``iou`` (None where a class is absent
    from labels and predictions), for classification ``top1``."""
    if task not in TASKS:
        raise SegError(Diagnostic(f"the task must be one of {', '.join(TASKS)}, got '{task}'"))
    name, was_training = dataset_name(dataset), module.training
    module.eval()
    matrix, correct, count = ConfusionMatrix(num_classes, ignore_index), 0, 0
    try:
        for batch, (images, labels) in enumerate(_loader(dataset, batch_size, shuffle=False)):
            labels = _checked(labels, num_classes, ignore_index, name, batch * batch_size)
            logits = _logits(module, images, labels)
            if task == "classification":
                correct += top1_correct(logits, labels)
            else:
                matrix.update(logits, labels)
            count += len(labels)
    finally:
        module.train(was_training)
    if task == "classification":
        return {"task": task, "samples": count, "top1": correct / count}
    iou = [None if v != v else v for v in matrix.iou()]
    return {"task": task, "samples": count, "miou": matrix.miou(), "pixel_accuracy": matrix.pixel_accuracy(),
            "iou": iou}


def score(result: dict) -> float:
    """The one figure of an :func:`evaluate` result: mIoU or top-1."""
    return result["miou"] if result["task"] == "segmentation" else result["top1"]
