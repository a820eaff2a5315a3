"""Models of the five papers. Every model maps a float batch (B, C, H, W) to logits (B, num_classes)."""
from .registry import MODELS, create_model, model_version  # noqa: F401  (the registry: one way to build by name)
