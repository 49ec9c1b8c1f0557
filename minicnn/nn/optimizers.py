"""Optimizers: turn gradients into in-place parameter updates (Keras 2.2's seven).

``step(params, grads)`` takes two parallel lists of arrays and changes every
parameter array in place, so layers keep pointing at the same objects. Slots
(velocity, moments, accumulators) are created on the first step, one tuple
per list position. Each update below is the formula of its docstring written
as array expressions; minicnn/fast/optimizers.py computes the same for SGD
and Adam with no temporaries. Scalars are Python floats, which keeps float32
parameters in float32.

What every ``step`` does, in order (``Optimizer._prepared``, ``decayed_lr``):

1. checks the two lists (same length; shapes that match the slots);
2. clips the gradients, as Keras 2.2 does, when asked to:
   ``clipnorm``: with norm = sqrt(sum over ALL gradient arrays of sum(g^2)),
   every gradient becomes g * clipnorm / max(norm, clipnorm) (the direction of
   the whole step is kept; only its length is capped);
   ``clipvalue``: every element is clipped to [-clipvalue, clipvalue]
   (norm clipping first when both are set). The caller's arrays are not changed;
3. takes the learning rate, with Keras 2.2's time-based decay where the
   optimizer has ``decay``: lr_t = lr / (1 + decay * iterations), iterations
   being the number of steps done before this one (so the first step uses lr);
4. calls ``update(i, p, g, ...)`` for every position, then counts the step.
"""
import math

from .. import backend
from .base import is_number

EPSILON = 1e-7   # Keras 2.2's keras.backend.epsilon(), used when epsilon=None


class LearningRate(float):
    """An optimizer's learning rate: a float that knows its optimizer, so that Keras'
    ``K.set_value(model.optimizer.lr, 0.01)`` (minicnn.backend.set_value) can set it.

    NumPy 2 does not treat a float subclass as a weak scalar (an array of float32 times
    one comes out float64), so array code uses ``float(optimizer.lr)``; arithmetic on it
    gives plain floats, and a copy or pickle of it is a plain float.
    """

    def __new__(cls, value, optimizer):
        number = super().__new__(cls, value)
        number.optimizer = optimizer
        return number

    def set_value(self, value):
        self.optimizer.lr = value

    def get_value(self):
        return float(self)

    def __reduce__(self):
        return float, (float(self),)


class Optimizer:
    """Shared bookkeeping: ``lr`` (a settable positive float), ``iterations``, the slots
    and the gradient clipping every optimizer offers (``clipnorm``, ``clipvalue``)."""

    def __init__(self, lr, clipnorm=None, clipvalue=None):
        name = type(self).__name__
        self.lr = lr
        self.clipnorm = optional_non_negative(f"{name}: clipnorm", clipnorm)
        self.clipvalue = optional_non_negative(f"{name}: clipvalue", clipvalue)
        self.iterations = 0   # number of completed step() calls
        self._slots = {}      # list position -> tuple of state arrays

    @property
    def lr(self):
        """The learning rate, a number (a LearningRate: Keras' K.set_value(optimizer.lr, v)
        and K.get_value work on it)."""
        return LearningRate(self._lr, self)

    @lr.setter
    def lr(self, value):  # schedules and callbacks set it too: checked every time
        self._lr = positive_number(f"{type(self).__name__}: lr", value)

    def step(self, params, grads):
        """Update every ``params[i]`` in place from ``grads[i]``: ``update`` with this
        step's (decayed) learning rate for each, then count the step. Adam, Adamax and
        Nadam, whose steps also correct for the step count, have their own."""
        lr = self.decayed_lr()
        for i, p, g in self._prepared(params, grads):
            self.update(i, p, g, lr)
        self.iterations += 1

    def update(self, i, p, g, lr):
        """One parameter's update; ``i`` is its place in the lists (for its slots)."""
        raise NotImplementedError

    def decayed_lr(self):
        """This step's learning rate: lr / (1 + decay * iterations) (Keras 2.2's decay), for
        the optimizers that have a ``decay`` (all but Nadam)."""
        return float(self.lr) / (1.0 + self.decay * self.iterations)

    def get_state(self):
        """Copies of the step count and of every slot (velocities, moments).

        This is everything a step changes: a value an optimizer derives from the
        step count (Nadam's momentum product) is recomputed from ``iterations``."""
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

    def _prepared(self, params, grads):
        """(i, param, gradient) for every position: the lists checked, the gradients
        clipped as ``clipnorm`` and ``clipvalue`` ask (new arrays; ``grads`` is left alone)."""
        pairs = self._pairs(params, grads)
        grads = [g for _, (_, g) in pairs]
        xp = backend.xp()
        if self.clipnorm and grads:
            squares = xp.sum(grads[0] * grads[0])
            for g in grads[1:]:
                squares = squares + xp.sum(g * g)
            norm = xp.sqrt(squares)                       # one norm over all gradients
            # 1 when norm <= clipnorm; fmax, not maximum: a NaN norm leaves the gradients
            # as they are (as Keras' norm >= clipnorm test does) instead of making all NaN
            scale = self.clipnorm / xp.fmax(norm, self.clipnorm)
            grads = [g * scale for g in grads]
        if self.clipvalue:
            grads = [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return [(i, p, g) for (i, (p, _)), g in zip(pairs, grads)]

    def _state(self, i, p, n):
        """The ``n`` zero-initialised arrays shaped like ``p`` kept for position ``i``."""
        slots = self._slots.get(i)
        if slots is None:
            slots = self._slots[i] = tuple(backend.xp().zeros_like(p) for _ in range(n))
        elif len(slots) != n:
            raise ValueError(
                f"{type(self).__name__}: parameter {i} has {len(slots)} state arrays but this "
                f"update needs {n}: an option that changes the state (such as amsgrad) was "
                "changed after the first step; make a new optimizer instead.")
        return slots

    def _options(self):
        """The config entries every optimizer has: the clipping options."""
        return {"clipnorm": self.clipnorm, "clipvalue": self.clipvalue}

    def __repr__(self):
        """The constructor call, leaving out options that are off (decay 0, no clipping,
        no amsgrad)."""
        off = {"decay": 0.0, "clipnorm": None, "clipvalue": None, "amsgrad": False}
        shown = [f"{key}={value!r}" for key, value in self.get_config().items()
                 if key not in off or value != off[key]]
        return f"{type(self).__name__}({', '.join(shown)})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (Keras semantics).

    g = grad + weight_decay * p;  v = momentum * v - lr * g;
    p += v  (classic)  or  p += momentum * v - lr * g  (Nesterov).
    With momentum 0 this is plain ``p -= lr * g``. ``weight_decay`` (L2 added to
    the gradient) is minicnn's; the other arguments are Keras 2.2's.
    """

    def __init__(self, lr=0.01, momentum=0.0, decay=0.0, nesterov=False, weight_decay=0.0, *,
                 clipnorm=None, clipvalue=None):
        super().__init__(lr, clipnorm, clipvalue)
        if not (is_number(momentum) and 0.0 <= momentum < 1.0):
            raise ValueError(f"SGD: momentum must be a number in [0, 1), got {momentum!r}.")
        if not (is_number(weight_decay) and 0.0 <= weight_decay < math.inf):
            raise ValueError(f"SGD: weight_decay must be a finite number >= 0, got "
                             f"{weight_decay!r}.")
        self.momentum = float(momentum)
        self.decay = non_negative_number("SGD: decay", decay)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)

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
        return {"lr": float(self.lr), "momentum": self.momentum, "decay": self.decay,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay, **self._options()}


class RMSprop(Optimizer):
    """RMSprop: divide each step by a running root mean square of the gradient.

    a = rho a + (1 - rho) g^2;  p -= lr_t g / (sqrt(a) + epsilon).
    """

    def __init__(self, lr=0.001, rho=0.9, epsilon=None, decay=0.0, *, clipnorm=None, clipvalue=None):
        super().__init__(lr, clipnorm, clipvalue)
        self.rho = fraction("RMSprop: rho", rho)
        self.epsilon = epsilon_value("RMSprop", epsilon)
        self.decay = non_negative_number("RMSprop: decay", decay)

    def update(self, i, p, g, lr):
        a = self._state(i, p, 1)[0]                             # mean of g^2
        a[...] = self.rho * a + (1.0 - self.rho) * (g * g)
        p -= lr * g / (backend.xp().sqrt(a) + self.epsilon)

    def get_config(self):
        return {"lr": float(self.lr), "rho": self.rho, "epsilon": self.epsilon, "decay": self.decay,
                **self._options()}


class Adagrad(Optimizer):
    """Adagrad: each element's step shrinks with the sum of its squared gradients so far.

    a = a + g^2;  p -= lr_t g / (sqrt(a) + epsilon).
    """

    def __init__(self, lr=0.01, epsilon=None, decay=0.0, *, clipnorm=None, clipvalue=None):
        super().__init__(lr, clipnorm, clipvalue)
        self.epsilon = epsilon_value("Adagrad", epsilon)
        self.decay = non_negative_number("Adagrad: decay", decay)

    def update(self, i, p, g, lr):
        a = self._state(i, p, 1)[0]                             # sum of g^2
        a[...] = a + g * g
        p -= lr * g / (backend.xp().sqrt(a) + self.epsilon)

    def get_config(self):
        return {"lr": float(self.lr), "epsilon": self.epsilon, "decay": self.decay, **self._options()}


class Adadelta(Optimizer):
    """Adadelta: the step is scaled by the ratio of two running root mean squares,
    of past steps and of gradients (Keras 2.2 keeps a learning rate, 1 by default).

    a = rho a + (1 - rho) g^2;
    step = g sqrt(d + epsilon) / sqrt(a + epsilon)   (the new a, the old d);
    p -= lr_t step;  d = rho d + (1 - rho) step^2.
    """

    def __init__(self, lr=1.0, rho=0.95, epsilon=None, decay=0.0, *, clipnorm=None, clipvalue=None):
        super().__init__(lr, clipnorm, clipvalue)
        self.rho = fraction("Adadelta: rho", rho)
        self.epsilon = epsilon_value("Adadelta", epsilon)
        self.decay = non_negative_number("Adadelta: decay", decay)

    def update(self, i, p, g, lr):
        xp, rho, eps = backend.xp(), self.rho, self.epsilon
        a, d = self._state(i, p, 2)                             # mean of g^2, of step^2
        a[...] = rho * a + (1.0 - rho) * (g * g)
        step = g * xp.sqrt(d + eps) / xp.sqrt(a + eps)
        p -= lr * step
        d[...] = rho * d + (1.0 - rho) * (step * step)

    def get_config(self):
        return {"lr": float(self.lr), "rho": self.rho, "epsilon": self.epsilon, "decay": self.decay,
                **self._options()}


class Adam(Optimizer):
    """Adam as in Keras 2.2 (bias correction folded into the step size).

    t += 1;  lr_t = lr' * sqrt(1 - beta_2**t) / (1 - beta_1**t)  (lr' the decayed lr);
    m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2;
    p -= lr_t * m / (sqrt(v) + epsilon).
    With amsgrad: v_max = max(v_max, v) and p -= lr_t * m / (sqrt(v_max) + epsilon).
    """

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0, amsgrad=False,
                 *, clipnorm=None, clipvalue=None):
        super().__init__(lr, clipnorm, clipvalue)
        self.beta_1 = fraction("Adam: beta_1", beta_1)
        self.beta_2 = fraction("Adam: beta_2", beta_2)
        self.epsilon = epsilon_value("Adam", epsilon)
        self.decay = non_negative_number("Adam: decay", decay)
        self.amsgrad = bool(amsgrad)

    def step(self, params, grads):
        t = self.iterations + 1
        lr_t = self.decayed_lr() * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        for i, p, g in self._prepared(params, grads):
            self.update(i, p, g, lr_t)
        self.iterations = t

    def update(self, i, p, g, lr_t):
        """One parameter's update; ``i`` is its place in the lists (for its moments)."""
        if self.amsgrad:
            m, v, v_max = self._state(i, p, 3)
        else:
            m, v = self._state(i, p, 2)
        m[...] = self.beta_1 * m + (1.0 - self.beta_1) * g
        v[...] = self.beta_2 * v + (1.0 - self.beta_2) * (g * g)
        if self.amsgrad:
            v_max[...] = backend.xp().maximum(v_max, v)         # the largest v so far
            v = v_max
        p -= lr_t * m / (backend.xp().sqrt(v) + self.epsilon)

    def get_config(self):
        return {"lr": float(self.lr), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "decay": self.decay, "amsgrad": self.amsgrad,
                **self._options()}


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm in place of the root mean square.

    t += 1;  lr_t = lr' / (1 - beta_1**t)  (lr' the decayed lr);
    m = beta_1 m + (1 - beta_1) g;  u = max(beta_2 u, |g|);
    p -= lr_t * m / (u + epsilon).
    """

    def __init__(self, lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0, *,
                 clipnorm=None, clipvalue=None):
        super().__init__(lr, clipnorm, clipvalue)
        self.beta_1 = fraction("Adamax: beta_1", beta_1)
        self.beta_2 = fraction("Adamax: beta_2", beta_2)
        self.epsilon = epsilon_value("Adamax", epsilon)
        self.decay = non_negative_number("Adamax: decay", decay)

    def step(self, params, grads):
        t = self.iterations + 1
        lr_t = self.decayed_lr() / (1.0 - self.beta_1 ** t)
        for i, p, g in self._prepared(params, grads):
            self.update(i, p, g, lr_t)
        self.iterations = t

    def update(self, i, p, g, lr_t):
        xp = backend.xp()
        m, u = self._state(i, p, 2)                             # mean of g, decayed max of |g|
        m[...] = self.beta_1 * m + (1.0 - self.beta_1) * g
        u[...] = xp.maximum(self.beta_2 * u, xp.abs(g))
        p -= lr_t * m / (u + self.epsilon)

    def get_config(self):
        return {"lr": float(self.lr), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "decay": self.decay, **self._options()}


class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum and a warming momentum schedule (Keras 2.2).

    t += 1;  mu_t = beta_1 (1 - 0.5 * 0.96**(t * schedule_decay));
    M_t = mu_1 mu_2 ... mu_t  (so M_{t+1} = M_t mu_{t+1});
    m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2;
    m_bar = (1 - mu_t) g / (1 - M_t) + mu_{t+1} m / (1 - M_{t+1});
    p -= lr * m_bar / (sqrt(v / (1 - beta_2**t)) + epsilon).
    As in Keras 2.2 it has no ``decay``: set ``lr`` from a schedule instead.
    """

    def __init__(self, lr=0.002, beta_1=0.9, beta_2=0.999, epsilon=None, schedule_decay=0.004, *,
                 clipnorm=None, clipvalue=None):
        super().__init__(lr, clipnorm, clipvalue)
        self.beta_1 = fraction("Nadam: beta_1", beta_1)
        self.beta_2 = fraction("Nadam: beta_2", beta_2)
        self.epsilon = epsilon_value("Nadam", epsilon)
        self.schedule_decay = non_negative_number("Nadam: schedule_decay", schedule_decay)
        self._products = (0, 1.0)   # (t, M_t), a cache: M_t follows from the step count

    def momentum(self, t):
        """mu_t, the momentum of step t (counted from 1)."""
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))

    def momentum_product(self, t):
        """M_t = mu_1 mu_2 ... mu_t, multiplied in that order (M_0 = 1)."""
        done, product = self._products
        if done > t:                                 # state put back: start again from M_0
            done, product = 0, 1.0
        for s in range(done + 1, t + 1):
            product *= self.momentum(s)
        self._products = (t, product)
        return product

    def step(self, params, grads):
        t = self.iterations + 1
        mu_t, mu_next = self.momentum(t), self.momentum(t + 1)
        product_t = self.momentum_product(self.iterations) * mu_t     # M_t
        product_next = product_t * mu_next                            # M_{t+1}
        v_correction = 1.0 - self.beta_2 ** t
        for i, p, g in self._prepared(params, grads):
            self.update(i, p, g, float(self.lr), mu_t, mu_next, product_t, product_next, v_correction)
        self.iterations = t

    def update(self, i, p, g, lr, mu_t, mu_next, product_t, product_next, v_correction):
        """One parameter's update, from this step's momentum numbers (see the class docstring)."""
        m, v = self._state(i, p, 2)
        m[...] = self.beta_1 * m + (1.0 - self.beta_1) * g
        v[...] = self.beta_2 * v + (1.0 - self.beta_2) * (g * g)
        m_bar = (1.0 - mu_t) * g / (1.0 - product_t) + mu_next * m / (1.0 - product_next)
        p -= lr * m_bar / (backend.xp().sqrt(v / v_correction) + self.epsilon)

    def get_config(self):
        return {"lr": float(self.lr), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "schedule_decay": self.schedule_decay, **self._options()}


def positive_number(name, value):
    """``value`` as a float if it is a finite number > 0; else a ValueError naming ``name``."""
    if not (is_number(value) and math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}.")
    return float(value)


def non_negative_number(name, value):
    """``value`` as a float if it is a finite number >= 0; else a ValueError naming ``name``."""
    if not (is_number(value) and math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0 (0 turns it off), got {value!r}.")
    return float(value)


def optional_non_negative(name, value):
    """None (off), or ``value`` as a float if it is a finite number >= 0 (0 is off too, as in
    Keras); else a ValueError naming ``name``."""
    if value is None:
        return None
    if not (is_number(value) and math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be None (off) or a finite number >= 0, got {value!r}.")
    return float(value)


def fraction(name, value):
    """``value`` as a float if it is a number in [0, 1); else a ValueError naming ``name``."""
    if not (is_number(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)


def epsilon_value(owner, value):
    """The fuzz factor: Keras' default 1e-7 for None, else a finite number > 0."""
    return EPSILON if value is None else positive_number(f"{owner}: epsilon", value)
