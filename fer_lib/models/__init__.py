"""Models of the five papers. Every model maps a float batch (B, C, H, W) to logits (B, num_classes)."""
# The registry (one way to build by name) imports every model module, torchvision among them (with torch._dynamo:
# ~1.5 s); it loads on first use, so `from fer_lib.models.small import SmallCNN` stays light.
_REGISTRY_NAMES = ("MODELS", "create_model", "model_version")


def __getattr__(name):
    if name in _REGISTRY_NAMES:
        from . import registry
        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_REGISTRY_NAMES])
