"""Keep freed memory in the process: a page fresh from the OS costs a fault.

Every batch allocates and frees the same few-megabyte arrays. glibc's malloc
gives such blocks back to the OS as soon as they are freed (an munmap, or a
trim of the heap's top), so the next batch faults every page in again and the
kernel zero-fills it: about a quarter of a Go Crazy inference pass on a 2-core
machine (benchmarks/RESULTS.md). ``keep_freed_memory()`` asks malloc to serve
blocks up to 32 MiB from its heap and not to trim it (unless over 1 GiB is free
at its top); freed blocks are then reused at no cost, and the process keeps its
peak footprint until it exits.
Sequential calls it when it first checks input data on NumPy (fit, evaluate,
predict, ...). It acts once, and only on glibc (Linux).
"""
import ctypes
import ctypes.util

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
