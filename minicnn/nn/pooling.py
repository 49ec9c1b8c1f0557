"""2-D max pooling (channels-last).

    y[n, i, j, c] = max_{a<ph, b<pw} x[n, i*sh + a, j*sw + b, c]

Backward sends each window's whole gradient to its FIRST maximum in row-major
(a, b) order (TensorFlow's rule): after a ReLU many windows are all zeros;
copying the gradient to every tie would be wrong, splitting it would not
match TensorFlow. With (a*, b*) the first argmax in the window of y[n, i, j, c]:

    dL/dx[n, i*sh + a*, j*sw + b*, c] += g[n, i, j, c]   (g = dL/dy; every other x gets 0)

The += matters only where windows overlap (strides smaller than the pool).
The windows are laid out as rows by im2col, as Conv2D's patches are.
"""
from .. import backend
from ..im2col import col2im, im2col, output_hw, pad_input, pads_hw
from .base import Layer, pair


class MaxPooling2D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if padding not in ("valid", "same"):
            raise ValueError(f"MaxPooling2D: padding must be 'valid' or 'same', got {padding!r}.")
        self.pool_size = pair(pool_size, "MaxPooling2D: pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, "MaxPooling2D: strides")
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

    def _pads(self, h, w):
        return pads_hw(h, w, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}
