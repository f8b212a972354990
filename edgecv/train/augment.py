"""Training augmentation as explicit, recorded options (``edgecv train --fliplr --shift --scale --colour
--mosaic``).

The defaults are what edgecv always did: a horizontal mirror with probability 0.5 unless the dataset says
its classes are not mirror images of themselves (the built-in ``digits``), and, for classifiers, a random
shift of up to 1/16 of the image side. A user whose classes are text, digits, arrows or signs says
``--fliplr 0``. What was used is printed when training starts and stored in the checkpoint.

Everything works on batches of preprocessed tensors (``[B, C, H, W]``, already normalised), drawing from
the trainer's seeded generator, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from ..errors import UsageError


@dataclass(frozen=True)
class Augment:
    fliplr: float | None = None  # probability of a horizontal mirror; None: 0.5, or 0 where the data forbids it
    shift: float = 1 / 16  # classification: random translation up to this fraction of the side (edges replicated)
    scale: float = 0.0  # random zoom in or out by up to this fraction (boxes follow for detection)
    colour: float = 0.0  # random brightness and contrast jitter by up to this fraction
    mosaic: float = 0.0  # detection: probability of replacing an image by a 2x2 mosaic of four

    def __post_init__(self) -> None:
        for name in ("fliplr", "mosaic"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise UsageError(f"--{name} is a probability between 0 and 1, not {value}")
        for name in ("shift", "scale", "colour"):
            if not 0 <= getattr(self, name) < 1:
                raise UsageError(f"--{name} is a fraction in [0, 1), not {getattr(self, name)}")

    def for_data(self, flip_invariant: bool, task: str) -> Augment:
        """The settings a run uses: the dataset's flip default filled in; options the task ignores refused."""
        if task != "classification" and self.shift != Augment.shift and self.shift:
            raise UsageError(f"--shift is for classifiers; {task} uses --scale"
                             + (" and --mosaic" if task == "detection" else ""))
        if task != "detection" and self.mosaic:
            raise UsageError("--mosaic is for detection")
        fliplr = self.fliplr if self.fliplr is not None else (0.5 if flip_invariant else 0.0)
        return replace(self, fliplr=fliplr, shift=self.shift if task == "classification" else 0.0,
                       mosaic=self.mosaic if task == "detection" else 0.0)

    def describe(self, task: str) -> str:
        names = {"classification": ("fliplr", "shift", "scale", "colour"),
                 "detection": ("fliplr", "scale", "colour", "mosaic")}.get(task, ("fliplr", "scale", "colour"))
        return ", ".join(f"{n} {getattr(self, n):g}" for n in names)

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def _mirror_mask(batch: int, p: float, gen: torch.Generator) -> torch.Tensor | None:
    if p <= 0:
        return None  # no draw at all: runs without flips use the generator exactly as before
    return torch.rand(batch, generator=gen) < p


def _zoom_factors(batch: int, amount: float, gen: torch.Generator) -> torch.Tensor | None:
    if amount <= 0:
        return None
    return 1.0 + (torch.rand(batch, generator=gen) * 2 - 1) * amount


def _zoom(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Zoom each image about its centre by ``factors`` (>1 enlarges), edges replicated."""
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factors
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _colour(x: torch.Tensor, amount: float, gen: torch.Generator) -> torch.Tensor:
    if amount <= 0:
        return x
    b = x.shape[0]
    contrast = 1.0 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * amount
    brightness = (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * amount
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean + brightness


def classification_batch(x: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    """Mirror, shift, zoom and colour-jitter a batch of classifier inputs."""
    mask = _mirror_mask(x.shape[0], aug.fliplr or 0.0, gen)
    if mask is not None:
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    max_shift = max(1, int(x.shape[-1] * aug.shift)) if aug.shift > 0 else 0
    if max_shift > 0:
        padded = F.pad(x, (max_shift,) * 4, mode="replicate")
        offsets = torch.randint(0, 2 * max_shift + 1, (x.shape[0], 2), generator=gen)
        h, w = x.shape[-2:]
        x = torch.stack([padded[i, :, dy: dy + h, dx: dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])
    factors = _zoom_factors(x.shape[0], aug.scale, gen)
    if factors is not None:
        x = _zoom(x, factors)
    return _colour(x, aug.colour, gen)


def segmentation_batch(x: torch.Tensor, masks: torch.Tensor, aug: Augment, gen: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror and zoom images with their class maps (maps resampled nearest; zoomed-out borders ignored),
    then colour-jitter the images."""
    masks = masks.clone()
    mirror = _mirror_mask(x.shape[0], aug.fliplr or 0.0, gen)
    if mirror is not None:
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
        masks = torch.where(mirror[:, None, None], masks.flip(-1), masks)
    factors = _zoom_factors(x.shape[0], aug.scale, gen)
    if factors is not None:
        x = _zoom(x, factors)
        theta = torch.zeros(x.shape[0], 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factors
        grid = F.affine_grid(theta, [x.shape[0], 1, *masks.shape[-2:]], align_corners=False)
        shifted = masks.float()[:, None] + 1  # 0 marks "outside": sampled there it becomes 255, ignored
        warped = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0]
        masks = torch.where(warped == 0, torch.full_like(warped, 256), warped).sub(1).to(torch.uint8)
    return _colour(x, aug.colour, gen), masks


def detection_batch(x: torch.Tensor, boxes: list[torch.Tensor], classes: list[torch.Tensor], aug: Augment,
                    gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mosaic, mirror, zoom (boxes follow, clipped; boxes left under 2 px dropped) and colour-jitter a
    detection batch, then pad targets to ``[B, M, ...]`` with a mask."""
    height, width = x.shape[-2:]
    boxes, classes = [b.clone() for b in boxes], [c.clone() for c in classes]
    if aug.mosaic > 0:
        x, boxes, classes = _mosaic(x, boxes, classes, aug.mosaic, gen)
    mask = _mirror_mask(x.shape[0], aug.fliplr or 0.0, gen)
    if mask is not None:
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
        for i in torch.nonzero(mask).flatten().tolist():
            boxes[i][:, [0, 2]] = width - boxes[i][:, [2, 0]]
    factors = _zoom_factors(x.shape[0], aug.scale, gen)
    if factors is not None:
        x = _zoom(x, factors)
        centre = torch.tensor([width / 2, height / 2, width / 2, height / 2])
        limit = torch.tensor([width, height, width, height], dtype=torch.float32)
        for i, s in enumerate(factors.tolist()):
            b = ((boxes[i] - centre) * s + centre).clamp(min=torch.zeros(4), max=limit)
            keep = ((b[:, 2] - b[:, 0]) >= 2) & ((b[:, 3] - b[:, 1]) >= 2)
            boxes[i], classes[i] = b[keep], classes[i][keep]
    x = _colour(x, aug.colour, gen)
    m = max(1, max(len(b) for b in boxes))
    gt_boxes = torch.zeros(len(boxes), m, 4)
    gt_labels = torch.zeros(len(boxes), m, dtype=torch.long)
    gt_mask = torch.zeros(len(boxes), m, dtype=torch.bool)
    for i, (b, c) in enumerate(zip(boxes, classes)):
        gt_boxes[i, : len(b)], gt_labels[i, : len(c)], gt_mask[i, : len(b)] = b, c, True
    return x, gt_labels, gt_boxes, gt_mask


def _mosaic(x: torch.Tensor, boxes: list[torch.Tensor], classes: list[torch.Tensor], p: float,
            gen: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """With probability ``p`` per image: four images of the batch (it and three others) at half size, tiled
    2x2; their boxes halved and moved with them."""
    b, _, h, w = x.shape
    chosen = torch.nonzero(torch.rand(b, generator=gen) < p).flatten().tolist()
    if not chosen or h % 2 or w % 2:
        return x, boxes, classes
    small = F.avg_pool2d(x, 2)
    out, new_boxes, new_classes = x.clone(), list(boxes), list(classes)
    for i in chosen:
        others = torch.randint(0, b, (3,), generator=gen).tolist()
        parts_b, parts_c = [], []
        for k, j in enumerate([i, *others]):
            dy, dx = (k // 2) * (h // 2), (k % 2) * (w // 2)
            out[i, :, dy: dy + h // 2, dx: dx + w // 2] = small[j]
            parts_b.append(boxes[j] * 0.5 + torch.tensor([dx, dy, dx, dy], dtype=torch.float32))
            parts_c.append(classes[j])
        new_boxes[i], new_classes[i] = torch.cat(parts_b), torch.cat(parts_c)
    return out, new_boxes, new_classes


__all__ = ["Augment", "classification_batch", "detection_batch", "segmentation_batch"]
