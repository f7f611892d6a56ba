"""``tritongrad.utils``: ``data`` (``torch.utils.data``: datasets, samplers, DataLoader) and
``checkpoint`` (whole-training checkpoints; imported on demand)."""
from . import data

__all__ = ["data"]
