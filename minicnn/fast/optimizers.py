"""SGD and Adam, faster: the textbook's updates (minicnn/nn/optimizers.py) with no temporaries.

The textbook writes each update as array expressions, and every expression
makes a new array the size of the parameter. Here the same formulas run as
in-place ufuncs (``out=``) into one scratch buffer per parameter, kept
between steps, so a step allocates nothing. On CuPy each parameter's update
is one fused kernel instead (kernels.py): a GPU step of these small models is
bound by kernel launches. Only ``update`` changes; ``step``, the learning rate
and the state are the textbook's, so gradient clipping (``clipnorm``,
``clipvalue``) and the learning-rate ``decay``, which ``step`` applies before
calling ``update``, work here unchanged. Adam's ``amsgrad`` runs in place on
NumPy; the fused CuPy kernel has no running maximum, so with ``amsgrad`` a
GPU update is the textbook's expressions.

``step_on_device`` is the same step with the learning rate and the step
count read from device scalars (``StepCounters``) instead of Python
numbers: the training step that graph.py captures as a CUDA graph must not
bake in this step's learning rate, and every replay must advance the count
(Adam's bias correction and the ``decay`` follow from it). The arithmetic is
the host's, in float64 and in the same order, cast to the parameters' dtype
at the end, so it gives the same numbers as ``step``.
"""
from .. import backend
from ..nn import optimizers as textbook
from . import kernels


class StepCounters:
    """An optimizer's learning rate and step count as 0-d float64 device arrays.

    The owner writes the host's values in (``write``, outside any captured
    graph) when they change, e.g. when a schedule sets a new learning rate
    before an epoch; ``step_on_device`` reads them and advances the count on
    the device. float64, as the host computes lr_t; the step casts the result
    to the parameters' dtype.
    """

    def __init__(self):
        xp = backend.xp()
        self.lr = xp.zeros((), dtype=xp.float64)
        self.iterations = xp.zeros((), dtype=xp.float64)

    def write(self, lr=None, iterations=None):
        """Set the device values from host numbers (a kernel argument each, no sync)."""
        if lr is not None:
            self.lr.fill(float(lr))
        if iterations is not None:
            self.iterations.fill(float(iterations))

    def decayed_lr(self, decay):
        """lr / (1 + decay * iterations), Keras 2.2's decay, as a float64 device scalar."""
        return self.lr / (1.0 + decay * self.iterations)

    def advance(self):
        """One more step done, counted on the device."""
        backend.xp().add(self.iterations, 1.0, out=self.iterations)


def _on_device(optimizer, params, grads, counters, lr):
    """The updates with the device learning rate ``lr`` (float64), then the count advanced."""
    lr = lr.astype(params[0].dtype if params else backend.floatx())
    for i, p, g in optimizer._prepared(params, grads):
        optimizer.update(i, p, g, lr)
    counters.advance()


def slot_arrays(optimizer):
    """Every state array (velocities, moments) the optimizer holds now."""
    return [a for slots in optimizer._slots.values() for a in slots]


def _scratch(optimizer, i, p):
    """A work array shaped like ``p`` for list position ``i``, kept between steps (not state)."""
    buffers = optimizer.__dict__.setdefault("_scratch", {})
    tmp = buffers.get(i)
    if tmp is None or tmp.shape != p.shape:
        tmp = buffers[i] = backend.xp().empty_like(p)
    return tmp


class SGD(textbook.SGD):
    def step_on_device(self, params, grads, counters):
        """``step`` with lr and the step count read from ``counters`` (StepCounters).
        The host's ``iterations`` is not touched: its owner counts the step."""
        _on_device(self, params, grads, counters, counters.decayed_lr(self.decay))

    def update(self, i, p, g, lr):
        xp, mu, wd = backend.xp(), self.momentum, self.weight_decay
        v = self._state(i, p, 1)[0] if mu else None            # the velocity
        if backend.get_backend() == "cupy":                    # one GPU kernel
            if mu == 0.0:
                kernels.sgd(p, g, lr, wd)
            else:
                kernels.sgd_momentum(p, g, v, lr, mu, wd, self.nesterov)
            return
        tmp = _scratch(self, i, p)
        if wd:                                                  # tmp = lr * (g + wd * p)
            xp.multiply(p, wd, out=tmp)
            tmp += g
            tmp *= lr
        else:
            xp.multiply(g, lr, out=tmp)
        if mu == 0.0:
            p -= tmp
            return
        v *= mu
        v -= tmp                                                # v = mu * v - lr * g
        if self.nesterov:
            p -= tmp
            xp.multiply(v, mu, out=tmp)
            p += tmp                                            # p += mu * v - lr * g
        else:
            p += v


class Adam(textbook.Adam):
    def step_on_device(self, params, grads, counters):
        """``step`` with lr and the step count read from ``counters`` (StepCounters):
        lr_t = lr' sqrt(1 - beta_2^t) / (1 - beta_1^t), t = iterations + 1, computed on
        the device as the textbook computes it on the host. The host's ``iterations``
        is not touched: its owner counts the step."""
        xp = backend.xp()
        t = counters.iterations + 1.0
        lr_t = counters.decayed_lr(self.decay) * xp.sqrt(1.0 - self.beta_2 ** t) \
            / (1.0 - self.beta_1 ** t)
        _on_device(self, params, grads, counters, lr_t)

    def update(self, i, p, g, lr_t):
        xp, b1, b2 = backend.xp(), self.beta_1, self.beta_2
        if backend.get_backend() == "cupy":
            if self.amsgrad:                                    # no fused kernel for it
                super().update(i, p, g, lr_t)
                return
            m, v = self._state(i, p, 2)
            kernels.adam(p, g, m, v, lr_t, b1, b2, self.epsilon)   # one GPU kernel
            return
        if self.amsgrad:
            m, v, v_max = self._state(i, p, 3)
        else:
            m, v = self._state(i, p, 2)
        tmp = _scratch(self, i, p)
        xp.multiply(g, 1.0 - b1, out=tmp)
        m *= b1
        m += tmp                                                # m = b1 m + (1 - b1) g
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v *= b2
        v += tmp                                                # v = b2 v + (1 - b2) g^2
        if self.amsgrad:
            xp.maximum(v_max, v, out=v_max)                     # v_max = max(v_max, v)
            v = v_max
        xp.sqrt(v, out=tmp)
        tmp += self.epsilon
        xp.divide(m, tmp, out=tmp)
        tmp *= lr_t
        p -= tmp                                                # p -= lr_t m / (sqrt(v) + eps)
