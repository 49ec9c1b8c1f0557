"""More than one CPU core for the NumPy fast paths: split the batch, not the operation.

NumPy runs every element-wise operation on one core, and BLAS splits each
matrix product its own way, so a NumPy training step keeps only one core busy
for most of its passes over memory. The fast paths of the layers instead cut
their rows into ``get_threads()`` contiguous parts and run one part per
thread, each part going through the layer's whole chain of operations
(im2col, matrix product, bias, ReLU, ...) while its data is still in cache:

    y[part] = f(x[part])   for every part at once, then join.

NumPy and BLAS release Python's lock while they compute, so the parts really
run at the same time (Python code inside a part does not: keep parts to a few
big operations). From the first such section on, NumPy's OpenBLAS is told to
use one thread per call, so its threads do not fight ours for the cores (an
idle OpenBLAS thread spins for a while before it sleeps, so handing the cores
back after every section costs more than it saves); ``set_threads(1)`` gives
OpenBLAS its own thread count back. Row-wise results are the same for any
number of threads; sums over rows (a kernel's gradient, batch-norm
statistics) add the parts' sums, so they change in the last bits with the
thread count, and are repeatable for a given count.

The thread count, its worker pool and OpenBLAS's saved count are this
module's only state. The CuPy backend never splits, and the textbook classes
(minicnn/nn) never split: they run on the calling thread.
"""
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from .. import backend

# A part smaller than this many elements is not worth a thread.
MIN_PART = 1 << 17

_threads = None          # None: not chosen yet, see get_threads()
_pool = None
_in_section = threading.local()


def available_cores():
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(n):
    """Use ``n`` threads (>= 1) in the NumPy fast paths; 1 runs everything on the caller's."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_threads: n must be an int >= 1, got {n!r}.")
    _choose(n)


def chosen_threads():
    """What set_threads was last given; None if it never was (the default applies)."""
    return _threads


def restore_threads(chosen):
    """Undo later choices: ``chosen`` is what chosen_threads() returned before them."""
    _choose(chosen)


def _choose(n):
    global _threads, _pool
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    _threads = n
    if n is None or n == 1:
        _blas.release()


def get_threads():
    """Threads the fast paths use: set_threads' value, else one per core (at most 8).

    The default is 1 where NumPy's BLAS is not an OpenBLAS this module can pin
    to one thread per call (its threads would compete with ours).
    """
    if _threads is None:
        set_threads(min(available_cores(), 8) if _blas.found() else 1)
    return _threads


def pin_blas_to_one_thread():
    """Hold NumPy's OpenBLAS at one thread per call until set_threads(1) or a
    restore_threads that returns to the default (a process team's workers use this)."""
    _blas.pin_one()


def parts(n, align=1):
    """Contiguous slices cutting range(n) into get_threads() parts (fewer if n is small).

    Each boundary is a multiple of ``align`` where possible (channel helpers
    like row counts divisible by 64).
    """
    k = get_threads() if backend.get_backend() == "numpy" else 1
    k = max(1, min(k, n // max(align, 1)))
    bounds = [0] + [(n * i // k) // align * align for i in range(1, k)] + [n]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def run(fn, n, size=None, align=1):
    """Call fn(part) for each part of range(n), in parallel; return the results in order.

    ``size`` is the number of elements the whole job touches: under
    MIN_PART per thread it runs as one part on the calling thread. A part
    must only write to its own rows of any shared output.
    """
    split = parts(n, align)
    nested = getattr(_in_section, "active", False)
    if len(split) == 1 or nested or (size is not None and size < MIN_PART * len(split)):
        return [fn(slice(0, n))]
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=get_threads() - 1,
                                   thread_name_prefix="minicnn")
    _blas.pin_one()
    futures = [_pool.submit(_part, fn, s) for s in split[1:]]
    try:
        first = _part(fn, split[0])
    finally:
        wait(futures)                  # no part outlives the call, even when one failed
    return [first] + [f.result() for f in futures]


def _part(fn, s):
    _in_section.active = True
    try:
        return fn(s)
    finally:
        _in_section.active = False


class _OpenBLAS:
    """openblas_set_num_threads of the OpenBLAS that NumPy loaded, if it can be found."""

    def __init__(self):
        self._set = self._get = None
        self._searched = False
        self._before = None      # OpenBLAS's own thread count while we hold it at one

    def _find(self):
        self._searched = True
        try:
            with open("/proc/self/maps") as maps:      # Linux: the libraries this process mapped
                paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
        except OSError:
            return
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"),
                                   ("scipy_openblas", ""), ("openblas", "")):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    getter.restype = ctypes.c_int
                    self._set, self._get = setter, getter
                    return

    def found(self):
        if not self._searched:
            self._find()
        return self._set is not None

    def pin_one(self):
        """Hold OpenBLAS at one thread per call (no-op if it was not found or is held)."""
        if self._before is None and self.found():
            self._before = self._get()
            self._set(1)

    def release(self):
        """Give OpenBLAS back the thread count it had before pin_one."""
        if self._before is not None:
            self._set(self._before)
            self._before = None


_blas = _OpenBLAS()
