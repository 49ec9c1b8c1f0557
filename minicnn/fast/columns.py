"""The column transform, faster (minicnn/im2col.py is the version to read first).

    im2col_strided   im2col's result as one strided view of x, copied once
                     (on NumPy the offset loop of im2col instead when one kernel
                     row of a patch, kw*C values, is under 8 floats, as for a
                     1-channel image: there the loop's copies are faster);
    col2im_offsets   col2im for a gradient that arrives one kernel offset at a
                     time, as one contiguous (N, H', W', C) block per offset.

tests/test_fast_equals_textbook.py checks both against minicnn/im2col.py.
"""
from .. import backend
from ..im2col import im2col


def im2col_strided(x, kh, kw, sh, sw, out=None):
    """Same result as im2col, as one strided view copied once.

    The view indexes x[n, i*sh + a, j*sw + b, c] by (n, i, j, a, b, c) without
    copying; the copy lays it out contiguously for the GEMM. ``out`` may be a
    reusable buffer of the right shape and dtype.
    """
    xp = backend.xp()
    n, h, w, c = x.shape
    if c * kw < 8 and backend.get_backend() == "numpy":
        return im2col(x, kh, kw, sh, sw, out=out)
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


def col2im_offsets(block, x_shape, kh, kw, sh, sw, out):
    """col2im for a gradient delivered one kernel offset at a time, written into ``out``.

    block(k) returns the (N, H', W', C) gradient of every patch's element at
    kernel offset k = a*kw + b; it is added onto the (a, b)-shifted grid in
    long contiguous runs, unlike the C-float runs of patch-ordered rows.
    The fast Conv2D computes each block (a small GEMM) just before it is
    added, while it is still in cache. ``out``: the array of x_shape to fill,
    in the gradient's dtype (the caller knows it before the first block exists).
    """
    n, h, w, c = x_shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out[...] = 0
    for a in range(kh):
        for b in range(kw):
            out[:, a:a + sh * oh:sh, b:b + sw * ow:sw, :] += block(a * kw + b)
    return out
