"""A user's segmentation data as Pascal VOC folders.

    DIR/JPEGImages/<id>.jpg            images (any format edgecv reads)
    DIR/SegmentationClass/<id>.png     class maps: palette ("P") or greyscale PNGs whose pixel values are class
                                       indices, 255 = ignore (VOC marks object borders so); an RGB map in the
                                       VOC colour palette is read back to indices
    DIR/ImageSets/Segmentation/train.txt, val.txt   one <id> per line (without them: every pair is val)
    DIR/labels.txt                     optional class names, one per line (default: VOC's 21, background first)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import load_labels
from ..portable.image import MAX_PIXELS
from ..portable.segmentation import IGNORE, voc_palette
from .base import IMAGE_SUFFIXES, Dataset, read_image


def is_voc(path: Path) -> bool:
    return (path / "SegmentationClass").is_dir() and (path / "JPEGImages").is_dir()


def read_mask(path: Path, num_classes: int) -> np.ndarray:
    """A class map as ``[H, W]`` uint8, or a DataError naming the file and what is wrong with it. Only PNG (a
    lossy JPEG moves class indices); palette, greyscale (8 or 16 bit, with or without alpha) and VOC-palette RGB."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise DataError(f"cannot read mask {path}: {im.width}x{im.height} is more than {MAX_PIXELS} pixels")
                if im.format != "PNG":
                    raise DataError(f"mask {path} holds {im.format or 'unknown'} data, not PNG: class maps must be "
                                    "lossless (a JPEG's compression changes class indices)")
                mask = _indices(im, path)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"cannot read mask {path}: {exc}") from None
    bad = np.unique(mask[(mask >= num_classes) & (mask != IGNORE)])
    if len(bad):
        raise DataError(f"{path} has class values {bad[:5].tolist()} but there are {num_classes} classes "
                        f"(0..{num_classes - 1}, {IGNORE} = ignore)")
    return mask


def _indices(im, path: Path) -> np.ndarray:
    """The class index of each pixel of an open PNG, by its mode."""
    mode = im.mode
    if mode in ("P", "PA"):
        return np.asarray(im.getchannel(0) if mode == "PA" else im, np.uint8).copy()
    if mode in ("L", "LA", "1"):
        return np.asarray(im.getchannel(0) if mode == "LA" else im.convert("L") if mode == "1" else im, np.uint8).copy()
    if mode.startswith("I"):  # 16-bit greyscale (I;16, I;16B) or 32-bit: values are indices, so they must fit
        values = np.asarray(im, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > 255):
            raise DataError(f"mask {path} is {mode} greyscale with values up to {int(values.max())}; class indices are "
                            f"0..{IGNORE} ({IGNORE} = ignore)")
        return values.astype(np.uint8)
    if mode in ("RGB", "RGBA"):
        return _from_colours(np.asarray(im.convert("RGB")), path)
    raise DataError(f"mask {path} is a {mode} PNG; class maps are palette, greyscale or VOC-palette RGB")


def _from_colours(rgb: np.ndarray, path: Path) -> np.ndarray:
    palette = voc_palette().astype(np.int64)
    codes = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    pixels = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    lookup = dict(zip(codes.tolist(), range(256)))
    lookup[(224 << 16) | (224 << 8) | 192] = IGNORE  # VOC's border colour in RGB renders
    values, inverse = np.unique(pixels, return_inverse=True)
    unknown = [v for v in values.tolist() if v not in lookup]
    if unknown:
        v = unknown[0]
        raise DataError(f"{path} is an RGB mask with colour ({v >> 16}, {(v >> 8) & 255}, {v & 255}), which is not "
                        "in the VOC palette; save class maps as palette or greyscale PNGs of class indices")
    return np.asarray([lookup[v] for v in values.tolist()], np.uint8)[inverse].reshape(rgb.shape[:2])


class VOCSegmentation(Dataset):
    task = "segmentation"

    def __init__(self, root: Path, split: str) -> None:
        root = Path(root)
        self.name = root.name
        labels_file = root / "labels.txt"
        if labels_file.is_file():
            self.labels = [x.strip() for x in labels_file.read_text(encoding="utf-8").splitlines() if x.strip()]
        else:
            self.labels = list(load_labels("voc-21"))
        if not 2 <= len(self.labels) <= IGNORE:
            raise DataError(f"{labels_file} names {len(self.labels)} classes; a class map holds 2 to {IGNORE}")
        images = {p.stem: p for p in sorted((root / "JPEGImages").iterdir())
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
        masks = {p.stem: p for p in sorted((root / "SegmentationClass").glob("*.png"))}
        listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if listing.is_file():
            ids = [x.strip() for x in listing.read_text(encoding="utf-8").splitlines() if x.strip()]
            missing = [i for i in ids if i not in images or i not in masks]
            if missing:
                raise DataError(f"{listing} lists {missing[0]!r}, which has no image in JPEGImages/ or no "
                                f"mask in SegmentationClass/ ({len(missing)} such ids)")
        elif split == "val":
            ids = sorted(set(images) & set(masks))
        else:
            raise DataError(f"{root} has no ImageSets/Segmentation/{split}.txt: without it every image is val")
        self.items = [(images[i], masks[i]) for i in ids]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image_path, mask_path = self.items[index]
        image, mask = read_image(image_path), read_mask(mask_path, self.num_classes)
        if image.shape[:2] != mask.shape:
            raise DataError(f"{mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_path.name} is "
                            f"{image.shape[1]}x{image.shape[0]}")
        return image, mask
