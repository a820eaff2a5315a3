"""Shared test setup: one torch thread (the machine is small and shared; results stay deterministic)."""
import torch

torch.set_num_threads(1)
