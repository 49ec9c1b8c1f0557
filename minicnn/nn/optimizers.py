"""Optimizers: turn gradients into in-place parameter updates.

``step(params, grads)`` takes two parallel lists of arrays and changes every
parameter array in place, so layers keep pointing at the same objects. Slots
(velocity, moments) are created on the first step, one per list position.
Each update below is the formula of its docstring written as array
expressions; minicnn/fast/optimizers.py computes the same with no temporaries.
Scalars are Python floats, which keeps float32 parameters in float32.
"""
import math

from .. import backend
from .base import is_number


class Optimizer:
    """Shared bookkeeping: ``lr`` (a settable positive float) and ``iterations``."""

    def __init__(self, lr):
        self.lr = lr
        self.iterations = 0   # number of completed step() calls
        self._slots = {}      # list position -> tuple of state arrays

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):  # schedules and callbacks set it too: checked every time
        self._lr = positive_number(f"{type(self).__name__}: lr", value)

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
        return list(enumerate(zip(params, grads)))

    def _state(self, i, p, n):
        """The ``n`` zero-initialised arrays shaped like ``p`` kept for position ``i``."""
        slots = self._slots.get(i)
        if slots is None:
            slots = self._slots[i] = tuple(backend.xp().zeros_like(p) for _ in range(n))
        return slots


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
        for i, (p, g) in self._pairs(params, grads):
            self.update(i, p, g, float(self.lr))
        self.iterations += 1

    def update(self, i, p, grad, lr):
        """One parameter's update; ``i`` is its place in the lists (for its velocity)."""
        mu = self.momentum
        g = grad + self.weight_decay * p if self.weight_decay else grad
        if mu == 0.0:
            p -= lr * g
            return
        v = self._state(i, p, 1)[0]                             # the velocity
        v[...] = mu * v - lr * g
        if self.nesterov:
            p += mu * v - lr * g
        else:
            p += v

    def get_config(self):
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

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
        self.epsilon = positive_number("Adam: epsilon", epsilon)

    def step(self, params, grads):
        t = self.iterations + 1
        lr_t = float(self.lr) * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        for i, (p, g) in self._pairs(params, grads):
            self.update(i, p, g, lr_t)
        self.iterations = t

    def update(self, i, p, g, lr_t):
        """One parameter's update; ``i`` is its place in the lists (for its moments)."""
        m, v = self._state(i, p, 2)
        m[...] = self.beta_1 * m + (1.0 - self.beta_1) * g
        v[...] = self.beta_2 * v + (1.0 - self.beta_2) * (g * g)
        p -= lr_t * m / (backend.xp().sqrt(v) + self.epsilon)

    def get_config(self):
        return {"lr": self.lr, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}

    def __repr__(self):
        return (f"Adam(lr={self.lr}, beta_1={self.beta_1}, "
                f"beta_2={self.beta_2}, epsilon={self.epsilon})")


def positive_number(name, value):
    """``value`` as a float if it is a finite number > 0; else a ValueError naming ``name``."""
    if not (is_number(value) and math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}.")
    return float(value)
