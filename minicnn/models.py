"""The model under its Keras name: ``from minicnn.models import Sequential``
(the code is in minicnn/model/)."""
from .model import Sequential, textbook_copy

__all__ = ["Sequential", "textbook_copy"]
