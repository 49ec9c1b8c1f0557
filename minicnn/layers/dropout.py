"""Inverted dropout.

Training: keep each unit with probability p = 1 - rate and scale it by 1/p,
    y = x * mask / p,   dL/dx = g * mask / p;
inference: y = x. The mask comes from the backend's generator (minicnn.seed).
"""
from .. import backend as B
from .base import Layer


class Dropout(Layer):
    def __init__(self, rate, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}.")
        self.rate = rate

    def forward(self, x, training=False):
        self._check_input(x)
        self._out_shape = tuple(x.shape)
        if not training or self.rate == 0.0:
            self._scaled_mask = None
            return x
        xp = B.xp()
        keep = 1.0 - self.rate
        mask = B.rng().random(x.shape, dtype=x.dtype)              # U[0, 1)
        kept = mask < keep                                         # True with probability p
        xp.multiply(kept, x.dtype.type(1.0 / keep), out=mask)      # mask = 0 or 1/p (in place)
        self._scaled_mask = mask
        return x * mask

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self._scaled_mask is None:
            return grad_out
        return grad_out * self._scaled_mask
