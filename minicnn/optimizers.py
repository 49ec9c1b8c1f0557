"""Optimizers: turn gradients into in-place parameter updates.

``step(params, grads)`` takes two parallel lists of arrays and changes every
parameter array in place, so layers keep pointing at the same objects. Slots
(velocity, moments) are created on the first step, one per list position; the
NumPy path also keeps one scratch buffer per parameter, so that a step
allocates nothing. Every update is an in-place ufunc with ``out=`` and Python-float
scalars, which keeps float32 parameters in float32. On CuPy each parameter's
update is instead one fused kernel (minicnn/kernels.py), the same formulas.
"""
import math

from . import backend as B
from . import kernels as K
from .layers.base import is_number


class Optimizer:
    """Shared bookkeeping: ``lr`` (a settable positive float) and ``iterations``."""

    def __init__(self, lr):
        self.lr = lr
        self.iterations = 0   # number of completed step() calls
        self._slots = {}      # list position -> tuple of state arrays
        self._scratch = {}    # list position -> a work array (NumPy path only)

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):  # schedules and callbacks set it too: checked every time
        self._lr = _positive(f"{type(self).__name__}: lr", value)

    def step(self, params, grads):
        """Update every ``params[i]`` in place from ``grads[i]``."""
        raise NotImplementedError

    def get_state(self):
        """Copies of the step count and of every slot (velocities, moments)."""
        return self.iterations, {i: tuple(a.copy() for a in slots)
                                 for i, slots in self._slots.items()}

    def set_state(self, state):
        """Put back what get_state returned, as if the steps since then never happened."""
        self.iterations, slots = state
        self._slots = {i: tuple(a.copy() for a in arrays) for i, arrays in slots.items()}

    def _pairs(self, params, grads):
        """(i, (param, grad)) after checking the lists, before anything is updated."""
        if len(params) != len(grads):
            raise ValueError(
                f"{type(self).__name__}.step: got {len(params)} parameters but "
                f"{len(grads)} gradients; the two lists must be parallel.")
        for i, slots in self._slots.items():
            shape = None if i >= len(params) else tuple(params[i].shape)
            if shape != tuple(slots[0].shape):
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} has shape {shape} but this "
                    f"optimizer's state for it has shape {tuple(slots[0].shape)}: it was "
                    "used with another model; give each model its own optimizer.")
        return enumerate(zip(params, grads))

    def _state(self, xp, i, p, n):
        """The ``n`` zero-initialised arrays shaped like ``p`` kept for position ``i``."""
        slots = self._slots.get(i)
        if slots is None:
            slots = self._slots[i] = tuple(xp.zeros_like(p) for _ in range(n))
        return slots

    def _work(self, xp, i, p):
        """A reusable scratch array shaped like ``p`` for position ``i`` (not state)."""
        tmp = self._scratch.get(i)
        if tmp is None or tmp.shape != p.shape:
            tmp = self._scratch[i] = xp.empty_like(p)
        return tmp


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (Keras semantics).

    g = grad + weight_decay * p;  v = momentum * v - lr * g;
    p += v  (classic)  or  p += momentum * v - lr * g  (Nesterov).
    With momentum 0 this is plain ``p -= lr * g``.
    """

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        if not (is_number(momentum) and 0.0 <= momentum < 1.0):
            raise ValueError(f"SGD: momentum must be a number in [0, 1), got {momentum!r}.")
        if not (is_number(weight_decay) and 0.0 <= weight_decay < math.inf):
            raise ValueError(f"SGD: weight_decay must be a finite number >= 0, got "
                             f"{weight_decay!r}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)

    def step(self, params, grads):
        xp = B.xp()
        lr, mu, wd = float(self.lr), self.momentum, self.weight_decay
        fused = B.get_backend() == "cupy"
        for i, (p, g) in self._pairs(params, grads):
            v = self._state(xp, i, p, 1)[0] if mu else None   # the velocity
            if fused:                     # the same update as one GPU kernel
                if mu == 0.0:
                    K.sgd(p, g, lr, wd)
                else:
                    K.sgd_momentum(p, g, v, lr, mu, wd, self.nesterov)
                continue
            tmp = self._work(xp, i, p)
            # tmp = lr * g, with g = grad + wd * p
            if wd:
                xp.multiply(p, wd, out=tmp)
                tmp += g
                tmp *= lr
            else:
                xp.multiply(g, lr, out=tmp)
            if mu == 0.0:
                p -= tmp
                continue
            v *= mu
            v -= tmp                      # v = mu * v - lr * g
            if self.nesterov:
                p -= tmp
                xp.multiply(v, mu, out=tmp)
                p += tmp                  # p += mu * v - lr * g
            else:
                p += v
        self.iterations += 1

    def __repr__(self):
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, "
                f"nesterov={self.nesterov}, weight_decay={self.weight_decay})")


class Adam(Optimizer):
    """Adam as in Keras 2.2 (bias correction folded into the step size).

    t += 1;  lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t);
    m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2;
    p -= lr_t * m / (sqrt(v) + epsilon).
    """

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(lr)
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not (is_number(beta) and 0.0 <= beta < 1.0):
                raise ValueError(f"Adam: {name} must be a number in [0, 1), got {beta!r}.")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = _positive("Adam: epsilon", epsilon)

    def step(self, params, grads):
        xp = B.xp()
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        t = self.iterations + 1
        lr_t = float(self.lr) * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        fused = B.get_backend() == "cupy"
        for i, (p, g) in self._pairs(params, grads):
            m, v = self._state(xp, i, p, 2)
            if fused:                     # the same update as one GPU kernel
                K.adam(p, g, m, v, lr_t, b1, b2, eps)
                continue
            tmp = self._work(xp, i, p)
            xp.multiply(g, 1.0 - b1, out=tmp)
            m *= b1
            m += tmp                      # m = b1 m + (1 - b1) g
            xp.multiply(g, g, out=tmp)
            tmp *= 1.0 - b2
            v *= b2
            v += tmp                      # v = b2 v + (1 - b2) g^2
            xp.sqrt(v, out=tmp)
            tmp += eps
            xp.divide(m, tmp, out=tmp)
            tmp *= lr_t
            p -= tmp                      # p -= lr_t m / (sqrt(v) + eps)
        self.iterations = t

    def __repr__(self):
        return (f"Adam(lr={self.lr}, beta_1={self.beta_1}, "
                f"beta_2={self.beta_2}, epsilon={self.epsilon})")


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


def _positive(name, value):
    if not (is_number(value) and math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}.")
    return float(value)
