"""Datasets: the IDX file reader and the MNIST loader.

>>> from minicnn.datasets import mnist                   # doctest: +SKIP
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
"""
from . import mnist
from .idx import IDXError, read_idx

__all__ = ["mnist", "read_idx", "IDXError"]
