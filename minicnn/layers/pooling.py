"""2-D max pooling (channels-last).

    y[n, i, j, c] = max_{a<ph, b<pw} x[n, i*sh + a, j*sw + b, c]

Backward sends each window's whole gradient to its FIRST maximum in row-major
(a, b) order (TensorFlow's rule): after a ReLU many windows are all zeros;
copying the gradient to every tie would be wrong, splitting it would not
match TensorFlow. With (a*, b*) the first argmax in the window of y[n, i, j, c]:

    dL/dx[n, i*sh + a*, j*sw + b*, c] += g[n, i, j, c]   (g = dL/dy; every other x gets 0)

The += matters only where windows overlap (strides smaller than the pool).
"""
from .. import backend as B
from .. import im2col as I
from .. import kernels as K
from .. import threads as T
from .base import Layer, pair


class MaxPooling2D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", input_shape=None,
                 name=None, reference=False):
        super().__init__(input_shape=input_shape, name=name)
        self.reference = reference  # True: always the general window/argmax path
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
        oh, ow = I.output_hw(h, w, self.pool_size, self.strides, self.padding)
        if oh < 1 or ow < 1:
            ph, pw = self.pool_size
            raise ValueError(f"{self._describe()}: a {ph}x{pw} pool does not fit in a {h}x{w} input.")
        return (oh, ow, c)

    def _pads(self, h, w):
        return I.pads_hw(h, w, self.pool_size, self.strides, self.padding)

    def _is_2x2(self, x_shape):
        """The common case (2x2, stride 2, valid, even sizes) has a faster path."""
        _, h, w, _ = x_shape
        return (not self.reference and self.pool_size == (2, 2) and self.strides == (2, 2)
                and self.padding == "valid" and h % 2 == 0 and w % 2 == 0)

    def forward(self, x, training=False):
        self._check_input(x)
        if self._is_2x2(x.shape):
            return self._forward_2x2(x)
        xp = B.xp()
        n, h, w, c = x.shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        xpad = I.pad_input(x, self._pads(h, w), value=-xp.inf)  # (N, Hp, Wp, C); -inf never wins
        oh, ow, _ = self.output_shape
        win = I.im2col(xpad, ph, pw, sh, sw).reshape(n, oh, ow, ph * pw, c)  # (N, H', W', ph*pw, C)
        arg = win.argmax(axis=3)                                  # (N, H', W', C), first maximum wins ties
        y = xp.take_along_axis(win, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]  # (N, H', W', C)
        self._arg, self._x_shape, self._padded_shape = arg, x.shape, xpad.shape
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        self._check_grad(grad_out)
        if self._is_2x2(self._x_shape):
            return self._backward_2x2(grad_out)
        xp = B.xp()
        n, h, w, c = self._x_shape
        oh, ow, _ = self.output_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        dwin = xp.zeros((n, oh, ow, ph * pw, c), dtype=grad_out.dtype)      # (N, H', W', ph*pw, C)
        xp.put_along_axis(dwin, self._arg[:, :, :, None, :], grad_out[:, :, :, None, :], axis=3)
        dcols = dwin.reshape(n, oh, ow, -1)                                 # (N, H', W', ph*pw*C)
        dxpad = I.col2im(dcols, self._padded_shape, ph, pw, sh, sw)         # (N, Hp, Wp, C)
        (top, _), (left, _) = self._pads(h, w)
        return dxpad[:, top:top + h, left:left + w, :]                     # (N, H, W, C)

    # ---- 2x2 / stride 2: the four window corners as strided views -------------
    @staticmethod
    def _corners(a):
        """Views of the four corners of every 2x2 window, in row-major order."""
        n, h, w, c = a.shape
        r = a.reshape(n, h // 2, 2, w // 2, 2, c)                # (N, H', 2, W', 2, C)
        return r[:, :, 0, :, 0], r[:, :, 0, :, 1], r[:, :, 1, :, 0], r[:, :, 1, :, 1]

    def _forward_2x2(self, x):
        xp = B.xp()
        n, h, w, c = x.shape
        y = xp.empty((n, h // 2, w // 2, c), dtype=x.dtype)       # (N, H/2, W/2, C)

        def rows(part):  # a thread's samples (minicnn/threads.py)
            top_left, top_right, bottom_left, bottom_right = self._corners(x[part])
            xp.maximum(xp.maximum(top_left, top_right), xp.maximum(bottom_left, bottom_right),
                       out=y[part])
        T.run(rows, n, size=x.size)
        self._x, self._y, self._x_shape = x, y, x.shape
        self._out_shape = tuple(y.shape)
        return y

    def _backward_2x2(self, grad_out):
        xp = B.xp()
        dx = xp.empty(self._x_shape, dtype=grad_out.dtype)
        if B.get_backend() == "cupy":    # the loop below as one GPU kernel
            K.max_pool_2x2_backward(self._corners(self._x), self._y, grad_out, self._corners(dx))
            return dx

        def rows(part):
            y, g = self._y[part], grad_out[part]
            taken = xp.zeros(g.shape, dtype=bool)                # window already served?
            for corner, d_corner in zip(self._corners(self._x[part]), self._corners(dx[part])):
                first = (corner == y) & ~taken                    # first maximum in row-major order
                xp.multiply(g, first, out=d_corner)
                taken |= first
        T.run(rows, dx.shape[0], size=dx.size)
        return dx
