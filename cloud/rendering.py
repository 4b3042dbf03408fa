"""Human-viewable reconstructions x̄(β) of stored frames (the operator's view).

store ─► base (+ enhancement, fetched from the edge on demand for β < 1)
      ─► entropy decode (a P-frame: from its key frame, ReferenceChain)
      ─► g_s / aux branch ─► x̄(β) ─► PNG / JPEG
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from polc.cloud.reference_chain import ReferenceChain
from polc.shared.codec.container import FrameContainer


def render(
    chain: ReferenceChain,
    camera_id: str,
    seq: int,
    base: bytes,
    enhancement: bytes | None,
    beta: float,
) -> tuple[np.ndarray, float, float]:
    """Decode stored frame ``seq`` (a P-frame via its chain) and reconstruct it at β;
    returns (uint8 HxWx3 image, base bpp, enhancement bpp)."""
    codec = chain.codec
    container = FrameContainer.from_bytes(base)
    frame = chain.decode(camera_id, seq, container)
    if enhancement is not None and beta < 1.0:
        frame = codec.attach_enhancement(frame, enhancement)
    image = codec.reconstruct(frame, beta)
    base_bpp, enh_bpp = codec.bits_per_pixel(frame)
    return image, base_bpp, enh_bpp if beta < 1.0 else 0.0


def encode_image(image: np.ndarray, fmt: str, jpeg_quality: int = 90) -> bytes:
    """uint8 HxWx3 -> PNG or JPEG bytes."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(image).save(buf, format="JPEG", quality=jpeg_quality)
    else:
        Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
