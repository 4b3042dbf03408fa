"""Compressed-domain detector: latent stem + the pixel detector's stages, FPN and FCOS head.

    ŷ ─LatentStem─► [layer1] ─► layer2 ─► layer3 ─► layer4 ─► FPN ─► FCOS head
                    (the pixel detector's own modules, frozen by default)

``first_stage`` says which of the pixel backbone's stages the stem feeds
(``stem.FIRST_STAGES``).

ŷ is at 1/16 of the padded frame, so FCOS's anchor points are those of a (16·h, 16·w)
image: boxes come out in padded-frame pixels, and the caller clips them to the original
W × H (the encoder pads bottom / right only, see ``shared/codec/runtime.image_to_array``).
"""

from __future__ import annotations

from torch import Tensor

from polc.shared.models.adapters.stem import StemFedBackbone
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.detector import PixelDetector
from polc.shared.models.vision.detector_file import load_detector
from polc.shared.models.weights_file import WeightsKind

LATENT_STRIDE = 16


class LatentDetector(StemFedBackbone):
    """ŷ -> the pixel detector's FCOS losses or detections (``LatentDetector(detector,
    latent_channels, rank, train_stages, ...)``, see :class:`StemFedBackbone`)."""

    HEADS = ("fcos",)
    #: its adapter file's kind, and the reader of the detector file it adapts
    WEIGHTS_KIND: WeightsKind = "adapter_det"
    read_pixel_model = staticmethod(load_detector)

    @staticmethod
    def _backbone(detector: PixelDetector) -> SmallResNet:
        return detector.body

    def _reuse_head(self, detector: PixelDetector) -> None:
        self.fcos = detector.fcos
        self.classes: list[str] = list(getattr(detector, "classes", []))

    def stages(self, y_hat: Tensor) -> list[Tensor]:
        """[C3, C4, C5]: what the pixel detector's layer2..layer4 output on the image."""
        return self.features(y_hat)[1:]

    def detect(self, stages: list[Tensor], size: tuple[int, int], targets=None):
        """FCOS on [C3, C4, C5] (as :meth:`TorchvisionLatentDetector.detect`): losses with
        ``targets`` (training), else detections; ``size`` the padded frame's (h, w)."""
        return self.fcos(stages, size, targets)

    def forward(
        self, y_hat: Tensor, targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Training: FCOS losses (targets in padded-frame pixels); eval: detections."""
        size = (y_hat.shape[-2] * LATENT_STRIDE, y_hat.shape[-1] * LATENT_STRIDE)
        return self.fcos(self.stages(y_hat), size, targets)


def clip_to_frame(boxes: Tensor, width: int, height: int) -> Tensor:
    """Boxes (xyxy, padded-frame pixels) clipped to the original width × height."""
    out = boxes.clone()
    out[..., 0::2] = out[..., 0::2].clamp(0, width)
    out[..., 1::2] = out[..., 1::2].clamp(0, height)
    return out


def keep_visible(
    det: dict[str, Tensor], width: int, height: int, min_side: float = 1.0
) -> dict[str, Tensor]:
    """Clip a detection dict to the frame and drop boxes left (almost) empty by the clip
    (those found entirely in the replicate-padded border)."""
    boxes = clip_to_frame(det["boxes"], width, height)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_side) & ((boxes[:, 3] - boxes[:, 1]) >= min_side)
    return {"boxes": boxes[keep], "scores": det["scores"][keep], "labels": det["labels"][keep]}
