"""Weight penalties (Keras' regularizers): L1 and L2, added to the loss.

For a weight array w the penalty and its gradient are

    penalty(w) = sum(l1 * |w|) + sum(l2 * w^2),
    dpenalty/dw = l1 * sign(w) + 2 * l2 * w.

A layer made with kernel_regularizer=... (or bias_, depthwise_, pointwise_,
beta_, gamma_regularizer=...) lists its penalised parameters in
``Layer.regularizers()``; the model adds every penalty to the loss it reports
and each gradient to its parameter's gradient (minicnn/model/runner.py).
minicnn/regularizers.py gives these under their Keras names.
"""
import math

from .. import backend
from .base import is_number


class Regularizer:
    """A penalty on a weight array: ``__call__(w)`` -> the penalty (a 0-d array),
    ``gradient(w)`` -> its gradient (an array like w), ``get_config()`` -> its arguments."""

    def __call__(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}


class L1L2(Regularizer):
    """penalty(w) = sum(l1 * |w|) + sum(l2 * w^2);  gradient = l1 * sign(w) + 2 * l2 * w."""

    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if not (is_number(value) and math.isfinite(value) and value >= 0):
                raise ValueError(f"L1L2: {name} must be a number >= 0 (the penalty's factor), "
                                 f"got {value!r}.")
        self.l1 = float(l1)   # Python floats: a float32 weight's penalty stays float32
        self.l2 = float(l2)

    def __call__(self, w):
        xp = backend.xp()
        penalty = xp.zeros((), dtype=w.dtype)                   # 0-d, on the device
        if self.l1:
            penalty = penalty + self.l1 * xp.abs(w).sum()
        if self.l2:
            penalty = penalty + self.l2 * (w * w).sum()
        return penalty

    def gradient(self, w):
        xp = backend.xp()
        grad = xp.zeros_like(w)                                 # (same shape as w)
        if self.l1:
            grad = grad + self.l1 * xp.sign(w)
        if self.l2:
            grad = grad + (2.0 * self.l2) * w
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self):
        return f"L1L2(l1={self.l1}, l2={self.l2})"


def l1(l=0.01):  # noqa: E741 (Keras' argument name)
    """The L1 penalty l * sum(|w|)."""
    return L1L2(l1=l)


def l2(l=0.01):  # noqa: E741 (Keras' argument name)
    """The L2 penalty l * sum(w^2) (weight decay)."""
    return L1L2(l2=l)


def l1_l2(l1=0.01, l2=0.01):
    """Both penalties: l1 * sum(|w|) + l2 * sum(w^2)."""
    return L1L2(l1=l1, l2=l2)


# every name get() accepts: Keras' class and its functions
_BY_NAME = {"L1L2": L1L2, "l1": l1, "l2": l2, "l1_l2": l1_l2}


def get(identifier):
    """A regularizer from None (none), a name ("l2", "L1L2", ...; with Keras' default
    factors), a config dict {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}
    (what serialize gives), or a regularizer object (anything with __call__ and gradient)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if set(identifier) != {"class_name", "config"} or not isinstance(identifier["config"], dict):
            raise ValueError(f"Unknown regularizer {identifier!r}: a dict must be "
                             "{'class_name': ..., 'config': {...}}, as serialize() writes.")
        return _make(identifier["class_name"], identifier["config"])
    if isinstance(identifier, str):
        return _make(identifier, {})
    if callable(identifier) and callable(getattr(identifier, "gradient", None)):
        return identifier
    if callable(identifier):
        raise ValueError(f"Regularizer {identifier!r}: minicnn needs the penalty's gradient too; "
                         "write a class with __call__(w) and gradient(w) (see "
                         "minicnn.regularizers.L1L2), or use l1, l2, l1_l2.")
    raise ValueError(f"Unknown regularizer {identifier!r}: pass None, a name "
                     f"({', '.join(sorted(_BY_NAME))}), a config dict or a regularizer object.")


def _make(name, config):
    if name not in _BY_NAME:
        raise ValueError(f"Unknown regularizer {name!r}: choose one of {sorted(_BY_NAME)}.")
    return _BY_NAME[name](**config)


def serialize(regularizer):
    """What get_config stores: None, or {"class_name": ..., "config": {...}} (JSON-ready)
    for a regularizer that has get_config; any other object as it is."""
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    return regularizer
