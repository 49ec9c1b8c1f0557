"""The column transform behind Conv2D (channels-last, NHWC).

im2col lays every kh x kw x C input patch out as one row, so a convolution
becomes one matrix product:

    cols[n, i, j, :] = x[n, i*sh : i*sh+kh, j*sw : j*sw+kw, :].ravel()   # (N, H', W', kh*kw*C)
    y = cols @ kernel.reshape(kh*kw*C, F)                                # (N, H', W', F)

col2im is its adjoint: it adds each row's gradient back onto the patch it
came from (overlapping patches accumulate).

Each has two versions, and the tests check that the two agree:

    im2col_reference   a readable loop over the kh*kw kernel offsets;
    im2col             one strided view, copied once; on NumPy it takes the
                       offset loop instead when one kernel row of a patch
                       (kw*C values) is under 8 floats, as for a 1-channel image;
    col2im             adds the patch-ordered rows back, one strided add per offset;
    col2im_offsets     adds one contiguous (N, H', W', C) block per kernel
                       offset, each computed on demand (much faster on NumPy).
"""
from . import backend as B


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
    xp = B.xp()
    n, h, w, c = x.shape
    out = xp.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    return out


def im2col_reference(x, kh, kw, sh, sw, out=None):
    """Patches of x as rows, built offset by offset. x: (N, H, W, C), already padded."""
    xp = B.xp()
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if out is None:
        out = xp.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    cols = out.reshape(n, oh, ow, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            # every output pixel's (i, j) neighbour, for all pixels at once
            cols[:, :, :, i, j, :] = x[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :]
    return cols.reshape(n, oh, ow, kh * kw * c)                  # (N, H', W', kh*kw*C)


def im2col(x, kh, kw, sh, sw, out=None):
    """Same result as im2col_reference, as one strided view copied once.

    The view indexes x[n, i*sh + a, j*sw + b, c] by (n, i, j, a, b, c) without
    copying; the copy lays it out contiguously for the GEMM. ``out`` may be a
    reusable buffer of the right shape and dtype.
    """
    xp = B.xp()
    n, h, w, c = x.shape
    if c * kw < 8 and B.get_backend() == "numpy":
        # a patch row under 8 floats (C=1 images): copy offset by offset, 2x faster on a CPU
        return im2col_reference(x, kh, kw, sh, sw, out=out)
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s_n, s_h, s_w, s_c = x.strides
    view = xp.lib.stride_tricks.as_strided(
        x, shape=(n, oh, ow, kh, kw, c),
        strides=(s_n, s_h * sh, s_w * sw, s_h, s_w, s_c))       # (N, H', W', kh, kw, C), no copy
    if out is None:
        out = xp.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    out = out.reshape(n, oh, ow, kh, kw, c)
    out[...] = view
    return out.reshape(n, oh, ow, kh * kw * c)                   # (N, H', W', kh*kw*C)


def col2im(dcols, x_shape, kh, kw, sh, sw):
    """Adjoint of im2col: scatter-add patch gradients back to the input grid.

    dcols: (N, H', W', kh*kw*C); returns dx: x_shape = (N, H, W, C). One
    strided slice-add per kernel offset (kh*kw adds in all).
    """
    xp = B.xp()
    n, h, w, c = x_shape
    _, oh, ow, _ = dcols.shape
    d = dcols.reshape(n, oh, ow, kh, kw, c)
    dx = xp.zeros(x_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += d[:, :, :, i, j, :]
    return dx


def col2im_offsets(block, x_shape, kh, kw, sh, sw, out):
    """col2im for a gradient delivered one kernel offset at a time, written into ``out``.

    block(k) returns the (N, H', W', C) gradient of every patch's element at
    kernel offset k = a*kw + b; it is added onto the (a, b)-shifted grid in
    long contiguous runs, unlike the C-float runs of patch-ordered rows.
    Conv2D computes each block (a small GEMM) just before it is added, while
    it is still in cache. ``out``: the array of x_shape to fill, in the
    gradient's dtype (the caller knows it before the first block exists).
    """
    n, h, w, c = x_shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out[...] = 0
    for i in range(kh):
        for j in range(kw):
            out[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += block(i * kw + j)
    return out
