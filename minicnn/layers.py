"""The layers under their Keras names: ``from minicnn.layers import Conv2D, ...``.

Where the fast package has a class (minicnn/fast) that is what you get; the
others are the textbook's own (minicnn/nn), which is already as fast as they
need to be. Both compute the same numbers; ``from minicnn.nn import Conv2D``
gives the textbook version of any of them.
"""
from .fast import BatchNormalization, Conv2D, Dropout, MaxPooling2D
from .nn import Activation, Dense, Flatten, Layer, ReLU, Softmax
from .nn.base import is_count

__all__ = ["Activation", "BatchNormalization", "Conv2D", "Convolution2D", "Dense",
           "Dropout", "Flatten", "Layer", "MaxPooling2D", "ReLU", "Softmax"]


class Convolution2D(Conv2D):
    """Conv2D under its Keras 1 name, which also takes the legacy kernel form.

    Convolution2D(16, 3, 3) is 16 filters of 3x3 (Keras 1: nb_row, nb_col);
    Convolution2D(10, 4) and Convolution2D(8, (3, 3)) are Keras 2 forms.
    """
    type_name = "Conv2D"  # what summary() shows, as Keras does

    def __init__(self, filters, kernel_size, *args, **kwargs):
        if args and is_count(args[0]) and is_count(kernel_size):
            kernel_size, args = (kernel_size, args[0]), args[1:]
        super().__init__(filters, kernel_size, *args, **kwargs)
