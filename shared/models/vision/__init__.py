"""polc.shared.models.vision: pixel-domain models (teacher backbone, FCOS pixel detector)."""
