"""Datasets, metrics and fine-tuning: confusion matrices, IoUs and top-1
worked out by hand (and against a plain numpy count); the synthetic data's
determinism; a tiny Cityscapes folder written with Pillow (label ids to train
ids by the official table, resizing, normalisation); precise errors for a
dataset that does not fit the network; a short fine-tuning that lowers the
loss, reproducibly; the ``finetune`` and ``evaluate`` commands."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import numpy as np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import segc  # noqa: E402
from segc.cli import main  # noqa: E402
from segc.ir import SegError, Shape  # noqa: E402
from segc.train.data import (  # noqa: E402
    CityscapesFolder,
    Dataset,
    SyntheticClassification,
    SyntheticSegmentation,
    check_dataset,
    network_task,
    random_subset,
)
from segc.train.finetune import evaluate, finetune, score  # noqa: E402
from segc.train.metrics import ConfusionMatrix, mean_iou, pixel_accuracy, top1_correct  # noqa: E402

# labels and predictions of six pixels, three classes, one pixel ignored (255)
LABELS = torch.tensor([0, 0, 1, 1, 2, 255])
PREDICTED = torch.tensor([0, 1, 1, 1, 0, 2])
# kept pixels (t, p): (0,0) (0,1) (1,1) (1,1) (2,0)
HAND_MATRIX = [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
# IoU_0 = 1 / (1 + 1 FP + 1 FN); IoU_1 = 2 / (2 + 1 FP); IoU_2 = 0 / (0 + 1 FN)
HAND_IOU = [1 / 3, 2 / 3, 0.0]


class Pairs:
    """The smallest dataset: a list of (image, label) pairs (no torch base class)."""

    def __init__(self, pairs, **attributes):
        self.pairs = pairs
        self.__dict__.update(attributes)

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        return self.pairs[index]


# ---------------------------------------------------------------- metrics
def test_confusion_matrix_and_iou_by_hand():
    matrix = ConfusionMatrix(3)
    matrix.update(PREDICTED, LABELS)
    assert matrix.matrix.tolist() == HAND_MATRIX
    assert matrix.iou() == pytest.approx(HAND_IOU)
    assert matrix.miou() == pytest.approx(1 / 3)
    assert matrix.pixel_accuracy() == pytest.approx(3 / 5)


def test_batches_accumulate_and_logits_reduce_by_argmax():
    matrix = ConfusionMatrix(3)
    logits = torch.nn.functional.one_hot(PREDICTED.clamp(max=2), 3).T.float()  # [K, pixels]
    matrix.update(logits[None, :, :3], LABELS[None, :3])  # [N=1, K, 3] and [1, 3]
    matrix.update(PREDICTED[3:], LABELS[3:])
    assert matrix.matrix.tolist() == HAND_MATRIX


def test_absent_classes_are_left_out_of_the_mean():
    matrix = ConfusionMatrix(5)  # classes 3 and 4 never appear
    matrix.update(PREDICTED, LABELS)
    assert matrix.iou()[:3] == pytest.approx(HAND_IOU)
    assert all(math.isnan(v) for v in matrix.iou()[3:])
    assert matrix.miou() == pytest.approx(1 / 3)
    # a class only predicted is present: IoU 0, and it lowers the mean
    matrix.update(torch.tensor([4]), torch.tensor([0]))
    assert matrix.iou()[4] == 0.0
    assert matrix.miou() == pytest.approx((1 / 4 + 2 / 3 + 0 + 0) / 4)  # IoU_0 = 1 / (1 + 1 + 2)


def test_empty_matrix_is_nan_and_top1_by_hand():
    empty = torch.zeros(2, 2, dtype=torch.int64)
    assert math.isnan(mean_iou(empty)) and math.isnan(pixel_accuracy(empty))
    logits = torch.tensor([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.5]])
    assert top1_correct(logits, torch.tensor([1, 0, 1, 2])) == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 255]), st.integers(0, 3)), min_size=1, max_size=60),
       st.integers(1, 59))
def test_matrix_matches_a_plain_count(pixels, cut):
    labels, predicted = torch.tensor([p[0] for p in pixels]), torch.tensor([p[1] for p in pixels])
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in pixels:
        if t != 255:
            expected[t, p] += 1
    matrix = ConfusionMatrix(4)
    matrix.update(predicted[:cut], labels[:cut])
    matrix.update(predicted[cut:], labels[cut:])
    assert matrix.matrix.numpy().tolist() == expected.tolist()
    assert 0.0 <= matrix.miou() <= 1.0 or math.isnan(matrix.miou())
    perfect = ConfusionMatrix(4)
    perfect.update(labels.clamp(max=3), labels)
    assert perfect.miou() == 1.0 or math.isnan(perfect.miou())


# ---------------------------------------------------------------- synthetic data
def test_synthetic_segmentation_is_deterministic_and_well_formed():
    a, b = SyntheticSegmentation(6, (16, 24), 5, seed=3), SyntheticSegmentation(6, (16, 24), 5, seed=3)
    later_first = [b[i] for i in (5, 2, 0)]  # any order gives the same samples
    for (xa, ya), (xb, yb) in zip([a[5], a[2], a[0]], later_first):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    image, label = a[0]
    assert image.shape == (3, 16, 24) and image.dtype == torch.float32
    assert label.shape == (16, 24) and label.dtype == torch.int64
    seen = torch.cat([a[i][1].flatten() for i in range(len(a))]).unique().tolist()
    assert seen[0] == 0 and set(seen) <= set(range(5)) and len(seen) >= 3
    assert not torch.equal(SyntheticSegmentation(6, (16, 24), 5, seed=4)[0][0], image)
    assert isinstance(a, Dataset)


def test_synthetic_classification():
    data = SyntheticClassification(20, 12, 4, seed=0)
    labels = [data[i][1] for i in range(20)]
    assert all(isinstance(c, int) and 0 <= c < 4 for c in labels) and len(set(labels)) == 4
    assert data[7][0].shape == (3, 12, 12) and torch.equal(data[7][0], data[7][0])
    with pytest.raises(IndexError):
        data[20]


# ---------------------------------------------------------------- Cityscapes
def write_cityscapes(root: Path, split: str = "train", cities=("aachen", "bochum")) -> None:
    """Two 4×8 images per split: colour (r, g, b) = (10·i, 100, 200), labels in
    2×2 blocks of ids 7 (road), 26 (car), 0 (void), 33 (bicycle) / 9 (parking)."""
    ids = np.array([[7, 26, 0, 33], [9, 7, 26, 33]], dtype=np.uint8).repeat(2, 0).repeat(2, 1)
    for i, city in enumerate(cities):
        (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
        (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
        stem = f"{city}_000000_00000{i}"
        colour = np.zeros((4, 8, 3), dtype=np.uint8) + np.array([10 * i, 100, 200], dtype=np.uint8)
        Image.fromarray(colour).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
        Image.fromarray(ids).save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")


def test_cityscapes_folder_maps_ids_resizes_and_normalises(tmp_path):
    write_cityscapes(tmp_path)
    full = CityscapesFolder(str(tmp_path), "train")
    assert len(full) == 2 and full.num_classes == 19
    image, label = full[1]  # bochum, the second city in sorted order
    assert image.shape == (3, 4, 8) and label.shape == (4, 8)
    # official train ids: road 7 -> 0, car 26 -> 13, bicycle 33 -> 18; void 0 and parking 9 -> 255
    assert label[::2, ::2].tolist() == [[0, 13, 255, 18], [255, 0, 13, 18]]
    assert image[:, 0, 0].tolist() == pytest.approx([(10 / 255 - 0.485) / 0.229, (100 / 255 - 0.456) / 0.224,
                                                     (200 / 255 - 0.406) / 0.225], abs=1e-6)
    small_image, small_label = CityscapesFolder(str(tmp_path), "train", size=(2, 4))[1]
    assert small_label.tolist() == [[0, 13, 255, 18], [255, 0, 13, 18]]  # nearest: one pixel per 2×2 block
    assert torch.allclose(small_image, image[:, :2, :4])  # bilinear keeps a uniform colour


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "no Cityscapes folder"),
    (lambda root: root.mkdir(), "leftImg8bit/train' does not exist"),
    (lambda root: (root / "leftImg8bit" / "train" / "aachen").mkdir(parents=True), "no Cityscapes images"),
    (lambda root: (write_cityscapes(root), (root / "gtFine/train/bochum/bochum_000000_000001_gtFine_labelIds.png")
                   .unlink()), "1 image(s) without labels"),
])
def test_cityscapes_folder_errors(tmp_path, make, message):
    root = tmp_path / "cs"
    make(root)
    with pytest.raises(SegError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CityscapesFolder(str(root), "train")


# ---------------------------------------------------------------- checks against a network
SEG_SHAPE = Shape(3, 4, 8)


@pytest.mark.parametrize("dataset, task, message", [
    (42, "segmentation", "not a dataset: a int has no __len__ and __getitem__"),
    (Pairs([]), "segmentation", "the dataset is empty"),
    ([1, 2], "segmentation", "sample 0: a sample must be a pair"),
    (Pairs([(torch.zeros(3, 4, 4), torch.zeros(4, 4, dtype=torch.int64))]), "segmentation",
     r"sample 0: the image is \[3, 4, 4\], the network's input is \[3, 4, 8\]"),
    (Pairs([(torch.zeros(3, 4, 8, dtype=torch.uint8), 0)]), "classification", "must be a float tensor"),
    (Pairs([(torch.zeros(3, 4, 8), torch.zeros(4, 8))]), "segmentation", "must be an integer tensor"),
    (Pairs([(torch.zeros(3, 4, 8), torch.zeros(4, 8, dtype=torch.int64))] * 3
           + [(torch.zeros(3, 4, 8), torch.full((4, 8), 7))]), "segmentation",
     r"sample 3: label value 7 is not a class 0…4 \(nor 255, ignored\); the network has 5 output channels"),
    (Pairs([(torch.zeros(3, 4, 8), 5)]), "classification", "sample 0: label 5 is not a class 0…4"),
    (Pairs([(torch.zeros(3, 4, 8), 1.0)]), "classification", "must be an int, got a float"),
    (Pairs([(torch.zeros(3, 4, 8), 0)], num_classes=19, name="cityscapes:x"), "classification",
     "cityscapes:x: error: the dataset has 19 classes, the network 5 output channels"),
    (SyntheticClassification(2, (4, 8), 5), "segmentation", "a classification dataset cannot train"),
])
def test_check_dataset_names_the_mismatch(dataset, task, message):
    with pytest.raises(SegError, match=message) as error:
        check_dataset(dataset, SEG_SHAPE, 5, task)
    assert error.value.render().count("error:") == 1


def test_fitting_datasets_pass_the_check():
    check_dataset(SyntheticSegmentation(3, (4, 8), 5), SEG_SHAPE, 5, "segmentation")
    check_dataset(Pairs([(torch.zeros(3, 4, 8), torch.tensor(2))]), SEG_SHAPE, 5, "classification")
    ignored = torch.full((4, 8), 255)
    check_dataset(Pairs([(torch.zeros(3, 4, 8), ignored)]), SEG_SHAPE, 5, "segmentation")


def tiny_seg(classes: int = 4, size: str = "16, 16", channels: int = 3, pool: int = 1) -> str:
    """A two-conv segmentation network (logits at 1/pool of the input size)."""
    tail = f" -> avgpool(k={pool})" if pool > 1 else ""
    return f"""network seg {{
    input x: [{channels}, {size}]
    output y = x -> conv(8, k=3) -> bn -> relu -> conv({classes}, k=1, bias=true){tail}
}}
"""


def test_network_task():
    assert network_task(segc.loads(tiny_seg())) == ("segmentation", 4, Shape(3, 16, 16))
    classifier = "network c {\n input x: [3, 8, 8]\n output y = x -> avgpool(global=true) -> flatten -> linear(6)\n}"
    assert network_task(segc.loads(classifier)) == ("classification", 6, Shape(3, 8, 8))
    half = "network h {\n input x: [3, 8, 8]\n output y = x -> conv(4, k=1, stride=2)\n}"
    with pytest.raises(SegError, match=r"outputs \[4, 4, 4\]: a segmentation network's logits must have the input's"):
        network_task(segc.loads(half))


# ---------------------------------------------------------------- fine-tuning and evaluation
def mean_loss(module, dataset) -> float:
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    labels = torch.stack([dataset[i][1] for i in range(len(dataset))])
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(module(images), labels, ignore_index=255))


def test_one_epoch_lowers_the_loss_reproducibly():
    graph, data = segc.loads(tiny_seg()), SyntheticSegmentation(32, 16, 4, seed=0)
    module, twin = segc.to_torch(graph, seed=1), segc.to_torch(graph, seed=1)
    before, calls = mean_loss(module, data), []
    result = finetune(module, data, epochs=1, lr=0.05, batch_size=8, seed=2, progress=lambda *a: calls.append(a[:3]))
    assert mean_loss(module, data) < 0.9 * before
    assert calls == [(0, 0, 4), (0, 1, 4), (0, 2, 4), (0, 3, 4)] and len(result.epoch_losses) == 1
    assert not module.training
    finetune(twin, data, epochs=1, lr=0.05, batch_size=8, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), twin.state_dict().values()))
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run


def test_evaluate_segmentation_and_classification_by_hand():
    # the "network" passes its input through: images are the logits (one-hot of PREDICTED)
    logits = torch.nn.functional.one_hot(PREDICTED, 3).T.float().reshape(3, 2, 3)
    data = Pairs([(logits, LABELS.reshape(2, 3))])
    result = evaluate(torch.nn.Identity(), data, "segmentation", 3)
    assert result["miou"] == pytest.approx(1 / 3) and result["pixel_accuracy"] == pytest.approx(3 / 5)
    assert result["iou"] == pytest.approx(HAND_IOU) and result["samples"] == 1
    scores = [torch.tensor([0.1, 0.9, 0.0]), torch.tensor([2.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 3.0])]
    pairs = Pairs([(s[:, None, None], label) for s, label in zip(scores, [1, 0, 1])])
    assert evaluate(torch.nn.Identity(), pairs, "classification", 3, batch_size=2)["top1"] == pytest.approx(2 / 3)
    with pytest.raises(SegError, match="samples 0…0: label value 9 is not a class"):
        evaluate(torch.nn.Identity(), Pairs([(logits, torch.full((2, 3), 9))]), "segmentation", 3)


# ---------------------------------------------------------------- the commands
def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_finetune_then_evaluate(capsys, tmp_path):
    net = tmp_path / "seg.seg"
    net.write_text(tiny_seg())
    tune = ("finetune", net, "--data", "synthetic:16", "--epochs", "1", "--lr", "0.05", "--batch-size", "8")
    code, out, err = run(capsys, *tune, "-o", tmp_path / "a.safetensors")
    assert code == 0 and "fine-tuned seg on 16 samples of synthetic:16 (train), 1 epoch(s)" in out
    assert "epoch 1/1: loss" in err
    assert run(capsys, *tune, "-o", tmp_path / "b.safetensors")[0] == 0
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    code, out, _ = run(capsys, "evaluate", net, "--weights", tmp_path / "a.safetensors", "--data", "synthetic:8",
                       "--json")
    figures = json.loads(out)
    assert code == 0 and figures["split"] == "val" and figures["samples"] == 8 and len(figures["iou"]) == 4
    assert 0 <= figures["miou"] <= 1 and 0 <= figures["pixel_accuracy"] <= 1


def test_cityscapes_through_the_commands(capsys, tmp_path):
    write_cityscapes(tmp_path / "cs", "train")
    write_cityscapes(tmp_path / "cs", "val", cities=("lindau",))
    net = tmp_path / "city.seg"
    net.write_text(tiny_seg(classes=19, size="4, 8"))
    data = f"cityscapes:{tmp_path / 'cs'}"
    weights = tmp_path / "w.safetensors"
    assert run(capsys, "finetune", net, "--data", data, "--lr", "0.1", "-o", weights)[0] == 0
    code, out, _ = run(capsys, "evaluate", net, "--weights", weights, "--data", data)
    assert code == 0 and "on 1 samples of cityscapes:" in out and "(val)" in out
    assert "bicycle" in out and "mIoU" in out


@pytest.mark.parametrize("network, options, message", [
    (tiny_seg(), ["--data", "imagenet"], "--data takes 'synthetic', 'synthetic:N' or 'cityscapes:ROOT'"),
    (tiny_seg(), ["--data", "synthetic:0"], "synthetic:N needs a positive number of samples, got '0'"),
    (tiny_seg(), ["--data", "cityscapes:nowhere"], "no Cityscapes folder 'nowhere'"),
    (tiny_seg(size="4, 8"), ["--data", "cityscapes:{cs}"], "the dataset has 19 classes, the network 4 output"),
    (tiny_seg(channels=1), ["--data", "synthetic"],
     r"sample 0: the image is \[3, 16, 16\], the network's input is \[1, 16, 16\]"),
    (tiny_seg(pool=2), ["--data", "synthetic"], r"outputs \[4, 8, 8\]: a segmentation network"),
    (tiny_seg(), ["--data", "synthetic", "-o", "{tmp}/w.pt"], "the output must be a .safetensors file"),
    (tiny_seg(), ["--data", "synthetic", "--weights", "{tmp}/none.pt"], "No such file"),
    (tiny_seg(), ["--data", "synthetic", "-o", "{tmp}/no/w.safetensors"], "does not exist"),
])
def test_command_errors_exit_1_without_traceback(capsys, tmp_path, network, options, message):
    write_cityscapes(tmp_path / "cs")
    net = tmp_path / "net.seg"
    net.write_text(network)
    options = [o.format(cs=tmp_path / "cs", tmp=tmp_path) for o in options]
    if "-o" not in options:
        options += ["-o", str(tmp_path / "w.safetensors")]
    code, out, err = run(capsys, "finetune", net, *options)
    assert code == 1 and out == ""
    assert re.search(message, err) and "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "w.safetensors").exists()


def test_evaluate_with_weights_of_another_network(capsys, tmp_path):
    (tmp_path / "a.seg").write_text(tiny_seg())
    (tmp_path / "b.seg").write_text(tiny_seg(classes=5))
    weights = tmp_path / "a.safetensors"
    assert run(capsys, "finetune", tmp_path / "a.seg", "--data", "synthetic:4", "-o", weights)[0] == 0
    code, _, err = run(capsys, "evaluate", tmp_path / "b.seg", "--weights", weights, "--data", "synthetic:4")
    assert code == 1 and "has shape [4, 8, 1, 1] in the file, the network needs [5, 8, 1, 1]" in err
    before = weights.read_bytes()
    code, _, err = run(capsys, "finetune", tmp_path / "a.seg", "--data", "synthetic:4", "--weights", weights,
                       "-o", weights)
    assert code == 1 and "refusing to overwrite the input file" in err and weights.read_bytes() == before


def test_random_subset_is_seeded_and_keeps_the_description():
    data = SyntheticSegmentation(10, 8, 3, seed=0)
    subset = random_subset(data, 4, seed=5)
    assert len(subset) == 4 and subset.indices == sorted(subset.indices)
    assert subset.indices == random_subset(data, 4, seed=5).indices != random_subset(data, 4, seed=6).indices
    assert subset.num_classes == 3 and subset.task == "segmentation" and "4 random samples" in subset.name
    assert random_subset(data, 10) is data
    check_dataset(subset, Shape(3, 8, 8), 3, "segmentation")
    assert score(evaluate(torch.nn.Conv2d(3, 3, 1), subset, "segmentation", 3)) <= 1.0
