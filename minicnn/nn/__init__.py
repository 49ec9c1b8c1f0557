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
from .activations import Activation, Linear, ReLU, Softmax
from .base import Layer
from .conv import Conv2D
from .core import Dense, Flatten
from .dropout import Dropout
from .losses import SoftmaxCrossEntropy
from .normalization import BatchNormalization
from .optimizers import SGD, Adam, Optimizer
from .pooling import MaxPooling2D

__all__ = ["Activation", "Adam", "BatchNormalization", "Conv2D", "Dense", "Dropout", "Flatten",
           "Layer", "Linear", "MaxPooling2D", "Optimizer", "ReLU", "SGD", "Softmax",
           "SoftmaxCrossEntropy"]
