"""Weight initialisers, by Keras name.

Random draws use the backend's host generator (seeded by ``minicnn.seed``)
and are then moved to the device once, so NumPy and CuPy start from the same
weights.
"""
import math

from . import backend


def _fans(shape):
    """(fan_in, fan_out) of a Dense (in, out) or Conv2D (kh, kw, in, out) kernel."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape):
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Keras' default kernel init)."""
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    w = backend.host_rng().uniform(-limit, limit, size=shape)
    return backend.to_device(w, dtype=backend.floatx())


def he_normal(shape):
    """Normal(0, sqrt(2 / fan_in)) truncated at two standard deviations (Keras 2.2)."""
    fan_in, _ = _fans(shape)
    std = math.sqrt(2.0 / fan_in)
    rng = backend.host_rng()
    w = rng.standard_normal(size=shape)
    bad = abs(w) > 2.0
    while bad.any():                       # redraw the tails, as a truncated normal does
        w[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = abs(w) > 2.0
    return backend.to_device(w * std, dtype=backend.floatx())


def zeros(shape):
    return backend.xp().zeros(shape, dtype=backend.floatx())


def ones(shape):
    return backend.xp().ones(shape, dtype=backend.floatx())


_BY_NAME = {"glorot_uniform": glorot_uniform, "he_normal": he_normal,
            "zeros": zeros, "ones": ones}


def serialize(init):
    """The Keras name of an initialiser from get(); a callable of one's own as is."""
    return init.__name__ if _BY_NAME.get(getattr(init, "__name__", None)) is init else init


def get(init):
    """An initialiser from its Keras name, or a callable ``shape -> array`` as is."""
    if callable(init):
        return init
    if init not in _BY_NAME:
        raise ValueError(f"Unknown initializer {init!r}: choose one of {sorted(_BY_NAME)}.")
    return _BY_NAME[init]
