"""Memory that stays: scratch arrays a layer keeps between steps, and freed
blocks that malloc keeps for reuse. A page fresh from the OS costs a fault.

``workspace(layer, key, shape, dtype)`` is an array the layer keeps from one
step to the next (the columns of a convolution, batch norm's centred input),
so that a step does not fault fresh pages in for them.

Every batch allocates and frees the same few-megabyte arrays. glibc's malloc
gives such blocks back to the OS as soon as they are freed (an munmap, or a
trim of the heap's top), so the next batch faults every page in again and the
kernel zero-fills it, a large share of an inference pass (benchmarks/RESULTS.md).
``keep_freed_memory()`` asks malloc to serve
blocks up to 32 MiB from its heap and not to trim it (unless over 1 GiB is free
at its top); freed blocks are then reused at no cost, and the process keeps its
peak footprint until it exits.
Sequential calls it when it first checks input data on NumPy (fit, evaluate,
predict, ...). It acts once, and only on glibc (Linux).
"""
import ctypes
import ctypes.util

from .. import backend

_M_TRIM_THRESHOLD = -1      # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory():
    """Tell glibc's malloc to keep freed blocks for reuse; True if it took effect."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):    # not glibc: leave the allocator alone
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    # 32 MiB is the largest mmap threshold glibc accepts on 64-bit machines
    _done = bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    return _done


def workspace(owner, key, shape, dtype):
    """A scratch array of ``owner`` (a layer), kept between steps under ``key``.

    The same array comes back while the shape and dtype stay the same, so its
    contents are whatever the last step left there: only for arrays the caller
    fills before reading, and never handed out as a layer's output (the next
    batch would overwrite it).
    """
    buffers = owner.__dict__.setdefault("_workspace", {})
    buffer = buffers.get(key)
    if buffer is None or tuple(buffer.shape) != tuple(shape) or buffer.dtype != dtype:
        buffer = buffers[key] = backend.xp().empty(shape, dtype=dtype)
    return buffer
