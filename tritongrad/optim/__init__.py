"""Optimizers and learning-rate schedulers under PyTorch's names (``torch.optim``).

``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``, ``Adadelta``, ``Adamax``, ``NAdam``, ``RAdam`` follow
PyTorch's update rules and order of operations;
on cuda each step is one fused multi-tensor Triton launch per (param group, device, dtype)
(``tritongrad/kernels/optim.py``, ``optim_adaptive.py``), on cpu the NumPy reference. ``LBFGS`` runs PyTorch's
algorithm on tensor ops. ``optim.lr_scheduler`` holds the schedulers.
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
           "LBFGS", "lr_scheduler"]
