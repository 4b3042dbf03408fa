"""polc.shared.vision: pixel-domain backbones (teacher / pixel model)."""
