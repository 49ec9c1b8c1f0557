"""Layers that move values without computing: ZeroPadding2D and Reshape.

ZeroPadding2D puts rows and columns of zeros around each image,

    y[n, top + i, left + j, c] = x[n, i, j, c],   zeros elsewhere,
    (N, H, W, C) -> (N, top + H + bottom, left + W + right, C),

and its gradient is the inside of g: dL/dx = g[:, top:top + H, left:left + W, :]
(the zeros depend on nothing). It leaves the receptive field as it is.

Reshape gives each sample a new shape with the same number of values (one
axis may be -1: whatever is left); the gradient is reshaped back.
"""
import math

from ..im2col import pad_input
from .base import Layer, is_count, keras_arguments


def _padding_pairs(padding):
    """((top, bottom), (left, right)) from an int (every side), a pair (rows, cols) (top and
    bottom, left and right), or a pair of pairs; every value an int >= 0."""
    rows_cols = (padding, padding) if is_count(padding) else padding
    pairs = ()
    if isinstance(rows_cols, (tuple, list)) and len(rows_cols) == 2:
        pairs = tuple((v, v) if is_count(v) else tuple(v) if isinstance(v, (tuple, list)) else ()
                      for v in rows_cols)
    if len(pairs) != 2 or not all(len(p) == 2 and all(is_count(a) and a >= 0 for a in p)
                                  for p in pairs):
        raise ValueError(f"ZeroPadding2D: padding must be an int, a pair (rows, cols) or "
                         f"((top, bottom), (left, right)), of ints >= 0; got {padding!r}.")
    return tuple((int(before), int(after)) for before, after in pairs)


class ZeroPadding2D(Layer):
    """Keras' ZeroPadding2D: zeros around every image (the module docstring)."""

    @keras_arguments({"dim_ordering": "data_format"}, ("data_format",))
    def __init__(self, padding=(1, 1), input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        self.padding = _padding_pairs(padding)                # ((top, bottom), (left, right))

    def build(self, input_shape):
        self._expect_images(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        h, w, c = input_shape
        (top, bottom), (left, right) = self.padding
        return (top + h + bottom, left + w + right, c)

    def forward(self, x, training=False):
        self._check_input(x)
        self._x_shape = x.shape
        y = pad_input(x, self.padding)                      # (N, H + top + bottom, W + left + right, C)
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        _, h, w, _ = self._x_shape
        (top, _), (left, _) = self.padding
        return grad_out[:, top:top + h, left:left + w, :]   # (N, H, W, C)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class Reshape(Layer):
    """Keras' Reshape: (N, d1, d2, ...) -> (N, *target_shape), values in the same order."""

    def __init__(self, target_shape, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        ok = isinstance(target_shape, (tuple, list)) and len(target_shape) > 0 and all(
            is_count(d) and (d >= 1 or d == -1) for d in target_shape)
        if not ok or list(target_shape).count(-1) > 1:
            raise ValueError(f"Reshape: target_shape must be a tuple of positive ints, one of "
                             f"them may be -1 (no batch axis), e.g. (7, 7, 16); got {target_shape!r}.")
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape):
        size, known = math.prod(input_shape), math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or \
                (-1 not in self.target_shape and size != known):
            raise ValueError(f"{self._describe()}: cannot reshape an input of shape "
                             f"{tuple(input_shape)} ({size} values) to {self.target_shape}.")
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def forward(self, x, training=False):
        self._check_input(x)
        self._x_shape = x.shape
        y = x.reshape((x.shape[0],) + self.output_shape)    # (N, *target_shape)
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        return grad_out.reshape(self._x_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}
