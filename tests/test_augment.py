"""Training augmentation as explicit options: defaults as before, --fliplr 0 for data that is not mirror
symmetric, boxes that follow every geometric change, and what was used recorded in the checkpoint."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from edgecv.cli import cli
from edgecv.errors import UsageError
from edgecv.models.checkpoint import read_checkpoint_meta
from edgecv.train.augment import Augment, classification_batch, detection_batch


def _gen():
    return torch.Generator().manual_seed(0)


def test_the_defaults_mirror_half_the_time_unless_the_data_forbids_it():
    assert Augment().for_data(True, "classification").fliplr == 0.5
    assert Augment().for_data(False, "classification").fliplr == 0.0  # digits
    assert Augment(fliplr=0.2).for_data(False, "classification").fliplr == 0.2  # the user's word wins
    assert Augment().for_data(True, "detection").shift == 0.0  # detectors are not shifted
    with pytest.raises(UsageError, match="--mosaic is for detection"):
        Augment(mosaic=0.5).for_data(True, "classification")
    with pytest.raises(UsageError, match="probability"):
        Augment(fliplr=1.5)


def test_classifier_batches_mirror_shift_zoom_and_jitter_as_asked():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    still = Augment(fliplr=0.0, shift=0.0)
    assert torch.equal(classification_batch(x, still, _gen()), x)
    assert torch.equal(classification_batch(x, Augment(fliplr=1.0, shift=0.0), _gen()), x.flip(-1))
    zoomed = classification_batch(x, Augment(fliplr=0.0, shift=0.0, scale=0.5), _gen())
    assert zoomed.shape == x.shape and not torch.equal(zoomed, x)
    jittered = classification_batch(x, Augment(fliplr=0.0, shift=0.0, colour=0.3), _gen())
    assert not torch.equal(jittered, x) and torch.allclose(jittered.std() / x.std(), torch.tensor(1.0), atol=0.31)


def test_detection_boxes_follow_mirrors_zooms_and_mosaics():
    x = torch.zeros(2, 3, 16, 16)
    boxes = [torch.tensor([[2.0, 4.0, 6.0, 8.0]]), torch.tensor([[8.0, 8.0, 16.0, 16.0]])]
    classes = [torch.tensor([1]), torch.tensor([2])]
    _, labels, gt, mask = detection_batch(x, boxes, classes, Augment(fliplr=1.0), _gen())
    assert gt[0, 0].tolist() == [10.0, 4.0, 14.0, 8.0] and labels[:, 0].tolist() == [1, 2]
    assert boxes[0].tolist() == [[2.0, 4.0, 6.0, 8.0]]  # the caller's boxes are not modified
    _, _, gt, mask = detection_batch(x, boxes, classes, Augment(fliplr=0.0, scale=0.5), _gen())
    assert (gt[mask] >= 0).all() and (gt[mask] <= 16).all()  # zoomed boxes stay inside the image
    image = torch.zeros(2, 3, 16, 16)
    image[1] = 1.0
    out, labels, gt, mask = detection_batch(image, boxes, classes, Augment(fliplr=0.0, mosaic=1.0), _gen())
    assert mask.sum(1).tolist() == [4, 4]  # each image is now four images, each with its one box
    assert (gt[mask][:, 2:] <= 16).all() and ((gt[mask][:, 2] - gt[mask][:, 0]) <= 4).all()  # halved
    assert out.shape == image.shape


def _digits_as_folders(root):
    """The built-in digits saved as an ImageFolder tree: a user's own data, which edgecv cannot know is not
    mirror symmetric."""
    from edgecv.data import get_dataset

    for split in ("train", "val"):
        for k, (image, label) in enumerate(get_dataset("digits", split)):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[:, :, 0]).save(folder / f"{k}.png")
    return root


def test_fliplr_0_is_what_a_user_with_digits_in_folders_needs(tmp_path):
    data = _digits_as_folders(tmp_path / "digits")
    runs = {}
    for name, extra in (("default", []), ("no-flip", ["--fliplr", "0"])):
        out = tmp_path / name
        ran = CliRunner().invoke(cli, ["train", "lenet5", "--data", str(data), "--epochs", "8", "--imgsz", "32",
                                       "--batch", "32", "--out", str(out), *extra])
        assert ran.exit_code == 0, ran.output
        meta = read_checkpoint_meta(out / "best.safetensors")
        runs[name] = meta
    assert runs["default"]["augment"]["fliplr"] == 0.5 and runs["no-flip"]["augment"]["fliplr"] == 0.0
    assert runs["no-flip"]["train_args"]["augment"]["fliplr"] == 0.0
    top1 = {name: meta["metrics"]["top1"] for name, meta in runs.items()}
    assert top1["no-flip"] > top1["default"] + 3, top1  # mirrored digits are other digits (98.3 vs 91.4 here)
