"""Inverted dropout.

Training: keep each unit with probability p = 1 - rate and scale it by 1/p,
    y = x * mask / p,   dL/dx = g * mask / p;
inference: y = x. The mask comes from the backend's generator (minicnn.seed).
"""
from .. import backend as B
from .. import kernels as K
from .. import parallel as P
from .. import threads as T
from .base import Layer, is_number


class Dropout(Layer):
    def __init__(self, rate, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if not (is_number(rate) and 0.0 <= rate < 1.0):
            raise ValueError(f"Dropout: rate must be a number in [0, 1), the fraction of units "
                             f"dropped, e.g. Dropout(0.25); got {rate!r}.")
        self.rate = float(rate)

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        if not training or self.rate == 0.0:
            self._scaled_mask = None
            return x
        xp = B.xp()
        keep = 1.0 - self.rate
        mask = self._workspace("mask", x.shape, x.dtype)           # kept until backward
        y = xp.empty_like(x)
        self._scaled_mask = mask
        if B.get_backend() == "cupy":   # keep_mask_rows' draws, then one GPU kernel
            K.dropout(x, B.rng().random(x.shape, dtype="float32"), keep, mask, y)
            return y
        total, mine = P.batch_rows(x.shape[0])                     # this process's rows
        kept = B.keep_mask_rows((total,) + x.shape[1:], keep)      # rows -> True w.p. p

        def rows(part):  # a thread's samples (minicnn/threads.py)
            whole = slice(mine.start + part.start, mine.start + part.stop)  # rows of the batch
            xp.multiply(kept(whole), x.dtype.type(1.0 / keep), out=mask[part])  # 0 or 1/p
            xp.multiply(x[part], mask[part], out=y[part])
        T.run(rows, x.shape[0], size=x.size)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self._scaled_mask is None:
            return grad_out
        dx = B.xp().empty_like(grad_out)

        def rows(part):
            B.xp().multiply(grad_out[part], self._scaled_mask[part], out=dx[part])
        T.run(rows, dx.shape[0], size=dx.size)
        return dx
