"""Inverted dropout.

Training: keep each unit with probability p = 1 - rate and scale it by 1/p,
    y = x * mask / p,   dL/dx = g * mask / p;
inference: y = x. The mask comes from the backend's generator (minicnn.seed).
Keras 1's Dropout(p=...) is converted to rate= with a warning.
"""
from .. import backend
from .base import Layer, is_number, keras_arguments


class Dropout(Layer):
    needs_whole_batch = True   # one mask for the whole batch

    @keras_arguments({"p": "rate"}, ("noise_shape", "seed"))
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
        keep = 1.0 - self.rate
        kept = backend.keep_mask(x.shape, keep)                 # True with probability p
        self._scaled_mask = kept.astype(x.dtype) * (1.0 / keep)   # 0 or 1/p
        return x * self._scaled_mask

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self._scaled_mask is None:
            return grad_out
        return grad_out * self._scaled_mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
