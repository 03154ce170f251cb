"""Accuracy metrics: top-1 for classifiers; a confusion matrix, mIoU and
pixel accuracy for segmentation.

The confusion matrix ``M`` of ``K`` classes counts pixels by (true class,
predicted class): ``M[t, p]``, accumulated over batches with one
``torch.bincount`` of ``t·K + p``.  Pixels labelled ``ignore_index`` (255,
Cityscapes' "void") are left out.  Per class ``c`` (Everingham et al., PASCAL
VOC; Cordts et al., Cityscapes)

    IoU_c = TP_c / (TP_c + FP_c + FN_c),   TP_c = M[c, c],
    FP_c = Σ_t M[t, c] − TP_c,             FN_c = Σ_p M[c, p] − TP_c,

mIoU is the mean of IoU_c over the classes whose denominator is not zero: a
class absent from both the labels and the predictions is excluded, as
cityscapesScripts' evaluation does (its IoU is NaN and ``nanmean`` skips it).
Pixel accuracy is ``trace(M) / Σ M``.  Both are NaN when nothing was counted.
"""

from __future__ import annotations

import math

import torch

__all__ = ["IGNORE_INDEX", "ConfusionMatrix", "class_iou", "mean_iou", "pixel_accuracy", "top1_correct"]

IGNORE_INDEX = 255


def top1_correct(logits: torch.Tensor, labels: torch.Tensor) -> int:
    """How many rows of ``logits`` [N, K] have their largest entry at ``labels`` [N]."""
    return int((logits.argmax(dim=1) == labels).sum())


class ConfusionMatrix:
    """A ``K × K`` pixel count, rows the true class, columns the predicted one."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, predicted: torch.Tensor, labels: torch.Tensor) -> None:
        """Count a batch: ``predicted`` and ``labels`` class indices of one shape
        (or ``predicted`` logits [N, K, H, W], reduced by argmax over K)."""
        if predicted.dim() == labels.dim() + 1:
            predicted = predicted.argmax(dim=1)
        keep = labels != self.ignore_index
        truth, guess = labels[keep].long(), predicted[keep].long()
        k = self.num_classes
        self.matrix += torch.bincount(truth * k + guess, minlength=k * k).reshape(k, k)

    def iou(self) -> list[float]:
        return class_iou(self.matrix)

    def miou(self) -> float:
        return mean_iou(self.matrix)

    def pixel_accuracy(self) -> float:
        return pixel_accuracy(self.matrix)


def class_iou(matrix: torch.Tensor) -> list[float]:
    """IoU of each class; NaN for a class absent from labels and predictions."""
    m = matrix.double()
    true_positive = m.diagonal()
    union = m.sum(dim=0) + m.sum(dim=1) - true_positive
    return [float(tp / u) if u > 0 else math.nan for tp, u in zip(true_positive.tolist(), union.tolist())]


def mean_iou(matrix: torch.Tensor) -> float:
    """Mean IoU over the classes present in the labels or the predictions."""
    present = [v for v in class_iou(matrix) if not math.isnan(v)]
    return sum(present) / len(present) if present else math.nan


def pixel_accuracy(matrix: torch.Tensor) -> float:
    total = int(matrix.sum())
    return int(matrix.trace()) / total if total else math.nan
