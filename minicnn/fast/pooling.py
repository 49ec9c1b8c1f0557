"""MaxPooling2D, faster for the common case: 2x2 windows, stride 2, even sizes.

The textbook (minicnn/nn/pooling.py) lays every window out as a row and
takes its argmax. A 2x2, stride-2 window over an even-sized input needs no
copy: its four corners are four strided views of x, and the maximum is three
element-wise maxima. Backward gives each window's gradient to the first
corner (row-major) equal to the maximum, the textbook's tie rule. Parts of
the batch run in threads (threads.py); on a GPU the backward is one fused
kernel (kernels.py). Every other shape runs the textbook's code.
"""
from .. import backend
from ..nn import pooling as textbook
from . import kernels, threads


class MaxPooling2D(textbook.MaxPooling2D):
    def forward(self, x, training=False):
        self._check_input(x)
        if not self._is_2x2(x.shape):
            self._corner_path = False
            return super().forward(x, training)
        self._corner_path = True
        xp = backend.xp()
        n, h, w, c = x.shape
        y = xp.empty((n, h // 2, w // 2, c), dtype=x.dtype)       # (N, H/2, W/2, C)

        def rows(part):  # a thread's samples
            top_left, top_right, bottom_left, bottom_right = _corners(x[part])
            xp.maximum(xp.maximum(top_left, top_right), xp.maximum(bottom_left, bottom_right),
                       out=y[part])
        threads.run(rows, n, size=x.size)
        self._x, self._y, self._x_shape = x, y, x.shape
        self._out_shape = tuple(y.shape)
        return y

    def backward(self, grad_out):
        if not self._corner_path:
            return super().backward(grad_out)
        self._check_grad(grad_out)
        xp = backend.xp()
        dx = xp.empty(self._x_shape, dtype=grad_out.dtype)
        if backend.get_backend() == "cupy":    # the loop below as one GPU kernel
            kernels.max_pool_2x2_backward(_corners(self._x), self._y, grad_out, _corners(dx))
            return dx

        def rows(part):
            y, g = self._y[part], grad_out[part]
            taken = xp.zeros(g.shape, dtype=bool)                # window already served?
            for corner, d_corner in zip(_corners(self._x[part]), _corners(dx[part])):
                first = (corner == y) & ~taken                    # first maximum in row-major order
                xp.multiply(g, first, out=d_corner)
                taken |= first
        threads.run(rows, dx.shape[0], size=dx.size)
        return dx

    def _is_2x2(self, x_shape):
        """The common case: 2x2 windows, stride 2, valid padding, even sizes."""
        _, h, w, _ = x_shape
        return (self.pool_size == (2, 2) and self.strides == (2, 2)
                and self.padding == "valid" and h % 2 == 0 and w % 2 == 0)


def _corners(a):
    """Views of the four corners of every 2x2 window of a (N, H, W, C) array, row-major."""
    n, h, w, c = a.shape
    r = a.reshape(n, h // 2, 2, w // 2, 2, c)                    # (N, H', 2, W', 2, C)
    return r[:, :, 0, :, 0], r[:, :, 0, :, 1], r[:, :, 1, :, 0], r[:, :, 1, :, 1]
