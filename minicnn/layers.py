"""The layers under their Keras names: ``from minicnn.layers import Conv2D, ...``.

Where the fast package has a class (minicnn/fast) that is what you get; the
others are the textbook's own (minicnn/nn), which is already as fast as they
need to be. Both compute the same numbers; ``from minicnn.nn import Conv2D``
gives the textbook version of any of them. Keras 2.2's other names of some
layers (Convolution2D, MaxPool2D, AvgPool2D, ...) are here too.
"""
from .fast import BatchNormalization, Conv2D, Dropout, MaxPooling2D
from .nn import (
    ELU,
    Activation,
    AveragePooling2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Layer,
    LeakyReLU,
    ReLU,
    Reshape,
    SeparableConv2D,
    Softmax,
    ZeroPadding2D,
)

__all__ = ["Activation", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
           "Convolution2D", "Dense", "DepthwiseConv2D", "Dropout", "ELU", "Flatten",
           "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D",
           "Layer", "LeakyReLU", "MaxPool2D", "MaxPooling2D", "ReLU", "Reshape", "SeparableConv2D",
           "SeparableConvolution2D", "Softmax", "ZeroPadding2D"]


class Convolution2D(Conv2D):
    """Conv2D under its Keras 1 name, which Keras 2 keeps.

    Convolution2D(16, 3, 3) is 16 filters of 3x3 (Keras 1: nb_row, nb_col),
    converted with a warning as Conv2D(16, 3, 3) is (nn/base.py keras2_call);
    Convolution2D(10, 4) and Convolution2D(8, (3, 3)) are Keras 2 forms.
    """
    type_name = "Conv2D"  # what summary() shows, as Keras does


# Keras 2.2's other names of the same layers
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
SeparableConvolution2D = SeparableConv2D
