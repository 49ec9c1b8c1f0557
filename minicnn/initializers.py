"""Weight initialisers, by Keras name.

An initialiser is called with a weight's shape and returns a new array of
floatx on the device: ``RandomNormal(stddev=0.1)((3, 3, 1, 8))``. Random
draws use the backend's host generator (seeded by ``minicnn.seed``) and are
then moved to the device once, so NumPy and CuPy start from the same weights;
an initialiser given its own ``seed`` draws from a generator of that seed
instead (the same weights on every call).

Most of Keras' named initialisers are one VarianceScaling: with n the fan
(fan_in, fan_out or their mean, from _fans),

    distribution="normal":  a normal of stddev sqrt(scale / n) / 0.8796...,
                            truncated at two of its standard deviations
                            (the division makes up for the cut tails);
    distribution="uniform": U(-limit, limit), limit = sqrt(3 * scale / n);

    glorot_uniform = (1, fan_avg, uniform)   glorot_normal = (1, fan_avg, normal)
    he_uniform     = (2, fan_in, uniform)    he_normal     = (2, fan_in, normal)
    lecun_uniform  = (1, fan_in, uniform)    lecun_normal  = (1, fan_in, normal)
"""
import math
import numbers

import numpy  # host side: initial weights are drawn on the host, then moved once

from . import backend

# the standard deviation of a standard normal truncated to [-2, 2]
TRUNCATED_STDDEV = 0.87962566103423978


def _fans(shape):
    """(fan_in, fan_out) of a weight shape, channels-last (Keras' rule):
    Dense (in, out): (in, out); a kernel (kh, kw, in, out): (kh*kw*in, kh*kw*out);
    any other rank: sqrt(size) for both."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) in (3, 4, 5):
        receptive = math.prod(shape[:-2])
        return shape[-2] * receptive, shape[-1] * receptive
    side = math.sqrt(math.prod(shape))
    return side, side


def _truncated_standard_normal(rng, shape):
    """Standard normal draws, each one outside [-2, 2] drawn again (a truncated normal)."""
    w = rng.standard_normal(size=shape)
    bad = abs(w) > 2.0
    while bad.any():
        w[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = abs(w) > 2.0
    return w


def _seeded(value, what):
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                              or value < 0):
        raise ValueError(f"{what}: seed must be None or an int >= 0, got {value!r}.")
    return None if value is None else int(value)


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}.")
    return float(value)


class Initializer:
    """shape -> a new weight array (floatx, on the device)."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    def _rng(self):
        """The host generator: the initialiser's own one when it has a seed."""
        seed = getattr(self, "seed", None)
        return backend.host_rng() if seed is None else numpy.random.default_rng(seed)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _on_device(w, dtype):
    return backend.to_device(w, dtype=dtype or backend.floatx())


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return backend.xp().zeros(shape, dtype=dtype or backend.floatx())


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return backend.xp().ones(shape, dtype=dtype or backend.floatx())


class Constant(Initializer):
    """Every value ``value``."""

    def __init__(self, value=0):
        self.value = _number(value, "Constant: value")

    def __call__(self, shape, dtype=None):
        return backend.xp().full(shape, self.value, dtype=dtype or backend.floatx())

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal(mean, stddev)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = _number(mean, "RandomNormal: mean")
        self.stddev = _number(stddev, "RandomNormal: stddev")
        self.seed = _seeded(seed, "RandomNormal")

    def __call__(self, shape, dtype=None):
        return _on_device(self._rng().normal(self.mean, self.stddev, size=shape), dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """U(minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = _number(minval, "RandomUniform: minval")
        self.maxval = _number(maxval, "RandomUniform: maxval")
        if self.maxval < self.minval:
            raise ValueError(f"RandomUniform: maxval ({maxval!r}) is below minval ({minval!r}).")
        self.seed = _seeded(seed, "RandomUniform")

    def __call__(self, shape, dtype=None):
        return _on_device(self._rng().uniform(self.minval, self.maxval, size=shape), dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal(mean, stddev), every value beyond two stddev from the mean drawn again."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = _number(mean, "TruncatedNormal: mean")
        self.stddev = _number(stddev, "TruncatedNormal: stddev")
        self.seed = _seeded(seed, "TruncatedNormal")

    def __call__(self, shape, dtype=None):
        w = self.mean + self.stddev * _truncated_standard_normal(self._rng(), shape)
        return _on_device(w, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Draws scaled to the weight's fan (the module docstring has the formulas)."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="normal", seed=None):
        self.scale = _number(scale, "VarianceScaling: scale")
        if self.scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be > 0, got {scale!r}.")
        if mode not in self.MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self.MODES}, got {mode!r}.")
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of "
                             f"{self.DISTRIBUTIONS}, got {distribution!r}.")
        self.mode, self.distribution = mode, distribution
        self.seed = _seeded(seed, "VarianceScaling")

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        n = max(1.0, n)
        rng = self._rng()
        if self.distribution == "normal":
            stddev = math.sqrt(self.scale / n) / TRUNCATED_STDDEV
            w = stddev * _truncated_standard_normal(rng, shape)
        else:
            limit = math.sqrt(3.0 * self.scale / n)
            w = rng.uniform(-limit, limit, size=shape)
        return _on_device(w, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class Orthogonal(Initializer):
    """A random orthogonal matrix times gain: the weight seen as (size / last, last), from the
    singular vectors of a standard normal matrix of that shape."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = _number(gain, "Orthogonal: gain")
        self.seed = _seeded(seed, "Orthogonal")

    def __call__(self, shape, dtype=None):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().standard_normal((rows, cols))
        u, _, vt = numpy.linalg.svd(a, full_matrices=False)     # u (rows, k), vt (k, cols)
        q = u if u.shape == (rows, cols) else vt                # the one of the weight's shape
        return _on_device(self.gain * q.reshape(shape), dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """gain times the identity matrix (2-D weights; a non-square one is a stack of them)."""

    def __init__(self, gain=1.0):
        self.gain = _number(gain, "Identity: gain")

    def __call__(self, shape, dtype=None):
        if len(shape) != 2 or max(shape) % min(shape):
            raise ValueError(f"Identity: needs a 2-D shape whose long side is a multiple of "
                             f"its short side, got {tuple(shape)}.")
        rows, cols = shape
        w = numpy.tile(numpy.eye(min(rows, cols)), (rows // min(shape), cols // min(shape)))
        return _on_device(self.gain * w, dtype)

    def get_config(self):
        return {"gain": self.gain}


# ---- Keras' named initialisers: functions that make one --------------------------
def glorot_uniform(seed=None):
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)): Keras' default kernel initialiser."""
    return VarianceScaling(1.0, "fan_avg", "uniform", seed)


def glorot_normal(seed=None):
    """Truncated normal of standard deviation sqrt(2 / (fan_in + fan_out))."""
    return VarianceScaling(1.0, "fan_avg", "normal", seed)


def he_uniform(seed=None):
    """U(-l, l), l = sqrt(6 / fan_in)."""
    return VarianceScaling(2.0, "fan_in", "uniform", seed)


def he_normal(seed=None):
    """Truncated normal of standard deviation sqrt(2 / fan_in)."""
    return VarianceScaling(2.0, "fan_in", "normal", seed)


def lecun_uniform(seed=None):
    """U(-l, l), l = sqrt(3 / fan_in)."""
    return VarianceScaling(1.0, "fan_in", "uniform", seed)


def lecun_normal(seed=None):
    """Truncated normal of standard deviation sqrt(1 / fan_in) (for selu)."""
    return VarianceScaling(1.0, "fan_in", "normal", seed)


# Keras' lower-case names of the classes
zeros = zero = Zeros
ones = one = Ones
constant = Constant
random_normal = normal = RandomNormal
random_uniform = uniform = RandomUniform
truncated_normal = TruncatedNormal
orthogonal = Orthogonal
identity = Identity

_CLASSES = {cls.__name__: cls for cls in (Zeros, Ones, Constant, RandomNormal, RandomUniform,
                                          TruncatedNormal, VarianceScaling, Orthogonal, Identity)}
_FUNCTIONS = {fn.__name__: fn for fn in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                                         lecun_uniform, lecun_normal)}
_ALIASES = {"zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
            "random_normal": RandomNormal, "normal": RandomNormal,
            "random_uniform": RandomUniform, "uniform": RandomUniform,
            "truncated_normal": TruncatedNormal, "orthogonal": Orthogonal, "identity": Identity}
_BY_NAME = {**_CLASSES, **_FUNCTIONS, **_ALIASES}


def get(identifier):
    """An initialiser from a Keras name ("he_normal", "zeros", "RandomNormal", ...; with
    Keras' default arguments), a config dict {"class_name": ..., "config": {...}} (what
    serialize gives), a class or named function of this module (called with no
    arguments), or any callable ``shape -> array`` of one's own (as it is)."""
    if isinstance(identifier, dict):
        if set(identifier) != {"class_name", "config"} or not isinstance(identifier["config"], dict):
            raise ValueError(f"Unknown initializer {identifier!r}: a dict must be "
                             "{'class_name': ..., 'config': {...}}, as serialize() writes.")
        return _make(identifier["class_name"], identifier["config"])
    if isinstance(identifier, str):
        return _make(identifier, {})
    if any(identifier is known for known in _BY_NAME.values()):
        return identifier()                 # he_normal or RandomNormal passed uncalled
    if callable(identifier):
        return identifier
    raise ValueError(f"Unknown initializer {identifier!r}: pass a name such as 'glorot_uniform', "
                     "a config dict, or a callable shape -> array.")


def _make(name, config):
    if name not in _BY_NAME:
        raise ValueError(f"Unknown initializer {name!r}: choose one of {sorted(_BY_NAME)}.")
    return _BY_NAME[name](**config)


def serialize(initializer):
    """What get_config stores (JSON-ready): the Keras name of a named initialiser with its
    default arguments ("glorot_uniform", "zeros"), else {"class_name": ..., "config": {...}};
    a callable of one's own as it is."""
    if not isinstance(initializer, Initializer):
        return initializer
    config = initializer.get_config()
    for name in ("zeros", "ones"):
        if type(initializer) is _BY_NAME[name]:
            return name
    if type(initializer) is VarianceScaling:
        for name, make in _FUNCTIONS.items():
            if make().get_config() == config:
                return name
    return {"class_name": type(initializer).__name__, "config": config}
