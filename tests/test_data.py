"""Each loader's happy path and each bad-data error, on small fixtures made here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from edgecv.data import get_dataset
from edgecv.data.shapes import CLASSES
from edgecv.errors import DataError


def _png(path, size=(20, 16), colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


# --- built-ins ---------------------------------------------------------------------------------------------
def test_shapes_is_deterministic_any_size_and_has_fixed_splits():
    a, b = get_dataset("shapes", "train", imgsz=48), get_dataset("shapes", "train", imgsz=48)
    img, label = a[7]
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8 and 0 <= label < len(CLASSES) >= 10
    assert np.array_equal(img, b[7][0]) and label == b[7][1]
    assert get_dataset("shapes", "val", imgsz=64)[0][0].shape == (64, 64, 3)
    assert not np.array_equal(get_dataset("shapes", "val", imgsz=48)[7][0], img)  # a different split
    assert (len(a), len(get_dataset("shapes", "val"))) == (10000, 2000)


def test_shapes_classes_are_balanced_and_images_varied():
    ds = get_dataset("shapes", "val", imgsz=32)
    labels = [ds[i][1] for i in range(600)]
    counts = np.bincount(labels, minlength=len(CLASSES))
    assert counts.min() > 25  # every class appears
    means = np.array([ds[i][0].mean() for i in range(40)])
    assert means.std() > 10  # backgrounds and lighting vary


def test_shapes_det_boxes_are_inside_and_labelled():
    ds = get_dataset("shapes-det", "train", imgsz=96)
    n_boxes = 0
    for i in range(30):
        img, boxes, classes = ds[i]
        assert img.shape == (96, 96, 3) and boxes.shape == (len(classes), 4)
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 96).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        assert ((0 <= classes) & (classes < len(CLASSES))).all()
        n_boxes += len(classes)
    assert n_boxes > 30  # several objects per image
    sizes = np.concatenate([ds[i][1][:, 2] - ds[i][1][:, 0] for i in range(30)])
    assert sizes.min() < 12 and sizes.max() > 30  # small and large objects


def test_digits_are_real_and_split_80_20():
    train, val = get_dataset("digits", "train"), get_dataset("digits", "val")
    assert len(train) + len(val) == 1797 and len(val) == 360
    img, label = val[0]
    assert img.shape == (8, 8, 1) and img.max() > 200 and 0 <= label <= 9
    assert get_dataset("digits", "val", limit=5).__len__() == 5


def test_unknown_dataset_and_split():
    with pytest.raises(DataError, match="no dataset 'imagenet': not a built-in"):
        get_dataset("imagenet")
    with pytest.raises(DataError, match="unknown split"):
        get_dataset("shapes", "test")


# --- ImageFolder ------------------------------------------------------------------------------------------
def _folder(root, classes=("cat", "dog"), val_classes=None):
    for split, names in (("train", classes), ("val", val_classes or classes)):
        for c in names:
            for i in range(2):
                _png(root / split / c / f"{i}.png")
    return root


def test_image_folder(tmp_path):
    ds = get_dataset(_folder(tmp_path / "pets"), "val")
    assert ds.labels == ["cat", "dog"] and len(ds) == 4
    img, label = ds[3]
    assert img.shape == (16, 20, 3) and label == 1


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match=r"class folders differ .* only in val: \['bird'\]"):
        get_dataset(_folder(tmp_path / "a", val_classes=("cat", "dog", "bird")), "val")
    (tmp_path / "b" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        get_dataset(tmp_path / "b", "train")
    with pytest.raises(DataError, match="has no val/ folder"):
        get_dataset(tmp_path / "b", "val")
    root = _folder(tmp_path / "c")
    (root / "val" / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    ds = get_dataset(root, "val")
    bad = next(i for i, (p, _) in enumerate(ds.items) if p.name == "broken.jpg")
    with pytest.raises(DataError, match=r"cannot read image .*broken.jpg"):
        ds[bad]


# --- YOLO data.yaml ---------------------------------------------------------------------------------------
def _yolo(root, label_lines="0 0.5 0.5 0.5 0.25\n1 0.25 0.25 0.1 0.1\n", names="[cat, dog]"):
    for split in ("train", "val"):
        _png(root / "images" / split / "a.png", size=(40, 20))
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split / "a.txt").write_text(label_lines)
        _png(root / "images" / split / "empty.png", size=(40, 20))  # no label file: background image
    (root / "data.yaml").write_text(f"path: .\ntrain: images/train\nval: images/val\nnames: {names}\n")
    return root / "data.yaml"


def test_yolo_yaml(tmp_path):
    ds = get_dataset(_yolo(tmp_path / "y", names="{0: cat, 1: dog}"), "val")
    assert ds.labels == ["cat", "dog"] and len(ds) == 2
    img, boxes, classes = ds[0]
    assert img.shape == (20, 40, 3) and classes.tolist() == [0, 1]
    assert np.allclose(boxes[0], [10, 7.5, 30, 12.5]) and np.allclose(boxes[1], [8, 4, 12, 6])
    assert len(ds[1][1]) == 0


@pytest.mark.parametrize("line, message", [
    ("2 0.5 0.5 0.1 0.1", r"a.txt:1: class 2 out of range 0..1"),
    ("0 0.95 0.5 0.2 0.2", r"a.txt:1: box 0.95 0.5 0.2 0.2 is empty or lies outside the image"),
    ("0 nan 0.5 0.2 0.2", r"a.txt:1: a value is not a finite number"),
    ("nan 0.5 0.5 0.2 0.2", r"a.txt:1: a value is not a finite number"),
    ("0 0.5 0.5 inf 0.2", r"a.txt:1: a value is not a finite number"),
    ("0 0.5 0.5", r"a.txt:1: expected 'class cx cy w h'"),
])
def test_yolo_label_errors_name_file_and_line(tmp_path, line, message):
    with pytest.raises(DataError, match=message):
        get_dataset(_yolo(tmp_path / "y", label_lines=line + "\n"), "train")


def test_yolo_yaml_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("train: images/train\nval: images/val\n")
    (tmp_path / "images" / "val").mkdir(parents=True)
    with pytest.raises(DataError, match="'names' must list the class names"):
        get_dataset(tmp_path / "bad.yaml", "val")
    (tmp_path / "bad.yaml").write_text("train: images/train\nval: images/val\nnames: [a]\n")
    with pytest.raises(DataError, match="holds no images"):
        get_dataset(tmp_path / "bad.yaml", "val")


# --- COCO JSON --------------------------------------------------------------------------------------------
def _coco(root, bbox=(5, 4, 10, 8), category=7):
    _png(root / "imgs" / "x.png", size=(40, 20))
    doc = {"images": [{"id": 3, "file_name": "imgs/x.png", "width": 40, "height": 20}],
           "annotations": [{"id": 1, "image_id": 3, "category_id": category, "bbox": list(bbox), "iscrowd": 0},
                           {"id": 2, "image_id": 3, "category_id": 7, "bbox": [0, 0, 40, 20], "iscrowd": 1}],
           "categories": [{"id": 9, "name": "dog"}, {"id": 7, "name": "cat"}]}
    (root / "ann.json").write_text(json.dumps(doc))
    return root / "ann.json"


def test_coco_json(tmp_path):
    ds = get_dataset(_coco(tmp_path), "val")
    assert ds.labels == ["cat", "dog"]  # category ids 7, 9 -> classes 0, 1
    img, boxes, classes = ds[0]
    assert img.shape == (20, 40, 3) and classes.tolist() == [0]  # the crowd box is skipped
    assert np.allclose(boxes, [[5, 4, 15, 12]])


def test_coco_via_data_yaml(tmp_path):
    _coco(tmp_path)
    (tmp_path / "coco.yaml").write_text("train: ann.json\nval: ann.json\n")
    assert len(get_dataset(tmp_path / "coco.yaml", "train")) == 1


def test_coco_errors(tmp_path):
    with pytest.raises(DataError, match=r"box \[35.0, 4.0, 10.0, 8.0\] is empty or lies outside its 40x20 image"):
        get_dataset(_coco(tmp_path / "a", bbox=(35, 4, 10, 8)), "val")
    with pytest.raises(DataError, match=r"annotation 1: a value is not a finite number"):
        get_dataset(_coco(tmp_path / "nan", bbox=(float("nan"), 4, 10, 8)), "val")
    with pytest.raises(DataError, match="unknown category_id 5"):
        get_dataset(_coco(tmp_path / "b", category=5), "val")
    with pytest.raises(DataError, match="single COCO file"):
        get_dataset(_coco(tmp_path / "c"), "train")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataError, match="cannot read COCO annotations"):
        get_dataset(tmp_path / "broken.json", "val")
    (tmp_path / "nocats.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DataError, match="is not COCO annotations: it has no 'categories' list"):
        get_dataset(tmp_path / "nocats.json", "val")
