"""Matrix products cut into row blocks that OpenBLAS multiplies fastest (NumPy fast paths).

OpenBLAS, the BLAS inside NumPy's wheels, multiplies a small product, at most
SMALL_MACS = 10**6 multiply-adds (M*K*N), with kernels that read the operands
where they lie; larger ones first copy the operands into packed panels. For
the skinny products of a small CNN (K and N between 8 and 150) the small-product
path is the faster one, and the speed jumps exactly at 10**6
(benchmarks/RESULTS.md). So the fast paths cut the long dimension M into
blocks of R = SMALL_MACS // (K*N) rows:

    out[r:r+R] = a[r:r+R] @ b                     matmul (forward, input gradients)
    a^T @ g = sum_r (g[r:r+R]^T @ a[r:r+R])^T     matmul_tn (kernel gradients)

Each is one NumPy call on the (blocks, R, K) stack of blocks (NumPy runs the
BLAS product block by block, without a Python loop), plus one for a shorter
last block.

Blocks are planned only when each whole block has at least MIN_ROWS rows
(below that each call would cost more than it saves); the leftover last block
may be shorter. Other backends (a GPU has no such path) and SMALL_MACS = 0
take each product whole. Where OpenBLAS lacks these kernels (it picks its
kernels by CPU), blocks only add calls, a few percent of a step: set
SMALL_MACS = 0 there.

The small-product kernels are slower on a transposed second operand (a view
such as kernel.T), so callers pass a contiguous copy of a small transposed
matrix, made once per layer call.

While graph.py records a training step as a CUDA graph, the products go to
cuBLAS through cublas.py instead (``through``): CuPy's own matmul refuses to
run inside a stream capture.
"""
import contextlib

from .. import backend

SMALL_MACS = 1_000_000
MIN_ROWS = 64
_capture_blas = None    # a cublas.Blas while graph.py records a step, else None


@contextlib.contextmanager
def through(blas):
    """Inside the block, matmul and matmul_tn call ``blas`` (a cublas.Blas)."""
    global _capture_blas
    before, _capture_blas = _capture_blas, blas
    try:
        yield
    finally:
        _capture_blas = before


def rows_per_block(k, n, m):
    """Rows per block of the product a @ b, a (m, k) and b (k, n); note the argument
    order: k, n, then m. Returns m (one block) where blocks do not pay."""
    if backend.get_backend() != "numpy" or k * n * m <= SMALL_MACS:
        return m
    rows = SMALL_MACS // (k * n)
    return rows if rows >= MIN_ROWS else m


def matmul(a, b, out):
    """out = a @ b for a (M, K), b (K, N), out (M, N); returns out."""
    if _capture_blas is not None:
        return _capture_blas.gemm(a, b, out)
    xp = backend.xp()
    m, (k, n) = a.shape[0], b.shape
    rows = rows_per_block(k, n, m)
    if rows >= m:                                               # one block: the plain product
        return xp.matmul(a, b, out=out)
    full = m - m % rows                                         # rows in whole blocks
    if full:    # one call: NumPy multiplies the (blocks, R, K) stack block by block
        xp.matmul(a[:full].reshape(-1, rows, k), b, out=out[:full].reshape(-1, rows, n))
    if full < m:
        xp.matmul(a[full:], b, out=out[full:])                  # the shorter last block
    return out


def matmul_tn(a, g):
    """a^T @ g for a (M, K) and g (M, N): a new (K, N) array, summed over row blocks."""
    xp = backend.xp()
    m, k = a.shape
    n = g.shape[1]
    if _capture_blas is not None:
        return _capture_blas.gemm(a, g, xp.empty((k, n), dtype=xp.result_type(a, g)),
                                  transpose_a=True)
    rows = rows_per_block(k, n, m)
    if rows >= m:                                               # one block: the plain product
        return a.T @ g                                          # (K, N)
    full = m - m % rows
    blocks = xp.matmul(g[:full].reshape(-1, rows, n).transpose(0, 2, 1),
                       a[:full].reshape(-1, rows, k))           # (blocks, N, K)
    total = blocks.sum(axis=0)                                  # (N, K)
    if full < m:
        total += g[full:].T @ a[full:]
    return xp.ascontiguousarray(total.T)                        # (K, N)
