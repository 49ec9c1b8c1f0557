"""The textbook: every layer, the loss and the optimizers as plain array expressions.

Each class here is the version to read first. Its forward and backward are
the formulas of its module docstring, written on the backend's array module
(``backend.xp()``), so they run on NumPy and CuPy alike. Nothing here knows
about threads, processes, cache sizes or GPU kernels: minicnn/fast/ holds
faster classes that subclass these and compute the same numbers, and those are
what ``minicnn.layers`` and ``minicnn.optimizers`` hand out. To train on the
textbook instead, import from here (``from minicnn.nn import Conv2D``), or
turn a whole model with ``minicnn.models.textbook_copy(model)``; a model may
mix both.
"""
from . import regularizers
from .activations import (
    ELU,
    SELU,
    Activation,
    Exponential,
    HardSigmoid,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
)
from .base import Layer
from .conv import Conv2D
from .core import Dense, Flatten
from .depthwise import DepthwiseConv2D, SeparableConv2D
from .dropout import Dropout
from .losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SigmoidBinaryCrossentropy,
    SoftmaxCrossEntropy,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from .normalization import BatchNormalization
from .optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, Optimizer, RMSprop
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from .reshaping import Reshape, ZeroPadding2D

__all__ = [
    # layers
    "Activation", "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense", "DepthwiseConv2D",
    "Dropout", "ELU", "Exponential", "Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "HardSigmoid", "Layer", "LeakyReLU", "Linear", "MaxPooling2D", "ReLU", "Reshape", "SELU",
    "SeparableConv2D", "Sigmoid", "Softmax", "Softplus", "Softsign", "Tanh", "ZeroPadding2D",
    # losses
    "BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge", "Loss",
    "MeanAbsoluteError", "MeanSquaredError", "SigmoidBinaryCrossentropy", "SoftmaxCrossEntropy",
    "SparseCategoricalCrossentropy", "SquaredHinge",
    # optimizers, regularizers
    "Adadelta", "Adagrad", "Adam", "Adamax", "Nadam", "Optimizer", "RMSprop", "SGD", "regularizers",
]
