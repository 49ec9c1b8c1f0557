"""Weight penalties under their Keras names: ``from minicnn.regularizers import l2``.

    Conv2D(32, 3, kernel_regularizer=l2(0.01))     # adds 0.01 * sum(kernel^2) to the loss

The classes and formulas are the textbook's (minicnn/nn/regularizers.py).
"""
from .nn.regularizers import L1L2, Regularizer, get, l1, l1_l2, l2, serialize

__all__ = ["L1L2", "Regularizer", "get", "l1", "l1_l2", "l2", "serialize"]
