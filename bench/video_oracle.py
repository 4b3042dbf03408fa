"""The object oracle of ``polc bench video --object-oracle``: skip-mode P-frames that code
exactly the latent positions a ground-truth object covers in this frame or the previous one
(their ŷ losslessly, against h_k's prediction as any skip-mode frame) and copy every other
position from the reference.

It is not an encoder (the edge has no ground truth): it shows what knowing *where* the
objects are is worth while ŷ_t stays intra's latent and P-frames copy or code positions
against the previous frame. What it pays is the rate of the objects themselves — the part of
a P-frame a better choice of positions cannot remove; an encoder gets below it only by
coding the objects lossily (as skip mode does inside them, at some mAP) (issue 16). Frames
decode with the shipped decoder like any skip-mode P-frame.

The module plugs into the bench's temporal codec hook (``video_polc.code_temporal``): it has
``encode_clip_temporal`` (with the clip's ``annotations``) and ``decode_clip``.
"""

from __future__ import annotations

import numpy as np

from polc.shared.codec.frame_spec import LATENT_STRIDE as STRIDE
from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.runtime import Codec, image_to_array
from polc.shared.codec.temporal import decode_clip

__all__ = ["decode_clip", "encode_clip_temporal", "object_positions"]


def object_positions(annotations: list[dict], latent_hw: tuple[int, int]) -> np.ndarray:
    """Latent positions (bool (h, w)) that a COCO box ([x, y, w, h] pixels) overlaps."""
    mask = np.zeros(latent_hw, bool)
    for ann in annotations:
        x, y, w, h = ann["bbox"]
        mask[
            int(y) // STRIDE : int(np.ceil((y + h) / STRIDE)),
            int(x) // STRIDE : int(np.ceil((x + w) / STRIDE)),
        ] = True
    return mask


def encode_clip_temporal(
    codec: Codec,
    frames: list[np.ndarray],
    alpha: float,
    gop: int,
    annotations: list[list[dict]],
) -> list[bytes]:
    """The clip with key frames every ``gop`` frames and object-oracle P-frames between
    (``annotations``: the ground-truth boxes of every frame)."""
    temporal = codec.temporal
    blobs: list[bytes] = []
    reference: ReferenceState | None = None
    for seq, image in enumerate(frames):
        if seq % gop == 0:
            data, reference = codec.encode_frame(image, alpha, seq)
            blobs.append(data)
            continue
        assert reference is not None
        # the skip-mode branch of FrameEncoder.encode_frame with the coded set imposed
        # (τ = 0: nothing else is skipped, nothing snaps)
        x, geometry = image_to_array(image)
        v, _ = codec.encoder.transforms.latents(x, codec.wire.gain_y(alpha))
        hw = geometry.latent_hw
        objects = object_positions(annotations[seq], hw)
        objects |= object_positions(annotations[seq - 1], hw)
        container, params, y_sym, skip = temporal.encode_skip_symbols(
            geometry, alpha, v[0], reference, 0.0, moved=objects
        )
        reference = ReferenceState.of(seq, container, reference.z_symbols, y_sym, params, skip)
        blobs.append(container.to_bytes())
    return blobs
