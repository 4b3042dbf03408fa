"""Transforms shared by synthetic and real data (classification, detection, codec crops).

Every transform takes an image (PIL image, HxWx3 uint8 array or CHW float tensor) and an
optional detection target (dict with ``boxes`` [K, 4] xyxy). It returns the image alone
when called without a target, else ``(image, target)``; boxes follow crops and flips.
Randomness comes from torch's global generator, so DataLoader worker seeding applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Target = dict[str, Any]


def to_tensor(image: Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
    """PIL / uint8 HxWx3 array -> float32 CHW tensor in [0, 1] (tensors pass through)."""
    if isinstance(image, torch.Tensor):
        return image if image.is_floating_point() else image.float() / 255.0
    arr = np.array(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div_(255.0)


def _out(image: torch.Tensor, target: Target | None) -> Any:
    return image if target is None else (image, target)


def pad_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad a CHW tensor at the bottom / right to at least ``height`` x ``width``.

    Reflection padding where possible (no artificial edges for codec training), edge
    replication for very small images. Boxes are unaffected (origin stays top-left).
    """
    ph, pw = max(0, height - image.shape[-2]), max(0, width - image.shape[-1])
    if ph == 0 and pw == 0:
        return image
    mode = "reflect" if ph < image.shape[-2] and pw < image.shape[-1] else "replicate"
    return F.pad(image.unsqueeze(0), (0, pw, 0, ph), mode=mode).squeeze(0)


def crop_target(target: Target, x0: int, y0: int, w: int, h: int, min_side: float = 2.0) -> Target:
    """Shift boxes into a crop window, clip them and drop the ones that fall outside."""
    out = dict(target)
    boxes = target["boxes"].clone()
    if boxes.numel():
        boxes[:, 0::2] = (boxes[:, 0::2] - x0).clamp(0, w)
        boxes[:, 1::2] = (boxes[:, 1::2] - y0).clamp(0, h)
        keep = ((boxes[:, 2] - boxes[:, 0]) >= min_side) & ((boxes[:, 3] - boxes[:, 1]) >= min_side)
        for key, value in target.items():
            if (
                isinstance(value, torch.Tensor)
                and value.ndim >= 1
                and len(value) == len(keep)
                and key != "orig_size"
            ):
                out[key] = value[keep]
        boxes = boxes[keep]
    out["boxes"] = boxes
    return out


class ToTensor:
    """Convert to a float CHW tensor in [0, 1]."""

    def __call__(self, image: Any, target: Target | None = None) -> Any:
        return _out(to_tensor(image), target)


class _Crop:
    """A ``size`` crop (int or (h, w)) at the origin :meth:`_origin` picks; smaller images
    are padded first, boxes are cropped with the image."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.h, self.w = (size, size) if isinstance(size, int) else size

    def _origin(self, H: int, W: int) -> tuple[int, int]:
        """(y0, x0) of the crop in an H x W image."""
        raise NotImplementedError

    def __call__(self, image: Any, target: Target | None = None) -> Any:
        img = pad_to(to_tensor(image), self.h, self.w)
        H, W = img.shape[-2:]
        y0, x0 = self._origin(H, W)
        img = img[:, y0 : y0 + self.h, x0 : x0 + self.w]
        if target is not None:
            target = crop_target(target, x0, y0, self.w, self.h)
        return _out(img, target)


class RandomCrop(_Crop):
    """Random ``size`` crop (int or (h, w)); smaller images are padded first."""

    def _origin(self, H: int, W: int) -> tuple[int, int]:
        y0 = int(torch.randint(0, H - self.h + 1, (1,)))
        x0 = int(torch.randint(0, W - self.w + 1, (1,)))
        return y0, x0


class CenterCrop(_Crop):
    """Central ``size`` crop (int or (h, w)); smaller images are padded first."""

    def _origin(self, H: int, W: int) -> tuple[int, int]:
        return (H - self.h) // 2, (W - self.w) // 2


class RandomHorizontalFlip:
    """Mirror the image (and boxes) with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: Any, target: Target | None = None) -> Any:
        img = to_tensor(image)
        if float(torch.rand(())) < self.p:
            img = img.flip(-1)
            if target is not None and target["boxes"].numel():
                target = dict(target)
                b = target["boxes"].clone()
                W = img.shape[-1]
                b[:, [0, 2]] = W - target["boxes"][:, [2, 0]]
                target["boxes"] = b
        return _out(img, target)


class Compose:
    """Apply transforms in order (all with the same dual image / (image, target) calling)."""

    def __init__(self, transforms: Sequence[Any]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Any, target: Target | None = None) -> Any:
        for t in self.transforms:
            if target is None:
                image = t(image)
            else:
                image, target = t(image, target)
        return _out(image, target)


def train_transform(crop: int | None = None, flip: bool = True) -> Compose:
    """The standard training pipeline: to tensor, optional random crop, random flip."""
    steps: list[Any] = [ToTensor()]
    if crop is not None:
        steps.append(RandomCrop(crop))
    if flip:
        steps.append(RandomHorizontalFlip())
    return Compose(steps)


def eval_transform(crop: int | None = None) -> Compose:
    """The standard evaluation pipeline: to tensor, optional center crop."""
    steps: list[Any] = [ToTensor()]
    if crop is not None:
        steps.append(CenterCrop(crop))
    return Compose(steps)
