"""Keras' ``keras.utils.np_utils``: ``from minicnn.utils import np_utils``, then
``np_utils.to_categorical(y, 10)``. The functions are those of minicnn/utils.py."""
from .utils import normalize, to_categorical

__all__ = ["normalize", "to_categorical"]
