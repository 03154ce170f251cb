"""Cityscapes (Cordts et al., CVPR 2016) from its official folder layout:

    ROOT/leftImg8bit/SPLIT/CITY/NAME_leftImg8bit.png      (RGB images)
    ROOT/gtFine/SPLIT/CITY/NAME_gtFine_labelIds.png       (label ids 0…33)

Label ids map to the 19 training classes of cityscapesScripts'
``helpers/labels.py`` (``trainId``); every other id (void, and the classes
excluded from evaluation: parking, rail track, guard rail, bridge, tunnel,
pole group, caravan, trailer) becomes 255, ignored by the loss and the
metrics.  Images are resized bilinearly and labels by nearest neighbour to
the network's input size (so no label is ever interpolated), scaled to
[0, 1] and normalised with the ImageNet mean and standard deviation that
ImageNet-pretrained backbones expect.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from ..ir import Diagnostic, SegError
from ..ir.files import library_reason, open_input

__all__ = ["CITYSCAPES_CLASSES", "IMAGENET_MEAN", "IMAGENET_STD", "LABEL_TO_TRAIN", "CityscapesFolder"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"

# label id → train id, from cityscapesScripts (ids absent here map to 255)
LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                  24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                      "motorcycle", "bicycle")

_LOOKUP = np.full(256, 255, dtype=np.int64)
for _label, _train in LABEL_TO_TRAIN.items():
    _LOOKUP[_label] = _train


def _pairs(root: str, split: str) -> list[tuple[str, str]]:
    """(image, label) paths of a split, sorted by city and name."""
    images = os.path.join(root, "leftImg8bit", split)
    if not os.path.isdir(images):
        raise SegError(Diagnostic(f"no Cityscapes '{split}' images: the folder '{images}' does not exist "
                                  f"(expected ROOT/leftImg8bit/{split}/CITY/NAME{IMAGE_SUFFIX})"))
    pairs, missing = [], []
    for city in sorted(os.listdir(images)):
        folder = os.path.join(images, city)
        if not os.path.isdir(folder):
            continue
        for file in sorted(f for f in os.listdir(folder) if f.endswith(IMAGE_SUFFIX)):
            stem = file[: -len(IMAGE_SUFFIX)]
            label = os.path.join(root, "gtFine", split, city, stem + LABEL_SUFFIX)
            (pairs if os.path.isfile(label) else missing).append((os.path.join(folder, file), label))
    if missing:
        raise SegError(Diagnostic(f"{len(missing)} image(s) without labels, the first: '{missing[0][0]}' "
                                  f"needs '{missing[0][1]}'"))
    if not pairs:
        raise SegError(Diagnostic(f"no Cityscapes images in '{images}' (expected CITY/NAME{IMAGE_SUFFIX})"))
    return pairs


def _open(path: str) -> Image.Image:
    """An image file, read whole (a regular file within the data limit)."""
    with open_input(path, "data") as handle:
        try:
            image = Image.open(handle)
            image.load()
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise SegError(Diagnostic(f"cannot read the image: {library_reason(err)}", path=path)) from None
    return image


class CityscapesFolder(torch.utils.data.Dataset):
    """The (image [3, H, W], train-id label [H, W]) pairs of a split;
    ``size`` = (H, W) resizes both, None keeps the files' size."""

    task = "segmentation"
    num_classes = len(CITYSCAPES_CLASSES)
    class_names = CITYSCAPES_CLASSES

    def __init__(self, root: str, split: str = "train", size: tuple[int, int] | None = None):
        self.root, self.split, self.size = root, split, size
        if not os.path.isdir(root):
            raise SegError(Diagnostic(f"no Cityscapes folder '{root}'"))
        self.pairs = _pairs(root, split)
        self.name = f"cityscapes:{root} ({split})"

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, label_path = self.pairs[index]
        image, label = _open(image_path).convert("RGB"), _open(label_path)
        if label.mode not in ("L", "P", "I", "I;16"):
            raise SegError(Diagnostic(f"a labelIds image must have one channel, this one is '{label.mode}'",
                                      path=label_path))
        if image.size != label.size:
            raise SegError(Diagnostic(f"the labels are {label.size[0]}×{label.size[1]}, the image "
                                      f"{image.size[0]}×{image.size[1]}", path=label_path))
        if self.size is not None:
            height, width = self.size
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            label = label.resize((width, height), Image.Resampling.NEAREST)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        pixels = (pixels - np.array(IMAGENET_MEAN, dtype=np.float32)) / np.array(IMAGENET_STD, dtype=np.float32)
        ids = np.asarray(label, dtype=np.int64)
        train_ids = np.where((ids >= 0) & (ids < 256), _LOOKUP[np.clip(ids, 0, 255)], 255)
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))), torch.from_numpy(train_ids)
