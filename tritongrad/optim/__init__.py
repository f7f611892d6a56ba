"""Optimizers and learning-rate schedulers under PyTorch's names (``torch.optim``).

``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad`` follow PyTorch's update rules and order of operations;
on cuda each step is one fused multi-tensor Triton launch per (param group, device, dtype)
(``tritongrad/kernels/optim.py``), on cpu the NumPy reference. ``optim.lr_scheduler`` holds the schedulers.
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
