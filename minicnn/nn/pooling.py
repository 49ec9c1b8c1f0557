"""2-D pooling (channels-last): max, average, and their global forms.

Max pooling:

    y[n, i, j, c] = max_{a<ph, b<pw} x[n, i*sh + a, j*sw + b, c]

Backward sends each window's whole gradient to its FIRST maximum in row-major
(a, b) order (TensorFlow's rule): after a ReLU many windows are all zeros;
copying the gradient to every tie would be wrong, splitting it would not
match TensorFlow. With (a*, b*) the first argmax in the window of y[n, i, j, c]:

    dL/dx[n, i*sh + a*, j*sw + b*, c] += g[n, i, j, c]   (g = dL/dy; every other x gets 0)

The += matters only where windows overlap (strides smaller than the pool).
The windows are laid out as rows by im2col, as Conv2D's patches are.

Average pooling divides each window's sum by the number of real pixels in it,
count[i, j] (the whole window, unless "same" padding cuts it at the border;
padded zeros are not counted, as TensorFlow does):

    y[n, i, j, c] = sum_{a, b} x[n, i*sh + a, j*sw + b, c] / count[i, j]
    dL/dx[n, i*sh + a, j*sw + b, c] += g[n, i, j, c] / count[i, j]   for every (a, b)

Global pooling takes the whole image as one window, (N, H, W, C) -> (N, C):

    average:  y[n, c] = sum_{i, j} x[n, i, j, c] / (H*W),  dL/dx[n, i, j, c] = g[n, c] / (H*W)
    max:      y[n, c] = max_{i, j} x[n, i, j, c],  dL/dx[n, i, j, c] = g[n, c] / t[n, c]
              where x[n, i, j, c] is a maximum, else 0 (t[n, c] maxima share it equally,
              as TensorFlow's reduce_max does)
"""
from .. import backend
from ..im2col import col2im, im2col, output_hw, pad_input, pads_hw
from .base import Layer, keras_arguments, pair

# Keras 1's names of the pooling arguments
KERAS1_POOL_NAMES = {"border_mode": "padding", "dim_ordering": "data_format"}


class Pooling2D(Layer):
    """What the window poolings share: pool_size, strides (pool_size when None),
    padding, and the output shape of a sliding window."""

    @keras_arguments(KERAS1_POOL_NAMES, ("data_format",))
    def __init__(self, pool_size=2, strides=None, padding="valid", input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        kind = type(self).__name__
        if padding not in ("valid", "same"):
            raise ValueError(f"{kind}: padding must be 'valid' or 'same', got {padding!r}.")
        self.pool_size = pair(pool_size, f"{kind}: pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, f"{kind}: strides")
        self.padding = padding
        self.rf_kernel, self.rf_stride = self.pool_size[0], self.strides[0]

    def build(self, input_shape):
        self._expect_images(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        h, w, c = input_shape
        oh, ow = output_hw(h, w, self.pool_size, self.strides, self.padding)
        if oh < 1 or ow < 1:
            ph, pw = self.pool_size
            raise ValueError(f"{self._describe()}: a {ph}x{pw} pool does not fit in a {h}x{w} input.")
        return (oh, ow, c)

    def _pads(self, h, w):
        return pads_hw(h, w, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling2D(Pooling2D):
    """Keras' MaxPooling2D: the largest value of each window (the module docstring)."""

    def forward(self, x, training=False):
        self._check_input(x)
        xp = backend.xp()
        n, h, w, c = x.shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        oh, ow, _ = self.output_shape
        xpad = pad_input(x, self._pads(h, w), value=-xp.inf)   # (N, Hp, Wp, C); -inf never wins
        win = im2col(xpad, ph, pw, sh, sw).reshape(n, oh, ow, ph * pw, c)  # (N, H', W', ph*pw, C)
        arg = win.argmax(axis=3)                                # (N, H', W', C): first maximum wins
        y = xp.take_along_axis(win, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]  # (N, H', W', C)
        self._arg, self._x_shape, self._padded_shape = arg, x.shape, xpad.shape
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        xp = backend.xp()
        n, h, w, c = self._x_shape
        oh, ow, _ = self.output_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        dwin = xp.zeros((n, oh, ow, ph * pw, c), dtype=grad_out.dtype)    # (N, H', W', ph*pw, C)
        xp.put_along_axis(dwin, self._arg[:, :, :, None, :], grad_out[:, :, :, None, :], axis=3)
        dcols = dwin.reshape(n, oh, ow, -1)                               # (N, H', W', ph*pw*C)
        dxpad = col2im(dcols, self._padded_shape, ph, pw, sh, sw)         # (N, Hp, Wp, C)
        (top, _), (left, _) = self._pads(h, w)
        return dxpad[:, top:top + h, left:left + w, :]                   # (N, H, W, C)


class AveragePooling2D(Pooling2D):
    """Keras' AveragePooling2D: the mean of each window's real pixels (the module docstring)."""

    def forward(self, x, training=False):
        self._check_input(x)
        n, h, w, c = x.shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        oh, ow, _ = self.output_shape
        pads = self._pads(h, w)
        xpad = pad_input(x, pads)                                       # (N, Hp, Wp, C), zeros
        win = im2col(xpad, ph, pw, sh, sw).reshape(n, oh, ow, ph * pw, c)  # (N, H', W', ph*pw, C)
        ones = pad_input(backend.xp().ones((1, h, w, 1), dtype=x.dtype), pads)  # 1 = a real pixel
        self._count = im2col(ones, ph, pw, sh, sw).sum(axis=3, keepdims=True)  # (1, H', W', 1)
        y = win.sum(axis=3) / self._count                               # (N, H', W', C)
        self._x_shape, self._padded_shape = x.shape, xpad.shape
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        n, h, w, c = self._x_shape
        oh, ow, _ = self.output_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        share = grad_out / self._count                                  # (N, H', W', C)
        dwin = backend.xp().broadcast_to(share[:, :, :, None, :], (n, oh, ow, ph * pw, c))
        dcols = dwin.reshape(n, oh, ow, -1)                             # (N, H', W', ph*pw*C)
        dxpad = col2im(dcols, self._padded_shape, ph, pw, sh, sw)       # (N, Hp, Wp, C)
        (top, _), (left, _) = self._pads(h, w)
        return dxpad[:, top:top + h, left:left + w, :]                 # (N, H, W, C)


class GlobalPooling2D(Layer):
    """(N, H, W, C) -> (N, C): one window, the whole image. Like Flatten, it ends the
    spatial receptive field (the output has no pixels)."""

    @keras_arguments({"dim_ordering": "data_format"}, ("data_format",))
    def __init__(self, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)

    def build(self, input_shape):
        self._expect_images(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[-1],)


class GlobalAveragePooling2D(GlobalPooling2D):
    """y[n, c] = mean over (i, j) of x[n, i, j, c];  dL/dx[n, i, j, c] = g[n, c] / (H*W)."""

    def forward(self, x, training=False):
        self._check_input(x)
        self._x_shape = x.shape
        y = x.mean(axis=(1, 2))                                         # (N, C)
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        n, h, w, c = self._x_shape
        share = grad_out * (1.0 / (h * w))                              # (N, C)
        return backend.xp().ones(self._x_shape, dtype=grad_out.dtype) * share[:, None, None, :]


class GlobalMaxPooling2D(GlobalPooling2D):
    """y[n, c] = max over (i, j) of x[n, i, j, c]; the gradient is shared by the maxima
    (the module docstring)."""

    def forward(self, x, training=False):
        self._check_input(x)
        y = x.max(axis=(1, 2))                                          # (N, C)
        self._is_max = x == y[:, None, None, :]                         # (N, H, W, C), True at maxima
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        is_max = self._is_max.astype(grad_out.dtype)                    # (N, H, W, C), 1 at maxima
        ties = is_max.sum(axis=(1, 2))                                  # (N, C), >= 1
        return is_max * (grad_out / ties)[:, None, None, :]             # (N, H, W, C)
