"""polc.shared.metrics: evaluation metrics (image quality, COCO box mAP)."""
