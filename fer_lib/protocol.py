"""Moved to fer_lib/papers/protocol.py (the common protocol's models, plan and test views); kept as an alias."""
from .papers.protocol import (MAIN_MODELS, MainModel, build, plan, pretrained_flag, test_views)  # noqa: F401
