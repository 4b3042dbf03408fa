"""ArchitectureConfig: the sizes of the codec's networks (what RDCCodec is built from).

It is part of the codec configuration (``polc.shared.codec.config.CodecConfig.arch``) and of
every codec weights file; it lives with the model so that the model does not import the
bitstream side (``polc.shared.codec``), which imports the model.
"""

from __future__ import annotations

from pydantic import Field

from polc.shared.settings import StrictModel


class ArchitectureConfig(StrictModel):
    """Sizes of the networks. ``tiny`` trains on a CPU in a session; ``paper`` is M=320 class."""

    N: int = Field(64, ge=8, le=512, description="channels of g_a/g_s and of z")
    M: int = Field(96, ge=8, le=1024, description="channels of the latent y")
    aux_channels: int = Field(48, ge=4, le=1024, description="channels of the enhancement s")
    levels: int = Field(6, ge=2, le=16, description="trained gain levels L (alpha grid)")
    residual_channels: int = Field(48, ge=8, le=512, description="width of the residual net R")
