"""``tritongrad.utils``: ``data`` (``torch.utils.data``: datasets, samplers, DataLoader) and
``checkpoint`` (whole-training checkpoints; imported on demand), ``dlpack`` (``torch.utils.dlpack``)."""
from . import data, dlpack

__all__ = ["data", "dlpack"]
