"""The column transform behind Conv2D (channels-last, NHWC).

im2col lays every kh x kw x C input patch out as one row, so a convolution
becomes one matrix product:

    cols[n, i, j, :] = x[n, i*sh : i*sh+kh, j*sw : j*sw+kw, :].ravel()   # (N, H', W', kh*kw*C)
    y = cols @ kernel.reshape(kh*kw*C, F)                                # (N, H', W', F)

col2im is its adjoint: it adds each row's gradient back onto the patch it
came from (overlapping patches accumulate). Both are written as a loop over
the kh*kw kernel offsets, each step one shifted, strided slice of the whole
batch. minicnn/fast/columns.py has the faster versions the fast Conv2D uses.
"""
from . import backend


def conv_output_size(size, k, s, padding):
    """Output length along one axis, Keras/TensorFlow rules."""
    if padding == "valid":
        return (size - k) // s + 1
    return -(-size // s)  # "same": ceil(size / s)


def same_padding(size, k, s):
    """(before, after) padding for "same"; the odd extra goes after, as TensorFlow does."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def output_hw(h, w, kernel, strides, padding):
    """(H', W') of a sliding window (conv or pool) of ``kernel`` = (kh, kw) over an h x w input."""
    return (conv_output_size(h, kernel[0], strides[0], padding),
            conv_output_size(w, kernel[1], strides[1], padding))


def pads_hw(h, w, kernel, strides, padding):
    """((top, bottom), (left, right)) padding of a window; zeros for "valid"."""
    if padding == "valid":
        return (0, 0), (0, 0)
    return same_padding(h, kernel[0], strides[0]), same_padding(w, kernel[1], strides[1])


def pad_input(x, pads, value=0.0):
    """Pad H and W of an NHWC batch: pads = ((top, bottom), (left, right))."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    out = backend.xp().full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    return out


def im2col(x, kh, kw, sh, sw, out=None):
    """Patches of x as rows, built offset by offset. x: (N, H, W, C), already padded.

    ``out``: an array of the result's size to write into (a new one if None).
    """
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if out is None:
        out = backend.xp().empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    cols = out.reshape(n, oh, ow, kh, kw, c)
    for a in range(kh):
        for b in range(kw):
            # every output pixel's (a, b) neighbour, for all pixels at once
            cols[:, :, :, a, b, :] = x[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :]
    return cols.reshape(n, oh, ow, kh * kw * c)                  # (N, H', W', kh*kw*C)


def col2im(dcols, x_shape, kh, kw, sh, sw):
    """Adjoint of im2col: scatter-add patch gradients back to the input grid.

    dcols: (N, H', W', kh*kw*C); returns dx: x_shape = (N, H, W, C). One
    strided slice-add per kernel offset (kh*kw adds in all).
    """
    n, h, w, c = x_shape
    _, oh, ow, _ = dcols.shape
    d = dcols.reshape(n, oh, ow, kh, kw, c)
    dx = backend.xp().zeros(x_shape, dtype=dcols.dtype)
    for a in range(kh):
        for b in range(kw):
            dx[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :] += d[:, :, :, a, b, :]
    return dx
