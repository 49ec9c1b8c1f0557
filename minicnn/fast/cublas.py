"""Matrix products through cuBLAS that CUDA stream capture accepts (graph.py only).

CuPy will not call cuBLAS while a stream is capturing: its cuBLAS bindings
raise NotImplementedError from cublasSetStream (CuPy issue #6290 tracks
capture support library by library). cuBLAS itself can be captured (the
cuBLAS documentation, "CUDA Graphs support"), so while graph.py records a
training step the products of gemm.py come here and call cuBLAS directly,
with ctypes, through a handle of their own:

* the handle is made (cublasCreate) before any capture, on the current device,
  and its products are checked against cupy.matmul once, on small matrices;
* before a product on a new stream, the handle is bound to CuPy's current
  stream and to a workspace owned here (cublasSetWorkspace): cublasSetStream
  resets the workspace to cuBLAS's own pool, which a capture would otherwise
  grow, a new block each capture;
* alpha = 1 and beta = 0 are host numbers (pointer mode host, the default): a
  capture records their values.

The library is the one this process has loaded (found in /proc/self/maps, as
threads.py finds OpenBLAS). Any failure to load, make or check it is an error
that graph.py turns into a one-line note, and the step runs eagerly.

Arrays are row-major (C order) and cuBLAS is column-major: a row-major (R, S)
array is the column-major S x R matrix with leading dimension S, its
transpose. So C = op(A) @ B is computed as C^T = B^T op(A)^T, with B first.
"""
import ctypes
import ctypes.util

import numpy  # host side: the self-check's data

from .. import backend

WORKSPACE_BYTES = 32 << 20    # cuBLAS's recommended workspace on Hopper GPUs (4 MiB before)
OP_N, OP_T = 0, 1             # cublasOperation_t: as stored, transposed

_blas = None       # this process's Blas, once made
_failure = None    # why it could not be made, once tried


def gemm_arguments(m, n, k, transpose_a):
    """The column-major product that gives row-major out (m, n) = op(a) @ b, where
    a is (m, k) (or (k, m) when ``transpose_a``) and b is (k, n), all C-contiguous:
    (transa, transb, rows, cols, inner, first, lda, second, ldb, ldc) for
    cublas?gemm(handle, transa, transb, rows, cols, inner, alpha, first, lda, second,
    ldb, beta, out, ldc), ``first`` and ``second`` naming which array goes there."""
    return (OP_N, OP_T if transpose_a else OP_N, n, m, k,
            "b", n, "a", m if transpose_a else k, n)


class Blas:
    """A cuBLAS handle of this module's own, bound to CuPy's current stream per product."""

    def __init__(self, cupy):
        self.cupy = cupy
        self.lib = _load_library(cupy)
        self.handle = ctypes.c_void_p()
        _check(self.lib.cublasCreate_v2(ctypes.byref(self.handle)), "cublasCreate")
        self.workspace = None
        if hasattr(self.lib, "cublasSetWorkspace_v2"):
            self.workspace = cupy.empty(WORKSPACE_BYTES, dtype=cupy.uint8)
        self._stream = None       # the stream the handle is bound to
        self._self_check()

    def gemm(self, a, b, out, transpose_a=False):
        """out = a @ b (a.T @ b with ``transpose_a``) for 2-d arrays of one float dtype;
        returns out. Operands that are not C-contiguous are copied first."""
        cupy = self.cupy
        m, n = out.shape
        k = b.shape[0]
        if tuple(a.shape) != ((k, m) if transpose_a else (m, k)) or b.shape[1] != n:
            raise ValueError(f"cublas.gemm: shapes {tuple(a.shape)}{'^T' if transpose_a else ''}"
                             f" @ {tuple(b.shape)} -> {tuple(out.shape)} do not match.")
        if not (a.dtype == b.dtype == out.dtype) or a.dtype.name not in ("float32", "float64"):
            raise TypeError(f"cublas.gemm: float32 or float64 operands of one dtype, got "
                            f"{a.dtype}, {b.dtype}, {out.dtype}.")
        if max(m, n, k) >= 2 ** 31:
            raise ValueError(f"cublas.gemm: a dimension of {(m, n, k)} passes cuBLAS's int range.")
        if m == 0 or n == 0:
            return out
        if k == 0:
            out.fill(0)
            return out
        a, b = cupy.ascontiguousarray(a), cupy.ascontiguousarray(b)
        target = out if out.flags.c_contiguous else cupy.empty(out.shape, dtype=out.dtype)
        self._bind()
        transa, transb, rows, cols, inner, first, lda, second, ldb, ldc = \
            gemm_arguments(m, n, k, transpose_a)
        operands = {"a": a, "b": b}
        if a.dtype.name == "float32":
            call, number = self.lib.cublasSgemm_v2, ctypes.c_float
        else:
            call, number = self.lib.cublasDgemm_v2, ctypes.c_double
        alpha, beta = number(1.0), number(0.0)
        _check(call(self.handle, transa, transb, rows, cols, inner, ctypes.byref(alpha),
                    operands[first].data.ptr, lda, operands[second].data.ptr, ldb,
                    ctypes.byref(beta), target.data.ptr, ldc), "cublasGemm")
        if target is not out:
            out[...] = target
        return out

    def _bind(self):
        """Bind the handle to CuPy's current stream, and the workspace with it."""
        stream = self.cupy.cuda.get_current_stream().ptr
        if stream == self._stream:
            return
        _check(self.lib.cublasSetStream_v2(self.handle, stream), "cublasSetStream")
        if self.workspace is not None:    # after SetStream, which resets it
            _check(self.lib.cublasSetWorkspace_v2(self.handle, self.workspace.data.ptr,
                                                  WORKSPACE_BYTES), "cublasSetWorkspace")
        self._stream = stream

    def _self_check(self):
        """Compare a few products with cupy.matmul (a host read: never inside a capture)."""
        cupy = self.cupy
        rng = numpy.random.default_rng(0)
        for dtype in ("float32", "float64"):
            a = cupy.asarray(rng.standard_normal((37, 5)).astype(dtype))
            b = cupy.asarray(rng.standard_normal((5, 11)).astype(dtype))
            g = cupy.asarray(rng.standard_normal((37, 11)).astype(dtype))
            for got, want in ((self.gemm(a, b, cupy.empty((37, 11), dtype)), a @ b),
                              (self.gemm(a, g, cupy.empty((5, 11), dtype), transpose_a=True),
                               a.T @ g)):
                if not numpy.allclose(cupy.asnumpy(got), cupy.asnumpy(want), rtol=1e-4,
                                      atol=1e-5):
                    raise RuntimeError("cuBLAS called through ctypes disagrees with cupy.matmul")


def get():
    """This process's Blas (made on first use, on the current CUDA device); a
    RuntimeError saying why where it cannot be made."""
    global _blas, _failure
    if _blas is None and _failure is None:
        try:
            _blas = Blas(backend.xp())
        except Exception as err:       # no library, a missing symbol, a failed check
            _failure = f"{type(err).__name__}: {err}"
    if _blas is None:
        raise RuntimeError(f"cuBLAS for graph capture is unavailable ({_failure})")
    return _blas


def _load_library(cupy):
    """The cuBLAS library this process loaded (CuPy's), with the functions declared."""
    cupy.cuda.device.get_cublas_handle()            # CuPy loads its cuBLAS, if not yet
    try:
        with open("/proc/self/maps") as maps:       # Linux: the libraries this process mapped
            paths = sorted({line.split()[-1] for line in maps
                            if "libcublas.so" in line and "libcublasLt" not in line})
    except OSError:
        paths = []
    found = ctypes.util.find_library("cublas")
    names = paths + ([found] if found else []) + ["libcublas.so.13", "libcublas.so.12",
                                                   "libcublas.so.11", "libcublas.so"]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if all(hasattr(lib, f) for f in ("cublasCreate_v2", "cublasSetStream_v2",
                                         "cublasSgemm_v2", "cublasDgemm_v2")):
            _declare(lib)
            return lib
    raise OSError(f"no cuBLAS library with cublasSgemm_v2 found (tried {names})")


def _declare(lib):
    handle, pointer, integer = ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int
    lib.cublasCreate_v2.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.cublasSetStream_v2.argtypes = [handle, pointer]
    if hasattr(lib, "cublasSetWorkspace_v2"):
        lib.cublasSetWorkspace_v2.argtypes = [handle, pointer, ctypes.c_size_t]
    for name, number in (("cublasSgemm_v2", ctypes.c_float), ("cublasDgemm_v2", ctypes.c_double)):
        getattr(lib, name).argtypes = [handle, integer, integer, integer, integer, integer,
                                       ctypes.POINTER(number), pointer, integer, pointer,
                                       integer, ctypes.POINTER(number), pointer, integer]
    for name in ("cublasCreate_v2", "cublasSetStream_v2", "cublasSetWorkspace_v2",
                 "cublasSgemm_v2", "cublasDgemm_v2"):
        if hasattr(lib, name):
            getattr(lib, name).restype = ctypes.c_int


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"{what} failed with cuBLAS status {status}")
