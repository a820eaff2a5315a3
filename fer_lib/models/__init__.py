"""Models of the five papers. Every model maps a float batch (B, C, H, W) to logits (B, num_classes)."""
