"""Fast per-channel arithmetic on channels-last data viewed as (M, C).

NumPy broadcasts a (C,) vector over an (M, C) array with an inner loop of
only C elements (C is 10 to 20 here), which is slow. Viewing the same memory
as (M/k, k*C) and tiling the vector k times gives long inner loops and the
same result. Sums over rows are a matrix-vector product (one BLAS call)
instead of a reduction. A GPU has no such inner loop, so other backends keep
(M, C) (tiling would only cost a kernel launch), and CuPy sums rows with
kernels.column_sum.
"""
from .. import backend
from . import kernels


def _rows_per_line(m):
    for k in (64, 32, 16, 8, 4, 2):
        if m % k == 0:
            return k
    return 1


def widen(x2, *vectors):
    """(M, C) array and (C,) vectors -> (M/k, k*C) view and k-times tiled vectors."""
    xp = backend.xp()
    m, c = x2.shape
    k = _rows_per_line(m) if backend.get_backend() == "numpy" else 1
    if k == 1:
        return (x2,) + vectors
    return (x2.reshape(m // k, k * c),) + tuple(xp.tile(v, k) for v in vectors)


def channel_sum(x2):
    """Sum over rows of an (M, C) array: ones(M) @ x2 (on a GPU, kernels.column_sum)."""
    if backend.get_backend() == "cupy":
        return kernels.column_sum(x2)
    xp = backend.xp()
    return xp.ones(x2.shape[0], dtype=x2.dtype) @ x2


def channel_dot(a2, b2):
    """Per-channel sum of a2 * b2 over rows, without a temporary (M, C) array."""
    return backend.xp().einsum("mc,mc->c", a2, b2)


def scale_shift(x2, scale, shift, out):
    """out = x2 * scale + shift, per channel, written into ``out`` (same shape as x2)."""
    xp = backend.xp()
    xw, sw, tw = widen(x2, scale, shift)
    ow = out.reshape(xw.shape)
    xp.multiply(xw, sw, out=ow)
    xp.add(ow, tw, out=ow)
    return out


def scale(x2, s, out):
    """out = x2 * s, per channel, written into ``out`` (same shape as x2)."""
    xw, sw = widen(x2, s)
    backend.xp().multiply(xw, sw, out=out.reshape(xw.shape))
    return out
