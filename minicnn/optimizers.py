"""The optimizers under their Keras names: ``from minicnn.optimizers import SGD, Adam``.

These are the fast classes (minicnn/fast/optimizers.py); the textbook ones,
which compute the same updates, are ``minicnn.nn.SGD`` and ``minicnn.nn.Adam``.
"""
from .fast.optimizers import SGD, Adam
from .nn.optimizers import Optimizer

__all__ = ["Adam", "Optimizer", "SGD", "get"]

_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier):
    """An optimizer from its name ("sgd", "adam"); an optimizer object is returned as is."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}: use one of {sorted(_BY_NAME)} "
        "or pass an optimizer object such as minicnn.optimizers.Adam(lr=0.001).")
