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
"""
from .. import backend
from ..nn import optimizers as textbook
from . import kernels


def _scratch(optimizer, i, p):
    """A work array shaped like ``p`` for list position ``i``, kept between steps (not state)."""
    buffers = optimizer.__dict__.setdefault("_scratch", {})
    tmp = buffers.get(i)
    if tmp is None or tmp.shape != p.shape:
        tmp = buffers[i] = backend.xp().empty_like(p)
    return tmp


class SGD(textbook.SGD):
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
