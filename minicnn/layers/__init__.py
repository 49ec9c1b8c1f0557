"""Layers, one family per file; Keras names and arguments."""
from .activations import Activation, ReLU, Softmax
from .base import Layer
from .conv import Conv2D, Convolution2D
from .core import Dense, Flatten
from .dropout import Dropout
from .normalization import BatchNormalization
from .pooling import MaxPooling2D

__all__ = ["Activation", "BatchNormalization", "Conv2D", "Convolution2D", "Dense",
           "Dropout", "Flatten", "Layer", "MaxPooling2D", "ReLU", "Softmax"]
