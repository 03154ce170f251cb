"""Datasets for fine-tuning and accuracy: the protocol every dataset
satisfies, checks of a dataset against a network, and the datasets segc
ships (synthetic data, a Cityscapes folder), opened from a spec string.

A dataset is anything with ``__len__`` and ``__getitem__(i) -> (image,
label)``, as a torch ``Dataset`` of pairs is: ``image`` a float tensor
[C, H, W]; ``label`` an ``int`` (classification) or an integer tensor
[H, W] of class indices, 255 where a pixel is ignored (segmentation).
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

import torch

from ..ir import Diagnostic, Graph, SegError, Shape
from .cityscapes import CityscapesFolder
from .metrics import IGNORE_INDEX
from .synthetic import SyntheticClassification, SyntheticSegmentation

__all__ = [
    "TASKS", "CityscapesFolder", "Dataset", "SyntheticClassification", "SyntheticSegmentation", "check_dataset",
    "dataset_name", "network_task", "open_dataset", "random_subset",
]

TASKS = ("segmentation", "classification")
SPLITS = ("train", "val")
SYNTHETIC_SIZE = {"train": 256, "val": 64}  # samples when the spec gives no N
_SPEC = re.compile(r"synthetic(?::(?P<n>[^:]*))?|cityscapes:(?P<root>.+)")


@runtime_checkable
class Dataset(Protocol):
    """(image float tensor [C, H, W], label: int or long tensor [H, W]) pairs."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]: ...


def dataset_name(dataset) -> str:
    return getattr(dataset, "name", None) or type(dataset).__name__


def network_task(graph: Graph) -> tuple[str, int, Shape]:
    """(task, classes, input shape) of a network: logits [K, 1, 1] make a
    classifier of K classes, logits [K, H, W] at the input's size a
    segmentation network."""
    inputs, outputs = graph.inputs, graph.outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise SegError(Diagnostic(f"network '{graph.name}' has {len(inputs)} input(s) and {len(outputs)} "
                                  "output(s); training and evaluation need one of each"))
    shape, logits = inputs[0].shape, outputs[0].shape
    if (logits.h, logits.w) == (shape.h, shape.w):
        task = "segmentation"
    elif (logits.h, logits.w) == (1, 1):
        task = "classification"
    else:
        raise SegError(Diagnostic(
            f"network '{graph.name}' outputs {logits}: a segmentation network's logits must have the input's size "
            f"{shape.h}×{shape.w} (add an upsample), a classifier's must be [classes, 1, 1]"))
    if logits.c < 2:
        raise SegError(Diagnostic(f"network '{graph.name}' outputs {logits.c} channel: one per class, at least 2"))
    return task, logits.c, shape


def open_dataset(spec: str, split: str, task: str, num_classes: int, input_shape: Shape):
    """The dataset a spec names (``synthetic[:N]`` or ``cityscapes:ROOT``),
    its images at the network's input size."""
    if split not in SPLITS:
        raise SegError(Diagnostic(f"the split must be one of {', '.join(SPLITS)}, got '{split}'"))
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise SegError(Diagnostic(f"--data takes 'synthetic', 'synthetic:N' or 'cityscapes:ROOT', got '{spec}'"))
    size = (input_shape.h, input_shape.w)
    if match["root"] is not None:
        return CityscapesFolder(match["root"], split, size)
    n = match["n"]
    if n is not None and not (n.isdigit() and int(n) > 0):
        raise SegError(Diagnostic(f"synthetic:N needs a positive number of samples, got '{n}'"))
    count = int(n) if n else SYNTHETIC_SIZE[split]
    kind = SyntheticSegmentation if task == "segmentation" else SyntheticClassification
    return kind(count, size, num_classes, seed=SPLITS.index(split))  # train and val never share a sample


def random_subset(dataset, n: int, seed: int = 0):
    """``n`` samples drawn at random without replacement, in index order
    (Mori et al. score search candidates on random training samples); the
    dataset itself when it has no more than ``n``."""
    if n >= len(dataset):
        return dataset
    generator = torch.Generator().manual_seed(seed)
    indices = sorted(torch.randperm(len(dataset), generator=generator)[:n].tolist())
    subset = torch.utils.data.Subset(dataset, indices)
    for attribute in ("task", "num_classes", "class_names"):
        if hasattr(dataset, attribute):
            setattr(subset, attribute, getattr(dataset, attribute))
    subset.name = f"{dataset_name(dataset)}, {n} random samples (seed {seed})"
    return subset


def _sample_indices(length: int, samples: int) -> list[int]:
    return sorted({round(i * (length - 1) / max(1, samples - 1)) for i in range(min(samples, length))})


def check_dataset(dataset, input_shape, num_classes: int, task: str, ignore_index: int = IGNORE_INDEX,
                  samples: int = 4) -> None:
    """Raise a SegError naming the first way ``dataset`` does not fit a
    network (input [C, H, W], ``num_classes`` logits, ``task``); looks at
    ``samples`` samples spread over the dataset, and at a declared
    ``num_classes``."""
    if task not in TASKS:
        raise SegError(Diagnostic(f"the task must be one of {', '.join(TASKS)}, got '{task}'"))
    name = dataset_name(dataset)

    def fail(message: str):
        raise SegError(Diagnostic(message, path=name))

    if not isinstance(dataset, Dataset):
        fail(f"not a dataset: a {type(dataset).__name__} has no __len__ and __getitem__")
    if len(dataset) == 0:
        fail("the dataset is empty")
    declared_task, declared = getattr(dataset, "task", task), getattr(dataset, "num_classes", num_classes)
    if declared_task != task:
        fail(f"a {declared_task} dataset cannot train or evaluate a {task} network")
    if declared != num_classes:
        fail(f"the dataset has {declared} classes, the network {num_classes} output channels (one per class)")
    for index in _sample_indices(len(dataset), samples):
        problem = _sample_problem(dataset[index], tuple(input_shape), num_classes, task, ignore_index)
        if problem:
            fail(f"sample {index}: {problem}")


def _sample_problem(item, shape: tuple[int, ...], num_classes: int, task: str, ignore_index: int) -> str | None:
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return "a sample must be a pair (image, label)"
    image, label = item
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        return f"the image must be a float tensor, got {_describe(image)}"
    if tuple(image.shape) != shape:
        return f"the image is {list(image.shape)}, the network's input is {list(shape)}"
    if task == "classification":
        if isinstance(label, torch.Tensor) and label.dim() == 0 and not label.is_floating_point():
            label = int(label)
        if not isinstance(label, int) or isinstance(label, bool):
            return f"a classification label must be an int, got {_describe(label)}"
        return None if 0 <= label < num_classes else f"label {label} is not a class 0…{num_classes - 1}"
    if not isinstance(label, torch.Tensor) or label.is_floating_point() or label.dtype == torch.bool:
        return f"a segmentation label must be an integer tensor [H, W], got {_describe(label)}"
    if tuple(label.shape) != shape[1:]:
        return f"the label is {list(label.shape)}, the network's output is {list(shape[1:])} pixels"
    return label_range_problem(label, num_classes, ignore_index)


def label_range_problem(labels: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> str | None:
    """Why ``labels`` hold a value that is neither a class nor ``ignore_index`` (None if they do not)."""
    bad = labels[((labels < 0) | (labels >= num_classes)) & (labels != ignore_index)]
    if bad.numel() == 0:
        return None
    return (f"label value {int(bad[0])} is not a class 0…{num_classes - 1} (nor {ignore_index}, ignored); "
            f"the network has {num_classes} output channels")


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor {list(value.shape)}"
    return f"a {type(value).__name__}"
