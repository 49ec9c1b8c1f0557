"""The one place that knows which array library runs the maths.

Library code never imports numpy or cupy for array work: it calls ``xp()`` and
uses whatever module is active. Parameters and activations use ``floatx()``.
The only host <-> device transfers are ``to_device`` and ``to_host``.

State kept here: the active array module, its name, the float dtype, the
seed and the two random generators. (The thread and process counts live in
minicnn/fast/threads.py and minicnn/fast/team.py.)
"""
import numbers

import numpy  # host side only: the default module and host conversions

_xp = numpy
_name = "numpy"
_floatx = "float32"
_seed = None
_host_rng = numpy.random.default_rng()  # initialisation, shuffling (host)
_rng = numpy.random.default_rng()       # dropout masks (on the device)


def xp():
    """The active array module (numpy or cupy): ``xp().zeros(...)`` etc."""
    return _xp


def get_backend():
    """Name of the active backend: "numpy" or "cupy"."""
    return _name


def _load_cupy():
    """Import cupy and check a CUDA device exists; raise a helpful error if not."""
    try:
        import cupy
    except ImportError as err:
        raise RuntimeError(
            "set_backend('cupy'): CuPy is not installed. Install the extra that "
            "matches your CUDA toolkit, e.g. pip install -e \".[cuda12]\" (or "
            "\".[cuda13]\"), or use set_backend('numpy').") from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise RuntimeError(
            "set_backend('cupy'): CuPy is installed but no CUDA device can be "
            f"used ({err}). Check the NVIDIA driver, or use set_backend('numpy').") from err
    if count < 1:
        raise RuntimeError(
            "set_backend('cupy'): CuPy is installed but no CUDA device was "
            "found. Use set_backend('numpy') on this machine.")
    return cupy


def set_backend(name):
    """Select the array library: "numpy" (CPU) or "cupy" (CUDA GPU).

    Raises before changing anything if the name is unknown or CuPy is unusable.
    """
    if name == "numpy":
        module = numpy
    elif name == "cupy":
        module = _load_cupy()
    else:
        raise ValueError(
            f"Unknown backend {name!r}: choose 'numpy' (CPU) or 'cupy' (GPU).")
    use_array_module(module, name)


def use_array_module(module, name):
    """Install any numpy-compatible module as the backend.

    ``set_backend`` is the public way in; this hook lets the tests run the
    library through a strict stand-in module that behaves like CuPy.
    """
    global _xp, _name, _rng
    _xp, _name = module, name
    _rng = _make_rng(None if _seed is None else _seed + 1)


def set_floatx(dtype):
    """Dtype of parameters and activations: "float32" (default) or "float64"."""
    global _floatx
    if dtype not in ("float32", "float64"):
        raise ValueError(f"Unknown floatx {dtype!r}: choose 'float32' or 'float64'.")
    _floatx = dtype


def floatx():
    """The active float dtype name ("float32" unless changed)."""
    return _floatx


def _make_rng(n):
    return _xp.random.default_rng(n)


def seed(n):
    """Seed the generators used for initialisation, shuffling and dropout.

    Call it before the model is built (compile draws the initial weights). The same
    seed gives bit-identical runs on NumPy for the same process and thread counts.
    ``n``: an int >= 0 (Python's or NumPy's; not a float or a string).
    """
    global _seed, _host_rng, _rng
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"seed: n must be an int, got {type(n).__name__} {n!r}.")
    if n < 0:
        raise ValueError(f"seed: n must be >= 0, got {n}.")
    _seed = int(n)
    _host_rng = numpy.random.default_rng(_seed)
    _rng = _make_rng(_seed + 1)


def host_rng():
    """numpy Generator for initial weights and shuffling: the same weights on every backend."""
    return _host_rng


def rng():
    """The backend's own Generator (numpy or cupy), for dropout masks on the device."""
    return _rng


def keep_mask(shape, keep):
    """Boolean array of ``shape`` whose entries are True with probability ``keep`` (dropout)."""
    return keep_mask_rows(shape, keep)(slice(None))


def keep_mask_rows(shape, keep):
    """One dropout mask of ``shape`` as a function: rows -> mask[rows], for
    ``rows`` a slice of the first axis.

    The mask is fixed now, and its rows can be drawn in any order, by any
    thread, with the same bits whatever the split; the generator moves past
    the whole mask at once. NumPy: 16 random bits per entry, four from each
    64-bit output of the generator, True below round(keep * 2**16), so keep is
    rounded to a multiple of 2**-16 (0.9 becomes 0.899994); three times faster
    than float32 uniforms. A part's bits come from a copy of the generator
    advanced to that part's place in the stream. Other backends, or rows not
    made of whole 64-bit draws: float32 uniforms below keep, drawn at once.
    """
    n, per_row = int(shape[0]), 1
    for d in shape[1:]:
        per_row *= int(d)
    bit_gen = getattr(_rng, "bit_generator", None)
    if _name != "numpy" or per_row % 4 or not hasattr(bit_gen, "advance"):
        whole = _rng.random(tuple(shape), dtype="float32") < keep
        return lambda rows: whole[rows]
    start_state = bit_gen.state
    bit_gen.advance(n * per_row // 4)                   # past the whole mask
    threshold = numpy.uint16(min(round(keep * 65536), 65535))

    def rows_of_mask(rows):
        first, last, _ = rows.indices(n)
        part = type(bit_gen)()
        part.state = start_state
        part.advance(first * per_row // 4)
        bits = part.random_raw((last - first) * per_row // 4).view(numpy.uint16)
        return (bits < threshold).reshape((last - first,) + tuple(shape[1:]))
    return rows_of_mask


def synchronize():
    """Wait until the GPU has finished all queued work (a no-op on NumPy).

    GPU calls return before the work is done; time a piece of GPU code only
    between two synchronize() calls.
    """
    if _name == "cupy":
        _xp.cuda.Device().synchronize()


def to_device(a, dtype=None):
    """Copy a host (numpy) array to the active backend, optionally casting."""
    if _name == "numpy":
        return numpy.asarray(a, dtype=dtype)
    return _xp.asarray(a, dtype=dtype)


def to_host(a):
    """Copy a backend array to a numpy array (a no-op on the numpy backend)."""
    if _xp is numpy or isinstance(a, (numpy.ndarray, list, tuple)) or numpy.isscalar(a):
        return numpy.asarray(a)
    return _xp.asnumpy(a)
