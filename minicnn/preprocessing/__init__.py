"""Keras' ``keras.preprocessing``: real-time image augmentation, in minicnn/preprocessing/image.py.

``from minicnn.preprocessing.image import ImageDataGenerator`` as in Keras 2.2.
"""
from . import image

__all__ = ["image"]
