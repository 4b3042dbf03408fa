"""Typed errors shared by every part of polc. Each carries a one-line, user-facing message."""


class PolcError(Exception):
    """Base class of every error polc raises on purpose."""


class DatasetError(PolcError):
    """A dataset folder or annotation file is missing, empty, malformed or unreadable."""


class ConfigError(PolcError):
    """A configuration file or value is invalid (the message names the field)."""


class BitstreamError(PolcError):
    """A .polc container is malformed, truncated, corrupted or from another model."""


class ModelError(PolcError):
    """Weights are missing, incompatible or do not match the requested configuration."""


class ReferenceMismatch(BitstreamError):
    """A P-frame's reference (seq, checksum, α or size) is not the one the decoder holds:
    never decoded; the sender must send a key frame."""


class ReferenceMissing(ReferenceMismatch):
    """A P-frame arrived and the decoder holds no reference for it."""
