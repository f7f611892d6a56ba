"""``tritongrad.nn``: PyTorch's ``torch.nn`` -- `Module`, layers, losses, ``functional``, ``init``, ``utils``.

Fused layers (Linear's bias/activation epilogue, LayerNorm, RMSNorm, BatchNorm, Dropout, cross-entropy,
Embedding, Conv2d, pooling, attention, the recurrent layers) run the fused backend ops: NumPy on cpu, Triton kernels on cuda.
"""
from __future__ import annotations

from . import functional, init, utils
from .activation import (GELU, LeakyReLU, LogSigmoid, LogSoftmax, MultiheadAttention, ReLU, Sigmoid, SiLU, Softmax,
                         Softplus, Tanh)
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import Module
from .normalization import (BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,
                            LayerNorm, RMSNorm)
from .padding import (CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d, ReflectionPad2d,
                      ReplicationPad1d, ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from .parameter import Buffer, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from ._activation_b import (CELU, ELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, Mish, PReLU, ReLU6,
                            Softmin, Softshrink, Softsign, Tanhshrink, Threshold)
from .sparse import Embedding, EmbeddingBag
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
from .upsampling import PixelShuffle, PixelUnshuffle, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from . import parallel  # noqa: E402  (after Module: DistributedDataParallel subclasses it)
from .parallel import DataParallel  # noqa: E402

__all__ = [
    "Module", "Parameter", "Buffer", "Sequential", "ModuleList", "ModuleDict", "Identity", "Flatten", "Unflatten",
    "Linear", "Embedding", "LayerNorm", "RMSNorm", "BatchNorm1d", "BatchNorm2d", "Dropout", "Conv2d", "MaxPool2d",
    "AvgPool2d", "AdaptiveAvgPool2d", "MultiheadAttention", "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "LeakyReLU",
    "Softmax", "LogSoftmax", "LogSigmoid", "Softplus", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "functional", "init", "utils",
    "ParameterList", "ParameterDict", "Conv1d", "ConvTranspose1d", "ConvTranspose2d", "Dropout1d", "Dropout2d",
    "Dropout3d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "ReflectionPad1d",
    "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "CircularPad1d", "CircularPad2d", "ZeroPad1d",
    "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "PixelShuffle", "PixelUnshuffle", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
    "TransformerDecoder", "Transformer", "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell",
    "GRUCell", "parallel", "DataParallel", "MaxPool1d", "AvgPool1d", "ELU", "SELU", "CELU", "ReLU6", "Hardtanh",
    "Hardsigmoid", "Hardswish", "Mish", "Softsign", "Softshrink", "Hardshrink", "Tanhshrink", "Threshold", "GLU",
    "PReLU", "Softmin",
]
__all__ += ["EmbeddingBag"]
